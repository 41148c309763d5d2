//! An admin's second factors from `SHOW MFA METHODS FOR USER` (columns
//! `name`, `type`, `comment`, `last_used`, `created_on`; `last_used` empty
//! for Duo). Pure.

use super::rows::Row;
use crate::domain::{MfaMethod, MfaMethods};

/// `SHOW MFA METHODS` columns read.
pub const METHOD_COLUMNS: &[&str] = &["type", "last_used"];

/// The methods listed, sorted, each with the day it was last used.
pub fn from_rows(rows: &[Row]) -> MfaMethods {
    let mut methods: Vec<MfaMethod> = rows
        .iter()
        .filter_map(|r| {
            let kind = r.get("type")?.trim().to_ascii_uppercase();
            Some(MfaMethod {
                kind,
                last_used: r.get("last_used").and_then(day),
            })
        })
        .collect();
    methods.sort();
    MfaMethods::Read(methods)
}

/// The day of a `last_used` cell: the SQL API prints timestamps as epoch
/// seconds with a fraction (`1764500000.123000000`), some results as
/// `2026-11-30 08:15:00.000 -0800`.
fn day(cell: &str) -> Option<String> {
    let cell = cell.trim();
    if cell.is_empty() || cell.eq_ignore_ascii_case("null") {
        return None;
    }
    if let Some(secs) = cell
        .split(' ')
        .next()
        .and_then(|s| s.split('.').next())
        .and_then(|s| s.parse::<i64>().ok())
    {
        return chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%Y-%m-%d").to_string());
    }
    cell.get(..10)
        .filter(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, last_used: Option<&str>) -> Row {
        Row::new(
            METHOD_COLUMNS.into(),
            vec![Some(kind.into()), last_used.map(str::to_owned)],
        )
    }

    #[test]
    fn methods_are_listed_with_the_day_they_were_last_used() {
        let m = from_rows(&[
            row("TOTP", Some("1764500000.123000000")),
            row("passkey", Some("2026-11-30 08:15:00.000 -0800")),
            row("DUO", None),
        ]);
        assert_eq!(
            m.summary(),
            "DUO, PASSKEY (last used 2026-11-30), TOTP (last used 2025-11-30)"
        );
        assert_eq!(from_rows(&[]).summary(), "none enrolled");
    }
}
