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
        let mut all = BTreeMap::new();
        for item in self.query_partition(DISCOVERY, false).await? {
            let scope = str_attr(&item, SORT_KEY)
                .map_err(|r| self.malformed(DISCOVERY, None, r))?
                .to_owned();
            let bad = |r: String| self.malformed(DISCOVERY, Some(&scope), r);
            let json = str_attr(&item, "members").map_err(bad)?;
            let members: Vec<String> = serde_json::from_str(json).map_err(|e| {
                bad(format!(
                    "attribute `members` is not a JSON array of target ids: {e}"
                ))
            })?;
            all.insert(scope, members);
        }
        Ok(all)
    }

    pub(super) async fn write_discovered(
        &self,
        scope: &TargetKey,
        members: &[String],
    ) -> Result<(), StateError> {
        // 12-digit account ids: a 400 KB item holds over 25,000 of them,
        // more than any organization's account quota.
        let mut item = self.key(DISCOVERY, &scope.to_string());
        item.insert(
            "members".into(),
            s(&serde_json::to_string(members).expect("ids serialize")),
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
