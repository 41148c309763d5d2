//! AWS IAM: every user's MFA status per account, in bulk.
//!
//! The credential report gives every user's console-password flag in one
//! call, but AWS regenerates it at most every 4 hours; MFA devices are read
//! live instead (one `ListVirtualMFADevices` listing for the whole account,
//! plus `ListMFADevices` only for console users without a virtual device),
//! so a removed device shows within the hour. Users created since the
//! report are read live too. Every listing is followed to its last page; a
//! page that says more follow but gives no marker fails the account.
//!
//! Longer than the house's ~400 lines: one file per source (ARCHITECTURE.md
//! §6), and its listings, report parsing and per-user reads share one
//! paging helper; the AWS Organizations work (discovery, roots, policies)
//! splits it into `aws_iam/` when it lands.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_iam::types::{AssignmentStatusType, ReportStateType, SummaryKeyType};
use futures::{StreamExt, TryStreamExt};
use tracing::debug;

use super::{Discovery, Monitor, MonitorError};
use crate::config::AwsAccount;
use crate::domain::{
    Attributes, MfaDevice, MfaStatus, NaReason, Observation, Source, TargetKey, TargetSettings,
    TargetSnapshot,
};
use crate::error::BoxError;
use crate::error::CheckItem;

/// The principal name of an account's root user (contract).
pub const ROOT: &str = "<root>";
const ADMIN_POLICY_ARN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
/// Bound on pages of one listing: a marker that never ends is a failure,
/// not an endless pass.
const MAX_PAGES: usize = 10_000;
/// Concurrent per-user calls, kept low: IAM's control-plane rate limits are
/// account-wide and shared with everything else in the account.
const PER_USER_CONCURRENCY: usize = 8;

/// How long to wait for `GenerateCredentialReport` to complete: the first
/// wait is `interval`, each next one twice as long up to 2 s, so a report
/// that is ready in a moment costs a moment, and a slow one few calls.
#[derive(Debug, Clone, Copy)]
pub struct ReportPolling {
    pub interval: Duration,
    pub max_wait: Duration,
}

const REPORT_POLL_CAP: Duration = Duration::from_secs(2);

impl Default for ReportPolling {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(250),
            max_wait: Duration::from_secs(60),
        }
    }
}

pub struct AwsIamMonitor {
    base: SdkConfig,
    accounts: Vec<AwsAccount>,
    polling: ReportPolling,
    /// `AWS_IAM_EXCLUDE_ACCOUNTS`.
    excluded: BTreeSet<String>,
    /// The calling account and its partition, asked once: the account
    /// `self` stands for, read directly when discovery finds it.
    caller: tokio::sync::OnceCell<(String, String)>,
    org_page_size: i32,
}

/// The discovery scope of `org:ROLE_NAME`: one organization per set of
/// credentials, so one fixed key keeps its members across passes.
pub const ORGANIZATION_SCOPE: &str = "organization";

impl AwsIamMonitor {
    pub fn new(base: SdkConfig, accounts: Vec<AwsAccount>) -> Self {
        Self {
            base,
            accounts,
            polling: ReportPolling::default(),
            excluded: BTreeSet::new(),
            caller: tokio::sync::OnceCell::new(),
            org_page_size: 20,
        }
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
        debug!(
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

    fn account(&self, label: &str) -> Option<&AwsAccount> {
        self.accounts.iter().find(|a| a.label() == label)
    }

    /// SDK config holding the credentials of the account behind `label`:
    /// `self`, a configured role ARN, or the role ARN `label_for` gave a
    /// discovered account.
    async fn config_for(&self, label: &str) -> Result<SdkConfig, MonitorError> {
        let discovered =
            self.org_role().is_some() && label.starts_with("arn:") && label.contains(":role/");
        match self.account(label) {
            Some(AwsAccount::SelfAccount) => Ok(self.base.clone()),
            Some(AwsAccount::Role { arn, .. }) => self.assume(arn).await,
            _ if discovered => self.assume(label).await,
            _ => Err(MonitorError::Malformed(format!(
                "no configured AWS account `{label}`"
            ))),
        }
    }

    async fn assume(&self, arn: &str) -> Result<SdkConfig, MonitorError> {
        let provider = aws_config::sts::AssumeRoleProvider::builder(arn.to_owned())
            .session_name("mfa-monitor")
            .configure(&self.base)
            .build()
            .await;
        Ok(self
            .base
            .to_builder()
            .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build())
    }

    async fn account_id(config: &SdkConfig) -> Result<String, MonitorError> {
        let out = aws_sdk_sts::Client::new(config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| call("sts:GetCallerIdentity", e))?;
        out.account.ok_or_else(|| {
            MonitorError::Malformed("sts:GetCallerIdentity returned no account".into())
        })
    }
}

pub(super) fn call<E>(operation: &'static str, err: E) -> MonitorError
where
    E: std::error::Error + Send + Sync + 'static,
{
    MonitorError::Call {
        operation,
        message: crate::aws::error_text(&err),
        source: Some(Box::new(err) as BoxError),
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
        let account_id = Self::account_id(&config).await?;
        collect_account(
            &aws_sdk_iam::Client::new(&config),
            &account_id,
            self.polling,
        )
        .await
    }

    async fn check(&self, target: &str) -> CheckItem {
        let key = self.provisional_key(target);
        let result = async {
            let config = self.config_for(target).await?;
            let account_id = Self::account_id(&config).await?;
            let summary = aws_sdk_iam::Client::new(&config)
                .get_account_summary()
                .send()
                .await
                .map_err(|e| call("iam:GetAccountSummary", e))?;
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

/// One row of the credential report, read by column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub user: String,
    pub arn: String,
    /// `None` where the report says `not_supported` or `N/A` (the root row).
    pub password_enabled: Option<bool>,
    pub mfa_active: bool,
}

pub const REPORT_ROOT_USER: &str = "<root_account>";

/// Parses the credential report CSV by column name: AWS has added columns
/// over the years and documents the names, not the positions.
pub fn parse_credential_report(csv_bytes: &[u8]) -> Result<Vec<ReportRow>, MonitorError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(csv_bytes);
    let headers = reader
        .headers()
        .map_err(|e| MonitorError::Malformed(format!("credential report header: {e}")))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            MonitorError::Malformed(format!("credential report has no `{name}` column"))
        })
    };
    let (user_col, arn_col, password_col, mfa_col) = (
        column("user")?,
        column("arn")?,
        column("password_enabled")?,
        column("mfa_active")?,
    );
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            MonitorError::Malformed(format!("credential report row {}: {e}", i + 2))
        })?;
        let field = |col: usize, name: &str| {
            record.get(col).ok_or_else(|| {
                MonitorError::Malformed(format!("credential report row {} lacks `{name}`", i + 2))
            })
        };
        let user = field(user_col, "user")?.to_owned();
        let flag = |col: usize, name: &str| -> Result<Option<bool>, MonitorError> {
            match field(col, name)? {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                "N/A" | "not_supported" | "no_information" => Ok(None),
                other => Err(MonitorError::Malformed(format!(
                    "credential report row {} ({user}): `{name}` is `{other}`",
                    i + 2
                ))),
            }
        };
        let password_enabled = flag(password_col, "password_enabled")?;
        let mfa_active = flag(mfa_col, "mfa_active")?.unwrap_or(false);
        rows.push(ReportRow {
            arn: field(arn_col, "arn")?.to_owned(),
            user,
            password_enabled,
            mfa_active,
        });
    }
    Ok(rows)
}

/// Follows `IsTruncated`/`Marker` to the last page. A page that says more
/// follow but gives no marker, or a listing that never ends, is an error:
/// a partial listing must never read as fewer users.
async fn all_pages<T, F, Fut>(operation: &'static str, mut fetch: F) -> Result<Vec<T>, MonitorError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, bool, Option<String>), MonitorError>>,
{
    let mut items = Vec::new();
    let mut marker = None;
    for page in 1..=MAX_PAGES {
        let (mut batch, truncated, next) = fetch(marker.take()).await?;
        items.append(&mut batch);
        match (truncated, next) {
            (false, _) => return Ok(items),
            (true, Some(m)) if !m.is_empty() => marker = Some(m),
            (true, _) => {
                return Err(MonitorError::Incomplete(format!(
                    "{operation}: page {page} says more follow but gives no marker"
                )))
            }
        }
    }
    Err(MonitorError::Incomplete(format!(
        "{operation}: more than {MAX_PAGES} pages"
    )))
}

async fn credential_report(
    iam: &aws_sdk_iam::Client,
    polling: ReportPolling,
) -> Result<Vec<ReportRow>, MonitorError> {
    let started = Instant::now();
    let mut wait = polling.interval;
    loop {
        let out = iam
            .generate_credential_report()
            .send()
            .await
            .map_err(|e| call("iam:GenerateCredentialReport", e))?;
        if out.state == Some(ReportStateType::Complete) {
            break;
        }
        if started.elapsed() >= polling.max_wait {
            return Err(MonitorError::Incomplete(format!(
                "the credential report was not ready within {:?}",
                polling.max_wait
            )));
        }
        debug!(state = ?out.state, "credential report not ready yet");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(REPORT_POLL_CAP.max(polling.interval));
    }
    let report = iam
        .get_credential_report()
        .send()
        .await
        .map_err(|e| call("iam:GetCredentialReport", e))?;
    let content = report.content.ok_or_else(|| {
        MonitorError::Malformed("iam:GetCredentialReport returned no content".into())
    })?;
    parse_credential_report(content.as_ref())
}

async fn list_users(iam: &aws_sdk_iam::Client) -> Result<Vec<String>, MonitorError> {
    all_pages("iam:ListUsers", |marker| async move {
        let out = iam
            .list_users()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| call("iam:ListUsers", e))?;
        let names = out.users.into_iter().map(|u| u.user_name).collect();
        Ok((names, out.is_truncated, out.marker))
    })
    .await
}

/// Users holding an assigned virtual MFA device, and whether root does.
async fn virtual_devices(
    iam: &aws_sdk_iam::Client,
) -> Result<(BTreeSet<String>, bool), MonitorError> {
    let devices = all_pages("iam:ListVirtualMFADevices", |marker| async move {
        let out = iam
            .list_virtual_mfa_devices()
            .assignment_status(AssignmentStatusType::Assigned)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| call("iam:ListVirtualMFADevices", e))?;
        Ok((out.virtual_mfa_devices, out.is_truncated, out.marker))
    })
    .await?;
    let mut users = BTreeSet::new();
    let mut root = false;
    for device in devices {
        let Some(user) = device.user else { continue };
        if user.arn.ends_with(":root") {
            root = true;
        } else {
            users.insert(user.user_name);
        }
    }
    Ok((users, root))
}

/// The kind of an MFA device from its serial number.
pub fn device_kind(serial: &str) -> MfaDevice {
    if serial.contains(":sms-mfa/") {
        MfaDevice::Sms
    } else if serial.contains(":u2f/") {
        MfaDevice::U2f
    } else if serial.contains(":mfa/") {
        MfaDevice::Virtual
    } else {
        MfaDevice::Hardware
    }
}

async fn device_kinds(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> Result<Vec<MfaDevice>, MonitorError> {
    let devices = all_pages("iam:ListMFADevices", |marker| async move {
        let out = iam
            .list_mfa_devices()
            .user_name(user)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| call("iam:ListMFADevices", e))?;
        Ok((out.mfa_devices, out.is_truncated, out.marker))
    })
    .await?;
    let kinds: BTreeSet<MfaDevice> = devices
        .iter()
        .map(|d| device_kind(&d.serial_number))
        .collect();
    Ok(kinds.into_iter().collect())
}

async fn has_console_password(iam: &aws_sdk_iam::Client, user: &str) -> Result<bool, MonitorError> {
    match iam.get_login_profile().user_name(user).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(call("iam:GetLoginProfile", e)),
    }
}

/// Users holding AdministratorAccess directly or through a group.
async fn administrators(iam: &aws_sdk_iam::Client) -> Result<BTreeSet<String>, MonitorError> {
    let pages = all_pages("iam:ListEntitiesForPolicy", |marker| async move {
        let out = iam
            .list_entities_for_policy()
            .policy_arn(ADMIN_POLICY_ARN)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| call("iam:ListEntitiesForPolicy", e))?;
        let page = (
            out.policy_users.unwrap_or_default(),
            out.policy_groups.unwrap_or_default(),
        );
        Ok((vec![page], out.is_truncated, out.marker))
    })
    .await?;
    let mut admins = BTreeSet::new();
    let mut groups = Vec::new();
    for (users, group_list) in pages {
        admins.extend(users.into_iter().filter_map(|u| u.user_name));
        groups.extend(group_list.into_iter().filter_map(|g| g.group_name));
    }
    for group in groups {
        let members = all_pages("iam:GetGroup", |marker| {
            let group = group.clone();
            async move {
                let out = iam
                    .get_group()
                    .group_name(group)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| call("iam:GetGroup", e))?;
                let names = out.users.into_iter().map(|u| u.user_name).collect();
                Ok((names, out.is_truncated, out.marker))
            }
        })
        .await?;
        admins.extend(members);
    }
    Ok(admins)
}

/// `AccountMFAEnabled`, or `None` when the summary could not be read (the
/// root's status then falls back to the credential report).
async fn account_mfa_enabled(iam: &aws_sdk_iam::Client) -> Option<bool> {
    match iam.get_account_summary().send().await {
        Ok(out) => out
            .summary_map
            .and_then(|m| m.get(&SummaryKeyType::AccountMfaEnabled).copied())
            .map(|v| v == 1),
        Err(e) => {
            debug!(error = %crate::aws::error_text(&e), "iam:GetAccountSummary failed; root MFA from the credential report");
            None
        }
    }
}

fn status_from_kinds(kinds: &[MfaDevice]) -> MfaStatus {
    if kinds.iter().any(|k| !k.is_weak()) {
        MfaStatus::Enabled
    } else if kinds.is_empty() {
        MfaStatus::Disabled
    } else {
        MfaStatus::Insecure
    }
}

/// Reads one account completely with a client holding its credentials.
pub async fn collect_account(
    iam: &aws_sdk_iam::Client,
    account_id: &str,
    polling: ReportPolling,
) -> Result<TargetSnapshot, MonitorError> {
    let (report, users, (virtual_users, root_virtual), admins, account_mfa) = tokio::try_join!(
        credential_report(iam, polling),
        list_users(iam),
        virtual_devices(iam),
        administrators(iam),
        async { Ok(account_mfa_enabled(iam).await) },
    )?;
    let report: HashMap<&str, &ReportRow> = report.iter().map(|r| (r.user.as_str(), r)).collect();

    // Console users without a virtual device: read their devices live (a
    // hardware, U2F or SMS device, or none). Everyone else needs no call.
    let reads: Vec<_> = users
        .into_iter()
        .map(|name| {
            let row = report.get(name.as_str()).copied();
            let has_virtual = virtual_users.contains(&name);
            let admin = admins.contains(&name);
            async move {
                let console = match row.and_then(|r| r.password_enabled) {
                    Some(flag) => flag,
                    None => has_console_password(iam, &name).await?,
                };
                let kinds = if !console {
                    Vec::new()
                } else if has_virtual {
                    vec![MfaDevice::Virtual]
                } else {
                    device_kinds(iam, &name).await?
                };
                let status = if console {
                    status_from_kinds(&kinds)
                } else {
                    MfaStatus::NotApplicable
                };
                Ok::<_, MonitorError>(Observation::new(
                    name,
                    status,
                    Attributes {
                        admin,
                        console_login: console,
                        mfa_devices: kinds,
                        reason: (!console).then_some(NaReason::NoConsolePassword),
                        ..Attributes::default()
                    },
                ))
            }
        })
        .collect();
    let observations: Vec<Observation> = futures::stream::iter(reads)
        .buffer_unordered(PER_USER_CONCURRENCY)
        .try_collect()
        .await?;

    let root_row = report.get(REPORT_ROOT_USER).copied();
    let root_status = match (account_mfa, root_row) {
        (Some(true), _) => MfaStatus::Enabled,
        (Some(false), _) => MfaStatus::Disabled,
        (None, Some(row)) if row.mfa_active => MfaStatus::Enabled,
        (None, Some(_)) => MfaStatus::Disabled,
        (None, None) => MfaStatus::Unknown,
    };
    let mut principals = observations;
    principals.push(Observation::new(
        ROOT,
        root_status,
        Attributes {
            admin: true,
            console_login: true,
            mfa_devices: if root_virtual {
                vec![MfaDevice::Virtual]
            } else {
                Vec::new()
            },
            ..Attributes::default()
        },
    ));
    principals.sort_by(|a, b| a.name.cmp(&b.name));
    let by_status: BTreeMap<MfaStatus, usize> =
        principals.iter().fold(BTreeMap::new(), |mut m, p| {
            *m.entry(p.status).or_insert(0) += 1;
            m
        });
    debug!(account = account_id, ?by_status, "account read");
    Ok(TargetSnapshot {
        key: TargetKey::new(Source::Aws, account_id),
        principals,
        settings: TargetSettings {
            root_mfa_enabled: account_mfa,
            ..TargetSettings::default()
        },
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/iam-credential-report.csv");

    #[test]
    fn the_credential_report_is_read_by_column_name_with_the_root_row() {
        let rows = parse_credential_report(FIXTURE).unwrap();
        assert_eq!(rows.len(), 4);
        let root = &rows[0];
        assert_eq!(root.user, REPORT_ROOT_USER);
        assert_eq!(root.password_enabled, None, "not_supported");
        assert!(root.mfa_active);
        let bob = rows.iter().find(|r| r.user == "bob").unwrap();
        assert_eq!((bob.password_enabled, bob.mfa_active), (Some(true), false));
        let ci = rows.iter().find(|r| r.user == "ci-deployer").unwrap();
        assert_eq!(ci.password_enabled, Some(false));
        assert_eq!(
            ci.arn,
            "arn:aws:iam::123456789012:user/automation/ci-deployer"
        );
    }

    #[test]
    fn reordered_columns_are_still_read_by_name() {
        let csv = b"mfa_active,arn,password_enabled,user\nfalse,arn:aws:iam::1:user/x,true,x\n";
        let rows = parse_credential_report(csv).unwrap();
        assert_eq!(rows[0].user, "x");
        assert_eq!(
            (rows[0].password_enabled, rows[0].mfa_active),
            (Some(true), false)
        );
    }

    #[test]
    fn a_missing_column_or_an_odd_value_is_malformed_and_named() {
        let e = parse_credential_report(b"user,arn,password_enabled\nx,a,true\n").unwrap_err();
        assert!(e.to_string().contains("mfa_active"), "{e}");
        let e = parse_credential_report(b"user,arn,password_enabled,mfa_active\nx,a,maybe,false\n")
            .unwrap_err();
        assert!(
            e.to_string().contains("password_enabled") && e.to_string().contains("maybe"),
            "{e}"
        );
        let ok = parse_credential_report(
            b"user,arn,password_enabled,mfa_active\nx,a,no_information,N/A\n",
        )
        .unwrap();
        assert_eq!((ok[0].password_enabled, ok[0].mfa_active), (None, false));
    }

    #[test]
    fn device_kinds_come_from_the_serial_number() {
        assert_eq!(
            device_kind("arn:aws:iam::123456789012:mfa/alice"),
            "virtual"
        );
        assert_eq!(
            device_kind("arn:aws:iam::123456789012:u2f/user/alice/key-ABC"),
            "u2f"
        );
        assert_eq!(
            device_kind("arn:aws:iam::123456789012:sms-mfa/alice"),
            "sms"
        );
        assert_eq!(device_kind("GAHT12345678"), "hardware");
        assert_eq!(status_from_kinds(&[MfaDevice::Sms]), MfaStatus::Insecure);
        assert_eq!(
            status_from_kinds(&[MfaDevice::Sms, MfaDevice::U2f]),
            MfaStatus::Enabled
        );
        assert_eq!(status_from_kinds(&[]), MfaStatus::Disabled);
    }
}
