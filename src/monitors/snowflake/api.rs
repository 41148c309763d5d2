//! The Snowflake SQL API v2: one statement submitted with key-pair
//! authentication, polled while it runs (202), and every partition of its
//! result fetched and counted, keeping only the columns asked for.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::jwt::KeyPairAuth;
use super::rows::{Layout, Row};
use crate::http::{HttpClient, Retry};
use crate::monitors::MonitorError;

/// Result partitions fetched at once: Snowflake serves them independently,
/// and a few in flight hide the latency without holding many in memory.
const PARTITION_CONCURRENCY: usize = 4;

/// One account's SQL API endpoint and credentials.
pub struct SqlApi {
    http: HttpClient,
    /// Always ends in `/`, so a path prefix (a proxy, a test server) is
    /// kept when statement paths are joined to it.
    api: Url,
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

impl SqlApi {
    pub fn new(
        http: HttpClient,
        api_url: &str,
        auth: KeyPairAuth,
        role: Option<String>,
        warehouse: Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        let with_slash = format!("{}/", api_url.trim_end_matches('/'));
        let api = Url::parse(&with_slash).map_err(|e| {
            crate::config::ConfigError::new("SNOWFLAKE_API_URL", format!("`{api_url}`: {e}"))
        })?;
        Ok(Self {
            http,
            api,
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

    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    pub fn fingerprint(&self) -> String {
        self.auth.fingerprint()
    }

    /// Snowflake's status URLs are absolute paths on its host
    /// (`/api/v2/statements/…`); they are taken relative to the configured
    /// base so that a base with a path keeps it.
    fn url(&self, path_and_query: &str) -> Result<Url, MonitorError> {
        self.api
            .join(path_and_query.trim_start_matches('/'))
            .map_err(|e| {
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
