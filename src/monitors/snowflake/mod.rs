//! Snowflake: every user's MFA in one or more accounts through the SQL API
//! v2 with key-pair authentication.
//!
//! `SHOW USERS` (current, unlike ACCOUNT_USAGE which lags hours) gives how
//! each user signs in (`type`, `has_password`) and whether they enrolled
//! MFA (`has_mfa`, which covers passkeys, authenticator apps and Duo);
//! `users.rs` judges each. Holders of ACCOUNTADMIN and SECURITYADMIN come
//! from `SHOW GRANTS OF ROLE`, their methods from `SHOW MFA METHODS`; the
//! account's authentication policy becomes target requirements
//! (`policy.rs`). Each account is its own target with its own key-pair JWT.
//!
//! Files: `api.rs` (statements, polling, partitions), `rows.rs` (result
//! rows), `jwt.rs` (key-pair JWT), `account.rs` (what one account's read
//! is made of), `users.rs`, `policy.rs`, `methods.rs` (pure judging).

pub mod account;
pub mod api;
pub mod jwt;
pub mod methods;
pub mod policy;
pub mod rows;
pub mod users;

use std::time::Duration;

use async_trait::async_trait;

pub use account::Account;
pub use api::{parse_partition, parse_result_set, ResultSet, SqlApi};
pub use users::{judge, PolicyForUser, USER_COLUMNS};

use super::{Monitor, MonitorError};
use crate::domain::{Source, TargetKey, TargetSnapshot};
use crate::error::CheckItem;

pub struct SnowflakeMonitor {
    accounts: Vec<Account>,
}

impl SnowflakeMonitor {
    /// Several accounts, each read as its own target.
    pub fn new(accounts: Vec<Account>) -> Self {
        Self { accounts }
    }

    /// Poll interval and bound for statements answered with 202.
    pub fn with_polling(self, interval: Duration, max_wait: Duration) -> Self {
        Self {
            accounts: self
                .accounts
                .into_iter()
                .map(|a| Account {
                    name: a.name,
                    api: a.api.with_polling(interval, max_wait),
                })
                .collect(),
        }
    }

    fn account(&self, target: &str) -> Result<&Account, MonitorError> {
        self.accounts
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(target))
            .ok_or_else(|| {
                MonitorError::Malformed(format!("`{target}` is not in SNOWFLAKE_ACCOUNT"))
            })
    }
}

#[async_trait]
impl Monitor for SnowflakeMonitor {
    fn source(&self) -> Source {
        Source::Snowflake
    }

    fn targets(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.name.clone()).collect()
    }

    fn provisional_key(&self, target: &str) -> TargetKey {
        TargetKey::new(Source::Snowflake, target)
    }

    async fn collect(&self, target: &str) -> Result<TargetSnapshot, MonitorError> {
        self.account(target)?.collect().await
    }

    async fn check(&self, target: &str) -> CheckItem {
        let component = format!("snowflake:{target}");
        let outcome = match self.account(target) {
            Ok(a) => a.check().await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(detail) => CheckItem {
                component,
                ok: true,
                detail,
            },
            Err(e) => CheckItem {
                component,
                ok: false,
                detail: e.to_string(),
            },
        }
    }
}
