//! One message model for a pass (`Digest`), built from its notices, that
//! every channel renders: email (HTML table + text) here, Slack in
//! `slack.rs`. Pure, so wording and escaping are unit- and snapshot-tested.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{BaselineSummary, Change, ChangeKind, Notice, Severity, Source};

use super::Message;

/// One line of a message: who, what happened, what else to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub subject: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub admin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ChangeKind>,
    pub since: DateTime<Utc>,
    /// Found by an earlier pass and not delivered then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub delayed: bool,
}

/// The items of one source at one severity, or one baseline summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    pub heading: String,
    pub items: Vec<Item>,
    /// Items a cap left out (baselines list at most a few hundred).
    pub omitted: usize,
    pub remediation: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
    /// "2 lost MFA, 1 new account without MFA": what happened, counted.
    pub title: String,
    pub critical: usize,
    pub high: usize,
    pub warnings: Vec<String>,
    pub groups: Vec<Group>,
}

/// Escapes text from sources (logins, user names, error text) for HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Digest {
    /// Marks what was detected before `cutoff` as delayed: alerts a channel
    /// could not take when they were found, delivered late but never
    /// dropped. Says so at the top of the message too.
    pub fn mark_delayed(&mut self, cutoff: DateTime<Utc>) {
        let mut delayed = 0;
        let mut oldest: Option<DateTime<Utc>> = None;
        for item in self.groups.iter_mut().flat_map(|g| g.items.iter_mut()) {
            if item.since < cutoff {
                item.delayed = true;
                delayed += 1;
                oldest = Some(oldest.map_or(item.since, |o| o.min(item.since)));
            }
        }
        if let Some(oldest) = oldest {
            self.warnings.insert(
                0,
                format!(
                    "{} delayed: detected as early as {} but not delivered then (a channel or the pass failed); each is marked",
                    plural(delayed, "alert is", "alerts are"),
                    oldest.format("%Y-%m-%d %H:%M UTC")
                ),
            );
        }
    }
}

/// What to do when all a message says of a source is that it could not be
/// read, or reads again.
pub const HEALTH_REMEDIATION: &str = "Run `mfa-monitor check` (or read the run summary in the logs): it names what is wrong — credentials, permissions or reachability.";

fn is_health(kind: ChangeKind) -> bool {
    matches!(kind, ChangeKind::SourceFailed | ChangeKind::SourceRecovered)
}

pub fn remediation(source: Source) -> &'static str {
    match source {
        Source::Aws => "Assign an MFA device: IAM console › Users › Security credentials, or `aws iam enable-mfa-device`.",
        Source::Github => "Ask the member to enable 2FA (Settings › Password and authentication); require it in the organization's Authentication security settings.",
        Source::Snowflake => "Enrol the user in MFA (Snowsight › Profile › Multi-factor authentication); close a bypass with `ALTER USER … UNSET MINS_TO_BYPASS_MFA`.",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn title_phrase(kind: ChangeKind, n: usize) -> String {
    match kind {
        ChangeKind::MfaDisabled => format!("{} lost MFA", plural(n, "account", "accounts")),
        ChangeKind::MfaEnabled => format!("{} enabled MFA", plural(n, "account", "accounts")),
        ChangeKind::MfaWeakened => format!("{} weakened to SMS", plural(n, "account", "accounts")),
        ChangeKind::NewWithoutMfa => {
            format!("{} without MFA", plural(n, "new account", "new accounts"))
        }
        ChangeKind::NewWithMfa => format!("{} with MFA", plural(n, "new account", "new accounts")),
        ChangeKind::Removed => format!("{} removed", plural(n, "account", "accounts")),
        ChangeKind::RequirementDisabled => format!(
            "{} switched off",
            plural(n, "MFA requirement", "MFA requirements")
        ),
        ChangeKind::RequirementEnabled => format!(
            "{} switched on",
            plural(n, "MFA requirement", "MFA requirements")
        ),
        ChangeKind::BypassActive => format!("{} open", plural(n, "MFA bypass", "MFA bypasses")),
        ChangeKind::StatusUnknown => {
            format!("{} no longer readable", plural(n, "status", "statuses"))
        }
        ChangeKind::SourceFailed => format!("{} could not be read", plural(n, "source", "sources")),
        ChangeKind::SourceRecovered => {
            format!("{} readable again", plural(n, "source", "sources"))
        }
    }
}

fn change_summary(c: &Change) -> String {
    let mut s = c.kind.phrase().to_owned();
    match (c.previous, c.current) {
        (Some(p), Some(n)) if p != n => {
            let _ = write!(s, " ({p} → {n})");
        }
        (None, Some(n)) => {
            let _ = write!(s, " ({n})");
        }
        _ => {}
    }
    s
}

fn baseline_group(b: &BaselineSummary) -> Group {
    Group {
        source: b.target.source,
        severity: None,
        heading: format!(
            "First pass over {}: {} recorded, {} without MFA or with a weak factor, {} unknown, {} exempt",
            b.target,
            plural(b.principals, "principal", "principals"),
            b.non_compliant,
            b.unknown,
            b.exempt
        ),
        items: b
            .listed
            .iter()
            .map(|e| Item {
                subject: b.target.principal(e.name.clone()).to_string(),
                summary: e.status.to_string(),
                detail: None,
                admin: e.admin,
                kind: None,
                since: b.detected_at,
                delayed: false,
            })
            .collect(),
        omitted: b.omitted,
        remediation: remediation(b.target.source),
    }
}

/// The model of one message, or `None` when there is nothing to send.
/// `warnings` (what the operator must fix) ride along with a message but
/// never cause one: a standing warning would otherwise mail every hour.
pub fn digest(notices: &[Notice], warnings: &[String]) -> Option<Digest> {
    if notices.is_empty() {
        return None;
    }
    let mut changes: Vec<&Change> = Vec::new();
    let mut baselines: Vec<&BaselineSummary> = Vec::new();
    for n in notices {
        match n {
            Notice::Change(c) => changes.push(c),
            Notice::Baseline(b) => baselines.push(b),
        }
    }
    changes.sort_by(|a, b| {
        (a.target.source, a.severity, a.subject(), a.kind).cmp(&(
            b.target.source,
            b.severity,
            b.subject(),
            b.kind,
        ))
    });

    let mut by_kind: BTreeMap<ChangeKind, usize> = BTreeMap::new();
    for c in &changes {
        *by_kind.entry(c.kind).or_insert(0) += 1;
    }
    let mut parts: Vec<String> = by_kind.iter().map(|(k, n)| title_phrase(*k, *n)).collect();
    if !baselines.is_empty() {
        let nc: usize = baselines.iter().map(|b| b.non_compliant).sum();
        parts.push(format!(
            "baseline of {} with {} without MFA",
            plural(baselines.len(), "target", "targets"),
            nc
        ));
    }
    let mut groups = Vec::new();
    for source in Source::ALL {
        let health_only = baselines.iter().all(|b| b.target.source != source)
            && changes
                .iter()
                .filter(|c| c.target.source == source)
                .all(|c| is_health(c.kind));
        let advice = if health_only {
            HEALTH_REMEDIATION
        } else {
            remediation(source)
        };
        for sev in [Severity::Critical, Severity::High, Severity::Info] {
            let items: Vec<Item> = changes
                .iter()
                .filter(|c| c.target.source == source && c.severity == sev)
                .map(|c| Item {
                    subject: c.subject(),
                    summary: change_summary(c),
                    detail: c.detail.clone(),
                    admin: c.admin,
                    kind: Some(c.kind),
                    since: c.detected_at,
                    delayed: false,
                })
                .collect();
            if !items.is_empty() {
                groups.push(Group {
                    source,
                    severity: Some(sev),
                    heading: format!("{} — {} ({})", source.display_name(), sev, items.len()),
                    items,
                    omitted: 0,
                    remediation: advice,
                });
            }
        }
        groups.extend(
            baselines
                .iter()
                .filter(|b| b.target.source == source)
                .map(|b| baseline_group(b)),
        );
    }
    Some(Digest {
        title: parts.join(", "),
        critical: changes
            .iter()
            .filter(|c| c.severity == Severity::Critical)
            .count(),
        high: changes
            .iter()
            .filter(|c| c.severity == Severity::High)
            .count(),
        warnings: warnings.to_vec(),
        groups,
    })
}

fn item_line(i: &Item) -> String {
    let mut line = format!("{} — {}", i.subject, i.summary);
    if i.admin {
        line.push_str(" [admin]");
    }
    if let Some(d) = &i.detail {
        let _ = write!(line, ": {d}");
    }
    if let Some(k) = i.kind {
        let _ = write!(line, " [{k}]");
    }
    if i.delayed {
        let _ = write!(
            line,
            " (delayed: detected {})",
            i.since.format("%Y-%m-%d %H:%M UTC")
        );
    }
    line
}

/// The email: subject, plain text and an HTML table per group.
pub fn email(d: &Digest) -> Message {
    let severity = match (d.critical, d.high) {
        (0, 0) => String::new(),
        (0, h) => format!(" ({h} high)"),
        (c, 0) => format!(" ({c} critical)"),
        (c, h) => format!(" ({c} critical, {h} high)"),
    };
    let subject = format!("[mfa-monitor] {}{severity}", d.title);
    let mut text = String::new();
    let mut html = format!(
        "<html><body style=\"font-family:sans-serif\"><h2>{}</h2>",
        escape_html(&d.title)
    );
    if !d.warnings.is_empty() {
        text.push_str("Attention:\n");
        html.push_str("<p><b>Attention:</b></p><ul>");
        for w in &d.warnings {
            let _ = writeln!(text, "  ! {w}");
            let _ = write!(html, "<li>{}</li>", escape_html(w));
        }
        text.push('\n');
        html.push_str("</ul>");
    }
    let mut last_source = None;
    let mut advice = "";
    for g in &d.groups {
        if last_source != Some(g.source) {
            if last_source.is_some() {
                let _ = writeln!(text, "What to do: {advice}\n");
                let _ = write!(html, "<p><i>What to do: {}</i></p>", escape_html(advice));
            }
            let _ = writeln!(text, "== {} ==", g.source.display_name());
            let _ = write!(html, "<h3>{}</h3>", escape_html(g.source.display_name()));
            last_source = Some(g.source);
        }
        advice = g.remediation;
        let _ = writeln!(text, "{}:", g.heading);
        let _ = write!(
            html,
            "<h4>{}</h4><table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr><th>Principal</th><th>What</th><th>Admin</th><th>Detail</th><th>Since</th></tr>",
            escape_html(&g.heading)
        );
        for i in &g.items {
            let _ = writeln!(text, "  - {}", item_line(i));
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                escape_html(&i.subject),
                escape_html(&i.summary),
                i.kind
                    .map(|k| format!(" <code>{k}</code>"))
                    .unwrap_or_default(),
                if i.admin { "yes" } else { "" },
                escape_html(i.detail.as_deref().unwrap_or("")),
                i.since.format("%Y-%m-%d %H:%M UTC"),
                if i.delayed { " <b>(delayed)</b>" } else { "" },
            );
        }
        html.push_str("</table>");
        if g.omitted > 0 {
            let more = format!(
                "… and {} more: run `mfa-monitor report` for the full list.",
                g.omitted
            );
            let _ = writeln!(text, "  {more}");
            let _ = write!(html, "<p>{}</p>", escape_html(&more));
        }
    }
    if last_source.is_some() {
        let _ = writeln!(text, "What to do: {advice}");
        let _ = write!(html, "<p><i>What to do: {}</i></p>", escape_html(advice));
    }
    html.push_str("</body></html>");
    Message {
        subject,
        text,
        html,
    }
}

/// The email of a set of notices, for callers that need only that.
pub fn render(notices: &[Notice], warnings: &[String]) -> Option<Message> {
    digest(notices, warnings).map(|d| email(&d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MfaStatus, TargetKey};

    pub(crate) fn change(name: &str, kind: ChangeKind, severity: Severity) -> Notice {
        Notice::Change(Change {
            target: TargetKey::new(Source::Aws, "123456789012"),
            principal: Some(name.into()),
            kind,
            severity,
            previous: Some(MfaStatus::Enabled),
            current: Some(MfaStatus::Disabled),
            admin: severity == Severity::Critical,
            detail: None,
            detected_at: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
        })
    }

    #[test]
    fn nothing_to_say_renders_no_message_even_with_warnings() {
        assert!(render(&[], &["ignored".into()]).is_none());
    }

    #[test]
    fn the_subject_counts_what_happened_and_critical_comes_first() {
        let m = render(
            &[
                change("bob", ChangeKind::MfaDisabled, Severity::High),
                change("root", ChangeKind::MfaDisabled, Severity::Critical),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            m.subject,
            "[mfa-monitor] 2 accounts lost MFA (1 critical, 1 high)"
        );
        let crit = m.text.find("critical (1)").unwrap();
        let high = m.text.find("high (1)").unwrap();
        assert!(crit < high, "critical first:\n{}", m.text);
        assert!(m
            .text
            .contains("aws:123456789012/bob — lost MFA (enabled → disabled) [mfa_disabled]"));
        assert!(m.html.contains("aws:123456789012/root"));
    }

    #[test]
    fn names_and_warnings_from_sources_are_escaped_in_html() {
        let m = render(
            &[change(
                "<img src=x onerror=alert(1)>",
                ChangeKind::MfaDisabled,
                Severity::High,
            )],
            &["org <b>: token is not an owner".into()],
        )
        .unwrap();
        assert!(m.html.contains("org &lt;b&gt;: token"), "{}", m.html);
        assert!(
            m.text.contains("! org <b>: token is not an owner"),
            "{}",
            m.text
        );
        assert!(!m.html.contains("<img"), "{}", m.html);
        assert!(m.html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn alerts_detected_before_the_cutoff_are_marked_delayed_and_counted_at_the_top() {
        let old = change("bob", ChangeKind::MfaDisabled, Severity::High);
        let mut new = change("carol", ChangeKind::MfaDisabled, Severity::High);
        if let Notice::Change(c) = &mut new {
            c.detected_at += chrono::Duration::hours(2);
        }
        let mut d = digest(&[old, new], &[]).unwrap();
        d.mark_delayed(DateTime::from_timestamp(1_790_000_000 + 3600, 0).unwrap());
        let m = email(&d);
        assert!(
            m.text.starts_with(
                "Attention:\n  ! 1 alert is delayed: detected as early as 2026-09-21 "
            ),
            "{}",
            m.text
        );
        assert!(
            m.text.contains(
                "bob — lost MFA (enabled → disabled) [mfa_disabled] (delayed: detected 2026-09-21 "
            ),
            "{}",
            m.text
        );
        assert!(
            !m.text
                .contains("carol — lost MFA (enabled → disabled) [mfa_disabled] (delayed"),
            "{}",
            m.text
        );
        assert_eq!(m.html.matches("(delayed)").count(), 1, "{}", m.html);
    }
}
