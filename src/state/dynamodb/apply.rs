//! Principal writes that survive an interrupted commit. The commit's
//! transaction is its commit point (meta item and alerts), but principals
//! go out afterwards in batches: a process killed in between, or batches
//! throttled beyond their retries, would leave the new version standing
//! with principals missing — and the next pass would alert on every one
//! of them again (a first pass of 10,000 would send 10,000 `new_*` lines).
//!
//! So the writes are staged first, as chunks in the `#apply` partition
//! (sort key `TARGET#VERSION#CHUNK`, with a TTL), and the transaction
//! marks the meta item `apply_chunks = N`. Once the batches are done the
//! mark is removed and the chunks deleted. A load that finds the mark
//! applies the staged writes (idempotent puts and deletes) before it
//! returns the target, without alerting on them. Chunks whose commit lost
//! its race are deleted; those of a commit that failed otherwise expire.

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::schema::*;
use super::DynamoDbStore;
use crate::domain::PrincipalRecord;
use crate::state::StateError;

/// What one commit writes to a target's principals.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct PrincipalWrites {
    pub upserts: Vec<PrincipalRecord>,
    pub deletes: Vec<String>,
}

impl PrincipalWrites {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }
}

fn prefix(partition: &str, version: u64) -> String {
    format!("{partition}#{version:020}#")
}

impl DynamoDbStore {
    /// Stages `writes` for `version` of `partition`; returns the sort keys
    /// written (their count is the meta item's `apply_chunks`).
    pub(super) async fn stage_writes(
        &self,
        partition: &str,
        version: u64,
        writes: &PrincipalWrites,
    ) -> Result<Vec<String>, StateError> {
        let json = serde_json::to_string(writes).expect("principal records serialize");
        let pieces = split_utf8(&json, self.outbox_chunk_bytes);
        let expires = (chrono::Utc::now() + chrono::Duration::days(APPLY_TTL_DAYS)).timestamp();
        let items: Vec<Item> = pieces
            .iter()
            .enumerate()
            .map(|(no, piece)| {
                let mut item = self.key(APPLY, &format!("{}{no:05}", prefix(partition, version)));
                item.insert("chunk".into(), AttributeValue::N(no.to_string()));
                item.insert("chunks".into(), AttributeValue::N(pieces.len().to_string()));
                item.insert("writes".into(), s(piece));
                item.insert(EXPIRES_AT.into(), AttributeValue::N(expires.to_string()));
                item
            })
            .collect();
        let sorts = items
            .iter()
            .filter_map(|i| str_attr(i, SORT_KEY).ok().map(str::to_owned))
            .collect();
        self.batch_write(items.len(), |i| put_request(items[i].clone()))
            .await?;
        Ok(sorts)
    }

    /// The principal upserts and deletes, in batches. The same name in both
    /// lists ends upserted (as in the file store); a batch may not name a
    /// key twice.
    pub(super) async fn write_principals(
        &self,
        partition: &str,
        writes: &PrincipalWrites,
    ) -> Result<(), StateError> {
        let mut upserts: std::collections::BTreeMap<&str, &PrincipalRecord> = Default::default();
        for r in &writes.upserts {
            upserts.insert(&r.name, r);
        }
        let deletes: std::collections::BTreeSet<&str> = writes
            .deletes
            .iter()
            .map(String::as_str)
            .filter(|n| !upserts.contains_key(n))
            .collect();
        let upserts: Vec<&PrincipalRecord> = upserts.into_values().collect();
        let deletes: Vec<&str> = deletes.into_iter().collect();
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
        .await
    }

    /// Marks `version` complete and removes its staged chunks. Best effort
    /// after the writes: a mark left behind only makes the next load apply
    /// the same writes again.
    pub(super) async fn settle_writes(&self, partition: &str, version: u64, sorts: &[String]) {
        let cleared = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(partition, META)))
            .update_expression("REMOVE #a")
            .condition_expression("#v = :v")
            .expression_attribute_names("#a", APPLY_CHUNKS)
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .send()
            .await;
        match cleared {
            Ok(_) => self.delete_staged(sorts).await,
            // A newer version already stands: its own mark is its own.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.delete_staged(sorts).await
            }
            Err(e) => warn!(
                target = %partition,
                version,
                error = %crate::aws::error_text(&e),
                "principal writes applied but not marked complete; the next pass re-applies them"
            ),
        }
    }

    pub(super) async fn delete_staged(&self, sorts: &[String]) {
        let result = self
            .batch_write(sorts.len(), |i| {
                let del = DeleteRequest::builder()
                    .set_key(Some(self.key(APPLY, &sorts[i])))
                    .build();
                WriteRequest::builder().delete_request(built(del)).build()
            })
            .await;
        if let Err(e) = result {
            warn!(error = %e, "staged principal writes not removed; the table's TTL removes them");
        }
    }

    /// Applies the staged writes of an interrupted commit of `version`.
    /// Chunks missing (expired, or never all written) fail the target as
    /// malformed: its state is not guessed at.
    pub(super) async fn finish_interrupted_commit(
        &self,
        partition: &str,
        version: u64,
        chunks: u64,
    ) -> Result<(), StateError> {
        let wanted = prefix(partition, version);
        let mut pieces: Vec<(u64, String, String)> = Vec::new();
        for item in self.query_partition(APPLY, false).await? {
            let Ok(sort) = str_attr(&item, SORT_KEY) else {
                continue;
            };
            if !sort.starts_with(&wanted) {
                continue;
            }
            let bad = |r: String| self.malformed(APPLY, Some(sort), r);
            let no = num_attr(&item, "chunk").map_err(bad)?;
            let text = str_attr(&item, "writes").map_err(bad)?.to_owned();
            pieces.push((no, sort.to_owned(), text));
        }
        pieces.sort();
        let complete = pieces.len() as u64 == chunks
            && pieces.iter().enumerate().all(|(i, p)| p.0 == i as u64);
        if !complete {
            return Err(self.malformed(
                partition,
                Some(META),
                format!(
                    "version {version} was committed with {chunks} chunk(s) of principal writes still to apply, \
                     but {} of them are in {APPLY}; not diffing a half-written state",
                    pieces.len()
                ),
            ));
        }
        let json: String = pieces.iter().map(|p| p.2.as_str()).collect();
        let writes: PrincipalWrites = serde_json::from_str(&json).map_err(|e| {
            self.malformed(
                APPLY,
                Some(&wanted),
                format!("staged writes are not valid JSON: {e}"),
            )
        })?;
        warn!(
            target = %partition,
            version,
            upserts = writes.upserts.len(),
            deletes = writes.deletes.len(),
            "finishing the principal writes of an interrupted commit"
        );
        self.write_principals(partition, &writes).await?;
        let sorts: Vec<String> = pieces.into_iter().map(|p| p.1).collect();
        self.settle_writes(partition, version, &sorts).await;
        Ok(())
    }
}
