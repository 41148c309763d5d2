//! One view of each person across sources (`report --by person`): the
//! report's rows grouped by the e-mail address each principal is linked
//! to (the people file, `MFA_PEOPLE_FILE`). Pure.

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

/// Groups `rows` by person; `links` maps a principal id to an address.
pub fn by_person(rows: &[Row], links: &BTreeMap<String, String>) -> People {
    let mut grouped: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut unlinked = Vec::new();
    for row in rows {
        match links.get(&row.principal) {
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
    fn an_exempt_account_without_mfa_is_not_counted_against_its_person() {
        let mut exempt = row("aws:1/bob", MfaStatus::Disabled);
        exempt.exempt = true;
        let links = [("aws:1/bob".to_owned(), "bob@example.com".to_owned())].into();
        assert_eq!(by_person(&[exempt], &links).people[0].lacking_mfa, 0);
    }
}
