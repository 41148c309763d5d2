//! Reads: a partition page by page (strongly consistent), BatchGetItem with
//! retries, one target, and every target for `status` and reports.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::codec::Assembly;
use super::schema::*;
use super::DynamoDbStore;
use crate::domain::snapshot::StoredTarget;
use crate::domain::TargetKey;
use crate::state::StateError;

impl DynamoDbStore {
    /// Every item of one partition, following `LastEvaluatedKey`; with
    /// `keys_only`, just the keys and an outbox item's `entry`.
    pub(super) async fn query_partition(
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
    pub(super) async fn query_pages<F>(
        &self,
        partition: &str,
        keys_only: bool,
        each: F,
    ) -> Result<(), StateError>
    where
        F: FnMut(Vec<Item>) -> Result<(), StateError> + Send,
    {
        self.query_pages_from(partition, None, keys_only, each)
            .await
    }

    /// The keys (and `entry`) of a partition's items whose sort key starts
    /// with `prefix`, every page.
    pub(super) async fn query_keys_with_prefix(
        &self,
        partition: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, StateError> {
        let mut items = Vec::new();
        self.query_pages_from(partition, Some(prefix), true, |page| {
            items.extend(page);
            Ok(())
        })
        .await?;
        Ok(items)
    }

    async fn query_pages_from<F>(
        &self,
        partition: &str,
        prefix: Option<&str>,
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
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_values(":pk", s(partition))
                .set_exclusive_start_key(start.take());
            req = match prefix {
                None => req.key_condition_expression("#pk = :pk"),
                Some(prefix) => req
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", SORT_KEY)
                    .expression_attribute_values(":prefix", s(prefix)),
            };
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

    /// Strongly consistent BatchGetItem of the given sort keys of one
    /// partition, retrying unprocessed keys.
    pub(super) async fn batch_get(
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

    pub(super) async fn load_target(
        &self,
        key: &TargetKey,
    ) -> Result<Option<StoredTarget>, StateError> {
        let partition = key.to_string();
        let mut target = self.assemble(&partition).await?;
        if let Some(meta) = target.meta.as_ref().filter(|m| m.apply_chunks.is_some()) {
            // The last commit's principal writes were cut short: finish
            // them first, so this pass diffs against the state that commit
            // announced, not a mix that would alert again.
            let (version, chunks) = (meta.version, meta.apply_chunks.unwrap_or(0));
            self.finish_interrupted_commit(&partition, version, chunks)
                .await?;
            target = self.assemble(&partition).await?;
        }
        self.finish(key, target)
    }

    /// A target's partition read page by page into its records.
    async fn assemble(&self, partition: &str) -> Result<Assembly, StateError> {
        let mut target = Assembly::default();
        self.query_pages(partition, false, |page| {
            self.absorb(partition, &mut target, page)
        })
        .await?;
        Ok(target)
    }

    pub(super) async fn scan_targets(&self) -> Result<Vec<StoredTarget>, StateError> {
        // An operator command: a full Scan, following LastEvaluatedKey.
        let mut partitions: BTreeMap<String, Assembly> = BTreeMap::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                // Every partition of our own records (`#outbox`, `#health`,
                // …) starts with `#`, and no `SOURCE:TARGET` key does: one
                // rule, so that a new record partition cannot be read as a
                // target.
                .filter_expression("NOT begins_with(#pk, :own)")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_values(":own", s("#"))
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
}
