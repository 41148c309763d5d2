//! An authentication policy's MFA settings, from `DESCRIBE AUTHENTICATION
//! POLICY` (rows of `property`, `value`), as target-level switches. Pure.
//!
//! Values as Snowflake prints them: `MFA_ENROLLMENT` is `REQUIRED`,
//! `REQUIRED_PASSWORD_ONLY`, `REQUIRED_SNOWFLAKE_UI_PASSWORD_ONLY` or (older
//! accounts) `OPTIONAL`; `MFA_POLICY` is
//! `{ALLOWED_METHODS=[ALL], ENFORCE_MFA_ON_EXTERNAL_AUTHENTICATION=NONE}`;
//! older accounts have `MFA_AUTHENTICATION_METHODS` (`[PASSWORD, SAML]`:
//! MFA asked on password and SSO sign-ins) instead of the enforce option.

use std::collections::BTreeMap;

use super::rows::Row;

/// `DESCRIBE AUTHENTICATION POLICY` columns read.
pub const DESCRIBE_COLUMNS: &[&str] = &["property", "value"];
/// `SHOW AUTHENTICATION POLICIES` columns read.
pub const SHOW_COLUMNS: &[&str] = &["name", "database_name", "schema_name"];

/// Requirement switch names (`TargetSettings.requirements`, `true` tighter).
pub const ENROLLMENT_REQUIRED: &str = "mfa_enrollment_required";
pub const ENROLLMENT_ALL_CLIENTS: &str = "mfa_required_on_all_clients";
pub const ON_EXTERNAL_AUTHENTICATION: &str = "mfa_on_external_authentication";
/// Detail names (`TargetSettings.details`, shown, not diffed).
pub const DETAIL_POLICY: &str = "authentication_policy";
pub const DETAIL_ENROLLMENT: &str = "mfa_enrollment";
pub const DETAIL_METHODS: &str = "mfa_allowed_methods";

/// The MFA part of one authentication policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MfaSettings {
    /// `MFA_ENROLLMENT` as printed.
    pub enrollment: Option<String>,
    /// `ALLOWED_METHODS`, e.g. `["ALL"]` or `["PASSKEY", "TOTP"]`.
    pub allowed_methods: Vec<String>,
    /// Snowflake MFA is enforced on SSO (external) sign-ins too.
    pub on_external_authentication: bool,
}

impl MfaSettings {
    /// From the policy's `DESCRIBE` rows.
    pub fn from_describe(rows: &[Row]) -> Self {
        let props: BTreeMap<String, &str> = rows
            .iter()
            .filter_map(|r| Some((r.get("property")?.to_ascii_uppercase(), r.get("value")?)))
            .collect();
        let enrollment = props
            .get("MFA_ENROLLMENT")
            .map(|v| v.trim().trim_matches('\'').to_ascii_uppercase())
            .filter(|v| !v.is_empty() && v != "NULL");
        let bag = props
            .get("MFA_POLICY")
            .map(|v| parse_bag(v))
            .unwrap_or_default();
        let allowed_methods = bag
            .get("ALLOWED_METHODS")
            .map(|v| parse_list(v))
            .unwrap_or_default();
        let on_external_authentication = match bag.get("ENFORCE_MFA_ON_EXTERNAL_AUTHENTICATION") {
            Some(v) => v.eq_ignore_ascii_case("ALL"),
            // Before ENFORCE_MFA_ON_EXTERNAL_AUTHENTICATION, listing SAML in
            // MFA_AUTHENTICATION_METHODS asked MFA of SSO sign-ins.
            None => props
                .get("MFA_AUTHENTICATION_METHODS")
                .map(|v| parse_list(v))
                .is_some_and(|m| m.iter().any(|m| m == "SAML" || m == "ALL")),
        };
        MfaSettings {
            enrollment,
            allowed_methods,
            on_external_authentication,
        }
    }

    /// The switches this policy sets, attached to the account; `None` (no
    /// policy attached) sets them all off, so a detached policy reads as
    /// every requirement disabled.
    pub fn requirements(policy: Option<&Self>) -> BTreeMap<String, bool> {
        let enrollment = policy.and_then(|p| p.enrollment.as_deref());
        let required = enrollment.is_some_and(|e| e.starts_with("REQUIRED"));
        let all_clients = matches!(enrollment, Some("REQUIRED" | "REQUIRED_PASSWORD_ONLY"));
        BTreeMap::from([
            (ENROLLMENT_REQUIRED.to_owned(), required),
            (ENROLLMENT_ALL_CLIENTS.to_owned(), all_clients),
            (
                ON_EXTERNAL_AUTHENTICATION.to_owned(),
                policy.is_some_and(|p| p.on_external_authentication),
            ),
        ])
    }

    /// What reports show beside the switches.
    pub fn details(name: Option<&str>, policy: Option<&Self>) -> BTreeMap<String, String> {
        let mut d = BTreeMap::new();
        d.insert(
            DETAIL_POLICY.to_owned(),
            name.unwrap_or("(none attached to the account)").to_owned(),
        );
        if let Some(p) = policy {
            if let Some(e) = &p.enrollment {
                d.insert(DETAIL_ENROLLMENT.to_owned(), e.clone());
            }
            if !p.allowed_methods.is_empty() {
                d.insert(DETAIL_METHODS.to_owned(), p.allowed_methods.join(", "));
            }
        }
        d
    }
}

/// `{A=[X, Y], B=NONE}` into `A → "[X, Y]"`, `B → "NONE"`: commas inside
/// brackets belong to the value.
fn parse_bag(text: &str) -> BTreeMap<String, String> {
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    let mut out = BTreeMap::new();
    let mut depth = 0i32;
    let mut start = 0;
    let mut push = |piece: &str| {
        if let Some((k, v)) = piece.split_once('=') {
            out.insert(k.trim().to_ascii_uppercase(), v.trim().to_owned());
        }
    };
    for (i, c) in inner.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(&inner[start..]);
    out
}

/// `[PASSKEY, TOTP]` or `('PASSKEY', 'TOTP')` into upper-cased names.
fn parse_list(text: &str) -> Vec<String> {
    text.trim()
        .trim_start_matches(['[', '('])
        .trim_end_matches([']', ')'])
        .split(',')
        .map(|m| {
            m.trim()
                .trim_matches('\'')
                .trim_matches('"')
                .to_ascii_uppercase()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

/// A policy's fully qualified, quoted name from its `SHOW` row.
pub fn qualified_name(row: &Row) -> Option<String> {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    Some(format!(
        "{}.{}.{}",
        q(row.get("database_name")?),
        q(row.get("schema_name")?),
        q(row.get("name")?)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(pairs: &[(&str, &str)]) -> Vec<Row> {
        pairs
            .iter()
            .map(|(p, v)| {
                Row::new(
                    DESCRIBE_COLUMNS.into(),
                    vec![Some(p.to_string()), Some(v.to_string())],
                )
            })
            .collect()
    }

    #[test]
    fn the_mfa_policy_bag_and_enrollment_read_as_snowflake_prints_them() {
        let p = MfaSettings::from_describe(&describe(&[
            ("NAME", "REQUIRE_MFA"),
            ("MFA_ENROLLMENT", "REQUIRED_PASSWORD_ONLY"),
            (
                "MFA_POLICY",
                "{ALLOWED_METHODS=[PASSKEY, TOTP], ENFORCE_MFA_ON_EXTERNAL_AUTHENTICATION=ALL}",
            ),
        ]));
        assert_eq!(p.enrollment.as_deref(), Some("REQUIRED_PASSWORD_ONLY"));
        assert_eq!(p.allowed_methods, ["PASSKEY", "TOTP"]);
        assert!(p.on_external_authentication);
        let r = MfaSettings::requirements(Some(&p));
        assert!(
            r[ENROLLMENT_REQUIRED] && r[ENROLLMENT_ALL_CLIENTS] && r[ON_EXTERNAL_AUTHENTICATION]
        );
        let d = MfaSettings::details(Some("DB.S.REQUIRE_MFA"), Some(&p));
        assert_eq!(d[DETAIL_METHODS], "PASSKEY, TOTP");
    }

    #[test]
    fn a_looser_or_detached_policy_turns_switches_off() {
        let ui_only = MfaSettings::from_describe(&describe(&[
            ("MFA_ENROLLMENT", "REQUIRED_SNOWFLAKE_UI_PASSWORD_ONLY"),
            (
                "MFA_POLICY",
                "{ALLOWED_METHODS=[ALL], ENFORCE_MFA_ON_EXTERNAL_AUTHENTICATION=NONE}",
            ),
        ]));
        let r = MfaSettings::requirements(Some(&ui_only));
        assert_eq!(
            (
                r[ENROLLMENT_REQUIRED],
                r[ENROLLMENT_ALL_CLIENTS],
                r[ON_EXTERNAL_AUTHENTICATION]
            ),
            (true, false, false)
        );
        let optional = MfaSettings::from_describe(&describe(&[("MFA_ENROLLMENT", "OPTIONAL")]));
        assert!(!MfaSettings::requirements(Some(&optional))[ENROLLMENT_REQUIRED]);
        assert!(MfaSettings::requirements(None).values().all(|on| !on));
    }

    #[test]
    fn the_older_mfa_authentication_methods_property_still_tells_sso_enforcement() {
        let old = MfaSettings::from_describe(&describe(&[
            ("MFA_ENROLLMENT", "REQUIRED"),
            ("MFA_AUTHENTICATION_METHODS", "[PASSWORD, SAML]"),
        ]));
        assert!(old.on_external_authentication);
        let password_only =
            MfaSettings::from_describe(&describe(&[("MFA_AUTHENTICATION_METHODS", "[PASSWORD]")]));
        assert!(!password_only.on_external_authentication);
    }

    #[test]
    fn policy_names_are_quoted_in_full() {
        let row = Row::new(
            SHOW_COLUMNS.into(),
            vec![
                Some("P\"1".into()),
                Some("SECURITY".into()),
                Some("POLICIES".into()),
            ],
        );
        assert_eq!(
            qualified_name(&row).unwrap(),
            "\"SECURITY\".\"POLICIES\".\"P\"\"1\""
        );
    }
}
