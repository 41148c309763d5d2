//! `report --format csv`: a header row and one row per principal of the
//! report (after `--filter`), for a spreadsheet or an auditor.
//!
//! Quoting is RFC 4180 (the `csv` crate's writer: a field holding a comma,
//! quote or line break is quoted, quotes doubled, records end in CRLF as
//! RFC 4180 section 2 says). Names come from the sources, so a
//! cell that starts with `=`, `+`, `-` or `@` (or a tab, carriage return or
//! NUL, which some spreadsheets strip before evaluating) is prefixed with
//! `'`: the spreadsheet then shows it as text instead of running it as a
//! formula (OWASP ASVS 1.2.10, https://asvs.emil.hemdal.se/1.2.10; CWE-1236,
//! https://appsec.backslash.security/cwe/1236).

use crate::domain::report::{Report, Row};

/// The header, in the order of the columns.
pub const HEADER: [&str; 13] = [
    "principal",
    "source",
    "target",
    "name",
    "status",
    "reason",
    "admin",
    "login",
    "mfa_methods",
    "exempt_until",
    "first_seen",
    "days_without_mfa",
    "hint",
];

#[derive(Debug, thiserror::Error)]
#[error("could not write the CSV report: {0}")]
pub struct CsvError(#[from] ::csv::Error);

/// The report as CSV text, one record per row.
pub fn render(report: &Report) -> Result<String, CsvError> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(HEADER)?;
    for row in &report.rows {
        w.write_record(record(row).iter().map(|c| neutralise(c).into_owned()))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| CsvError(::csv::Error::from(e.into_error())))?;
    Ok(String::from_utf8(bytes).expect("all cells are UTF-8 strings"))
}

fn record(row: &Row) -> [String; 13] {
    let (target, name) = split_principal(&row.principal, row.source.as_str());
    let exempt_until = match (row.exempt, row.exempt_until) {
        (false, _) => String::new(),
        (true, Some(day)) => day.to_string(),
        (true, None) => "permanent".to_string(),
    };
    [
        row.principal.clone(),
        row.source.as_str().to_string(),
        target.to_string(),
        name.to_string(),
        row.status.as_str().to_string(),
        row.reason
            .as_ref()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        row.admin.to_string(),
        row.login.clone(),
        row.mfa_methods.clone().unwrap_or_default(),
        exempt_until,
        row.first_seen.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        row.days_without_mfa
            .map(|d| d.to_string())
            .unwrap_or_default(),
        row.hint.clone().unwrap_or_default(),
    ]
}

/// `source:target/name` into target and name; a principal id without the
/// separator (not expected) keeps its whole text as the name.
pub(crate) fn split_principal<'a>(principal: &'a str, source: &str) -> (&'a str, &'a str) {
    let rest = principal
        .strip_prefix(source)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or(principal);
    rest.split_once('/').unwrap_or(("", rest))
}

/// A cell a spreadsheet would evaluate, made text.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\0') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_cell_is_prefixed_and_a_plain_one_is_kept() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+1"), "'+1");
        assert_eq!(neutralise("-1"), "'-1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("\t=1"), "'\t=1");
        assert_eq!(neutralise("\0=1"), "'\0=1");
        assert_eq!(neutralise("alice"), "alice");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn a_principal_id_splits_into_target_and_name() {
        assert_eq!(
            split_principal("aws:123456789012/alice", "aws"),
            ("123456789012", "alice")
        );
        assert_eq!(
            split_principal("github:acme/a/b", "github"),
            ("acme", "a/b")
        );
    }
}
