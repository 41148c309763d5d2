//! The status report as an aligned terminal table, grouped by source.

use std::fmt::Write;

use crate::domain::report::Report;

/// An aligned table for the terminal, grouped by source.
pub fn table(r: &Report) -> String {
    let width = r
        .rows
        .iter()
        .map(|row| row.principal.chars().count())
        .max()
        .unwrap_or(9)
        .max(9);
    let status_width = r
        .rows
        .iter()
        .map(|row| row.status_text().chars().count())
        .max()
        .unwrap_or(0)
        .max(25);
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
    let week = r.week_lines();
    if !week.is_empty() {
        let _ = writeln!(out, "This week vs last week:");
        for line in week {
            let _ = writeln!(out, "  {line}");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<width$}  {:<status_width$}  {:<5}  {:<20}  {:>6}  NOTES",
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
            "{:<width$}  {:<status_width$}  {:<5}  {:<20}  {:>6}  {}",
            row.principal,
            row.status_text(),
            if row.admin { "yes" } else { "" },
            row.login,
            row.days_without_mfa
                .map(|d| d.to_string())
                .unwrap_or_default(),
            row.notes()
        );
    }
    if r.rows.is_empty() {
        let _ = writeln!(
            out,
            "(no principal matches the filter; run `mfa-monitor run` first if the state is empty)"
        );
    }
    out.push_str(&settings_text(r));
    out.push_str(&readiness_text(r));
    out.push_str(&reminder_text(r));
    out
}

/// Each target's requirements and details, as lines.
pub fn settings_text(r: &Report) -> String {
    let mut out = String::new();
    for (target, s) in &r.targets {
        let _ = writeln!(out, "\n{target} settings:");
        for (name, on) in &s.requirements {
            let _ = writeln!(out, "  {name}: {}", if *on { "on" } else { "off" });
        }
        for (name, value) in &s.details {
            let _ = writeln!(out, "  {name}: {value}");
        }
    }
    out
}

/// The reminder section: what stayed open beyond `MFA_REMIND_DAYS`, and
/// exemptions that are no longer needed.
pub fn reminder_text(r: &Report) -> String {
    let mut out = String::new();
    if r.remind_days > 0 {
        let _ = writeln!(
            out,
            "\nOpen for more than {} days: {}",
            r.remind_days,
            r.open_beyond.len()
        );
        for o in &r.open_beyond {
            let _ = writeln!(
                out,
                "  {}{} — {} days without MFA",
                o.principal,
                if o.admin { " (admin)" } else { "" },
                o.days_without_mfa
            );
        }
    }
    if !r.exemptions_no_longer_needed.is_empty() {
        let _ = writeln!(out, "\nExemptions no longer needed (the account has MFA):");
        for id in &r.exemptions_no_longer_needed {
            let _ = writeln!(out, "  {id}");
        }
    }
    out
}

/// The enforcement-readiness section: who Snowflake will block.
pub fn readiness_text(r: &Report) -> String {
    if !r.counts.contains_key(&crate::domain::Source::Snowflake) {
        return String::new();
    }
    let mut out = format!(
        "\nSnowflake enforcement readiness: {} user(s) will be blocked when Snowflake enforces MFA\n",
        r.enforcement_readiness.len()
    );
    for e in &r.enforcement_readiness {
        let _ = writeln!(
            out,
            "  {}{} — {}",
            e.principal,
            if e.admin { " (admin)" } else { "" },
            e.why.phrase()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{
        build,
        fixtures::{now, sample},
        Filter,
    };
    use crate::domain::{Exemptions, Source};

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
        assert!(table(&r).contains("disabled (exempt, permanent)"));
        assert_eq!(r.counts[&Source::Aws].exempt, 1);
    }

    #[test]
    fn a_stored_exemption_is_shown_with_its_last_day_and_mfa_exempt_as_permanent() {
        use crate::domain::exemption::Exemption;
        let until = now().date_naive() + chrono::Duration::days(9);
        let stored = Exemption {
            principal: "aws:123456789012/bob".parse().unwrap(),
            until,
            reason: "key on order".into(),
            owner: None,
            added_by: "alice".into(),
            added_at: now(),
        };
        let permanent = Exemptions::default();
        let all = permanent.with_stored(std::slice::from_ref(&stored), now());
        let mut r = build(&sample(), &all, Filter::Disabled, now());
        r.set_exemption_ends(
            std::slice::from_ref(&stored),
            &permanent,
            now().date_naive(),
        );
        assert!(
            table(&r).contains(&format!("disabled (exempt until {until})")),
            "{}",
            table(&r)
        );

        let permanent = Exemptions::parse("aws:123456789012/bob").unwrap();
        let mut r = build(&sample(), &permanent, Filter::Disabled, now());
        r.set_exemption_ends(
            std::slice::from_ref(&stored),
            &permanent,
            now().date_naive(),
        );
        assert!(
            table(&r).contains("disabled (exempt, permanent)"),
            "MFA_EXEMPT wins"
        );
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
}
