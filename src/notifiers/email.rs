//! The email: a subject, a plain-text part and an HTML part, for a pass's
//! digest and for the status report. Every name from a source goes through
//! `escape_html`.

use std::fmt::Write;

use super::digest::{digest, Digest, Item};
use super::escape::escape_html;
use super::table::table;
use super::Message;
use crate::domain::report::Report;
use crate::domain::Notice;

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

/// The report as an email: an HTML table and the same as text.
pub fn report_email(r: &Report) -> Message {
    let title = r.headline();
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
    html.push_str("</ul>");
    let mut link_text = String::new();
    if let Some(link) = &r.html_report {
        let _ = write!(
            html,
            "<p><a href=\"{}\">Open the full report (HTML)</a>: {}.</p>",
            escape_html(&link.url),
            escape_html(&link.caveat())
        );
        link_text = format!("Full report (HTML): {}\n({})\n\n", link.url, link.caveat());
    }
    let week = r.week_lines();
    if !week.is_empty() {
        html.push_str("<p><b>This week vs last week</b></p><ul>");
        for line in &week {
            let _ = write!(html, "<li>{}</li>", escape_html(line));
        }
        html.push_str("</ul>");
    }
    html.push_str("<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr><th>Principal</th><th>Status</th><th>Admin</th><th>Login</th><th>Days without MFA</th><th>Notes</th></tr>");
    for row in &r.rows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&row.principal),
            escape_html(&row.status_text()),
            if row.admin { "yes" } else { "" },
            escape_html(&row.login),
            row.days_without_mfa
                .map(|d| d.to_string())
                .unwrap_or_default(),
            escape_html(&row.notes())
        );
    }
    html.push_str("</table>");
    for (target, settings) in &r.targets {
        let _ = write!(html, "<h3>{} settings</h3><ul>", escape_html(target));
        for (name, on) in &settings.requirements {
            let _ = write!(
                html,
                "<li>{}: {}</li>",
                escape_html(name),
                if *on { "on" } else { "off" }
            );
        }
        for (name, value) in &settings.details {
            let _ = write!(
                html,
                "<li>{}: {}</li>",
                escape_html(name),
                escape_html(value)
            );
        }
        html.push_str("</ul>");
    }
    if r.counts.contains_key(&crate::domain::Source::Snowflake) {
        let _ = write!(
            html,
            "<h3>Snowflake enforcement readiness</h3><p>{} user(s) will be blocked when Snowflake enforces MFA.</p><ul>",
            r.enforcement_readiness.len()
        );
        for e in &r.enforcement_readiness {
            let _ = write!(
                html,
                "<li>{}{} — {}</li>",
                escape_html(&e.principal),
                if e.admin { " (admin)" } else { "" },
                escape_html(e.why.phrase())
            );
        }
        html.push_str("</ul>");
    }
    if r.remind_days > 0 {
        let _ = write!(
            html,
            "<h3>Open for more than {} days</h3><ul>",
            r.remind_days
        );
        for o in &r.open_beyond {
            let _ = write!(
                html,
                "<li>{}{} — {} days without MFA</li>",
                escape_html(&o.principal),
                if o.admin { " (admin)" } else { "" },
                o.days_without_mfa
            );
        }
        html.push_str("</ul>");
    }
    if !r.exemptions_no_longer_needed.is_empty() {
        html.push_str("<h3>Exemptions no longer needed</h3><ul>");
        for id in &r.exemptions_no_longer_needed {
            let _ = write!(html, "<li>{}</li>", escape_html(id));
        }
        html.push_str("</ul>");
    }
    html.push_str("</body></html>");
    Message {
        subject: format!("[mfa-monitor] {title}"),
        text: format!("{title}\n\n{link_text}{}", table(r)),
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Change, ChangeKind, MfaStatus, Notice, Severity, Source, TargetKey};
    use crate::notifiers::digest::digest;
    use chrono::DateTime;

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

    #[test]
    fn names_are_escaped_in_the_email_and_slack_versions() {
        use crate::domain::report::{
            build,
            fixtures::{now, sample, target},
            Filter,
        };
        use crate::domain::Exemptions;
        let mut ts = sample();
        ts.push(target(
            Source::Github,
            "evil",
            &[("<script>x</script>", MfaStatus::Disabled, true, 5)],
        ));
        let r = build(&ts, &Exemptions::default(), Filter::All, now());
        assert!(!report_email(&r).html.contains("<script>"));
        let s = crate::notifiers::slack_blocks::report_payload(&r).to_string();
        assert!(
            !s.contains("<script>") && s.contains("&lt;script&gt;"),
            "{s}"
        );
    }

    #[test]
    fn the_report_email_has_the_enforcement_readiness_section_with_names_escaped() {
        use crate::domain::report::{build, fixtures, Filter};
        use crate::domain::{AccountKind, Attributes, Exemptions, PrincipalRecord};
        let mut t = fixtures::target(Source::Snowflake, "org-acct", &[]);
        for (name, kind) in [("<b>NED</b>", "person"), ("LEGACY_ETL", "legacy_service")] {
            t.principals.insert(
                name.into(),
                PrincipalRecord {
                    name: name.into(),
                    status: MfaStatus::Disabled,
                    attributes: Attributes {
                        console_login: true,
                        kind: Some(AccountKind::from(kind)),
                        ..Attributes::default()
                    },
                    first_seen: fixtures::now(),
                    status_since: fixtures::now(),
                    absent_since: None,
                    exempt: false,
                    grace_until: None,
                },
            );
        }
        let r = build(&[t], &Exemptions::default(), Filter::All, fixtures::now());
        let m = report_email(&r);
        assert!(
            m.html
                .contains("<h3>Snowflake enforcement readiness</h3><p>2 user(s) will be blocked"),
            "{}",
            m.html
        );
        assert!(m
            .html
            .contains("snowflake:org-acct/&lt;b&gt;NED&lt;/b&gt; — signs in with a password"));
        assert!(!m.html.contains("<b>NED"));
        assert!(
            m.text
                .contains("LEGACY_ETL — LEGACY_SERVICE with a password"),
            "{}",
            m.text
        );
    }
}
