//! The people file (`MFA_PEOPLE_FILE`): which person, by e-mail, holds
//! which account, for `report --by person`. TOML, one line per account:
//!
//! ```toml
//! [people]
//! "github:acme/octocat" = "alice@example.com"
//! "aws:111122223333/alice" = "alice@example.com"
//! "snowflake:myorg-acct/ALICE" = "alice@example.com"
//! ```
//!
//! Pure over the text; every error names its line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::values::EmailAddress;
use crate::domain::PrincipalId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    #[serde(default)]
    people: BTreeMap<String, Spanned<String>>,
}

/// A people file's error: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}, line {line}: {message}")]
pub struct PeopleError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

/// Principal id → the e-mail address of the person holding it.
pub fn parse(text: &str, origin: &str) -> Result<BTreeMap<PrincipalId, EmailAddress>, PeopleError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let err = |offset: usize, message: String| PeopleError {
        origin: origin.to_owned(),
        line: line_of(offset),
        message,
    };
    let file: FileDef = toml::from_str(text).map_err(|e| {
        err(
            e.span().map_or(0, |s| s.start),
            e.message().trim().to_owned(),
        )
    })?;
    let mut people = BTreeMap::new();
    for (id, email) in file.people {
        let at = email.span().start;
        let principal: PrincipalId = id
            .trim()
            .parse()
            .map_err(|e: crate::domain::principal::ParseIdError| err(at, e.to_string()))?;
        let address = EmailAddress::parse("MFA_PEOPLE_FILE", email.get_ref().trim())
            .map_err(|e| err(at, format!("`{id}`: {}", e.reason)))?;
        people.insert(principal, address);
    }
    Ok(people)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_people_file_maps_principal_ids_to_addresses() {
        let p = parse(
            "[people]\n\"github:acme/octocat\" = \"alice@example.com\"\n\"aws:111122223333/alice\" = \"alice@example.com\"\n",
            "f",
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        let id: PrincipalId = "github:acme/octocat".parse().unwrap();
        assert_eq!(p[&id].as_str(), "alice@example.com");
    }

    #[test]
    fn a_bad_line_is_named() {
        for (text, line, says) in [
            ("[people]\n\"github:acme/a\" = \"a@example.com\"\n\"gitlab:x/y\" = \"b@example.com\"\n", 3, "unknown source"),
            ("[people]\n\"github:acme/a\" = \"not an address\"\n", 2, "not an email address"),
            ("[people]\n\"github:acme/a\" = \"a@example.com\"\n\"github:acme/a\" = \"b@example.com\"\n", 3, "duplicate"),
            ("[persons]\n", 1, "unknown field"),
        ] {
            let e = parse(text, "MFA_PEOPLE_FILE=p.toml").unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
        }
    }
}
