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

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_iam::types::SummaryKeyType;

use super::{Discovery, Monitor, MonitorError};
use crate::config::values::TagKey;
use crate::config::AwsAccount;
use crate::domain::{Source, TargetKey, TargetSnapshot};
use crate::error::CheckItem;

pub use account::{collect_account, read_account, ReadOptions};
pub use credential_report::{parse_credential_report, ReportPolling, ReportRow, REPORT_ROOT_USER};
pub use devices::device_kind;
pub use limiter::AimdBounds;
pub use org_features::OrgFeatures;
pub(super) use paging::call;
pub use root::RootManagement;

/// The principal name of an account's root user (contract).
pub const ROOT: &str = "<root>";

/// The discovery scope of `org:ROLE_NAME`: one organization per set of
/// credentials, so one fixed key keeps its members across passes.
pub const ORGANIZATION_SCOPE: &str = "organization";

pub struct AwsIamMonitor {
    base: SdkConfig,
    accounts: Vec<AwsAccount>,
    polling: ReportPolling,
    per_user: AimdBounds,
    org_features: org_features::OrgFeaturesCache,
    /// `AWS_IAM_EXCLUDE_ACCOUNTS`.
    excluded: BTreeSet<String>,
    /// The calling account and its partition, asked once: the account
    /// `self` stands for, read directly when discovery finds it.
    caller: tokio::sync::OnceCell<(String, String)>,
    org_page_size: i32,
    /// `MFA_EMAIL_TAG`.
    email_tag: TagKey,
}

impl AwsIamMonitor {
    pub fn new(base: SdkConfig, accounts: Vec<AwsAccount>) -> Self {
        Self {
            base,
            accounts,
            polling: ReportPolling::default(),
            per_user: AimdBounds::default(),
            org_features: Default::default(),
            excluded: BTreeSet::new(),
            caller: tokio::sync::OnceCell::new(),
            org_page_size: 20,
            email_tag: TagKey::default(),
        }
    }

    /// The user tag read as the holder's e-mail address (`MFA_EMAIL_TAG`).
    pub fn with_email_tag(mut self, tag: TagKey) -> Self {
        self.email_tag = tag;
        self
    }

    pub fn excluding(mut self, excluded: BTreeSet<String>) -> Self {
        self.excluded = excluded;
        self
    }

    /// ListAccounts page size (20, its maximum, unless a test wants pages).
    pub fn with_org_page_size(mut self, size: i32) -> Self {
        self.org_page_size = size;
        self
    }

    fn org_role(&self) -> Option<&str> {
        self.accounts.iter().find_map(|a| match a {
            AwsAccount::Organization { role_name } => Some(role_name.as_str()),
            _ => None,
        })
    }

    /// The calling account's id and partition.
    async fn caller(&self) -> Result<&(String, String), MonitorError> {
        self.caller
            .get_or_try_init(|| async {
                let out = aws_sdk_sts::Client::new(&self.base)
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| call("sts:GetCallerIdentity", e))?;
                let account = out.account.ok_or_else(|| {
                    MonitorError::Malformed("sts:GetCallerIdentity returned no account".into())
                })?;
                let partition = out
                    .arn
                    .as_deref()
                    .and_then(|arn| arn.split(':').nth(1))
                    .unwrap_or("aws")
                    .to_owned();
                Ok((account, partition))
            })
            .await
    }

    /// Every account of the organization to read, the excluded left out.
    async fn organization(&self) -> Result<Vec<TargetKey>, MonitorError> {
        let (caller, _) = self.caller().await?.clone();
        let client = aws_sdk_organizations::Client::new(&self.base);
        let accounts = super::aws_org::list_accounts(&client, self.org_page_size).await?;
        tracing::debug!(
            active = accounts.active.len(),
            inactive = accounts.inactive.len(),
            caller = %caller,
            "organization listed"
        );
        Ok(accounts
            .active
            .into_iter()
            .filter(|id| !self.excluded.contains(id))
            .map(|id| TargetKey::new(Source::Aws, id))
            .collect())
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

    /// SDK config holding the credentials of the account behind `label`:
    /// `self`, a configured role ARN, or the role ARN `label_for` gave a
    /// discovered account.
    async fn config_for(&self, label: &str) -> Result<SdkConfig, MonitorError> {
        let discovered =
            self.org_role().is_some() && label.starts_with("arn:") && label.contains(":role/");
        match self.account(label) {
            // The calling account, configured or found by discovery.
            _ if label == "self" => Ok(self.base.clone()),
            Some(AwsAccount::Role { arn, .. }) => Ok(self.assume(arn).await),
            _ if discovered => Ok(self.assume(label).await),
            _ => Err(MonitorError::Malformed(format!(
                "no configured AWS account `{label}`"
            ))),
        }
    }

    /// Reads the account whose credentials `config` holds, judging its root
    /// with what the organization says (read with the monitor's own
    /// credentials, cached for a few minutes, and asked only when a root
    /// without MFA has no credentials either).
    pub async fn read_with(&self, config: &SdkConfig) -> Result<TargetSnapshot, MonitorError> {
        let account_id = account::account_id(config).await?;
        let options = ReadOptions {
            polling: self.polling,
            root_management: RootManagement::NotCentral,
            per_user: self.per_user,
            email_tag: self.email_tag.clone(),
        };
        let read =
            account::read_users(&aws_sdk_iam::Client::new(config), &account_id, &options).await?;
        let management = if read.root_needs_organization() {
            self.org_features
                .get(&self.base)
                .await
                .for_account(&account_id)
        } else {
            RootManagement::NotCentral
        };
        Ok(read.finish(&management))
    }
}

#[async_trait]
impl Monitor for AwsIamMonitor {
    fn source(&self) -> Source {
        Source::Aws
    }

    fn targets(&self) -> Vec<String> {
        self.accounts
            .iter()
            .filter(|a| match a {
                AwsAccount::Role { account_id, .. } => !self.excluded.contains(account_id),
                AwsAccount::SelfAccount => true,
                AwsAccount::Organization { .. } => false,
            })
            .map(|a| a.label().to_owned())
            .collect()
    }

    fn provisional_key(&self, target: &str) -> TargetKey {
        match self.account(target) {
            Some(AwsAccount::Role { account_id, .. }) => {
                TargetKey::new(Source::Aws, account_id.clone())
            }
            // Known once discovery asked who is calling, so that the
            // management account found in the organization is not read
            // a second time under `self`.
            Some(AwsAccount::SelfAccount) => match self.caller.get() {
                Some((account, _)) => TargetKey::new(Source::Aws, account.clone()),
                None => TargetKey::new(Source::Aws, target),
            },
            _ => match target.split(':').nth(4) {
                Some(account) if target.starts_with("arn:") => TargetKey::new(Source::Aws, account),
                _ => TargetKey::new(Source::Aws, target),
            },
        }
    }

    async fn discover(&self) -> Vec<Discovery> {
        if self.org_role().is_none() {
            return Vec::new();
        }
        vec![Discovery {
            scope: TargetKey::new(Source::Aws, ORGANIZATION_SCOPE),
            found: self.organization().await,
        }]
    }

    fn label_for(&self, key: &TargetKey) -> String {
        match (self.caller.get(), self.org_role()) {
            (Some((caller, _)), _) if *caller == key.target => "self".into(),
            (caller, Some(role)) => format!(
                "arn:{}:iam::{}:role/{role}",
                caller.map_or("aws", |(_, p)| p.as_str()),
                key.target
            ),
            (_, None) => key.target.clone(),
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
