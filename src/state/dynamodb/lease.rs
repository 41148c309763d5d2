//! The one-pass-at-a-time lease: a conditional put with an expiry (also
//! the table's TTL attribute), and its release.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::schema::*;
use super::DynamoDbStore;
use crate::state::StateError;

impl DynamoDbStore {
    pub(super) async fn take_lease(
        &self,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StateError> {
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

    pub(super) async fn give_back_lease(&self, holder: &str) -> Result<(), StateError> {
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
}
