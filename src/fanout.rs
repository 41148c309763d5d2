//! The fanned-out pass's Lambda steps, `{"mode":"plan"}`,
//! `{"mode":"collect",…}` and `{"mode":"deliver",…}` (README, "Fan-out";
//! the steps themselves are `run/fanout.rs`): their payloads, and the plan
//! put in S3 when it is too large to pass inline.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::app::App;
use crate::domain::{ChangeKind, Source};
use crate::run::{Batch, BatchSummary, ChannelOutcome, Deadline, PlannedTarget, RunSummary};

/// A run id as it reaches a step: the execution's name, used in DynamoDB
/// and S3 keys, so it is checked at the boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl TryFrom<String> for RunId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = (1..=80).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(RunId(s))
        } else {
            Err(format!(
                "`run_id` must be 1-80 letters, digits, '-', '_' or '.' (a Step Functions execution name), got {s:?}"
            ))
        }
    }
}

impl From<RunId> for String {
    fn from(r: RunId) -> String {
        r.0
    }
}

impl RunId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlanEvent {
    pub run_id: RunId,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CollectEvent {
    pub run_id: RunId,
    #[serde(default)]
    pub batch: u32,
    pub targets: Vec<PlannedTarget>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliverEvent {
    pub run_id: RunId,
}

/// Where a large plan was put, in the shape `ItemReader` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanResult {
    pub mode: &'static str,
    pub run_id: RunId,
    pub targets: usize,
    pub batch_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batches: Option<Vec<Batch>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<S3Object>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CollectResult {
    pub mode: &'static str,
    pub run_id: RunId,
    #[serde(flatten)]
    pub summary: BatchSummary,
}

/// The deliver step's answer: the run summary's counts without its
/// per-target list, which at thousands of targets would pass Step
/// Functions' limit (the whole summary is in the log, as for any pass).
#[derive(Debug, Clone, Serialize)]
pub struct DeliverResult {
    pub mode: &'static str,
    pub run_id: String,
    pub ok: bool,
    pub targets: usize,
    pub failed_targets: usize,
    pub changes: BTreeMap<Source, BTreeMap<ChangeKind, usize>>,
    pub channels: Vec<ChannelOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&RunSummary> for DeliverResult {
    fn from(s: &RunSummary) -> Self {
        DeliverResult {
            mode: "deliver",
            run_id: s.run_id.clone(),
            ok: s.ok,
            targets: s.targets.len(),
            failed_targets: s
                .targets
                .iter()
                .filter(|t| t.result == crate::run::TargetResult::Failed)
                .count(),
            changes: s.changes.clone(),
            channels: s.channels.clone(),
            skipped: s.skipped.clone(),
            error: s.error.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Fanout(#[from] crate::run::FanoutError),
    #[error("the plan is {kb} KB, more than the {limit} KB passed inline through Step Functions (MFA_PLAN_INLINE_KB); set MFA_PLAN_BUCKET")]
    PlanTooLarge { kb: usize, limit: usize },
    #[error("could not put the plan in s3://{bucket}/{key}: {message}")]
    PlanBucket {
        bucket: String,
        key: String,
        message: String,
    },
}

pub struct PlanBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl PlanBucket {
    pub fn new(sdk: &aws_config::SdkConfig, bucket: &str) -> Self {
        Self {
            client: crate::aws::s3_client(sdk),
            bucket: bucket.to_owned(),
        }
    }

    async fn put(&self, run_id: &RunId, json: String) -> Result<S3Object, StepError> {
        let key = format!("plans/{}.json", run_id.as_str());
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(json.into_bytes()))
            .send()
            .await
            .map_err(|e| StepError::PlanBucket {
                bucket: self.bucket.clone(),
                key: key.clone(),
                message: crate::aws::sdk_error_text(&e),
            })?;
        Ok(S3Object {
            bucket: self.bucket.clone(),
            key,
        })
    }
}

impl App {
    pub async fn plan_step(
        &self,
        event: &PlanEvent,
        deadline: Deadline,
    ) -> Result<PlanResult, StepError> {
        let run_id = event.run_id.as_str();
        let span = tracing::info_span!("plan", run_id = %run_id);
        async {
            let plan = self
                .pass(run_id, deadline)
                .plan_batches(self.config.batch_targets)
                .await?;
            let json = serde_json::to_string(&plan.batches).expect("batches serialize");
            // Step Functions passes at most 256 KiB between states; a
            // larger plan goes to S3 for the Distributed Map's ItemReader.
            let limit = self.config.plan_inline_bytes;
            let (batches, items) = if json.len() <= limit {
                (Some(plan.batches), None)
            } else {
                match &self.plan_bucket {
                    Some(bucket) => (None, Some(bucket.put(&event.run_id, json).await?)),
                    None => {
                        return Err(StepError::PlanTooLarge {
                            kb: json.len() / 1024,
                            limit: limit / 1024,
                        })
                    }
                }
            };
            Ok(PlanResult {
                mode: "plan",
                run_id: event.run_id.clone(),
                targets: plan.targets,
                batch_count: batches.as_ref().map_or_else(
                    || plan.targets.div_ceil(self.config.batch_targets.max(1)),
                    Vec::len,
                ),
                batches,
                items,
            })
        }
        .instrument(span)
        .await
    }

    pub async fn collect_step(
        &self,
        event: &CollectEvent,
        deadline: Deadline,
    ) -> Result<CollectResult, StepError> {
        let run_id = event.run_id.as_str();
        let span = tracing::info_span!("collect", run_id = %run_id, batch = event.batch);
        async {
            let batch = Batch {
                batch: event.batch,
                targets: event.targets.clone(),
            };
            let summary = self.pass(run_id, deadline).collect_batch(&batch).await?;
            Ok(CollectResult {
                mode: "collect",
                run_id: event.run_id.clone(),
                summary,
            })
        }
        .instrument(span)
        .await
    }

    /// The deliver step; its run summary is logged with its metrics
    /// exactly as a single-invocation pass's.
    pub async fn deliver_step(
        &self,
        event: &DeliverEvent,
        deadline: Deadline,
    ) -> Result<RunSummary, StepError> {
        let run_id = event.run_id.as_str();
        let span = tracing::info_span!("pass", run_id = %run_id);
        async {
            let summary = self.pass(run_id, deadline).deliver_run().await?;
            crate::metrics::log_run_summary(&summary);
            Ok(summary)
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_an_execution_name_of_safe_characters() {
        assert!(RunId::try_from("pass-2026-12-01T10-00".to_owned()).is_ok());
        for bad in ["", "a/b", "pass 1", "x:y", &"a".repeat(81)] {
            let e = RunId::try_from(bad.to_owned()).unwrap_err();
            assert!(e.contains("run_id"), "{e}");
        }
    }

    #[test]
    fn a_plan_in_s3_is_named_as_item_reader_takes_it() {
        let o = S3Object {
            bucket: "b".into(),
            key: "plans/r.json".into(),
        };
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            serde_json::json!({"Bucket": "b", "Key": "plans/r.json"})
        );
    }
}
