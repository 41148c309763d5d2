//! Small records kept as one JSON attribute per item in a partition of
//! their own (`#health`, `#discovery`, `#exempt`): read whole once per
//! pass, written one item at a time.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::schema::*;
use super::DynamoDbStore;
use crate::state::StateError;

impl DynamoDbStore {
    /// Every item of `partition` as (sort key, the JSON in `attribute`);
    /// an item that does not parse is `Malformed`, naming where, never
    /// skipped. `what` says what the attribute should hold.
    pub(super) async fn read_records<T: DeserializeOwned>(
        &self,
        partition: &str,
        attribute: &str,
        what: &str,
    ) -> Result<Vec<(String, T)>, StateError> {
        let mut all = Vec::new();
        for item in self.query_partition(partition, false).await? {
            let key = str_attr(&item, SORT_KEY)
                .map_err(|r| self.malformed(partition, None, r))?
                .to_owned();
            let bad = |r: String| self.malformed(partition, Some(&key), r);
            let json = str_attr(&item, attribute).map_err(bad)?;
            let value: T = serde_json::from_str(json)
                .map_err(|e| bad(format!("attribute `{attribute}` is not {what}: {e}")))?;
            all.push((key, value));
        }
        Ok(all)
    }

    /// Puts one record, replacing the one under the same key.
    pub(super) async fn put_record<T: Serialize>(
        &self,
        partition: &str,
        key: &str,
        attribute: &str,
        value: &T,
    ) -> Result<(), StateError> {
        let mut item = self.key(partition, key);
        item.insert(
            attribute.into(),
            s(&serde_json::to_string(value).expect("records serialize")),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.backend("dynamodb:PutItem", e))?;
        Ok(())
    }
}
