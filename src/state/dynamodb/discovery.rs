//! The members each discovery scope last found (`#discovery` partition):
//! one small item per scope, read once per pass.

use std::collections::BTreeMap;

use super::schema::*;
use super::DynamoDbStore;
use crate::domain::TargetKey;
use crate::state::StateError;

impl DynamoDbStore {
    pub(super) async fn read_discovered(
        &self,
    ) -> Result<BTreeMap<String, Vec<String>>, StateError> {
        Ok(self
            .read_records(DISCOVERY, "members", "a JSON array of target ids")
            .await?
            .into_iter()
            .collect())
    }

    pub(super) async fn write_discovered(
        &self,
        scope: &TargetKey,
        members: &[String],
    ) -> Result<(), StateError> {
        // 12-digit account ids: a 400 KB item holds over 25,000 of them,
        // more than any organization's account quota.
        self.put_record(DISCOVERY, &scope.to_string(), "members", &members)
            .await
    }
}
