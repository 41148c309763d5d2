//! The state store of the Lambda: one DynamoDB table (DESIGN.md §6).
//!
//! Table layout: partition key `target` (S), sort key `principal` (S),
//! on-demand capacity (`create_table` here; the SAM template declares the
//! same).
//!
//! | item      | `target`        | `principal`                  | other attributes |
//! |-----------|-----------------|------------------------------|------------------|
//! | principal | `SOURCE:TARGET` | the principal's name         | `status` (S, contract name), `attributes` (S, JSON), `first_seen`, `status_since` (S, RFC 3339) |
//! | meta      | `SOURCE:TARGET` | `#meta`                      | `version` (N), `settings` (S, JSON), `updated_at` (S, RFC 3339) |
//! | outbox    | `#outbox`       | `CREATED_AT#ENTRY_ID#CHUNK`  | `entry` (S), `created_at` (S), `chunk`, `chunks` (N), `channels` (SS, still pending), `notices` (S, one piece of the JSON array) |
//! | health    | `#health`       | `SOURCE:TARGET`              | `health` (S, JSON: failures in a row, since, last error, alerted); only while failing |
//! | lease     | `#lease`        | `#lease`                     | `holder`, `until` (S), `expires_at` (N, the table's TTL attribute) |
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType,
    KeysAndAttributes, Put, PutRequest, ReturnValue, ScalarAttributeType, TableStatus,
    TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{StreamExt, TryStreamExt};
use tracing::warn;

use super::{Health, OutboxEntry, StateError, StateStore, TargetCommit};
use crate::domain::snapshot::StoredTarget;
use crate::domain::{Attributes, MfaStatus, Notice, PrincipalRecord, TargetKey, TargetSettings};

/// Partition key attribute.
pub const PARTITION_KEY: &str = "target";
/// Sort key attribute.
pub const SORT_KEY: &str = "principal";
/// Sort key of the per-target meta item.
pub const META: &str = "#meta";
/// Partition of the outbox.
pub const OUTBOX: &str = "#outbox";
/// Partition of the source health items.
pub const HEALTH: &str = "#health";
/// Partition and sort key of the pass lease item.
pub const LEASE: &str = "#lease";
/// Epoch seconds; the table's TTL attribute, so expired leases go away.
pub const EXPIRES_AT: &str = "expires_at";
/// Largest piece of an outbox entry's notices JSON kept in one item.
pub const DEFAULT_OUTBOX_CHUNK_BYTES: usize = 300 * 1024;

/// TransactWriteItems takes at most 100 actions and 4 MB; the meta item is
/// one action and a few hundred bytes, the rest is left for outbox chunks
/// with room for attribute names and keys.
const TX_MAX_ACTIONS: usize = 100;
const TX_CHUNK_BYTES_BUDGET: usize = 3_500 * 1024;
/// BatchWriteItem takes at most 25 requests, BatchGetItem 100 keys.
const BATCH_WRITE_MAX: usize = 25;
const BATCH_GET_MAX: usize = 100;
/// Batches of principal writes in flight at once.
const BATCH_CONCURRENCY: usize = 4;
/// Attempts at a batch whose items DynamoDB leaves unprocessed (throttling),
/// with exponential backoff between them.
const BATCH_ATTEMPTS: u32 = 8;
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

type Item = HashMap<String, AttributeValue>;

pub struct DynamoDbStore {
    client: Client,
    table: String,
    outbox_chunk_bytes: usize,
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

    fn backend<E>(&self, operation: &'static str, err: E) -> StateError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        backend(&self.table, operation, err)
    }

    fn malformed(
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

    fn key(&self, partition: &str, sort: &str) -> Item {
        HashMap::from([
            (PARTITION_KEY.to_owned(), s(partition)),
            (SORT_KEY.to_owned(), s(sort)),
        ])
    }

    /// Every item of one partition, following `LastEvaluatedKey`; with
    /// `keys_only`, just the keys and an outbox item's `entry`.
    async fn query_partition(
        &self,
        partition: &str,
        keys_only: bool,
    ) -> Result<Vec<Item>, StateError> {
        let mut items = Vec::new();
        self.query_pages(partition, keys_only, |page| {
            items.extend(page);
            Ok(())
        })
        .await?;
        Ok(items)
    }

    /// Every page of a partition, each handed to `each` as it arrives: a
    /// 100k-principal target is parsed page by page instead of held whole
    /// as raw items.
    async fn query_pages<F>(
        &self,
        partition: &str,
        keys_only: bool,
        mut each: F,
    ) -> Result<(), StateError>
    where
        F: FnMut(Vec<Item>) -> Result<(), StateError> + Send,
    {
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_values(":pk", s(partition))
                .set_exclusive_start_key(start.take());
            if keys_only {
                req = req
                    .projection_expression("#pk, #sk, #entry")
                    .expression_attribute_names("#sk", SORT_KEY)
                    .expression_attribute_names("#entry", "entry");
            }
            let out = req
                .send()
                .await
                .map_err(|e| self.backend("dynamodb:Query", e))?;
            each(out.items.unwrap_or_default())?;
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(()),
            }
        }
    }

    /// Adds items of a target's partition to what is known of it.
    fn absorb(
        &self,
        partition: &str,
        into: &mut Assembly,
        items: impl IntoIterator<Item = Item>,
    ) -> Result<(), StateError> {
        for item in items {
            into.items += 1;
            let sort = str_attr(&item, SORT_KEY).map_err(|r| self.malformed(partition, None, r))?;
            if sort == META {
                into.meta = Some(self.parse_meta(partition, &item)?);
                continue;
            }
            let record = self.parse_principal(partition, &item)?;
            into.principals.insert(record.name.clone(), record);
        }
        Ok(())
    }

    /// The target rebuilt from all the items of its partition.
    fn finish(&self, key: &TargetKey, a: Assembly) -> Result<Option<StoredTarget>, StateError> {
        match a.meta {
            Some(meta) => Ok(Some(StoredTarget {
                key: key.clone(),
                version: meta.version,
                settings: meta.settings,
                updated_at: meta.updated_at,
                principals: a.principals,
            })),
            None if a.items == 0 => Ok(None),
            None => Err(self.malformed(
                &key.to_string(),
                None,
                format!(
                    "{} principal item(s) but no {META} item (version); not reading it as a first pass",
                    a.items
                ),
            )),
        }
    }

    fn parse_meta(&self, partition: &str, item: &Item) -> Result<Meta, StateError> {
        let bad = |r: String| self.malformed(partition, Some(META), r);
        let version = num_attr(item, "version").map_err(bad)?;
        let settings: TargetSettings =
            serde_json::from_str(str_attr(item, "settings").map_err(bad)?).map_err(|e| {
                bad(format!(
                    "attribute `settings` is not valid JSON settings: {e}"
                ))
            })?;
        let updated_at = time_attr(item, "updated_at").map_err(bad)?;
        Ok(Meta {
            version,
            settings,
            updated_at,
        })
    }

    fn parse_principal(&self, partition: &str, item: &Item) -> Result<PrincipalRecord, StateError> {
        let sort = str_attr(item, SORT_KEY).map_err(|r| self.malformed(partition, None, r))?;
        let bad = |r: String| self.malformed(partition, Some(sort), r);
        let name = principal_name(sort)
            .ok_or_else(|| bad(format!("`{sort}` is neither {META} nor a principal name")))?;
        let status_text = str_attr(item, "status").map_err(bad)?;
        let status = MfaStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status_text)
            .ok_or_else(|| {
                bad(format!(
                    "attribute `status` is `{status_text}`, not an MFA status"
                ))
            })?;
        let attributes: Attributes =
            serde_json::from_str(str_attr(item, "attributes").map_err(bad)?).map_err(|e| {
                bad(format!(
                    "attribute `attributes` is not valid JSON attributes: {e}"
                ))
            })?;
        Ok(PrincipalRecord {
            name: name.to_owned(),
            status,
            attributes,
            first_seen: time_attr(item, "first_seen").map_err(bad)?,
            status_since: time_attr(item, "status_since").map_err(bad)?,
        })
    }

    /// Refuses a commit that would overwrite or delete an unreadable item,
    /// or whose expected version is already gone, before anything is
    /// written. The transaction's condition stays the authority on the
    /// version; this only keeps malformed state from being overwritten.
    async fn precheck(&self, commit: &TargetCommit, partition: &str) -> Result<(), StateError> {
        let conflict = || StateError::Conflict {
            key: commit.key.clone(),
            expected: commit.expected_version,
        };
        let Some(expected) = commit.expected_version else {
            // First pass: the partition must be empty.
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .limit(1)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_values(":pk", s(partition))
                .send()
                .await
                .map_err(|e| self.backend("dynamodb:Query", e))?;
            let Some(first) = out.items.unwrap_or_default().into_iter().next() else {
                return Ok(());
            };
            if str_attr(&first, SORT_KEY).is_ok_and(|s| s == META) {
                return Err(conflict());
            }
            // Principal items: a pass that just committed, or strays.
            let meta = self
                .client
                .get_item()
                .table_name(&self.table)
                .consistent_read(true)
                .set_key(Some(self.key(partition, META)))
                .send()
                .await
                .map_err(|e| self.backend("dynamodb:GetItem", e))?;
            if meta.item.is_some() {
                return Err(conflict());
            }
            let sort = str_attr(&first, SORT_KEY).unwrap_or("?");
            return Err(self.malformed(
                partition,
                Some(sort),
                format!("principal item(s) exist but no {META} item; nothing overwritten"),
            ));
        };
        let mut sorts: BTreeSet<String> = commit
            .upserts
            .iter()
            .map(|r| principal_sort_key(&r.name))
            .chain(commit.deletes.iter().map(|n| principal_sort_key(n)))
            .collect();
        sorts.insert(META.to_owned());
        let items = self.batch_get(partition, sorts).await?;
        let mut meta_version = None;
        for item in &items {
            if str_attr(item, SORT_KEY).is_ok_and(|s| s == META) {
                meta_version = Some(self.parse_meta(partition, item)?.version);
            } else {
                self.parse_principal(partition, item)?;
            }
        }
        if meta_version != Some(expected) {
            return Err(conflict());
        }
        Ok(())
    }

    /// Strongly consistent BatchGetItem of the given sort keys of one
    /// partition, retrying unprocessed keys.
    async fn batch_get(
        &self,
        partition: &str,
        sorts: BTreeSet<String>,
    ) -> Result<Vec<Item>, StateError> {
        let keys: Vec<Item> = sorts.iter().map(|sk| self.key(partition, sk)).collect();
        let mut found = Vec::new();
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut request = built(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build(),
            );
            let mut attempt = 0;
            loop {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| self.backend("dynamodb:BatchGetItem", e))?;
                if let Some(mut r) = out.responses {
                    found.extend(r.remove(&self.table).unwrap_or_default());
                }
                match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    Some(rest) if !rest.keys.is_empty() => {
                        attempt += 1;
                        if attempt >= BATCH_ATTEMPTS {
                            return Err(self.unprocessed("dynamodb:BatchGetItem", rest.keys.len()));
                        }
                        tokio::time::sleep(backoff(attempt)).await;
                        request = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    fn unprocessed(&self, operation: &'static str, left: usize) -> StateError {
        StateError::Backend {
            operation,
            location: self.table.clone(),
            message: format!(
                "{left} item(s) still unprocessed after {BATCH_ATTEMPTS} attempts (throttled)"
            ),
            source: None,
        }
    }

    /// Applies `n` write requests in batches of 25 (a few in flight),
    /// retrying `UnprocessedItems` with backoff a bounded number of times.
    /// `request(i)` builds the i-th as its batch goes out: at 100k
    /// principals, building them all first would hold every item twice over.
    async fn batch_write<F>(&self, n: usize, request: F) -> Result<(), StateError>
    where
        F: Fn(usize) -> WriteRequest + Send + Sync,
    {
        let request = &request;
        futures::stream::iter((0..n).step_by(BATCH_WRITE_MAX))
            .map(|start| {
                let batch = (start..(start + BATCH_WRITE_MAX).min(n))
                    .map(request)
                    .collect();
                self.write_one_batch(batch)
            })
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    async fn write_one_batch(&self, mut batch: Vec<WriteRequest>) -> Result<(), StateError> {
        let mut attempt = 0;
        loop {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(|e| self.backend("dynamodb:BatchWriteItem", e))?;
            match out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
            {
                Some(rest) if !rest.is_empty() => {
                    attempt += 1;
                    if attempt >= BATCH_ATTEMPTS {
                        return Err(self.unprocessed("dynamodb:BatchWriteItem", rest.len()));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    batch = rest;
                }
                _ => return Ok(()),
            }
        }
    }

    fn principal_item(&self, partition: &str, r: &PrincipalRecord) -> Item {
        let mut item = self.key(partition, &principal_sort_key(&r.name));
        item.insert("status".into(), s(r.status.as_str()));
        item.insert(
            "attributes".into(),
            s(&serde_json::to_string(&r.attributes).expect("attributes serialize")),
        );
        item.insert("first_seen".into(), s(&rfc3339(r.first_seen)));
        item.insert("status_since".into(), s(&rfc3339(r.status_since)));
        item
    }

    fn outbox_items(&self, entry: &OutboxEntry) -> Vec<Item> {
        let json = serde_json::to_string(&entry.notices).expect("notices serialize");
        let pieces = split_utf8(&json, self.outbox_chunk_bytes);
        let created_at = rfc3339(entry.created_at);
        let channels: Vec<String> = entry.channels.iter().cloned().collect();
        pieces
            .iter()
            .enumerate()
            .map(|(no, piece)| {
                let mut item = self.key(OUTBOX, &format!("{created_at}#{}#{no:05}", entry.id));
                item.insert("entry".into(), s(&entry.id));
                item.insert("created_at".into(), s(&created_at));
                item.insert("chunk".into(), AttributeValue::N(no.to_string()));
                item.insert("chunks".into(), AttributeValue::N(pieces.len().to_string()));
                item.insert("channels".into(), AttributeValue::Ss(channels.clone()));
                item.insert("notices".into(), s(piece));
                item
            })
            .collect()
    }

    /// Deletes outbox chunk items; with `only_if_done`, only those no
    /// channel is pending on any more (an item already gone is fine).
    async fn delete_outbox_chunks(
        &self,
        sorts: &[String],
        only_if_done: bool,
    ) -> Result<(), StateError> {
        for sort in sorts {
            let mut req = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(self.key(OUTBOX, sort)));
            if only_if_done {
                req = req
                    .condition_expression("attribute_not_exists(#c)")
                    .expression_attribute_names("#c", "channels");
            }
            match req.send().await {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(self.backend("dynamodb:DeleteItem", e)),
            }
        }
        Ok(())
    }
}

struct Meta {
    version: u64,
    settings: TargetSettings,
    updated_at: DateTime<Utc>,
}

/// A target's partition as its items are read.
#[derive(Default)]
struct Assembly {
    meta: Option<Meta>,
    principals: BTreeMap<String, PrincipalRecord>,
    items: usize,
}

/// One outbox item as read back.
struct Chunk {
    sort: String,
    no: usize,
    of: usize,
    created_at: DateTime<Utc>,
    channels: BTreeSet<String>,
    notices: String,
}

#[async_trait]
impl StateStore for DynamoDbStore {
    fn location(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }

    async fn load(&self, key: &TargetKey) -> Result<Option<StoredTarget>, StateError> {
        let partition = key.to_string();
        let mut target = Assembly::default();
        self.query_pages(&partition, false, |page| {
            self.absorb(&partition, &mut target, page)
        })
        .await?;
        self.finish(key, target)
    }

    /// The commit protocol, in this order:
    ///
    /// 0. Precheck (reads only): the expected version is still there and
    ///    no item this commit overwrites or deletes is malformed, so that
    ///    unreadable state is never overwritten.
    /// 1. One TransactWriteItems: the meta item, conditional on the version
    ///    read (absent for a first pass), carrying the new version, settings
    ///    and time; plus the outbox chunks of this commit's alerts. This is
    ///    the commit point: of two overlapping passes exactly one gets past
    ///    it, and its alerts become pending exactly when its version does.
    ///    The loser gets `Conflict` and sends nothing. (An entry too large
    ///    for one transaction has its surplus chunks written just before;
    ///    they are ignored until all chunks exist, and removed on Conflict.)
    /// 2. Only then the principal upserts and deletes, with BatchWriteItem.
    ///    If this step fails or the process dies, the new version stands
    ///    with some principals old: the next pass sees those changes again
    ///    and alerts again. A change may be repeated but never lost, which
    ///    is the trade the design makes; writing principals first would
    ///    risk the opposite (state advanced, alert never recorded).
    ///
    /// Only what changed is written; a pass with no change never commits.
    async fn commit(&self, commit: TargetCommit) -> Result<u64, StateError> {
        let partition = commit.key.to_string();
        self.precheck(&commit, &partition).await?;

        let version = commit.expected_version.unwrap_or(0) + 1;
        let mut meta = self.key(&partition, META);
        meta.insert("version".into(), AttributeValue::N(version.to_string()));
        meta.insert(
            "settings".into(),
            s(&serde_json::to_string(&commit.settings).expect("settings serialize")),
        );
        meta.insert("updated_at".into(), s(&rfc3339(commit.at)));
        let mut put = Put::builder().table_name(&self.table).set_item(Some(meta));
        put = match commit.expected_version {
            None => put
                .condition_expression("attribute_not_exists(#sk)")
                .expression_attribute_names("#sk", SORT_KEY),
            Some(v) => put
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        let mut actions = vec![TransactWriteItem::builder().put(built(put.build())).build()];

        // An entry pending for no channel would never be acknowledged, so it
        // is not kept (the file store drops it at its next acknowledgement).
        let mut chunks = commit
            .outbox
            .as_ref()
            .filter(|e| !e.channels.is_empty())
            .map(|e| self.outbox_items(e))
            .unwrap_or_default();
        let in_tx = (TX_CHUNK_BYTES_BUDGET / self.outbox_chunk_bytes).clamp(1, TX_MAX_ACTIONS - 1);
        let staged: Vec<Item> = if chunks.len() > in_tx {
            chunks.split_off(in_tx)
        } else {
            Vec::new()
        };
        let staged_sorts: Vec<String> = staged
            .iter()
            .filter_map(|i| str_attr(i, SORT_KEY).ok().map(str::to_owned))
            .collect();
        if !staged.is_empty() {
            self.batch_write(staged.len(), |i| put_request(staged[i].clone()))
                .await?;
        }
        for item in chunks {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build();
            actions.push(TransactWriteItem::builder().put(built(put)).build());
        }

        let tx = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        if let Err(err) = tx {
            // The meta item is the first action: its condition failing (or
            // another transaction writing it right now) means another pass
            // got there first.
            let lost_race = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                    .cancellation_reasons()
                    .first()
                    .and_then(|r| r.code())
                    .is_some_and(|code| {
                        code == "ConditionalCheckFailed" || code == "TransactionConflict"
                    }),
                _ => false,
            };
            if lost_race {
                if let Err(e) = self.delete_outbox_chunks(&staged_sorts, false).await {
                    warn!(
                        table = %self.table,
                        error = %e,
                        "surplus outbox chunks of a refused commit could not be removed; they are ignored"
                    );
                }
                return Err(StateError::Conflict {
                    key: commit.key,
                    expected: commit.expected_version,
                });
            }
            return Err(self.backend("dynamodb:TransactWriteItems", err));
        }

        // Principals. The same name in both lists ends upserted (as in the
        // file store); a batch may not name a key twice.
        let mut upserts: BTreeMap<String, &PrincipalRecord> = BTreeMap::new();
        for r in &commit.upserts {
            upserts.insert(r.name.clone(), r);
        }
        let deletes: BTreeSet<&String> = commit
            .deletes
            .iter()
            .filter(|n| !upserts.contains_key(*n))
            .collect();
        let upserts: Vec<&PrincipalRecord> = upserts.into_values().collect();
        let deletes: Vec<&String> = deletes.into_iter().collect();
        let partition = &partition;
        self.batch_write(upserts.len() + deletes.len(), |i| match upserts.get(i) {
            Some(r) => put_request(self.principal_item(partition, r)),
            None => {
                let name = deletes[i - upserts.len()];
                let del = DeleteRequest::builder()
                    .set_key(Some(self.key(partition, &principal_sort_key(name))))
                    .build();
                WriteRequest::builder().delete_request(built(del)).build()
            }
        })
        .await?;
        Ok(version)
    }

    async fn targets(&self) -> Result<Vec<StoredTarget>, StateError> {
        // An operator command: a full Scan, following LastEvaluatedKey.
        let mut partitions: BTreeMap<String, Assembly> = BTreeMap::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression("#pk <> :outbox AND #pk <> :lease AND #pk <> :health")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_values(":outbox", s(OUTBOX))
                .expression_attribute_values(":lease", s(LEASE))
                .expression_attribute_values(":health", s(HEALTH))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.backend("dynamodb:Scan", e))?;
            for item in out.items.unwrap_or_default() {
                let partition = str_attr(&item, PARTITION_KEY)
                    .map_err(|r| self.malformed("?", None, r))?
                    .to_owned();
                let into = partitions.entry(partition.clone()).or_default();
                self.absorb(&partition, into, std::iter::once(item))?;
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        let mut targets = Vec::new();
        for (partition, assembly) in partitions {
            let key: TargetKey = partition.parse().map_err(|e| {
                self.malformed(&partition, None, format!("not a SOURCE:TARGET key: {e}"))
            })?;
            targets.extend(self.finish(&key, assembly)?);
        }
        Ok(targets)
    }

    async fn pending(&self) -> Result<Vec<OutboxEntry>, StateError> {
        let mut entries: BTreeMap<String, Vec<Chunk>> = BTreeMap::new();
        for item in self.query_partition(OUTBOX, false).await? {
            let sort = str_attr(&item, SORT_KEY)
                .map_err(|r| self.malformed(OUTBOX, None, r))?
                .to_owned();
            let bad = |r: String| self.malformed(OUTBOX, Some(&sort), r);
            let id = str_attr(&item, "entry").map_err(bad)?.to_owned();
            let channels = match item.get("channels") {
                None => BTreeSet::new(),
                Some(AttributeValue::Ss(set)) => set.iter().cloned().collect(),
                Some(_) => return Err(bad("attribute `channels` is not a string set".into())),
            };
            let chunk = Chunk {
                no: num_attr(&item, "chunk").map_err(bad)? as usize,
                of: num_attr(&item, "chunks").map_err(bad)? as usize,
                created_at: time_attr(&item, "created_at").map_err(bad)?,
                channels,
                notices: str_attr(&item, "notices").map_err(bad)?.to_owned(),
                sort,
            };
            entries.entry(id).or_default().push(chunk);
        }
        let mut pending = Vec::new();
        for (id, mut chunks) in entries {
            chunks.sort_by_key(|c| c.no);
            // A channel counts as pending while any chunk still names it: an
            // acknowledgement interrupted half-way repeats rather than loses.
            let channels: BTreeSet<String> = chunks
                .iter()
                .flat_map(|c| c.channels.iter().cloned())
                .collect();
            if channels.is_empty() {
                // Delivered everywhere, its removal interrupted: finish it.
                let sorts: Vec<String> = chunks.into_iter().map(|c| c.sort).collect();
                if let Err(e) = self.delete_outbox_chunks(&sorts, true).await {
                    warn!(entry = %id, error = %e, "delivered outbox entry could not be removed");
                }
                continue;
            }
            let of = chunks[0].of;
            let complete = chunks.len() == of
                && chunks
                    .iter()
                    .enumerate()
                    .all(|(i, c)| c.no == i && c.of == of);
            if !complete {
                // Surplus chunks of a commit that never reached its
                // transaction (or is reaching it right now): not an alert.
                warn!(
                    entry = %id,
                    chunks = chunks.len(),
                    expected = of,
                    "incomplete outbox entry ignored"
                );
                continue;
            }
            let json: String = chunks.iter().map(|c| c.notices.as_str()).collect();
            let notices: Vec<Notice> = serde_json::from_str(&json).map_err(|e| {
                self.malformed(
                    OUTBOX,
                    Some(&chunks[0].sort),
                    format!("notices of entry {id} are not valid JSON notices: {e}"),
                )
            })?;
            pending.push(OutboxEntry {
                id,
                created_at: chunks[0].created_at,
                channels,
                notices,
            });
        }
        pending.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(pending)
    }

    async fn acknowledge(&self, id: &str, channel: &str) -> Result<(), StateError> {
        let mut sorts = Vec::new();
        for item in self.query_partition(OUTBOX, true).await? {
            if str_attr(&item, "entry").is_ok_and(|e| e == id) {
                if let Ok(sort) = str_attr(&item, SORT_KEY) {
                    sorts.push(sort.to_owned());
                }
            }
        }
        let mut all_done = true;
        for sort in &sorts {
            let out = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.key(OUTBOX, sort)))
                .update_expression("DELETE #c :ch")
                .condition_expression("attribute_exists(#sk)")
                .expression_attribute_names("#c", "channels")
                .expression_attribute_names("#sk", SORT_KEY)
                .expression_attribute_values(":ch", AttributeValue::Ss(vec![channel.to_owned()]))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match out {
                // The set disappears with its last member.
                Ok(out) => all_done &= out.attributes.is_none_or(|a| !a.contains_key("channels")),
                // Removed meanwhile by another pass: nothing pending on it.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(self.backend("dynamodb:UpdateItem", e)),
            }
        }
        if all_done && !sorts.is_empty() {
            self.delete_outbox_chunks(&sorts, true).await?;
        }
        Ok(())
    }

    async fn acquire_lease(&self, holder: &str, until: DateTime<Utc>) -> Result<bool, StateError> {
        let mut item = self.key(LEASE, LEASE);
        item.insert("holder".into(), s(holder));
        item.insert("until".into(), s(&rfc3339(until)));
        item.insert(
            EXPIRES_AT.into(),
            AttributeValue::N(until.timestamp().to_string()),
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #exp < :now OR holder = :holder")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(
                ":now",
                AttributeValue::N(Utc::now().timestamp().to_string()),
            )
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.backend("dynamodb:PutItem", e)),
        }
    }

    async fn release_lease(&self, holder: &str) -> Result<(), StateError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(LEASE, LEASE)))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.backend("dynamodb:DeleteItem", e)),
        }
    }

    async fn health(&self) -> Result<BTreeMap<String, Health>, StateError> {
        let mut all = BTreeMap::new();
        for item in self.query_partition(HEALTH, false).await? {
            let target = str_attr(&item, SORT_KEY)
                .map_err(|r| self.malformed(HEALTH, None, r))?
                .to_owned();
            let bad = |r: String| self.malformed(HEALTH, Some(&target), r);
            let json = str_attr(&item, "health").map_err(bad)?;
            let health: Health = serde_json::from_str(json)
                .map_err(|e| bad(format!("attribute `health` is not a health record: {e}")))?;
            all.insert(target, health);
        }
        Ok(all)
    }

    async fn record_health(
        &self,
        key: &TargetKey,
        health: &Health,
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        let item_key = self.key(HEALTH, &key.to_string());
        let mut actions = Vec::new();
        if health.is_healthy() {
            let del = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .set_key(Some(item_key))
                .build();
            actions.push(TransactWriteItem::builder().delete(built(del)).build());
        } else {
            let mut item = item_key;
            item.insert(
                "health".into(),
                s(&serde_json::to_string(health).expect("health serializes")),
            );
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build();
            actions.push(TransactWriteItem::builder().put(built(put)).build());
        }
        // A health alert is one short notice: one chunk, far inside one
        // transaction.
        for item in outbox
            .iter()
            .filter(|e| !e.channels.is_empty())
            .flat_map(|e| self.outbox_items(e))
        {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build();
            actions.push(TransactWriteItem::builder().put(built(put)).build());
        }
        if actions.len() > TX_MAX_ACTIONS {
            return Err(self.malformed(
                HEALTH,
                Some(&key.to_string()),
                "a health alert too large for one transaction",
            ));
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
            .map_err(|e| self.backend("dynamodb:TransactWriteItems", e))?;
        Ok(())
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

/// Creates the table with the product's key schema (tests and the local
/// demo; SAM creates it in AWS) and waits until it is active. An existing
/// table is fine.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StateError> {
    let key = |name: &str, kind: KeyType| {
        built(
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build(),
        )
    };
    let attr = |name: &str| {
        built(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build(),
        )
    };
    let created = client
        .create_table()
        .table_name(table)
        .key_schema(key(PARTITION_KEY, KeyType::Hash))
        .key_schema(key(SORT_KEY, KeyType::Range))
        .attribute_definitions(attr(PARTITION_KEY))
        .attribute_definitions(attr(SORT_KEY))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => return Err(backend(table, "dynamodb:CreateTable", e)),
    }
    for attempt in 0..60 {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| backend(table, "dynamodb:DescribeTable", e))?;
        if out.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(backoff(attempt.min(5))).await;
    }
    Err(StateError::Backend {
        operation: "dynamodb:DescribeTable",
        location: table.to_owned(),
        message: "table did not become ACTIVE".into(),
        source: None,
    })
}

fn backend<E>(table: &str, operation: &'static str, err: E) -> StateError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StateError::Backend {
        operation,
        location: table.to_owned(),
        message: crate::aws::error_text(&err),
        source: Some(Box::new(err)),
    }
}

/// SDK builders fail only on a missing required field, which every call
/// here sets.
fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> T {
    r.expect("DynamoDB request has its required fields")
}

fn put_request(item: Item) -> WriteRequest {
    WriteRequest::builder()
        .put_request(built(PutRequest::builder().set_item(Some(item)).build()))
        .build()
}

fn backoff(attempt: u32) -> Duration {
    (BACKOFF_FIRST * 2u32.saturating_pow(attempt)).min(BACKOFF_MAX)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// Fixed width (nanoseconds, `Z`), so that sort keys sort by time.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn str_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        Some(_) => Err(format!("attribute `{name}` is not a string")),
        None => Err(format!("attribute `{name}` is missing")),
    }
}

fn num_attr(item: &Item, name: &str) -> Result<u64, String> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| format!("attribute `{name}` is `{v}`, not a whole number")),
        Some(_) => Err(format!("attribute `{name}` is not a number")),
        None => Err(format!("attribute `{name}` is missing")),
    }
}

fn time_attr(item: &Item, name: &str) -> Result<DateTime<Utc>, String> {
    let v = str_attr(item, name)?;
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("attribute `{name}` is `{v}`, not an RFC 3339 time: {e}"))
}

/// The sort key of a principal: its name, with one more `#` in front when
/// the name starts with `#` (sort keys starting with a single `#` are the
/// store's own).
fn principal_sort_key(name: &str) -> String {
    if name.starts_with('#') {
        format!("#{name}")
    } else {
        name.to_owned()
    }
}

/// The principal name under a sort key; `None` for the store's own keys.
fn principal_name(sort: &str) -> Option<&str> {
    if sort.starts_with("##") {
        Some(&sort[1..])
    } else if sort.starts_with('#') {
        None
    } else {
        Some(sort)
    }
}

/// Cuts `text` into pieces of at most `max` bytes, on character boundaries.
/// Always at least one piece (DynamoDB refuses empty strings, but a JSON
/// array is never empty).
fn split_utf8(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        pieces.push(head);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_names_starting_with_a_hash_cannot_collide_with_the_meta_item() {
        for name in ["alice", "<root>", "#meta", "##x", "a#b"] {
            let sort = principal_sort_key(name);
            assert_ne!(sort, META);
            assert_eq!(principal_name(&sort), Some(name));
        }
        assert_eq!(principal_name(META), None);
    }

    #[test]
    fn notices_json_is_cut_on_character_boundaries_and_rejoins_intact() {
        let text = "ab€cdé".repeat(1000);
        let pieces = split_utf8(&text, 1024);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.len() <= 1024 && !p.is_empty()));
        assert_eq!(pieces.concat(), text);
        assert_eq!(split_utf8("[]", 1024), vec!["[]"]);
    }

    #[test]
    fn outbox_sort_keys_sort_by_creation_time() {
        let a = rfc3339(
            DateTime::parse_from_rfc3339("2026-11-05T09:59:59.9Z")
                .unwrap()
                .into(),
        );
        let b = rfc3339(
            DateTime::parse_from_rfc3339("2026-11-05T10:00:00Z")
                .unwrap()
                .into(),
        );
        assert_eq!(a.len(), b.len());
        assert!(a < b);
    }
}
