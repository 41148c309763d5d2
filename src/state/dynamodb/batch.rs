//! BatchWriteItem in batches of 25, a few in flight, with bounded retries
//! of unprocessed items.

use aws_sdk_dynamodb::types::WriteRequest;
use futures::{StreamExt, TryStreamExt};

use super::schema::*;
use super::DynamoDbStore;
use crate::state::StateError;

impl DynamoDbStore {
    pub(super) fn unprocessed(&self, operation: &'static str, left: usize) -> StateError {
        StateError::Backend {
            operation,
            location: self.table.clone(),
            message: format!(
                "{left} item(s) still unprocessed after {BATCH_ATTEMPTS} attempts (throttled)"
            ),
            source: None,
        }
    }

    /// Applies `n` write requests in batches of 25 (a few in flight),
    /// retrying `UnprocessedItems` with backoff a bounded number of times.
    /// `request(i)` builds the i-th as its batch goes out: at 100k
    /// principals, building them all first would hold every item twice over.
    pub(super) async fn batch_write<F>(&self, n: usize, request: F) -> Result<(), StateError>
    where
        F: Fn(usize) -> WriteRequest + Send + Sync,
    {
        let request = &request;
        futures::stream::iter((0..n).step_by(BATCH_WRITE_MAX))
            .map(|start| {
                let batch = (start..(start + BATCH_WRITE_MAX).min(n))
                    .map(request)
                    .collect();
                self.write_one_batch(batch)
            })
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    pub(super) async fn write_one_batch(
        &self,
        mut batch: Vec<WriteRequest>,
    ) -> Result<(), StateError> {
        let mut attempt = 0;
        loop {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(|e| self.backend("dynamodb:BatchWriteItem", e))?;
            match out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
            {
                Some(rest) if !rest.is_empty() => {
                    attempt += 1;
                    if attempt >= BATCH_ATTEMPTS {
                        return Err(self.unprocessed("dynamodb:BatchWriteItem", rest.len()));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    batch = rest;
                }
                _ => return Ok(()),
            }
        }
    }
}
