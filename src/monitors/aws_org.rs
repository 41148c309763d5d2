//! The accounts of an AWS organization (`AWS_IAM_ACCOUNTS` entry
//! `org:ROLE_NAME`): every page of `organizations:ListAccounts`, from the
//! management account or a delegated administrator. Only a listing read to
//! its last page counts; anything less is an error, so the pass reads the
//! accounts it knew and retires none (ARCHITECTURE.md §3, discovery).

use std::collections::BTreeSet;

use aws_sdk_organizations::types::{AccountState, AccountStatus};
use tracing::warn;

use super::MonitorError;

/// A guard against a `NextToken` that never ends: 20 accounts a page
/// (ListAccounts' maximum) times this is far beyond any organization.
const MAX_PAGES: usize = 5_000;

/// What one complete listing of the organization gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounts {
    /// Accounts to read: `ACTIVE`, or in a state this version does not
    /// know (read rather than dropped: an account wrongly dropped is a
    /// false all-clear, one wrongly read fails visibly).
    pub active: Vec<String>,
    /// Accounts listed in another state (suspended, pending closure,
    /// closed, pending activation): not read, and retired if they were.
    pub inactive: Vec<String>,
}

/// Lists every account of the organization, page by page.
pub async fn list_accounts(
    client: &aws_sdk_organizations::Client,
    page_size: i32,
) -> Result<Accounts, MonitorError> {
    let mut active = Vec::new();
    let mut inactive = Vec::new();
    let mut seen_tokens = BTreeSet::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = client
            .list_accounts()
            .max_results(page_size)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| super::aws_iam::call("organizations:ListAccounts", e))?;
        for account in out.accounts.unwrap_or_default() {
            let id = account.id.clone().ok_or_else(|| {
                MonitorError::Malformed(
                    "organizations:ListAccounts: an account without an id".into(),
                )
            })?;
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MonitorError::Malformed(format!(
                    "organizations:ListAccounts: `{id}` is not an account id"
                )));
            }
            if is_active(account.state(), account.status(), &id) {
                active.push(id);
            } else {
                inactive.push(id);
            }
        }
        match out.next_token {
            Some(t) if !t.is_empty() => {
                if !seen_tokens.insert(t.clone()) {
                    return Err(MonitorError::Incomplete(
                        "organizations:ListAccounts returned a NextToken it had already returned"
                            .into(),
                    ));
                }
                token = Some(t);
            }
            _ => {
                active.sort();
                active.dedup();
                inactive.sort();
                inactive.dedup();
                return Ok(Accounts { active, inactive });
            }
        }
    }
    Err(MonitorError::Incomplete(format!(
        "organizations:ListAccounts still had pages after {MAX_PAGES}"
    )))
}

/// `State` replaced `Status` (retired on 9 September 2026); an answer
/// that carries only `Status` is still read.
fn is_active(state: Option<&AccountState>, status: Option<&AccountStatus>, id: &str) -> bool {
    match (state, status) {
        (Some(AccountState::Active), _) => true,
        (
            Some(
                AccountState::Suspended
                | AccountState::PendingClosure
                | AccountState::Closed
                | AccountState::PendingActivation,
            ),
            _,
        ) => false,
        (None, Some(AccountStatus::Active)) => true,
        (None, Some(AccountStatus::Suspended | AccountStatus::PendingClosure)) => false,
        (state, status) => {
            warn!(
                account = id,
                ?state,
                ?status,
                "account in a state this version does not know; read as active"
            );
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_accounts_and_unknown_states_are_read() {
        assert!(is_active(Some(&AccountState::Active), None, "1"));
        assert!(!is_active(
            Some(&AccountState::Suspended),
            Some(&AccountStatus::Active),
            "1"
        ));
        assert!(!is_active(Some(&AccountState::Closed), None, "1"));
        assert!(!is_active(
            Some(&AccountState::PendingActivation),
            None,
            "1"
        ));
        assert!(is_active(None, Some(&AccountStatus::Active), "1"));
        assert!(!is_active(None, Some(&AccountStatus::PendingClosure), "1"));
        assert!(is_active(
            Some(&AccountState::from("HIBERNATING")),
            None,
            "1"
        ));
        assert!(
            is_active(None, None, "1"),
            "no state at all is read, not dropped"
        );
    }
}
