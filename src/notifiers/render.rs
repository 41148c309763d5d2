//! Builds one message for a pass from its notices: pure, so wording and
//! escaping are unit-tested. Grouped by source, then severity.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::domain::{BaselineSummary, Change, Notice, Severity, Source};

use super::Message;

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

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "2 critical, 1 high: 3 MFA changes" style subject with the counts that
/// matter first.
fn subject(changes: &[&Change], baselines: &[&BaselineSummary]) -> String {
    let mut by_sev: BTreeMap<Severity, usize> = BTreeMap::new();
    for c in changes {
        *by_sev.entry(c.severity).or_insert(0) += 1;
    }
    let mut parts: Vec<String> = by_sev.iter().map(|(sev, n)| format!("{n} {sev}")).collect();
    if !baselines.is_empty() {
        let nc: usize = baselines.iter().map(|b| b.non_compliant).sum();
        parts.push(format!(
            "baseline of {} with {} without MFA",
            plural(baselines.len(), "target", "targets"),
            nc
        ));
    }
    format!("[mfa-monitor] {}", parts.join(", "))
}

fn change_line(c: &Change) -> String {
    let mut line = format!("{} — {}", c.subject(), c.kind.phrase());
    match (c.previous, c.current) {
        (Some(p), Some(n)) => {
            let _ = write!(line, " ({p} → {n})");
        }
        (None, Some(n)) => {
            let _ = write!(line, " ({n})");
        }
        _ => {}
    }
    if c.admin {
        line.push_str(" [admin]");
    }
    if let Some(d) = &c.detail {
        let _ = write!(line, ": {d}");
    }
    let _ = write!(line, " [{}]", c.kind);
    line
}

fn remediation(source: Source) -> &'static str {
    match source {
        Source::Aws => "Assign an MFA device: IAM console › Users › Security credentials, or `aws iam enable-mfa-device`.",
        Source::Github => "Ask the member to enable 2FA (Settings › Password and authentication); enforce it in the org's security settings.",
        Source::Snowflake => "Enrol the user in MFA; close bypasses with `ALTER USER … UNSET MINS_TO_BYPASS_MFA`.",
    }
}

/// Renders the notices of one pass (and of earlier passes still pending for
/// the channel) into one message. `None` when there is nothing to send.
/// `warnings` (what the operator must fix) ride along with a message but
/// never cause one: a standing warning would otherwise mail every hour.
pub fn render(notices: &[Notice], warnings: &[String]) -> Option<Message> {
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

    let mut text = String::new();
    let mut html =
        String::from("<html><body style=\"font-family:sans-serif\"><h2>mfa-monitor</h2>");
    if !warnings.is_empty() {
        text.push_str("Attention:\n");
        html.push_str("<p><b>Attention:</b></p><ul>");
        for w in warnings {
            let _ = writeln!(text, "  ! {w}");
            let _ = write!(html, "<li>{}</li>", escape_html(w));
        }
        text.push('\n');
        html.push_str("</ul>");
    }
    for source in Source::ALL {
        let of_source: Vec<&&Change> = changes
            .iter()
            .filter(|c| c.target.source == source)
            .collect();
        let base_of_source: Vec<&&BaselineSummary> = baselines
            .iter()
            .filter(|b| b.target.source == source)
            .collect();
        if of_source.is_empty() && base_of_source.is_empty() {
            continue;
        }
        let _ = writeln!(text, "== {} ==", source.display_name());
        let _ = write!(html, "<h3>{}</h3>", escape_html(source.display_name()));
        for sev in [Severity::Critical, Severity::High, Severity::Info] {
            let group: Vec<_> = of_source.iter().filter(|c| c.severity == sev).collect();
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(text, "{} ({}):", sev.as_str().to_uppercase(), group.len());
            let _ = write!(
                html,
                "<h4>{} ({})</h4><table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr><th>Principal</th><th>Change</th><th>Was</th><th>Now</th><th>Admin</th><th>Detail</th></tr>",
                sev.as_str().to_uppercase(),
                group.len()
            );
            for c in group {
                let _ = writeln!(text, "  - {}", change_line(c));
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td>{} <code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape_html(&c.subject()),
                    escape_html(c.kind.phrase()),
                    c.kind,
                    c.previous.map(|s| s.as_str()).unwrap_or("—"),
                    c.current.map(|s| s.as_str()).unwrap_or("—"),
                    if c.admin { "yes" } else { "" },
                    escape_html(c.detail.as_deref().unwrap_or("")),
                );
            }
            html.push_str("</table>");
        }
        for b in base_of_source {
            let _ = writeln!(
                text,
                "First pass over {}: {} principals recorded, {} without MFA or with a weak factor, {} status unknown, {} exempt.",
                b.target,
                b.principals,
                b.non_compliant,
                b.unknown,
                b.exempt
            );
            let _ = write!(
                html,
                "<p>First pass over <b>{}</b>: {} principals recorded, <b>{}</b> without MFA or with a weak factor, {} status unknown, {} exempt.</p>",
                escape_html(&b.target.to_string()),
                b.principals,
                b.non_compliant,
                b.unknown,
                b.exempt
            );
            if !b.listed.is_empty() {
                html.push_str("<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr><th>Principal</th><th>Status</th><th>Admin</th></tr>");
                for e in &b.listed {
                    let id = b.target.principal(e.name.clone()).to_string();
                    let _ = writeln!(
                        text,
                        "  - {id} ({}){}",
                        e.status,
                        if e.admin { " [admin]" } else { "" }
                    );
                    let _ = write!(
                        html,
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape_html(&id),
                        e.status,
                        if e.admin { "yes" } else { "" }
                    );
                }
                html.push_str("</table>");
            }
            if b.omitted > 0 {
                let more = format!(
                    "… and {} more: run `mfa-monitor status` for the full list.",
                    b.omitted
                );
                let _ = writeln!(text, "  {more}");
                let _ = write!(html, "<p>{}</p>", escape_html(&more));
            }
        }
        let _ = writeln!(text, "What to do: {}\n", remediation(source));
        let _ = write!(
            html,
            "<p><i>What to do: {}</i></p>",
            escape_html(remediation(source))
        );
    }
    html.push_str("</body></html>");
    Some(Message {
        subject: subject(&changes, &baselines),
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChangeKind, MfaStatus, TargetKey};
    use chrono::Utc;

    fn change(name: &str, kind: ChangeKind, severity: Severity) -> Notice {
        Notice::Change(Change {
            target: TargetKey::new(Source::Aws, "123456789012"),
            principal: Some(name.into()),
            kind,
            severity,
            previous: Some(MfaStatus::Enabled),
            current: Some(MfaStatus::Disabled),
            admin: severity == Severity::Critical,
            detail: None,
            detected_at: Utc::now(),
        })
    }

    #[test]
    fn nothing_to_say_renders_no_message() {
        assert!(render(&[], &["ignored".into()]).is_none());
    }

    #[test]
    fn a_message_counts_severities_in_the_subject_and_names_each_principal() {
        let m = render(
            &[
                change("bob", ChangeKind::MfaDisabled, Severity::High),
                change("root", ChangeKind::MfaDisabled, Severity::Critical),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(m.subject, "[mfa-monitor] 1 critical, 1 high");
        let crit = m.text.find("CRITICAL").unwrap();
        let high = m.text.find("HIGH").unwrap();
        assert!(crit < high, "critical first:\n{}", m.text);
        assert!(m
            .text
            .contains("aws:123456789012/bob — lost MFA (enabled → disabled) [mfa_disabled]"));
        assert!(m.html.contains("aws:123456789012/root"));
    }

    #[test]
    fn names_from_sources_are_escaped_in_html() {
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
}
