//! The step records of a fanned-out pass (`#run/RUN_ID` partition): one
//! item per step (the plan, each batch), read back by the deliver step and
//! expiring through the table's TTL.

use aws_sdk_dynamodb::types::AttributeValue;

use super::schema::*;
use super::DynamoDbStore;
use crate::state::{StateError, RUN_KEEP_DAYS};

/// The most of one record kept in one item: DynamoDB's item limit is
/// 400 KB with the key and attribute names.
const MAX_BODY_BYTES: usize = 350 * 1024;

pub(super) fn partition(run_id: &str) -> String {
    format!("{RUN}/{run_id}")
}

impl DynamoDbStore {
    pub(super) async fn put_run_part(
        &self,
        run_id: &str,
        part: &str,
        body: &str,
    ) -> Result<(), StateError> {
        let partition = partition(run_id);
        if body.len() > MAX_BODY_BYTES {
            return Err(self.malformed(
                &partition,
                Some(part),
                format!(
                    "the record is {} KB, more than the {} KB one item keeps: make MFA_BATCH_TARGETS smaller",
                    body.len() / 1024,
                    MAX_BODY_BYTES / 1024
                ),
            ));
        }
        let mut item = self.key(&partition, part);
        item.insert("part".into(), s(body));
        let expires = chrono::Utc::now() + chrono::Duration::days(RUN_KEEP_DAYS);
        item.insert(
            EXPIRES_AT.into(),
            AttributeValue::N(expires.timestamp().to_string()),
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

    pub(super) async fn read_run_parts(
        &self,
        run_id: &str,
    ) -> Result<Vec<(String, String)>, StateError> {
        let partition = partition(run_id);
        let mut parts = Vec::new();
        for item in self.query_partition(&partition, false).await? {
            let part = str_attr(&item, SORT_KEY)
                .map_err(|r| self.malformed(&partition, None, r))?
                .to_owned();
            let body = str_attr(&item, "part")
                .map_err(|r| self.malformed(&partition, Some(&part), r))?
                .to_owned();
            parts.push((part, body));
        }
        Ok(parts)
    }
}
