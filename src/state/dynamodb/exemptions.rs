//! Exemptions of `mfa-monitor exempt` (`#exempt` partition): one item per
//! principal, read once per pass.

use aws_sdk_dynamodb::types::ReturnValue;

use super::schema::*;
use super::DynamoDbStore;
use crate::domain::exemption::Exemption;
use crate::domain::PrincipalId;
use crate::state::StateError;

impl DynamoDbStore {
    pub(super) async fn read_exemptions(&self) -> Result<Vec<Exemption>, StateError> {
        let mut all = Vec::new();
        for item in self.query_partition(EXEMPT, false).await? {
            let id = str_attr(&item, SORT_KEY)
                .map_err(|r| self.malformed(EXEMPT, None, r))?
                .to_owned();
            let bad = |r: String| self.malformed(EXEMPT, Some(&id), r);
            let json = str_attr(&item, "exemption").map_err(bad)?;
            let e: Exemption = serde_json::from_str(json)
                .map_err(|e| bad(format!("attribute `exemption` is not an exemption: {e}")))?;
            all.push(e);
        }
        Ok(all)
    }

    pub(super) async fn write_exemption(&self, e: &Exemption) -> Result<(), StateError> {
        let mut item = self.key(EXEMPT, &e.principal.to_string());
        item.insert(
            "exemption".into(),
            s(&serde_json::to_string(e).expect("exemptions serialize")),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|err| self.backend("dynamodb:PutItem", err))?;
        Ok(())
    }

    pub(super) async fn delete_exemption(&self, id: &PrincipalId) -> Result<bool, StateError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(EXEMPT, &id.to_string())))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|err| self.backend("dynamodb:DeleteItem", err))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
