//! The Security Hub sync records (`#securityhub` partition): one small item
//! per principal whose finding Security Hub accepted, written and removed
//! in batches after each import.

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

use super::schema::*;
use super::DynamoDbStore;
use crate::domain::securityhub::Synced;
use crate::state::StateError;

impl DynamoDbStore {
    pub(super) async fn write_securityhub(
        &self,
        updates: &[(String, Option<Synced>)],
    ) -> Result<(), StateError> {
        self.batch_write(updates.len(), |i| {
            let (id, record) = &updates[i];
            let key = self.key(SECURITYHUB, id);
            match record {
                Some(r) => {
                    let mut item = key;
                    item.insert(
                        "synced".into(),
                        s(&serde_json::to_string(r).expect("records serialize")),
                    );
                    put_request(item)
                }
                None => WriteRequest::builder()
                    .delete_request(built(DeleteRequest::builder().set_key(Some(key)).build()))
                    .build(),
            }
        })
        .await
    }
}
