//! Exemptions of `mfa-monitor exempt` (`#exempt` partition): one item per
//! principal, read once per pass. Each change is journaled in
//! `#exempt-log` in the same transaction, and a pass marks the journal
//! told in one transaction with the outbox entry that tells it.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::schema::*;
use super::DynamoDbStore;
use crate::domain::exemption::{Exemption, ExemptionNotice};
use crate::state::document::journal_key;
use crate::state::{OutboxEntry, StateError};

impl DynamoDbStore {
    pub(super) async fn read_exemptions(&self) -> Result<Vec<Exemption>, StateError> {
        Ok(self
            .read_records(EXEMPT, "exemption", "an exemption")
            .await?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    pub(super) async fn read_exemption_log(
        &self,
    ) -> Result<Vec<(String, ExemptionNotice)>, StateError> {
        self.read_records(EXEMPT_LOG, "notice", "an exemption change")
            .await
    }

    fn put_action(
        &self,
        partition: &str,
        key: &str,
        attribute: &str,
        json: String,
    ) -> TransactWriteItem {
        let mut item = self.key(partition, key);
        item.insert(attribute.into(), s(&json));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build();
        TransactWriteItem::builder().put(built(put)).build()
    }

    fn journal_action(&self, notice: &ExemptionNotice) -> TransactWriteItem {
        self.put_action(
            EXEMPT_LOG,
            &journal_key(notice),
            "notice",
            serde_json::to_string(notice).expect("notices serialize"),
        )
    }

    async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), StateError> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.backend("dynamodb:TransactWriteItems", e))
    }

    pub(super) async fn write_exemption(
        &self,
        e: &Exemption,
        notice: &ExemptionNotice,
    ) -> Result<(), StateError> {
        let exemption = self.put_action(
            EXEMPT,
            &e.principal.to_string(),
            "exemption",
            serde_json::to_string(e).expect("exemptions serialize"),
        );
        self.transact(vec![exemption, self.journal_action(notice)])
            .await
    }

    pub(super) async fn delete_exemption(
        &self,
        notice: &ExemptionNotice,
    ) -> Result<bool, StateError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(EXEMPT, &notice.principal.to_string())))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .build();
        let actions = vec![
            TransactWriteItem::builder().delete(built(delete)).build(),
            self.journal_action(notice),
        ];
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) => {
                // The condition failing is the only refusal that means
                // "there was none"; anything else is a failure to report.
                let absent = matches!(
                    err.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(c))
                        if c.cancellation_reasons().first().and_then(|r| r.code())
                            == Some("ConditionalCheckFailed")
                );
                if absent {
                    Ok(false)
                } else {
                    Err(self.backend("dynamodb:TransactWriteItems", err))
                }
            }
        }
    }

    pub(super) async fn announce(
        &self,
        keys: &[String],
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        let mut actions: Vec<TransactWriteItem> = keys
            .iter()
            .map(|k| {
                let del = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(self.key(EXEMPT_LOG, k)))
                    .build();
                TransactWriteItem::builder().delete(built(del)).build()
            })
            .collect();
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
        if actions.is_empty() {
            return Ok(());
        }
        if actions.len() > TX_MAX_ACTIONS {
            return Err(self.malformed(
                EXEMPT_LOG,
                None,
                format!(
                    "{} exemption changes told at once: more than one transaction holds (the pass tells at most {})",
                    keys.len(),
                    crate::state::ANNOUNCE_MAX
                ),
            ));
        }
        self.transact(actions).await
    }
}
