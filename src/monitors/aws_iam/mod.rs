//! AWS IAM: every user's MFA status per account, in bulk.
//!
//! One account is read with a handful of bulk calls (the credential report,
//! `GetAccountAuthorizationDetails`, the virtual-device listing, the
//! account summary) and per-user calls only where they can change the
//! answer ([`account::plan`]), under an adaptive concurrency limit
//! ([`limiter`]). Every listing is followed to its last page; a page that
//! says more follow but gives no marker fails the account.
//!
//! - [`account`]: one account, end to end, and what to read live per user
//! - [`credential_report`]: generating and parsing the report
//! - [`authz`] and [`policy`]: every user and every admin
//! - [`devices`]: device kinds and the per-user reads
//! - [`root`] and [`org_features`]: the root user under centralized root access
//! - [`limiter`] and [`paging`]: AIMD concurrency, paging, retries

pub mod account;
pub mod authz;
pub mod credential_report;
pub mod devices;
pub mod limiter;
pub mod org_features;
pub mod paging;
pub mod policy;
pub mod root;

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_iam::types::SummaryKeyType;

use super::{Monitor, MonitorError};
use crate::config::AwsAccount;
use crate::domain::{Source, TargetKey, TargetSnapshot};
use crate::error::CheckItem;

pub use account::{collect_account, read_account, ReadOptions};
pub use credential_report::{parse_credential_report, ReportPolling, ReportRow, REPORT_ROOT_USER};
pub use devices::device_kind;
pub use limiter::AimdBounds;
pub use org_features::OrgFeatures;
pub use root::RootManagement;

/// The principal name of an account's root user (contract).
pub const ROOT: &str = "<root>";

pub struct AwsIamMonitor {
    base: SdkConfig,
    accounts: Vec<AwsAccount>,
    polling: ReportPolling,
    per_user: AimdBounds,
    org_features: org_features::OrgFeaturesCache,
}

impl AwsIamMonitor {
    pub fn new(base: SdkConfig, accounts: Vec<AwsAccount>) -> Self {
        Self {
            base,
            accounts,
            polling: ReportPolling::default(),
            per_user: AimdBounds::default(),
            org_features: Default::default(),
        }
    }

    pub fn with_report_polling(mut self, interval: Duration, max_wait: Duration) -> Self {
        self.polling = ReportPolling { interval, max_wait };
        self
    }

    pub fn with_per_user_bounds(mut self, bounds: AimdBounds) -> Self {
        self.per_user = bounds;
        self
    }

    fn account(&self, label: &str) -> Option<&AwsAccount> {
        self.accounts.iter().find(|a| a.label() == label)
    }

    /// SDK config holding the credentials of `role_arn`, assumed from the
    /// monitor's own credentials (refreshed by the provider as they expire).
    pub async fn assume(&self, role_arn: &str) -> SdkConfig {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("mfa-monitor")
            .configure(&self.base)
            .build()
            .await;
        self.base
            .to_builder()
            .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build()
    }

    /// SDK config holding the credentials of the account behind `label`.
    async fn config_for(&self, label: &str) -> Result<SdkConfig, MonitorError> {
        match self.account(label) {
            Some(AwsAccount::SelfAccount) => Ok(self.base.clone()),
            Some(AwsAccount::Role { arn, .. }) => Ok(self.assume(arn).await),
            None => Err(MonitorError::Malformed(format!(
                "no configured AWS account `{label}`"
            ))),
        }
    }

    /// Reads the account whose credentials `config` holds, judging its root
    /// with what the organization says (read with the monitor's own
    /// credentials, cached for a few minutes).
    pub async fn read_with(&self, config: &SdkConfig) -> Result<TargetSnapshot, MonitorError> {
        let account_id = account::account_id(config).await?;
        let org = self.org_features.get(&self.base).await;
        let options = ReadOptions {
            polling: self.polling,
            root_management: org.for_account(&account_id),
            per_user: self.per_user,
        };
        collect_account(&aws_sdk_iam::Client::new(config), &account_id, &options).await
    }
}

#[async_trait]
impl Monitor for AwsIamMonitor {
    fn source(&self) -> Source {
        Source::Aws
    }

    fn targets(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.label().to_owned()).collect()
    }

    fn provisional_key(&self, target: &str) -> TargetKey {
        match self.account(target) {
            Some(AwsAccount::Role { account_id, .. }) => {
                TargetKey::new(Source::Aws, account_id.clone())
            }
            _ => TargetKey::new(Source::Aws, target),
        }
    }

    async fn collect(&self, target: &str) -> Result<TargetSnapshot, MonitorError> {
        let config = self.config_for(target).await?;
        self.read_with(&config).await
    }

    async fn check(&self, target: &str) -> CheckItem {
        let key = self.provisional_key(target);
        let result = async {
            let config = self.config_for(target).await?;
            let account_id = account::account_id(&config).await?;
            let summary = aws_sdk_iam::Client::new(&config)
                .get_account_summary()
                .send()
                .await
                .map_err(|e| paging::call("iam:GetAccountSummary", e))?;
            let users = summary
                .summary_map
                .as_ref()
                .and_then(|m| m.get(&SummaryKeyType::Users))
                .copied()
                .unwrap_or(0);
            Ok::<_, MonitorError>((account_id, users))
        }
        .await;
        match result {
            Ok((account_id, users)) => CheckItem {
                component: format!("aws:{account_id}"),
                ok: true,
                detail: format!("reachable ({target}); {users} IAM user(s)"),
            },
            Err(e) => CheckItem {
                component: key.to_string(),
                ok: false,
                detail: e.to_string(),
            },
        }
    }
}
