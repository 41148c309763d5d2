//! The fanned-out pass's state machines (infra/statemachine/*.asl.json, as
//! template.yaml deploys them with PassMode=fanout) executed on moto's Step
//! Functions interpreter, each Lambda result hand-written in the shapes of
//! the handler's plan, collect and deliver modes (README, "Fan-out").
//! The harness and what moto does and does not do: tests/common/sfn.rs.
mod common;

use common::sfn::{skip_without_sfn_moto, Sfn, Substitutions};
use serde_json::{json, Value};

/// The template's defaults, but one batch at a time so the order of the
/// invocations is known.
fn one_at_a_time() -> Substitutions {
    Substitutions {
        max_concurrency: 1,
        tolerated_failure_percentage: 100.0,
    }
}

fn target(key: &str, label: &str) -> Value {
    json!({"key": key, "label": label})
}

fn batches() -> Vec<Value> {
    vec![
        json!({"batch": 0, "targets": [target("aws:111122223333", "self"), target("github:acme", "acme")]}),
        json!({"batch": 1, "targets": [target("aws:444455556666", "prod")]}),
    ]
}

fn plan_inline(run_id: &str) -> Value {
    json!({"mode": "plan", "run_id": run_id, "targets": 3, "batch_count": 2, "batches": batches()})
}

fn collected(run_id: &str, batch: u32, targets: u32) -> Value {
    json!({"mode": "collect", "run_id": run_id, "batch": batch, "targets": targets,
           "committed": targets, "failed": 0, "changes": 1, "failures": []})
}

fn delivered(run_id: &str, failed_targets: u32) -> Value {
    json!({"mode": "deliver", "run_id": run_id, "ok": true, "targets": 3,
           "failed_targets": failed_targets, "changes": {"mfa_disabled": 1}, "channels": []})
}

/// What the definition must send each collect invocation.
fn collect_payloads(run_id: &str) -> Vec<Value> {
    batches()
        .into_iter()
        .map(|b| json!({"mode": "collect", "run_id": run_id, "batch": b["batch"], "targets": b["targets"]}))
        .collect()
}

fn plan_payload(run_id: &str) -> Value {
    json!({"mode": "plan", "run_id": run_id})
}

fn deliver_payload(run_id: &str) -> Value {
    json!({"mode": "deliver", "run_id": run_id})
}

#[tokio::test]
async fn the_same_scheduled_time_launched_twice_starts_one_pass_named_after_it() {
    if skip_without_sfn_moto() {
        return;
    }
    let sfn = Sfn::new(one_at_a_time()).await;
    let run_id = "pass-2026-12-01T10-00";
    sfn.queue(&[
        json!({"mode": "plan", "run_id": run_id, "targets": 0, "batch_count": 0, "batches": []}),
        delivered(run_id, 0),
    ])
    .await;
    let input = json!({"scheduled_time": "2026-12-01T10:00:00Z"});
    let first = sfn.run(&sfn.launch_arn, input.clone()).await;
    assert_eq!(first.status, "SUCCEEDED", "{first:?}");
    assert_eq!(first.states_entered(), ["Launch"]);
    let pass_arn = first.output.as_ref().unwrap()["execution_arn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pass_arn.ends_with(&format!(":{run_id}")), "{pass_arn}");
    let pass = sfn.wait(&pass_arn).await;
    assert_eq!(pass.status, "SUCCEEDED", "{pass:?}");
    assert_eq!(
        pass.lambda_payloads(),
        [plan_payload(run_id), deliver_payload(run_id)]
    );

    // The schedule delivers the same scheduled time again.
    let second = sfn.run(&sfn.launch_arn, input).await;
    assert_eq!(second.status, "SUCCEEDED", "{second:?}");
    assert_eq!(second.states_entered(), ["Launch", "AlreadyStarted"]);
    assert_eq!(
        second.output.as_ref().unwrap()["already_started"]["Error"],
        "StepFunctions.ExecutionAlreadyExistsException"
    );
    assert_eq!(
        sfn.executions(&sfn.pass_arn).await,
        [(run_id.to_owned(), "SUCCEEDED".to_owned())]
    );
    assert_eq!(
        sfn.invocations().await.len(),
        2,
        "the second launch invoked nothing"
    );
}

#[tokio::test]
async fn a_failing_batch_fails_alone_and_deliver_still_runs() {
    if skip_without_sfn_moto() {
        return;
    }
    let sfn = Sfn::new(one_at_a_time()).await;
    let run_id = "pass-2026-12-01T11-00";
    sfn.queue(&[plan_inline(run_id), collected(run_id, 0, 2)])
        .await;
    sfn.queue_failure().await;
    sfn.queue(&[delivered(run_id, 1)]).await;
    let done = sfn.run(&sfn.pass_arn, json!({"run_id": run_id})).await;

    // ToleratedFailurePercentage 100 (the template's default): a failed
    // batch fails neither the map run nor the pass; deliver marks its
    // targets source_failed.
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    assert_eq!(
        done.states_entered(),
        [
            "Start",
            "Plan",
            "Batches",
            "CollectInline",
            "Deliver",
            "Outcome",
            "Done"
        ]
    );
    let runs = sfn.map_runs(&done.arn).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0]["succeeded"].as_u64(), runs[0]["failed"].as_u64()),
        (Some(1), Some(1)),
        "{runs:?}"
    );
    let mut expected = vec![plan_payload(run_id)];
    expected.extend(collect_payloads(run_id));
    expected.push(deliver_payload(run_id));
    assert_eq!(sfn.invocations().await, expected);
    // The pass's output keeps deliver's summary, not the Lambda envelope.
    let out = done.output.unwrap();
    assert_eq!(out["deliver"]["summary"], delivered(run_id, 1));
}

#[tokio::test]
async fn a_failing_deliver_fails_the_pass() {
    if skip_without_sfn_moto() {
        return;
    }
    let sfn = Sfn::new(one_at_a_time()).await;
    let run_id = "pass-2026-12-01T12-00";
    sfn.queue(&[
        plan_inline(run_id),
        collected(run_id, 0, 2),
        collected(run_id, 1, 1),
    ])
    .await;
    sfn.queue_failure().await;
    let done = sfn.run(&sfn.pass_arn, json!({"run_id": run_id})).await;
    assert_eq!(done.status, "FAILED", "{done:?}");
    assert_eq!(done.error.as_deref(), Some("Function.ResponseSizeTooLarge"));
    assert_eq!(
        done.states_entered().last().map(String::as_str),
        Some("Deliver")
    );
    assert_eq!(
        sfn.invocations().await.last(),
        Some(&deliver_payload(run_id))
    );
}

#[tokio::test]
async fn a_large_plan_is_read_from_s3_batch_by_batch() {
    if skip_without_sfn_moto() {
        return;
    }
    let sfn = Sfn::new(one_at_a_time()).await;
    let s3 = sfn.s3().await;
    let bucket = common::unique("plans");
    let mut create = s3.create_bucket().bucket(&bucket);
    if sfn.region != "us-east-1" {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(sfn.region.as_str().into())
                .build(),
        );
    }
    create.send().await.expect("CreateBucket");
    let run_id = "pass-2026-12-01T13-00";
    let key = format!("plans/{run_id}.json");
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(Value::Array(batches()).to_string().into_bytes().into())
        .send()
        .await
        .expect("PutObject");
    sfn.queue(&[
        json!({"mode": "plan", "run_id": run_id, "targets": 3, "batch_count": 2,
               "items": {"Bucket": bucket, "Key": key}}),
        collected(run_id, 0, 2),
        collected(run_id, 1, 1),
        delivered(run_id, 0),
    ])
    .await;
    let done = sfn.run(&sfn.pass_arn, json!({"run_id": run_id})).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    assert_eq!(
        done.states_entered(),
        [
            "Start",
            "Plan",
            "Batches",
            "CollectFromS3",
            "Deliver",
            "Outcome",
            "Done"
        ]
    );
    let mut expected = vec![plan_payload(run_id)];
    expected.extend(collect_payloads(run_id));
    expected.push(deliver_payload(run_id));
    assert_eq!(sfn.invocations().await, expected);
}

#[tokio::test]
async fn a_map_that_cannot_run_still_delivers_and_fails_the_pass() {
    if skip_without_sfn_moto() {
        return;
    }
    let sfn = Sfn::new(one_at_a_time()).await;
    let run_id = "pass-2026-12-01T14-00";
    // The plan names an object that is not there: the map state itself
    // fails (ItemReader), its Catch goes on to deliver.
    sfn.queue(&[
        json!({"mode": "plan", "run_id": run_id, "targets": 3, "batch_count": 2,
               "items": {"Bucket": common::unique("no-such-bucket"), "Key": "plans/x.json"}}),
        delivered(run_id, 3),
    ])
    .await;
    let done = sfn.run(&sfn.pass_arn, json!({"run_id": run_id})).await;
    assert_eq!(done.status, "FAILED", "{done:?}");
    assert_eq!(done.error.as_deref(), Some("BatchesFailed"));
    assert_eq!(
        done.states_entered(),
        [
            "Start",
            "Plan",
            "Batches",
            "CollectFromS3",
            "Deliver",
            "Outcome",
            "BatchesFailed"
        ]
    );
    assert_eq!(
        done.lambda_payloads(),
        [plan_payload(run_id), deliver_payload(run_id)]
    );
}

#[tokio::test]
async fn an_execution_without_a_run_id_invokes_nothing() {
    if skip_without_sfn_moto() {
        return;
    }
    let sfn = Sfn::new(one_at_a_time()).await;
    let done = sfn
        .run(
            &sfn.pass_arn,
            json!({"scheduled_time": "2026-12-01T10:00:00Z"}),
        )
        .await;
    assert_eq!(done.status, "FAILED", "{done:?}");
    assert_eq!(done.error.as_deref(), Some("BadInput"));
    assert!(sfn.invocations().await.is_empty());
}

#[tokio::test]
async fn the_pass_is_named_after_the_scheduled_minute() {
    if skip_without_sfn_moto() {
        return;
    }
    let sfn = Sfn::new(one_at_a_time()).await;
    let run_id = "pass-2026-12-31T23-59";
    sfn.queue(&[
        json!({"mode": "plan", "run_id": run_id, "targets": 0, "batch_count": 0, "batches": []}),
        delivered(run_id, 0),
    ])
    .await;
    let launched = sfn
        .run(
            &sfn.launch_arn,
            json!({"scheduled_time": "2026-12-31T23:59:42Z"}),
        )
        .await;
    assert_eq!(launched.status, "SUCCEEDED", "{launched:?}");
    let pass = sfn
        .wait(
            launched.output.as_ref().unwrap()["execution_arn"]
                .as_str()
                .unwrap(),
        )
        .await;
    assert_eq!(pass.status, "SUCCEEDED", "{pass:?}");
    assert_eq!(
        sfn.executions(&sfn.pass_arn).await,
        [(run_id.to_owned(), "SUCCEEDED".to_owned())]
    );
    assert_eq!(sfn.invocations().await[0], plan_payload(run_id));
}

#[tokio::test]
async fn batches_run_side_by_side_with_the_default_concurrency() {
    if skip_without_sfn_moto() {
        return;
    }
    let sfn = Sfn::new(Substitutions {
        max_concurrency: 10,
        tolerated_failure_percentage: 100.0,
    })
    .await;
    let run_id = "pass-2026-12-01T16-00";
    sfn.queue(&[
        plan_inline(run_id),
        collected(run_id, 0, 2),
        collected(run_id, 1, 1),
        delivered(run_id, 0),
    ])
    .await;
    let done = sfn.run(&sfn.pass_arn, json!({"run_id": run_id})).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let calls = sfn.invocations().await;
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(
        (&calls[0], &calls[3]),
        (&plan_payload(run_id), &deliver_payload(run_id))
    );
    let mut collects = calls[1..3].to_vec();
    collects.sort_by_key(|c| c["batch"].as_u64());
    assert_eq!(collects, collect_payloads(run_id));
    let runs = sfn.map_runs(&done.arn).await;
    assert_eq!(runs[0]["succeeded"].as_u64(), Some(2), "{runs:?}");
}

#[tokio::test]
async fn a_duplicate_launch_while_the_pass_runs_joins_it() {
    if skip_without_sfn_moto() {
        return;
    }
    let sfn = Sfn::new(one_at_a_time()).await;
    let run_id = "pass-2026-12-01T17-00";
    // Enough batches, one at a time, for the pass to be still running when
    // the schedule delivers again. Only the plan is queued: the simple
    // Lambda answers every later invocation with its own payload.
    let batches: Vec<Value> = (0..BUSY_BATCHES)
        .map(|i| json!({"batch": i, "targets": [target(&format!("aws:{:012}", i), "x")]}))
        .collect();
    sfn.queue(&[
        json!({"mode": "plan", "run_id": run_id, "targets": BUSY_BATCHES,
                       "batch_count": BUSY_BATCHES, "batches": batches}),
    ])
    .await;
    let input = json!({"scheduled_time": "2026-12-01T17:00:00Z"});
    let first = sfn.run(&sfn.launch_arn, input.clone()).await;
    assert_eq!(first.status, "SUCCEEDED", "{first:?}");
    let second = sfn.run(&sfn.launch_arn, input).await;
    // StartExecution with the name and input of a running execution
    // returns that execution (STANDARD workflows are idempotent so).
    assert_eq!(second.status, "SUCCEEDED", "{second:?}");
    assert_eq!(
        second.states_entered(),
        ["Launch"],
        "the pass had ended already: raise BUSY_BATCHES"
    );
    assert_eq!(second.output, first.output);
    let pass = sfn
        .wait(
            first.output.as_ref().unwrap()["execution_arn"]
                .as_str()
                .unwrap(),
        )
        .await;
    assert_eq!(pass.status, "SUCCEEDED", "{pass:?}");
    assert_eq!(sfn.executions(&sfn.pass_arn).await.len(), 1);
    let calls = sfn.invocations().await;
    assert_eq!(calls.len(), BUSY_BATCHES + 2);
    assert_eq!(calls.iter().filter(|c| c["mode"] == "plan").count(), 1);
    assert_eq!(calls.iter().filter(|c| c["mode"] == "deliver").count(), 1);
}

const BUSY_BATCHES: usize = 40;
