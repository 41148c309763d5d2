//! Items to records and back: the meta item, principal items, and a
//! target's partition reassembled from its items.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::schema::*;
use super::DynamoDbStore;
use crate::domain::snapshot::StoredTarget;
use crate::domain::{Attributes, MfaStatus, PrincipalRecord, TargetKey, TargetSettings};
use crate::state::StateError;
use aws_sdk_dynamodb::types::AttributeValue;

pub(super) struct Meta {
    pub version: u64,
    pub settings: TargetSettings,
    pub updated_at: DateTime<Utc>,
    /// Set while this version's principal writes are not all applied:
    /// how many staged chunks hold them (`apply.rs`).
    pub apply_chunks: Option<u64>,
}

/// A target's partition as its items are read.
#[derive(Default)]
pub(super) struct Assembly {
    pub meta: Option<Meta>,
    pub principals: BTreeMap<String, PrincipalRecord>,
    pub items: usize,
}

impl DynamoDbStore {
    /// Adds items of a target's partition to what is known of it.
    pub(super) fn absorb(
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
    pub(super) fn finish(
        &self,
        key: &TargetKey,
        a: Assembly,
    ) -> Result<Option<StoredTarget>, StateError> {
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

    pub(super) fn parse_meta(&self, partition: &str, item: &Item) -> Result<Meta, StateError> {
        let bad = |r: String| self.malformed(partition, Some(META), r);
        let version = num_attr(item, "version").map_err(bad)?;
        let settings: TargetSettings =
            serde_json::from_str(str_attr(item, "settings").map_err(bad)?).map_err(|e| {
                bad(format!(
                    "attribute `settings` is not valid JSON settings: {e}"
                ))
            })?;
        let updated_at = time_attr(item, "updated_at").map_err(bad)?;
        let apply_chunks = match item.get(APPLY_CHUNKS) {
            None => None,
            Some(_) => Some(num_attr(item, APPLY_CHUNKS).map_err(bad)?),
        };
        Ok(Meta {
            version,
            settings,
            updated_at,
            apply_chunks,
        })
    }

    pub(super) fn parse_principal(
        &self,
        partition: &str,
        item: &Item,
    ) -> Result<PrincipalRecord, StateError> {
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
            absent_since: match item.get("absent_since") {
                None => None,
                Some(_) => Some(time_attr(item, "absent_since").map_err(bad)?),
            },
            exempt: item.contains_key("exempt"),
            grace_until: match item.get("grace_until") {
                None => None,
                Some(_) => Some(time_attr(item, "grace_until").map_err(bad)?),
            },
        })
    }

    pub(super) fn principal_item(&self, partition: &str, r: &PrincipalRecord) -> Item {
        let mut item = self.key(partition, &principal_sort_key(&r.name));
        item.insert("status".into(), s(r.status.as_str()));
        item.insert(
            "attributes".into(),
            s(&serde_json::to_string(&r.attributes).expect("attributes serialize")),
        );
        item.insert("first_seen".into(), s(&rfc3339(r.first_seen)));
        item.insert("status_since".into(), s(&rfc3339(r.status_since)));
        if let Some(t) = r.absent_since {
            item.insert("absent_since".into(), s(&rfc3339(t)));
        }
        if r.exempt {
            item.insert("exempt".into(), AttributeValue::Bool(true));
        }
        if let Some(t) = r.grace_until {
            item.insert("grace_until".into(), s(&rfc3339(t)));
        }
        item
    }
}
