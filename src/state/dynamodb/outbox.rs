//! The outbox: alerts pending per channel, each entry cut into chunks of
//! at most a few hundred KB; reading them back whole, acknowledging a
//! channel, and removing what every channel accepted.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use tracing::warn;

use super::schema::*;
use super::DynamoDbStore;
use crate::domain::Notice;
use crate::state::{OutboxEntry, StateError};

/// Entries acknowledged at once by [`DynamoDbStore::acknowledge_entries`].
const ACK_CONCURRENCY: usize = 16;

/// One outbox item as read back.
struct Chunk {
    sort: String,
    no: usize,
    of: usize,
    created_at: DateTime<Utc>,
    channels: BTreeSet<String>,
    notices: String,
    /// The entry's routing (JSON), on every chunk; absent when every
    /// channel is given every notice.
    routes: Option<String>,
}

impl DynamoDbStore {
    pub(super) fn outbox_items(&self, entry: &OutboxEntry) -> Vec<Item> {
        let json = serde_json::to_string(&entry.notices).expect("notices serialize");
        let pieces = split_utf8(&json, self.outbox_chunk_bytes);
        let created_at = rfc3339(entry.created_at);
        let channels: Vec<String> = entry.channels.iter().cloned().collect();
        let routes = (!entry.routes.is_empty())
            .then(|| serde_json::to_string(&entry.routes).expect("routes serialize"));
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
                if let Some(routes) = &routes {
                    item.insert("routes".into(), s(routes));
                }
                item
            })
            .collect()
    }

    /// Deletes outbox chunk items; with `only_if_done`, only those no
    /// channel is pending on any more (an item already gone is fine).
    pub(super) async fn delete_outbox_chunks(
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

    pub(super) async fn read_outbox(&self) -> Result<Vec<OutboxEntry>, StateError> {
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
                routes: match item.get("routes") {
                    None => None,
                    Some(_) => Some(str_attr(&item, "routes").map_err(bad)?.to_owned()),
                },
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
            let routes = match &chunks[0].routes {
                None => BTreeMap::new(),
                Some(json) => serde_json::from_str(json).map_err(|e| {
                    self.malformed(
                        OUTBOX,
                        Some(&chunks[0].sort),
                        format!("routes of entry {id} are not valid JSON: {e}"),
                    )
                })?,
            };
            pending.push(OutboxEntry {
                id,
                created_at: chunks[0].created_at,
                channels,
                notices,
                routes,
            });
        }
        pending.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(pending)
    }

    pub(super) async fn acknowledge_entry(
        &self,
        id: &str,
        channel: &str,
    ) -> Result<(), StateError> {
        let sorts = self.chunk_sorts(id).await?;
        self.acknowledge_chunks(&sorts, channel).await
    }

    /// Acknowledges `channel` on each entry, [`ACK_CONCURRENCY`] at once,
    /// each entry's chunks found by their sort-key prefix (created_at and
    /// id): after a baseline of thousands of targets, a delivery
    /// acknowledges thousands of entries, and reading the whole outbox for
    /// each (as [`Self::acknowledge_entry`] does) grows with its square.
    pub(super) async fn acknowledge_entries(
        &self,
        entries: &[&OutboxEntry],
        channel: &str,
    ) -> Vec<Result<(), StateError>> {
        let jobs: Vec<(String, String)> = entries
            .iter()
            .map(|e| (format!("{}#{}#", rfc3339(e.created_at), e.id), e.id.clone()))
            .collect();
        stream::iter(jobs)
            .map(|(prefix, id)| self.acknowledge_at(prefix, id, channel))
            .buffered(ACK_CONCURRENCY)
            .collect()
            .await
    }

    /// One entry of [`Self::acknowledge_entries`]: its chunks are the items
    /// under `prefix` whose `entry` is `id`.
    async fn acknowledge_at(
        &self,
        prefix: String,
        id: String,
        channel: &str,
    ) -> Result<(), StateError> {
        let mut sorts: Vec<String> = self
            .query_keys_with_prefix(OUTBOX, &prefix)
            .await?
            .iter()
            .filter(|item| str_attr(item, "entry").is_ok_and(|e| e == id))
            .filter_map(|item| str_attr(item, SORT_KEY).ok().map(str::to_owned))
            .collect();
        if sorts.is_empty() {
            // Not where its created_at says (or gone): look it up by id,
            // as a single acknowledgement does.
            sorts = self.chunk_sorts(&id).await?;
        }
        self.acknowledge_chunks(&sorts, channel).await
    }

    /// The sort keys of entry `id`'s chunks, from the whole outbox.
    async fn chunk_sorts(&self, id: &str) -> Result<Vec<String>, StateError> {
        let mut sorts = Vec::new();
        for item in self.query_partition(OUTBOX, true).await? {
            if str_attr(&item, "entry").is_ok_and(|e| e == id) {
                if let Ok(sort) = str_attr(&item, SORT_KEY) {
                    sorts.push(sort.to_owned());
                }
            }
        }
        Ok(sorts)
    }

    /// Removes `channel` from each chunk, and the chunks once no channel
    /// is left on any.
    async fn acknowledge_chunks(&self, sorts: &[String], channel: &str) -> Result<(), StateError> {
        let mut all_done = true;
        for sort in sorts {
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
            self.delete_outbox_chunks(sorts, true).await?;
        }
        Ok(())
    }
}
