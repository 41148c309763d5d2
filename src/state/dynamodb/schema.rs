//! The table's layout (see `mod.rs` for the item table), its creation, and
//! the small codecs of keys, strings, numbers and times every other file of
//! the store uses.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, TableStatus, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::state::StateError;

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
/// Partition of the members each discovery scope last found.
pub const DISCOVERY: &str = "#discovery";
/// Partition of the exemptions of `mfa-monitor exempt`.
pub const EXEMPT: &str = "#exempt";
/// Partition of the exemption changes not yet told by a pass.
pub const EXEMPT_LOG: &str = "#exempt-log";
/// Partition of the Security Hub findings accepted, by principal id.
pub const SECURITYHUB: &str = "#securityhub";
/// Partition of the daily trend records (`SOURCE:TARGET#DAY`), each
/// expiring through the table's TTL after `trend::KEEP_DAYS`.
pub const TREND: &str = "#trend";
/// Prefix of the partitions of fanned-out passes' step records
/// (`#run/RUN_ID`), each expiring after `RUN_KEEP_DAYS`.
pub const RUN: &str = "#run";
/// Epoch seconds; the table's TTL attribute, so expired leases go away.
pub const EXPIRES_AT: &str = "expires_at";
/// Partition of the staged principal writes of a commit (`apply.rs`).
pub const APPLY: &str = "#apply";
/// Meta attribute: this version's principal writes are still to apply.
pub const APPLY_CHUNKS: &str = "apply_chunks";
/// How long staged principal writes outlive their commit at most (the
/// table's TTL removes those of a commit that never happened).
pub(super) const APPLY_TTL_DAYS: i64 = 14;
/// Largest piece of an outbox entry's notices JSON kept in one item.
pub const DEFAULT_OUTBOX_CHUNK_BYTES: usize = 300 * 1024;

/// TransactWriteItems takes at most 100 actions and 4 MB; the meta item is
/// one action and a few hundred bytes, the rest is left for outbox chunks
/// with room for attribute names and keys.
pub(super) const TX_MAX_ACTIONS: usize = 100;
pub(super) const TX_CHUNK_BYTES_BUDGET: usize = 3_500 * 1024;
/// BatchWriteItem takes at most 25 requests, BatchGetItem 100 keys.
pub(super) const BATCH_WRITE_MAX: usize = 25;
pub(super) const BATCH_GET_MAX: usize = 100;
/// Batches of principal writes in flight at once.
pub(super) const BATCH_CONCURRENCY: usize = 4;
/// Attempts at a batch whose items DynamoDB leaves unprocessed (throttling),
/// with exponential backoff between them.
pub(super) const BATCH_ATTEMPTS: u32 = 8;
pub(super) const BACKOFF_FIRST: Duration = Duration::from_millis(50);
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(2);

pub(super) type Item = HashMap<String, AttributeValue>;

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

pub(super) fn backend<E>(table: &str, operation: &'static str, err: E) -> StateError
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
pub(super) fn built<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> T {
    r.expect("DynamoDB request has its required fields")
}

pub(super) fn put_request(item: Item) -> WriteRequest {
    WriteRequest::builder()
        .put_request(built(PutRequest::builder().set_item(Some(item)).build()))
        .build()
}

pub(super) fn backoff(attempt: u32) -> Duration {
    (BACKOFF_FIRST * 2u32.saturating_pow(attempt)).min(BACKOFF_MAX)
}

pub(super) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// Fixed width (nanoseconds, `Z`), so that sort keys sort by time.
pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn str_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        Some(_) => Err(format!("attribute `{name}` is not a string")),
        None => Err(format!("attribute `{name}` is missing")),
    }
}

pub(super) fn num_attr(item: &Item, name: &str) -> Result<u64, String> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| format!("attribute `{name}` is `{v}`, not a whole number")),
        Some(_) => Err(format!("attribute `{name}` is not a number")),
        None => Err(format!("attribute `{name}` is missing")),
    }
}

pub(super) fn time_attr(item: &Item, name: &str) -> Result<DateTime<Utc>, String> {
    let v = str_attr(item, name)?;
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("attribute `{name}` is `{v}`, not an RFC 3339 time: {e}"))
}

/// The sort key of a principal: its name, with one more `#` in front when
/// the name starts with `#` (sort keys starting with a single `#` are the
/// store's own).
pub(super) fn principal_sort_key(name: &str) -> String {
    if name.starts_with('#') {
        format!("#{name}")
    } else {
        name.to_owned()
    }
}

/// The principal name under a sort key; `None` for the store's own keys.
pub(super) fn principal_name(sort: &str) -> Option<&str> {
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
pub(super) fn split_utf8(text: &str, max: usize) -> Vec<&str> {
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
