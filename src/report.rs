//! The status report: every principal of every source from the stored
//! state, non-compliant first, with how long each has lacked MFA. Pure:
//! built from stored targets and rendered for the terminal, email and
//! Slack here, sent by the channels.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::snapshot::StoredTarget;
use crate::domain::{Exemptions, MfaStatus, Source};
use crate::notifiers::render::escape_html;
use crate::notifiers::slack::escape_mrkdwn;
use crate::notifiers::Message;

/// `--filter`: `enabled` is MFA verified on; `disabled` is everything that
/// is not (no MFA, only SMS, or unknown); `all` adds accounts that cannot
/// log in interactively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    All,
    Enabled,
    Disabled,
}

impl Filter {
    fn keeps(self, status: MfaStatus) -> bool {
        match self {
            Filter::All => true,
            Filter::Enabled => status == MfaStatus::Enabled,
            Filter::Disabled => status.is_non_compliant() || status == MfaStatus::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub principal: String,
    pub source: Source,
    pub status: MfaStatus,
    pub admin: bool,
    /// `console`, `none`, or the source's account type.
    pub login: String,
    /// Whole days since the principal lost or first lacked MFA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_without_mfa: Option<i64>,
    pub exempt: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub principals: usize,
    pub enabled: usize,
    pub non_compliant: usize,
    pub unknown: usize,
    pub not_applicable: usize,
    pub exempt: usize,
    pub critical: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub filter: Filter,
    /// Per source, over every principal (not only the filtered rows).
    pub counts: BTreeMap<Source, Counts>,
    pub rows: Vec<Row>,
}

fn rank(status: MfaStatus) -> u8 {
    match status {
        MfaStatus::Disabled => 0,
        MfaStatus::Insecure => 1,
        MfaStatus::Unknown => 2,
        MfaStatus::Enabled => 3,
        MfaStatus::NotApplicable => 4,
    }
}

pub fn build(
    targets: &[StoredTarget],
    exemptions: &Exemptions,
    filter: Filter,
    now: DateTime<Utc>,
) -> Report {
    let mut counts: BTreeMap<Source, Counts> = BTreeMap::new();
    let mut rows = Vec::new();
    for t in targets {
        for p in t.principals.values() {
            let id = t.key.principal(p.name.clone());
            let exempt = exemptions.contains(&id);
            let c = counts.entry(t.key.source).or_default();
            c.principals += 1;
            match p.status {
                MfaStatus::Enabled => c.enabled += 1,
                s if s.is_non_compliant() => c.non_compliant += 1,
                MfaStatus::Unknown => c.unknown += 1,
                _ => c.not_applicable += 1,
            }
            c.exempt += usize::from(exempt);
            let critical = p.status.is_non_compliant() && p.attributes.admin && !exempt;
            c.critical += usize::from(critical);
            if !filter.keeps(p.status) {
                continue;
            }
            let login = if p.attributes.console_login {
                p.attributes
                    .kind
                    .clone()
                    .unwrap_or_else(|| "console".into())
            } else {
                "none".into()
            };
            rows.push(Row {
                principal: id.to_string(),
                source: t.key.source,
                status: p.status,
                admin: p.attributes.admin,
                login,
                days_without_mfa: p
                    .status
                    .is_non_compliant()
                    .then(|| (now - p.status_since).num_days().max(0)),
                exempt,
            });
        }
    }
    rows.sort_by(|a, b| {
        (
            a.source,
            rank(a.status),
            !a.admin,
            std::cmp::Reverse(a.days_without_mfa),
            &a.principal,
        )
            .cmp(&(
                b.source,
                rank(b.status),
                !b.admin,
                std::cmp::Reverse(b.days_without_mfa),
                &b.principal,
            ))
    });
    Report {
        generated_at: now,
        filter,
        counts,
        rows,
    }
}

fn status_text(r: &Row) -> String {
    if r.exempt {
        format!("{} (exempt)", r.status)
    } else {
        r.status.to_string()
    }
}

/// An aligned table for the terminal, grouped by source.
pub fn table(r: &Report) -> String {
    let width = r
        .rows
        .iter()
        .map(|row| row.principal.chars().count())
        .max()
        .unwrap_or(9)
        .max(9);
    let mut out = String::new();
    for (source, c) in &r.counts {
        let _ = writeln!(
            out,
            "{}: {} principals, {} enabled, {} without MFA or weak, {} unknown, {} n/a, {} exempt",
            source.display_name(),
            c.principals,
            c.enabled,
            c.non_compliant,
            c.unknown,
            c.not_applicable,
            c.exempt
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<width$}  {:<25}  {:<5}  {:<20}  {:>6}",
        "PRINCIPAL", "STATUS", "ADMIN", "LOGIN", "DAYS"
    );
    let mut last = None;
    for row in &r.rows {
        if last.is_some() && last != Some(row.source) {
            out.push('\n');
        }
        last = Some(row.source);
        let _ = writeln!(
            out,
            "{:<width$}  {:<25}  {:<5}  {:<20}  {:>6}",
            row.principal,
            status_text(row),
            if row.admin { "yes" } else { "" },
            row.login,
            row.days_without_mfa
                .map(|d| d.to_string())
                .unwrap_or_default()
        );
    }
    if r.rows.is_empty() {
        let _ = writeln!(
            out,
            "(no principal matches the filter; run `mfa-monitor run` first if the state is empty)"
        );
    }
    out
}

fn headline(r: &Report) -> String {
    let nc: usize = r.counts.values().map(|c| c.non_compliant).sum();
    let total: usize = r.counts.values().map(|c| c.principals).sum();
    let critical: usize = r.counts.values().map(|c| c.critical).sum();
    format!("MFA status report: {nc} of {total} accounts without MFA or with a weak factor ({critical} admin)")
}

/// The report as an email: an HTML table and the same as text.
pub fn email(r: &Report) -> Message {
    let title = headline(r);
    let mut html = format!(
        "<html><body style=\"font-family:sans-serif\"><h2>{}</h2><ul>",
        escape_html(&title)
    );
    for (source, c) in &r.counts {
        let _ = write!(
            html,
            "<li><b>{}</b>: {} principals, {} enabled, {} without MFA or weak, {} unknown, {} exempt</li>",
            escape_html(source.display_name()),
            c.principals,
            c.enabled,
            c.non_compliant,
            c.unknown,
            c.exempt
        );
    }
    html.push_str("</ul><table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr><th>Principal</th><th>Status</th><th>Admin</th><th>Login</th><th>Days without MFA</th></tr>");
    for row in &r.rows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&row.principal),
            escape_html(&status_text(row)),
            if row.admin { "yes" } else { "" },
            escape_html(&row.login),
            row.days_without_mfa
                .map(|d| d.to_string())
                .unwrap_or_default()
        );
    }
    html.push_str("</table></body></html>");
    Message {
        subject: format!("[mfa-monitor] {title}"),
        text: format!("{title}\n\n{}", table(r)),
        html,
    }
}

/// The report for Slack: counts per source and the critical principals.
pub fn slack(r: &Report) -> Value {
    let mut lines: Vec<String> = r
        .counts
        .iter()
        .map(|(s, c)| {
            format!(
                "*{}*: {} principals · {} enabled · {} without MFA or weak · {} unknown",
                s.display_name(),
                c.principals,
                c.enabled,
                c.non_compliant,
                c.unknown
            )
        })
        .collect();
    let critical: Vec<String> = r
        .rows
        .iter()
        .filter(|row| row.admin && row.status.is_non_compliant() && !row.exempt)
        .map(|row| {
            format!(
                "• {} — {}{}",
                escape_mrkdwn(&row.principal),
                row.status,
                row.days_without_mfa
                    .map(|d| format!(", {d} days"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": crate::notifiers::slack::truncate(&headline(r), crate::notifiers::slack::MAX_HEADER)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}}),
    ];
    if !critical.is_empty() {
        let shown = critical.len().min(40);
        lines = critical[..shown].to_vec();
        if critical.len() > shown {
            lines.push(format!("… and {} more", critical.len() - shown));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": crate::notifiers::slack::truncate(&format!("*Admins without MFA*\n{}", lines.join("\n")), crate::notifiers::slack::MAX_TEXT)}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "Full table: the report email, or `mfa-monitor report`."}]}));
    json!({"text": headline(r), "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Attributes, PrincipalRecord, TargetKey};
    use chrono::TimeZone;

    fn target(source: Source, name: &str, people: &[(&str, MfaStatus, bool, i64)]) -> StoredTarget {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        StoredTarget {
            key: TargetKey::new(source, name),
            version: 1,
            settings: Default::default(),
            updated_at: now,
            principals: people
                .iter()
                .map(|(n, s, admin, days)| {
                    (
                        n.to_string(),
                        PrincipalRecord {
                            name: n.to_string(),
                            status: *s,
                            attributes: Attributes {
                                admin: *admin,
                                console_login: *s != MfaStatus::NotApplicable,
                                ..Attributes::default()
                            },
                            first_seen: now - chrono::Duration::days(400),
                            status_since: now - chrono::Duration::days(*days),
                        },
                    )
                })
                .collect(),
        }
    }

    fn sample() -> Vec<StoredTarget> {
        vec![
            target(
                Source::Aws,
                "123456789012",
                &[
                    ("alice", MfaStatus::Enabled, true, 90),
                    ("bob", MfaStatus::Disabled, false, 12),
                    ("<root>", MfaStatus::Disabled, true, 3),
                    ("ci", MfaStatus::NotApplicable, false, 100),
                ],
            ),
            target(
                Source::Github,
                "acme",
                &[
                    ("octocat", MfaStatus::Insecure, false, 40),
                    ("hubot", MfaStatus::Unknown, false, 1),
                ],
            ),
        ]
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[test]
    fn filters_keep_enabled_or_everything_not_verified_enabled() {
        let ex = Exemptions::default();
        let names = |f| {
            build(&sample(), &ex, f, now())
                .rows
                .into_iter()
                .map(|r| r.principal)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Filter::Enabled), ["aws:123456789012/alice"]);
        assert_eq!(
            names(Filter::Disabled),
            [
                "github:acme/octocat",
                "github:acme/hubot",
                "aws:123456789012/<root>",
                "aws:123456789012/bob"
            ]
        );
        assert_eq!(names(Filter::All).len(), 6);
    }

    #[test]
    fn non_compliant_come_first_admins_first_with_days_without_mfa() {
        let r = build(&sample(), &Exemptions::default(), Filter::All, now());
        let aws: Vec<_> = r.rows.iter().filter(|r| r.source == Source::Aws).collect();
        assert_eq!(aws[0].principal, "aws:123456789012/<root>");
        assert_eq!(aws[0].days_without_mfa, Some(3));
        assert_eq!(aws[1].days_without_mfa, Some(12));
        assert_eq!(aws[2].days_without_mfa, None, "enabled");
        assert_eq!(r.counts[&Source::Aws].critical, 1);
    }

    #[test]
    fn exempt_principals_are_shown_as_exempt_not_hidden() {
        let ex = Exemptions::parse("aws:123456789012/bob").unwrap();
        let r = build(&sample(), &ex, Filter::Disabled, now());
        let bob = r
            .rows
            .iter()
            .find(|r| r.principal.ends_with("/bob"))
            .unwrap();
        assert!(bob.exempt);
        assert!(table(&r).contains("disabled (exempt)"));
        assert_eq!(r.counts[&Source::Aws].exempt, 1);
    }

    #[test]
    fn the_terminal_table_is_aligned_for_a_mixed_set_of_sources() {
        let t = table(&build(
            &sample(),
            &Exemptions::default(),
            Filter::All,
            now(),
        ));
        let header = t.lines().find(|l| l.starts_with("PRINCIPAL")).unwrap();
        let status_col = header.find("STATUS").unwrap();
        for line in t
            .lines()
            .filter(|l| l.starts_with("aws:") || l.starts_with("github:"))
        {
            assert_eq!(
                line.find(|c: char| c.is_whitespace())
                    .map(|i| i <= status_col),
                Some(true),
                "{line}"
            );
            let rest = &line[status_col..];
            assert!(!rest.starts_with(' '), "status column misaligned: {line}");
        }
        assert!(t.contains("GitHub: 2 principals"), "{t}");
    }

    #[test]
    fn names_are_escaped_in_the_email_and_slack_versions() {
        let mut ts = sample();
        ts.push(target(
            Source::Github,
            "evil",
            &[("<script>x</script>", MfaStatus::Disabled, true, 5)],
        ));
        let r = build(&ts, &Exemptions::default(), Filter::All, now());
        assert!(!email(&r).html.contains("<script>"));
        let s = slack(&r).to_string();
        assert!(
            !s.contains("<script>") && s.contains("&lt;script&gt;"),
            "{s}"
        );
    }
}
