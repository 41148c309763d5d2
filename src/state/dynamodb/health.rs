//! Source health items (`#health` partition), written in one transaction
//! with the alert they raise.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::schema::*;
use super::DynamoDbStore;
use crate::domain::TargetKey;
use crate::state::{Health, OutboxEntry, StateError};

impl DynamoDbStore {
    pub(super) async fn read_health(&self) -> Result<BTreeMap<String, Health>, StateError> {
        Ok(self
            .read_records(HEALTH, "health", "a health record")
            .await?
            .into_iter()
            .collect())
    }

    pub(super) async fn write_health(
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
}
