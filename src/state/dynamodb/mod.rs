//! The state store of the Lambda: one DynamoDB table (ARCHITECTURE.md §4).
//!
//! Table layout: partition key `target` (S), sort key `principal` (S),
//! on-demand capacity (`create_table` here; the SAM template declares the
//! same).
//!
//! | item      | `target`        | `principal`                  | other attributes |
//! |-----------|-----------------|------------------------------|------------------|
//! | principal | `SOURCE:TARGET` | the principal's name         | `status` (S, contract name), `attributes` (S, JSON), `first_seen`, `status_since` (S, RFC 3339) |
//! | meta      | `SOURCE:TARGET` | `#meta`                      | `version` (N), `settings` (S, JSON), `updated_at` (S, RFC 3339) |
//! | outbox    | `#outbox`       | `CREATED_AT#ENTRY_ID#CHUNK`  | `entry` (S), `created_at` (S), `chunk`, `chunks` (N), `channels` (SS, still pending), `notices` (S, one piece of the JSON array), `routes` (S, JSON: per channel given only some notices, their indices; absent when all) |
//! | health    | `#health`       | `SOURCE:TARGET`              | `health` (S, JSON: failures in a row, since, last error, alerted); only while failing |
//! | lease     | `#lease`        | `#lease`                     | `holder`, `until` (S), `expires_at` (N, the table's TTL attribute) |
//! | exemption | `#exempt`       | the principal id             | `exemption` (S, JSON: until, reason, owner, who added it and when) |
//! | discovery | `#discovery`    | `SOURCE:TARGET` of the scope | `members` (S, JSON array of target ids found when the scope last completed) |
//! | security hub | `#securityhub` | the principal id          | `synced` (S, JSON: fingerprint and `CreatedAt` of the finding Security Hub accepted) |
//! | trend     | `#trend`        | `SOURCE:TARGET#DAY`          | `record` (S, JSON: principals, non-compliant, admins without MFA that day), `expires_at` (N, TTL) |
//! | run step  | `#run/RUN_ID`   | `plan`, `batch-NNNNN`        | `part` (S, JSON: what that step of a fanned-out pass did, for its deliver step), `expires_at` (N, TTL) |
//!
//! Sort keys starting with `#` are reserved for the store: a principal whose
//! name itself starts with `#` is stored under `#` + its name (`##x` is `#x`).
//!
//! An outbox entry's notices are one JSON array cut into pieces of at most
//! [`DEFAULT_OUTBOX_CHUNK_BYTES`], so that no item nears DynamoDB's 400 KB
//! limit; the entry is the concatenation of its chunks in `chunk` order.
//!
//! Every read is strongly consistent: a pass must diff against what the
//! previous pass committed, not against a stale replica.

mod apply;
mod batch;
mod codec;
mod commit;
mod discovery;
mod exemptions;
mod health;
mod lease;
mod outbox;
mod read;
mod records;
mod runs;
mod schema;
mod securityhub;

use crate::domain::securityhub::Synced;
use crate::domain::trend::TrendRecord;
use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use schema::{backend, s, Item, SECURITYHUB, TREND};
pub use schema::{
    create_table, APPLY, APPLY_CHUNKS, DEFAULT_OUTBOX_CHUNK_BYTES, EXPIRES_AT, HEALTH, LEASE, META,
    OUTBOX, PARTITION_KEY, SORT_KEY,
};

use super::{Health, OutboxEntry, StateError, StateStore, TargetCommit};
use crate::domain::exemption::{Exemption, ExemptionNotice};
use crate::domain::snapshot::StoredTarget;
use crate::domain::TargetKey;

pub struct DynamoDbStore {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) outbox_chunk_bytes: usize,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            outbox_chunk_bytes: DEFAULT_OUTBOX_CHUNK_BYTES,
        }
    }

    /// Cuts outbox entries into pieces of at most `bytes` (at least 1 KiB)
    /// instead of [`DEFAULT_OUTBOX_CHUNK_BYTES`]. Tests use it to reach the
    /// many-chunk paths without megabytes of notices.
    pub fn with_outbox_chunk_bytes(mut self, bytes: usize) -> Self {
        self.outbox_chunk_bytes = bytes.max(1024);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(super) fn backend<E>(&self, operation: &'static str, err: E) -> StateError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        backend(&self.table, operation, err)
    }

    pub(super) fn malformed(
        &self,
        partition: &str,
        sort: Option<&str>,
        reason: impl Into<String>,
    ) -> StateError {
        let location = match sort {
            Some(s) => format!("{} target={partition} principal={s}", self.table),
            None => format!("{} target={partition}", self.table),
        };
        StateError::Malformed {
            location,
            reason: reason.into(),
        }
    }

    pub(super) fn key(&self, partition: &str, sort: &str) -> Item {
        HashMap::from([
            (PARTITION_KEY.to_owned(), s(partition)),
            (SORT_KEY.to_owned(), s(sort)),
        ])
    }
}

#[async_trait]
impl StateStore for DynamoDbStore {
    fn location(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }

    async fn load(&self, key: &TargetKey) -> Result<Option<StoredTarget>, StateError> {
        self.load_target(key).await
    }

    async fn commit(&self, commit: TargetCommit) -> Result<u64, StateError> {
        self.commit_target(commit).await
    }

    async fn targets(&self) -> Result<Vec<StoredTarget>, StateError> {
        self.scan_targets().await
    }

    async fn pending(&self) -> Result<Vec<OutboxEntry>, StateError> {
        self.read_outbox().await
    }

    async fn acknowledge(&self, id: &str, channel: &str) -> Result<(), StateError> {
        self.acknowledge_entry(id, channel).await
    }

    async fn acknowledge_each(
        &self,
        entries: &[&OutboxEntry],
        channel: &str,
    ) -> Vec<Result<(), StateError>> {
        self.acknowledge_entries(entries, channel).await
    }

    async fn acquire_lease(&self, holder: &str, until: DateTime<Utc>) -> Result<bool, StateError> {
        self.take_lease(holder, until).await
    }

    async fn release_lease(&self, holder: &str) -> Result<(), StateError> {
        self.give_back_lease(holder).await
    }

    async fn health(&self) -> Result<BTreeMap<String, Health>, StateError> {
        self.read_health().await
    }

    async fn record_health(
        &self,
        key: &TargetKey,
        health: &Health,
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        self.write_health(key, health, outbox).await
    }

    async fn discovered(&self) -> Result<BTreeMap<String, Vec<String>>, StateError> {
        self.read_discovered().await
    }

    async fn record_discovered(
        &self,
        scope: &TargetKey,
        members: &[String],
    ) -> Result<(), StateError> {
        self.write_discovered(scope, members).await
    }

    async fn exemptions(&self) -> Result<Vec<Exemption>, StateError> {
        self.read_exemptions().await
    }

    async fn put_exemption(
        &self,
        exemption: &Exemption,
        notice: &ExemptionNotice,
    ) -> Result<(), StateError> {
        self.write_exemption(exemption, notice).await
    }

    async fn remove_exemption(&self, notice: &ExemptionNotice) -> Result<bool, StateError> {
        self.delete_exemption(notice).await
    }

    async fn exemption_notices(&self) -> Result<Vec<(String, ExemptionNotice)>, StateError> {
        self.read_exemption_log().await
    }

    async fn announce_exemptions(
        &self,
        keys: &[String],
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        self.announce(keys, outbox).await
    }

    async fn securityhub_synced(&self) -> Result<BTreeMap<String, Synced>, StateError> {
        Ok(self
            .read_records::<Synced>(SECURITYHUB, "synced", "a Security Hub sync record")
            .await?
            .into_iter()
            .collect())
    }

    async fn record_securityhub(
        &self,
        updates: &[(String, Option<Synced>)],
    ) -> Result<(), StateError> {
        self.write_securityhub(updates).await
    }

    async fn record_run_part(
        &self,
        run_id: &str,
        part: &str,
        body: &str,
    ) -> Result<(), StateError> {
        self.put_run_part(run_id, part, body).await
    }

    async fn run_parts(&self, run_id: &str) -> Result<Vec<(String, String)>, StateError> {
        self.read_run_parts(run_id).await
    }

    async fn trend(&self) -> Result<Vec<TrendRecord>, StateError> {
        Ok(self
            .read_records::<TrendRecord>(TREND, "record", "a trend record")
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    async fn check(&self) -> Result<String, StateError> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.backend("dynamodb:DescribeTable", e))?;
        let status = out
            .table
            .as_ref()
            .and_then(|t| t.table_status.as_ref())
            .map_or("status unknown", |s| s.as_str());
        let items = out.table.as_ref().and_then(|t| t.item_count).unwrap_or(0);
        Ok(format!(
            "table {} ({status}, {items} items approx)",
            self.table
        ))
    }
}
