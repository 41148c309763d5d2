//! `report --format html`: one self-contained page (inline CSS and JS, no
//! fetch of anything, so it works opened from disk or from a mail) with the
//! counts per source, the table of every principal, filters and sorting.
//!
//! The page is an askama template (`templates/report.html`), which escapes
//! every value by default: names come from the sources and are untrusted,
//! and escaping by template leaves no call to forget (docs/ARCHITECTURE.md,
//! the CLI's formats). The script and the style are our own static files; the
//! page's Content-Security-Policy allows exactly them by SHA-256 hash, so
//! even markup that slipped through could not run.

use askama::Template;
use aws_lc_rs::digest::{digest, SHA256};
use base64::Engine;

use super::csv::split_principal;
use crate::domain::report::{rank, Report, Row};

const SCRIPT: &str = include_str!("../../templates/report.js");
const STYLE: &str = include_str!("../../templates/report.css");

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    headline: String,
    generated: String,
    filter: &'a str,
    cards: Vec<Card>,
    chart: Option<String>,
    targets: Vec<String>,
    rows: Vec<PageRow>,
    script: &'static str,
    script_hash: String,
    style: &'static str,
    style_hash: String,
}

struct Card {
    source: &'static str,
    name: &'static str,
    principals: usize,
    enabled: usize,
    non_compliant: usize,
    critical: usize,
    exempt: usize,
    unknown: usize,
    not_applicable: usize,
    trend_line: Option<String>,
}

struct PageRow {
    principal: String,
    source: &'static str,
    source_name: &'static str,
    target: String,
    status: &'static str,
    status_text: String,
    rank: u8,
    admin: bool,
    exempt: bool,
    login: String,
    days: String,
    days_sort: i64,
    first_seen: String,
    notes: String,
}

#[derive(Debug, thiserror::Error)]
#[error("could not render the HTML report: {0}")]
pub struct HtmlError(#[from] askama::Error);

fn csp_hash(text: &str) -> String {
    let sum = digest(&SHA256, text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(sum.as_ref())
    )
}

fn page_row(row: &Row) -> PageRow {
    let (target, _) = split_principal(&row.principal, row.source.as_str());
    PageRow {
        principal: row.principal.clone(),
        source: row.source.as_str(),
        source_name: row.source.display_name(),
        target: target.to_owned(),
        status: row.status.as_str(),
        status_text: row.status_text(),
        rank: rank(row.status),
        admin: row.admin,
        exempt: row.exempt,
        login: row.login.clone(),
        days: row
            .days_without_mfa
            .map(|d| d.to_string())
            .unwrap_or_default(),
        // Rows with MFA sort below every row without it, however recent.
        days_sort: row.days_without_mfa.unwrap_or(-1),
        first_seen: row.first_seen.format("%Y-%m-%d").to_string(),
        notes: row.notes(),
    }
}

/// The page for `report`, its trend drawn in when there is one.
pub fn render(report: &Report) -> Result<String, HtmlError> {
    let cards = report
        .counts
        .iter()
        .map(|(source, c)| Card {
            source: source.as_str(),
            name: source.display_name(),
            principals: c.principals,
            enabled: c.enabled,
            non_compliant: c.non_compliant,
            critical: c.critical,
            exempt: c.exempt,
            unknown: c.unknown,
            not_applicable: c.not_applicable,
            trend_line: report.week_over_week.get(source).map(|w| w.phrase()),
        })
        .collect();
    // Non-compliant first across sources (the report groups by source).
    let mut ordered: Vec<&Row> = report.rows.iter().collect();
    ordered.sort_by(|a, b| {
        (
            rank(a.status),
            !a.admin,
            std::cmp::Reverse(a.days_without_mfa),
            &a.principal,
        )
            .cmp(&(
                rank(b.status),
                !b.admin,
                std::cmp::Reverse(b.days_without_mfa),
                &b.principal,
            ))
    });
    let rows: Vec<PageRow> = ordered.into_iter().map(page_row).collect();
    let mut targets: Vec<String> = rows.iter().map(|r| r.target.clone()).collect();
    targets.sort();
    targets.dedup();
    let filter = match report.filter {
        crate::domain::report::Filter::All => "all",
        crate::domain::report::Filter::Enabled => "enabled",
        crate::domain::report::Filter::Disabled => "disabled",
    };
    let page = Page {
        headline: report.headline(),
        generated: report.generated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        filter,
        cards,
        chart: super::trend_chart::chart(&report.trend, report.generated_at.date_naive()),
        targets,
        rows,
        script: SCRIPT,
        script_hash: csp_hash(SCRIPT),
        style: STYLE,
        style_hash: csp_hash(STYLE),
    };
    Ok(page.render()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{build, fixtures, Filter};
    use crate::domain::{Exemptions, MfaStatus, Source};

    fn report() -> Report {
        let targets = vec![
            fixtures::target(
                Source::Github,
                "acme",
                &[
                    (
                        "<img src=x onerror=alert(1)>",
                        MfaStatus::Disabled,
                        false,
                        3,
                    ),
                    ("alice", MfaStatus::Enabled, true, 0),
                ],
            ),
            fixtures::target(
                Source::Aws,
                "111122223333",
                &[("bob", MfaStatus::Disabled, true, 9)],
            ),
        ];
        build(
            &targets,
            &Exemptions::default(),
            Filter::All,
            chrono::Utc::now(),
        )
    }

    #[test]
    fn a_hostile_name_is_escaped_and_never_markup() {
        let html = render(&report()).unwrap();
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&#60;img src=x onerror=alert(1)&#62;")
                || html.contains("&lt;img src=x onerror=alert(1)&gt;")
        );
    }

    #[test]
    fn the_page_fetches_nothing_and_allows_only_its_own_script_and_style() {
        let html = render(&report()).unwrap();
        for external in ["http://", "https://", "src=\"", "href=\""] {
            assert!(!html.contains(external), "{external} in the page");
        }
        assert!(html.contains(&format!("script-src '{}'", csp_hash(SCRIPT))));
        assert!(html.contains(&format!("style-src '{}'", csp_hash(STYLE))));
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
    }

    #[test]
    fn the_admin_without_mfa_comes_first_and_every_row_is_there() {
        let html = render(&report()).unwrap();
        let bob = html.find("aws:111122223333/bob").unwrap();
        let hostile = html.find("github:acme/&").unwrap();
        let alice = html.find("github:acme/alice").unwrap();
        assert!(bob < hostile && hostile < alice);
        assert_eq!(html.matches("<tr class=\"s-").count(), 3);
    }
}
