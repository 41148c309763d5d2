//! Snowflake: every user's MFA through the SQL API v2 with key-pair
//! authentication.
//!
//! `SHOW USERS` (current, unlike ACCOUNT_USAGE which lags hours) gives
//! `has_mfa`, `ext_authn_duo`, `mins_to_bypass_mfa`, `type` and `disabled`;
//! holders of ACCOUNTADMIN and SECURITYADMIN, directly or through other
//! roles, come from `SHOW GRANTS OF ROLE`. Columns are read by name from
//! `resultSetMetaData.rowType`; every partition is fetched and counted.
//!
//! Longer than the house's ~400 lines: one file per source (ARCHITECTURE.md
//! §6) — statement submission, polling and partitions are one protocol; row
//! parsing already lives in `snowflake_rows.rs` and the JWT in `jwt.rs`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tracing::debug;

use super::snowflake_jwt::KeyPairAuth;
use super::snowflake_rows::{Layout, Row};
use super::{Monitor, MonitorError};
use crate::domain::{
    AccountKind, Attributes, MfaStatus, NaReason, Observation, Source, TargetKey, TargetSettings,
    TargetSnapshot,
};
use crate::error::CheckItem;
use crate::http::{HttpClient, Retry};

const ADMIN_ROLES: [&str; 2] = ["ACCOUNTADMIN", "SECURITYADMIN"];
/// Bound on role nesting followed when looking for admins.
const MAX_ROLES: usize = 500;
/// Result partitions fetched at once: Snowflake serves them independently,
/// and a few in flight hide the latency without holding many in memory.
const PARTITION_CONCURRENCY: usize = 4;

pub struct SnowflakeMonitor {
    http: HttpClient,
    api: Url,
    account: String,
    auth: KeyPairAuth,
    role: Option<String>,
    warehouse: Option<String>,
    poll_interval: Duration,
    max_wait: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RowType {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartitionInfo {
    row_count: usize,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultMeta {
    #[serde(default)]
    num_rows: Option<usize>,
    row_type: Vec<RowType>,
    #[serde(default)]
    partition_info: Vec<PartitionInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatementResult<'a> {
    result_set_meta_data: ResultMeta,
    statement_handle: String,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pending {
    statement_status_url: String,
}

#[derive(Debug, Deserialize)]
struct Partition<'a> {
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

/// The `SHOW USERS` columns the monitor reads (the fuzz targets parse
/// with the same list).
pub const USER_COLUMNS: &[&str] = &[
    "name",
    "type",
    "disabled",
    "has_password",
    "has_mfa",
    "ext_authn_duo",
    "mins_to_bypass_mfa",
];
/// The `SHOW GRANTS OF ROLE` columns the monitor reads.
const GRANT_COLUMNS: &[&str] = &["granted_to", "grantee_name"];

impl SnowflakeMonitor {
    pub fn new(
        http: HttpClient,
        api_url: &str,
        account: &str,
        auth: KeyPairAuth,
        role: Option<String>,
        warehouse: Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        let api = Url::parse(api_url).map_err(|e| {
            crate::config::ConfigError::new("SNOWFLAKE_API_URL", format!("`{api_url}`: {e}"))
        })?;
        Ok(Self {
            http,
            api,
            account: account.to_owned(),
            auth,
            role,
            warehouse,
            poll_interval: Duration::from_millis(500),
            max_wait: Duration::from_secs(90),
        })
    }

    /// Poll interval and bound for statements answered with 202.
    pub fn with_polling(mut self, interval: Duration, max_wait: Duration) -> Self {
        self.poll_interval = interval;
        self.max_wait = max_wait;
        self
    }

    fn url(&self, path_and_query: &str) -> Result<Url, MonitorError> {
        self.api.join(path_and_query).map_err(|e| {
            MonitorError::Malformed(format!("bad statement URL `{path_and_query}`: {e}"))
        })
    }

    /// One call, retried per the shared policy; a submission (`resubmit`
    /// given) is retried at `resubmit`, the same `requestId` with
    /// `retry=true`.
    async fn request(
        &self,
        method: reqwest::Method,
        url: Url,
        resubmit: Option<&Url>,
        body: Option<&Value>,
        what: &str,
    ) -> Result<(StatusCode, String), MonitorError> {
        // Another host in a status URL would receive the token.
        if url.origin() != self.api.origin() {
            return Err(MonitorError::Malformed(format!(
                "{what}: a status URL points outside SNOWFLAKE_API_URL"
            )));
        }
        let token = self
            .auth
            .token(chrono::Utc::now())
            .map_err(|e| MonitorError::Call {
                operation: "snowflake",
                message: format!("{what}: {e}"),
                source: Some(Box::new(e)),
            })?;
        let resp = self
            .http
            // Idempotent: reads, and a submission Snowflake recognises as
            // a resubmission by its requestId and `retry=true`.
            .send_with(Retry::Idempotent, |c, attempt| {
                let url = match resubmit {
                    Some(again) if attempt > 1 => again,
                    _ => &url,
                };
                let mut b = c
                    .request(method.clone(), url.clone())
                    .bearer_auth(&token)
                    .header("X-Snowflake-Authorization-Token-Type", "KEYPAIR_JWT")
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(body) = body {
                    b = b.json(body);
                }
                b
            })
            .await
            .map_err(|e| MonitorError::Call {
                operation: "snowflake",
                message: format!("{what}: {e}"),
                source: Some(Box::new(e)),
            })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| MonitorError::Call {
            operation: "snowflake",
            message: format!("{what}: reading the body: {}", e.without_url()),
            source: None,
        })?;
        Ok((status, text))
    }

    /// Runs one statement to completion and returns every row of every
    /// partition, with the `wanted` columns only.
    pub async fn query(
        &self,
        sql: &str,
        wanted: &[&'static str],
    ) -> Result<Vec<Row>, MonitorError> {
        let what = format!("`{sql}`");
        let mut body = serde_json::json!({ "statement": sql, "timeout": 60 });
        if let Some(r) = &self.role {
            body["role"] = Value::String(r.clone());
        }
        if let Some(w) = &self.warehouse {
            body["warehouse"] = Value::String(w.clone());
        }
        // One requestId for every attempt, and `retry=true` on each attempt
        // after the first: the SQL API's form of a resubmission, which it
        // does not run again if the first one already ran ("Resubmitting a
        // request to execute SQL statements").
        let request_id = uuid::Uuid::new_v4();
        let url = self.url(&format!("api/v2/statements?requestId={request_id}"))?;
        let resubmit = self.url(&format!(
            "api/v2/statements?requestId={request_id}&retry=true"
        ))?;
        let (mut status, mut text) = self
            .request(
                reqwest::Method::POST,
                url,
                Some(&resubmit),
                Some(&body),
                &what,
            )
            .await?;
        let started = Instant::now();
        let mut wait = self.poll_interval;
        while status == StatusCode::ACCEPTED {
            let pending: Pending = serde_json::from_str(&text).map_err(|e| {
                MonitorError::Malformed(format!("{what}: 202 without a statementStatusUrl: {e}"))
            })?;
            if started.elapsed() >= self.max_wait {
                return Err(MonitorError::Incomplete(format!(
                    "{what}: still running after {}s",
                    self.max_wait.as_secs()
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
            let poll = self.url(&pending.statement_status_url)?;
            (status, text) = self
                .request(reqwest::Method::GET, poll, None, None, &what)
                .await?;
        }
        if !status.is_success() {
            return Err(statement_error(status, &text, &what));
        }
        let ResultSet {
            layout,
            mut rows,
            statement_handle,
            partitions,
            num_rows,
        } = parse_result_set(&text, wanted, &what)?;
        drop(text);
        let handle = &statement_handle;
        let what_ref = &what;
        let layout = &layout;
        // Partitions are independent: fetch a few at a time, keep their order.
        let parts: Vec<Vec<Row>> = futures::stream::iter(partitions)
            .map(|(i, row_count)| async move {
                let url = self.url(&format!("api/v2/statements/{handle}?partition={i}"))?;
                let (status, text) = self
                    .request(reqwest::Method::GET, url, None, None, what_ref)
                    .await?;
                if !status.is_success() {
                    return Err(MonitorError::Incomplete(format!(
                        "{what_ref}: partition {i} failed: {}",
                        statement_error(status, &text, what_ref)
                    )));
                }
                parse_partition(&text, layout, i, row_count, what_ref)
            })
            .buffered(PARTITION_CONCURRENCY)
            .try_collect()
            .await?;
        rows.extend(parts.into_iter().flatten());
        if let Some(n) = num_rows {
            if n != rows.len() {
                return Err(MonitorError::Incomplete(format!(
                    "{what}: {} rows arrived, numRows says {n}",
                    rows.len()
                )));
            }
        }
        Ok(rows)
    }

    /// Users holding ACCOUNTADMIN or SECURITYADMIN, directly or through
    /// roles granted those roles.
    async fn admins(&self) -> Result<BTreeSet<String>, MonitorError> {
        let mut users = BTreeSet::new();
        let mut seen: BTreeSet<String> = ADMIN_ROLES.iter().map(|r| r.to_string()).collect();
        let mut queue: Vec<String> = seen.iter().cloned().collect();
        while let Some(role) = queue.pop() {
            let rows = self
                .query(
                    &format!("SHOW GRANTS OF ROLE {}", quote_ident(&role)),
                    GRANT_COLUMNS,
                )
                .await?;
            for row in rows {
                let kind = row
                    .get("granted_to")
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                let Some(grantee) = row.get("grantee_name") else {
                    continue;
                };
                match kind.as_str() {
                    "USER" => {
                        users.insert(grantee.to_owned());
                    }
                    "ROLE" if seen.insert(grantee.to_owned()) => {
                        if seen.len() > MAX_ROLES {
                            return Err(MonitorError::Incomplete(format!(
                                "more than {MAX_ROLES} roles lead to admin roles"
                            )));
                        }
                        queue.push(grantee.to_owned());
                    }
                    _ => {}
                }
            }
        }
        Ok(users)
    }

    pub async fn collect_account(&self) -> Result<TargetSnapshot, MonitorError> {
        let (rows, admins) =
            tokio::try_join!(self.query("SHOW USERS", USER_COLUMNS), self.admins())?;
        let mut principals = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let name = row
                .get("name")
                .ok_or_else(|| {
                    MonitorError::Malformed(format!("SHOW USERS row {i} has no `name`"))
                })?
                .to_owned();
            let (status, attributes) = user_status(row, admins.contains(&name));
            principals.push(Observation::new(name, status, attributes));
        }
        principals.sort_by(|a, b| a.name.cmp(&b.name));
        debug!(account = %self.account, users = principals.len(), admins = admins.len(), "account read");
        // SHOW USERS fills in a user's columns only for a role that owns the
        // user or holds CREATE USER on the account; otherwise `has_mfa` is
        // null. Say so plainly rather than leave a wall of unknowns.
        let mut warnings = Vec::new();
        let unknown = principals
            .iter()
            .filter(|p| p.status == MfaStatus::Unknown)
            .count();
        if unknown > 0
            && unknown
                == principals
                    .iter()
                    .filter(|p| p.status != MfaStatus::NotApplicable)
                    .count()
        {
            warnings.push(format!(
                "SHOW USERS hid the MFA status of every user from role {}: grant it CREATE USER on the account (or use USERADMIN/SECURITYADMIN)",
                self.role.as_deref().unwrap_or("(the user's default role)")
            ));
        }
        Ok(TargetSnapshot {
            key: TargetKey::new(Source::Snowflake, &self.account),
            principals,
            settings: TargetSettings::default(),
            warnings,
        })
    }
}

/// A statement's first response, read: partition 0's rows and what the
/// other partitions must hold.
#[derive(Debug)]
pub struct ResultSet {
    pub layout: Layout,
    pub rows: Vec<Row>,
    pub statement_handle: String,
    /// `(partition, rowCount)` of partitions 1.. from `partitionInfo`.
    /// Collected, not borrowed: a stream over borrowed PartitionInfo makes
    /// `query`'s future fail async_trait's Send bound ("FnOnce is not
    /// general enough").
    pub partitions: Vec<(usize, usize)>,
    pub num_rows: Option<usize>,
}

/// Reads a statement's first response (`resultSetMetaData` and partition 0
/// in `data`), keeping the `wanted` columns found by name in `rowType`.
/// Public for the fuzz targets (fuzz/).
pub fn parse_result_set(
    text: &str,
    wanted: &[&'static str],
    what: &str,
) -> Result<ResultSet, MonitorError> {
    let first: StatementResult = serde_json::from_str(text)
        .map_err(|e| MonitorError::Malformed(format!("{what}: not a result set: {e}")))?;
    let meta = first.result_set_meta_data;
    let columns: Vec<String> = meta.row_type.into_iter().map(|c| c.name).collect();
    let layout = Layout::new(wanted, &columns);
    let rows = parse_data(&layout, first.data, 0, what)?;
    if let Some(p0) = meta.partition_info.first() {
        if rows.len() != p0.row_count {
            return Err(MonitorError::Incomplete(format!(
                "{what}: partition 0 has {} rows, partitionInfo says {}",
                rows.len(),
                p0.row_count
            )));
        }
    }
    let partitions = meta
        .partition_info
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, info)| (i, info.row_count))
        .collect();
    Ok(ResultSet {
        layout,
        rows,
        statement_handle: first.statement_handle,
        partitions,
        num_rows: meta.num_rows,
    })
}

/// Reads partition `partition` (`GET …?partition=N`), which `partitionInfo`
/// says holds `row_count` rows. Public for the fuzz targets (fuzz/).
pub fn parse_partition(
    text: &str,
    layout: &Layout,
    partition: usize,
    row_count: usize,
    what: &str,
) -> Result<Vec<Row>, MonitorError> {
    let part: Partition = serde_json::from_str(text).map_err(|e| {
        MonitorError::Malformed(format!("{what}: partition {partition} is malformed: {e}"))
    })?;
    let data = parse_data(layout, part.data, partition, what)?;
    if data.len() != row_count {
        return Err(MonitorError::Incomplete(format!(
            "{what}: partition {partition} has {} rows, partitionInfo says {row_count}",
            data.len(),
        )));
    }
    Ok(data)
}

fn parse_data(
    layout: &Layout,
    data: Option<&RawValue>,
    partition: usize,
    what: &str,
) -> Result<Vec<Row>, MonitorError> {
    match data {
        None => Ok(Vec::new()),
        Some(raw) => layout.parse(raw.get()).map_err(|e| {
            MonitorError::Malformed(format!("{what}: partition {partition} is malformed: {e}"))
        }),
    }
}

fn flag(row: &Row, column: &str) -> Option<bool> {
    match row.get(column).map(str::to_ascii_lowercase).as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// A user's status from its `SHOW USERS` row. A missing `has_mfa` column or
/// the string "null" is `unknown`, never disabled.
pub fn user_status(row: &Row, admin: bool) -> (MfaStatus, Attributes) {
    let kind = row
        .get("type")
        .filter(|t| !t.eq_ignore_ascii_case("null"))
        .unwrap_or("PERSON")
        .to_ascii_uppercase();
    let disabled = flag(row, "disabled") == Some(true);
    let has_password = flag(row, "has_password") == Some(true);
    let service = kind == "SERVICE" || (kind == "LEGACY_SERVICE" && !has_password);
    let bypass = row
        .get("mins_to_bypass_mfa")
        .and_then(|m| m.trim().parse::<i64>().ok())
        .is_some_and(|m| m > 0);
    let status = if disabled || service {
        MfaStatus::NotApplicable
    } else if flag(row, "ext_authn_duo") == Some(true) {
        MfaStatus::Enabled
    } else {
        match flag(row, "has_mfa") {
            Some(true) => MfaStatus::Enabled,
            Some(false) => MfaStatus::Disabled,
            None => MfaStatus::Unknown,
        }
    };
    let attributes = Attributes {
        admin,
        console_login: !disabled && !service,
        kind: Some(AccountKind::from(kind.as_str())),
        bypass_active: bypass && !disabled,
        reason: if disabled {
            Some(NaReason::DisabledUser)
        } else if service {
            Some(NaReason::ServiceUser)
        } else {
            None
        },
        ..Attributes::default()
    };
    (status, attributes)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What to fix, from the status and Snowflake's error code and message.
fn statement_error(status: StatusCode, body: &str, what: &str) -> MonitorError {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = v.get("code").and_then(|c| c.as_str()).unwrap_or("");
    let message = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let hint = match status {
        StatusCode::UNAUTHORIZED => " — the key-pair JWT was rejected: check that SNOWFLAKE_PRIVATE_KEY's public key is registered for SNOWFLAKE_USER (`ALTER USER … SET RSA_PUBLIC_KEY = '…'`) and that SNOWFLAKE_ACCOUNT is the account identifier",
        StatusCode::FORBIDDEN => " — the user or SNOWFLAKE_ROLE lacks a privilege: grant the role CREATE USER on the account (see the README's Snowflake set-up)",
        StatusCode::UNPROCESSABLE_ENTITY if message.contains("not authorized") || message.contains("does not exist") => {
            " — SNOWFLAKE_ROLE (or SNOWFLAKE_WAREHOUSE) does not exist or is not granted to SNOWFLAKE_USER"
        }
        _ => "",
    };
    MonitorError::Call {
        operation: "snowflake",
        message: format!("{what}: HTTP {status} code {code}: {message}{hint}"),
        source: None,
    }
}

#[async_trait]
impl Monitor for SnowflakeMonitor {
    fn source(&self) -> Source {
        Source::Snowflake
    }

    fn targets(&self) -> Vec<String> {
        vec![self.account.clone()]
    }

    async fn collect(&self, _target: &str) -> Result<TargetSnapshot, MonitorError> {
        self.collect_account().await
    }

    async fn check(&self, _target: &str) -> CheckItem {
        let component = format!("snowflake:{}", self.account);
        match self.query("SHOW USERS", USER_COLUMNS).await {
            Ok(rows) => CheckItem {
                component,
                ok: true,
                detail: format!(
                    "authenticated (key {}); role {}; {} user(s) visible",
                    self.auth.fingerprint(),
                    self.role.as_deref().unwrap_or("(user default)"),
                    rows.len()
                ),
            },
            Err(e) => CheckItem {
                component,
                ok: false,
                detail: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&'static str, &str)]) -> Row {
        Row::new(
            pairs.iter().map(|(k, _)| *k).collect(),
            pairs.iter().map(|(_, v)| Some(v.to_string())).collect(),
        )
    }

    #[test]
    fn statuses_follow_has_mfa_duo_type_and_disabled() {
        let s = |pairs: &[(&'static str, &str)]| user_status(&row(pairs), false).0;
        assert_eq!(
            s(&[("has_mfa", "true"), ("type", "PERSON")]),
            MfaStatus::Enabled
        );
        assert_eq!(
            s(&[("has_mfa", "false"), ("ext_authn_duo", "true")]),
            MfaStatus::Enabled
        );
        assert_eq!(
            s(&[("has_mfa", "false"), ("type", "PERSON")]),
            MfaStatus::Disabled
        );
        assert_eq!(s(&[("has_mfa", "null")]), MfaStatus::Unknown);
        assert_eq!(
            s(&[("type", "PERSON")]),
            MfaStatus::Unknown,
            "missing column"
        );
        assert_eq!(
            s(&[("has_mfa", "false"), ("type", "SERVICE")]),
            MfaStatus::NotApplicable
        );
        assert_eq!(
            s(&[
                ("has_mfa", "false"),
                ("type", "LEGACY_SERVICE"),
                ("has_password", "false")
            ]),
            MfaStatus::NotApplicable
        );
        assert_eq!(
            s(&[
                ("has_mfa", "false"),
                ("type", "LEGACY_SERVICE"),
                ("has_password", "true")
            ]),
            MfaStatus::Disabled
        );
        assert_eq!(
            s(&[("has_mfa", "false"), ("disabled", "true")]),
            MfaStatus::NotApplicable
        );
    }

    #[test]
    fn a_positive_mins_to_bypass_mfa_is_an_active_bypass() {
        let (_, a) = user_status(
            &row(&[("has_mfa", "true"), ("mins_to_bypass_mfa", "30")]),
            true,
        );
        assert!(a.bypass_active && a.admin);
        let (_, a) = user_status(
            &row(&[("has_mfa", "true"), ("mins_to_bypass_mfa", "null")]),
            false,
        );
        assert!(!a.bypass_active);
    }

    #[test]
    fn role_names_are_quoted_as_identifiers() {
        assert_eq!(quote_ident("ACCOUNTADMIN"), "\"ACCOUNTADMIN\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
