//! The commit protocol (ARCHITECTURE.md §4): precheck, one transaction
//! with the meta item and the outbox, then the principals.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use tracing::warn;

use super::apply::PrincipalWrites;
use super::schema::*;
use super::DynamoDbStore;
use crate::state::{StateError, TargetCommit};

impl DynamoDbStore {
    /// Refuses a commit that would overwrite or delete an unreadable item,
    /// or whose expected version is already gone, before anything is
    /// written. The transaction's condition stays the authority on the
    /// version; this only keeps malformed state from being overwritten.
    pub(super) async fn precheck(
        &self,
        commit: &TargetCommit,
        partition: &str,
    ) -> Result<(), StateError> {
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
    pub(super) async fn commit_target(&self, commit: TargetCommit) -> Result<u64, StateError> {
        let partition = commit.key.to_string();
        self.precheck(&commit, &partition).await?;

        let version = commit.expected_version.unwrap_or(0) + 1;
        // The principal writes, staged before the transaction so that a
        // commit cut short after it can be finished (`apply.rs`).
        let writes = PrincipalWrites {
            upserts: commit.upserts,
            deletes: commit.deletes,
        };
        let staged_writes = if writes.is_empty() {
            Vec::new()
        } else {
            self.stage_writes(&partition, version, &writes).await?
        };
        let mut meta = self.key(&partition, META);
        meta.insert("version".into(), AttributeValue::N(version.to_string()));
        if !staged_writes.is_empty() {
            meta.insert(
                APPLY_CHUNKS.into(),
                AttributeValue::N(staged_writes.len().to_string()),
            );
        }
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
        if let Some(record) = &commit.trend {
            let mut item = self.key(TREND, &record.key());
            item.insert(
                "record".into(),
                s(&serde_json::to_string(record).expect("trend records serialize")),
            );
            let expires = commit.at + chrono::Duration::days(crate::domain::trend::KEEP_DAYS);
            item.insert(
                EXPIRES_AT.into(),
                AttributeValue::N(expires.timestamp().to_string()),
            );
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build();
            actions.push(TransactWriteItem::builder().put(built(put)).build());
        }

        // An entry pending for no channel would never be acknowledged, so it
        // is not kept (the file store drops it at its next acknowledgement).
        let mut chunks = commit
            .outbox
            .as_ref()
            .filter(|e| !e.channels.is_empty())
            .map(|e| self.outbox_items(e))
            .unwrap_or_default();
        let in_tx = (TX_CHUNK_BYTES_BUDGET / self.outbox_chunk_bytes)
            .clamp(1, TX_MAX_ACTIONS - actions.len());
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
            // DynamoDB answered that the transaction was not applied (lost
            // race or another refusal): what was staged for it can go. A
            // timeout or a dropped connection leaves its outcome unknown, so
            // its chunks stay (ignored while incomplete; deleting them could
            // cut an entry that did commit).
            if err.as_service_error().is_some() {
                self.delete_staged(&staged_writes).await;
                if let Err(e) = self.delete_outbox_chunks(&staged_sorts, false).await {
                    warn!(
                        table = %self.table,
                        error = %e,
                        "surplus outbox chunks of a refused commit could not be removed; they are ignored"
                    );
                }
            }
            if lost_race {
                return Err(StateError::Conflict {
                    key: commit.key,
                    expected: commit.expected_version,
                });
            }
            return Err(self.backend("dynamodb:TransactWriteItems", err));
        }

        // 2. Principals; then the version is marked complete.
        if !writes.is_empty() {
            self.write_principals(&partition, &writes).await?;
            self.settle_writes(&partition, version, &staged_writes)
                .await;
        }
        Ok(version)
    }
}
