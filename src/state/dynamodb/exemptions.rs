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
        Ok(self
            .read_records(EXEMPT, "exemption", "an exemption")
            .await?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    pub(super) async fn write_exemption(&self, e: &Exemption) -> Result<(), StateError> {
        self.put_record(EXEMPT, &e.principal.to_string(), "exemption", e)
            .await
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
