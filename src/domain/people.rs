//! One view of each person across sources (`report --by person`): the
//! report's rows grouped by the e-mail address each principal is linked
//! to: the people file's (`MFA_PEOPLE_FILE`) where it names the
//! principal, else the one the source gave (Snowflake's `EMAIL`, the IAM
//! user tag `MFA_EMAIL_TAG`). Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use super::report::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub email: String,
    /// Accounts without MFA (or with only a weak factor), exempt ones left
    /// out: what this person has to fix.
    pub lacking_mfa: usize,
    pub accounts: Vec<Row>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct People {
    /// People with any account lacking MFA first, then by address.
    pub people: Vec<Person>,
    /// Accounts no person could be linked to.
    pub unlinked: Vec<Row>,
}

/// The address `principal` is linked to: the people file's entry wins
/// (the operator's word over what a source holds, which may be stale or a
/// shared mailbox), else the source's.
pub fn link<'a>(
    people: &'a BTreeMap<String, String>,
    principal: &str,
    source: Option<&'a str>,
) -> Option<&'a str> {
    people.get(principal).map(String::as_str).or(source)
}

/// Groups `rows` by person; `links` (the people file) maps a principal id
/// to an address, and a row it does not name goes by its source's.
pub fn by_person(rows: &[Row], links: &BTreeMap<String, String>) -> People {
    let mut grouped: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut unlinked = Vec::new();
    for row in rows {
        match link(links, &row.principal, row.email.as_deref()) {
            // Addresses are compared without case: the same mailbox.
            Some(email) => grouped
                .entry(email.to_ascii_lowercase())
                .or_default()
                .push(row.clone()),
            None => unlinked.push(row.clone()),
        }
    }
    let mut people: Vec<Person> = grouped
        .into_iter()
        .map(|(email, accounts)| Person {
            lacking_mfa: accounts
                .iter()
                .filter(|a| a.status.is_non_compliant() && !a.exempt)
                .count(),
            email,
            accounts,
        })
        .collect();
    people.sort_by(|a, b| (a.lacking_mfa == 0, &a.email).cmp(&(b.lacking_mfa == 0, &b.email)));
    People { people, unlinked }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MfaStatus, Source};

    fn row(principal: &str, status: MfaStatus) -> Row {
        Row {
            principal: principal.into(),
            source: principal
                .split(':')
                .next()
                .unwrap()
                .parse::<Source>()
                .unwrap(),
            status,
            admin: false,
            login: "console".into(),
            days_without_mfa: None,
            first_seen: chrono::DateTime::UNIX_EPOCH,
            exempt: false,
            exempt_until: None,
            has_pat: false,
            mfa_methods: None,
            hint: None,
            reason: None,
            email: None,
        }
    }

    #[test]
    fn a_persons_accounts_in_every_source_are_one_entry_lacking_mfa_first() {
        let rows = vec![
            row("github:acme/alice-gh", MfaStatus::Enabled),
            row("aws:111122223333/alice", MfaStatus::Enabled),
            row("snowflake:org-acct/ALICE", MfaStatus::Enabled),
            row("github:acme/zed", MfaStatus::Enabled),
            row("aws:111122223333/zed", MfaStatus::Disabled),
            row("aws:111122223333/svc-ci", MfaStatus::Disabled),
        ];
        let links: BTreeMap<String, String> = [
            ("github:acme/alice-gh", "alice@example.com"),
            ("aws:111122223333/alice", "Alice@Example.com"),
            ("snowflake:org-acct/ALICE", "alice@example.com"),
            ("github:acme/zed", "zed@example.com"),
            ("aws:111122223333/zed", "zed@example.com"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        let p = by_person(&rows, &links);
        let people: Vec<(&str, usize, usize)> = p
            .people
            .iter()
            .map(|p| (p.email.as_str(), p.accounts.len(), p.lacking_mfa))
            .collect();
        assert_eq!(
            people,
            [("zed@example.com", 2, 1), ("alice@example.com", 3, 0)],
            "zed lacks MFA somewhere, so comes first"
        );
        assert_eq!(p.unlinked.len(), 1);
        assert_eq!(p.unlinked[0].principal, "aws:111122223333/svc-ci");
    }

    #[test]
    fn a_source_address_links_a_row_the_people_file_does_not_name_and_the_file_wins() {
        let mut snowflake = row("snowflake:org-acct/ALICE", MfaStatus::Disabled);
        snowflake.email = Some("ALICE@example.com".into());
        let mut aws = row("aws:1/alice", MfaStatus::Enabled);
        aws.email = Some("alice.old@example.com".into());
        let links = [("aws:1/alice".to_owned(), "alice@example.com".to_owned())].into();
        let p = by_person(&[snowflake, aws], &links);
        assert_eq!(p.people.len(), 1, "{p:?}");
        assert_eq!(p.people[0].email, "alice@example.com");
        assert_eq!(p.people[0].accounts.len(), 2);
        assert!(p.unlinked.is_empty());
    }

    #[test]
    fn an_exempt_account_without_mfa_is_not_counted_against_its_person() {
        let mut exempt = row("aws:1/bob", MfaStatus::Disabled);
        exempt.exempt = true;
        let links = [("aws:1/bob".to_owned(), "bob@example.com".to_owned())].into();
        assert_eq!(by_person(&[exempt], &links).people[0].lacking_mfa, 0);
    }
}
