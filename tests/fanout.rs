//! The fanned-out pass's steps run for real: the built binary served
//! `{"mode":"plan"}`, `{"mode":"collect",…}` and `{"mode":"deliver",…}`
//! by a local Runtime API, with the payloads the state machine passes
//! (tests/sfn.rs runs the definition itself), on a moto DynamoDB table and
//! SES, with three GitHub orgs on a local server in two batches. The last
//! tests run the passes through the state machines on moto's interpreter,
//! each Lambda task answered with what the real step returned
//! (`World::pass_on_sfn`).
mod common;

use serde_json::{json, Value};
use wiremock::MockServer;

use common::github_fake::*;
use common::runtime_api::{invoke_all, runtime_api_serving};
use common::sfn::{skip_without_sfn_moto, Finished, Sfn, Substitutions};

const ORGS: [&str; 3] = ["acme", "beta", "gamma"];

/// Each org: four members, none without 2FA unless named in `disabled`
/// (as `ORG/LOGIN`).
async fn serve_orgs(server: &MockServer, disabled: &[&str]) {
    server.reset().await;
    for (i, org) in ORGS.iter().enumerate() {
        let members = people(&format!("{org}-dev"), 4, 10_000 + 100 * i as u64);
        let off = members
            .iter()
            .filter(|p| disabled.contains(&format!("{org}/{}", p.login).as_str()))
            .cloned()
            .collect();
        serve(
            server,
            org,
            &Org {
                disabled: off,
                owners: vec![members[0].clone()],
                members,
                requirement: Some(false),
                ..Org::default()
            },
        )
        .await;
    }
}

struct World {
    cfg: aws_config::SdkConfig,
    github: MockServer,
    env: Vec<(String, String)>,
    to: String,
}

impl World {
    async fn new() -> Self {
        let scenario = common::Scenario::new().await;
        let github = MockServer::start().await;
        serve_orgs(&github, &[]).await;
        let mut env = scenario.table_env().await;
        env.retain(|(k, _)| k != "AWS_IAM_ACCOUNTS");
        env.extend([
            ("GITHUB_ORGS".to_owned(), ORGS.join(",")),
            ("GITHUB_TOKEN".to_owned(), TOKEN.to_owned()),
            ("GITHUB_API_URL".to_owned(), github.uri()),
            ("MFA_BATCH_TARGETS".to_owned(), "2".to_owned()),
            ("MFA_SOURCE_FAILURE_THRESHOLD".to_owned(), "1".to_owned()),
        ]);
        Self {
            cfg: scenario.cfg.clone(),
            github,
            env,
            to: scenario.to.clone(),
        }
    }

    /// One step's invocation through the Runtime API: `Ok` the response,
    /// `Err` the error the function reported.
    async fn step(&self, event: Value, env: &[(String, String)]) -> Result<Value, Value> {
        let server =
            runtime_api_serving(&[(event, "req-1")], std::time::Duration::from_secs(120)).await;
        let (mut answers, printed) = invoke_all(&server, &["req-1"], env.to_vec()).await;
        let (posted, body) = answers.remove(0);
        if posted.ends_with("/response") {
            Ok(body)
        } else {
            assert!(posted.ends_with("/error"), "{posted}\n{printed}");
            Err(body)
        }
    }

    /// The payloads the state machine passes: plan with the execution's
    /// name, each batch of the plan as its collect event, deliver.
    async fn plan(&self, run_id: &str) -> Vec<Value> {
        let plan = self
            .step(json!({"mode": "plan", "run_id": run_id}), &self.env)
            .await
            .expect("planned");
        assert_eq!(plan["mode"], "plan");
        assert_eq!(plan["targets"], 3, "{plan}");
        assert_eq!(plan["batch_count"], 2, "{plan}");
        plan["batches"]
            .as_array()
            .expect("inline batches")
            .iter()
            .map(|b| json!({"mode": "collect", "run_id": run_id, "batch": b["batch"], "targets": b["targets"]}))
            .collect()
    }

    async fn collect(&self, event: &Value) -> Value {
        self.step(event.clone(), &self.env)
            .await
            .expect("collected")
    }

    async fn deliver(&self, run_id: &str) -> Result<Value, Value> {
        self.step(json!({"mode": "deliver", "run_id": run_id}), &self.env)
            .await
    }

    /// The environment with every AWS call going to a closed port: the
    /// state store is unreachable.
    fn without_aws(&self) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
        env.push((
            "AWS_ENDPOINT_URL".to_owned(),
            "http://127.0.0.1:9".to_owned(),
        ));
        env.push(("AWS_MAX_ATTEMPTS".to_owned(), "1".to_owned()));
        env
    }

    async fn mails(&self) -> Vec<Value> {
        common::sent_emails_to(&self.to).await
    }

    async fn full_pass(&self, run_id: &str) -> Value {
        for event in self.plan(run_id).await {
            self.collect(&event).await;
        }
        self.deliver(run_id).await.expect("delivered")
    }
}

fn body(mail: &Value) -> String {
    mail["body"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_failed_batch_leaves_its_targets_source_failed_and_one_message_names_the_rest() {
    if common::skip_without_moto() {
        return;
    }
    let w = World::new().await;
    let delivered = w.full_pass("pass-2026-12-01T10-00").await;
    assert_eq!(delivered["ok"], true, "{delivered}");
    assert_eq!(delivered["targets"], 3);
    assert_eq!(
        w.mails().await.len(),
        1,
        "one baseline message for three orgs"
    );

    serve_orgs(&w.github, &["acme/acme-dev0001", "gamma/gamma-dev0002"]).await;
    let run = "pass-2026-12-01T11-00";
    let batches = w.plan(run).await;
    let first = w.collect(&batches[0]).await;
    assert_eq!(first["mode"], "collect");
    assert_eq!(first["batch"], 0);
    assert_eq!(first["targets"], 2);
    assert_eq!(first["committed"], 2);
    assert_eq!(first["changes"], 1, "{first}");
    // The second batch's invocation fails for real: no state store.
    let failed = w
        .step(batches[1].clone(), &w.without_aws())
        .await
        .unwrap_err();
    assert_eq!(failed["errorType"], "StepFailed", "{failed}");
    assert!(
        failed["errorMessage"]
            .as_str()
            .unwrap()
            .contains("exemptions"),
        "{failed}"
    );

    let delivered = w.deliver(run).await.expect("delivered");
    assert_eq!(delivered["ok"], false, "a failed batch fails the pass");
    assert_eq!(delivered["failed_targets"], 1, "{delivered}");
    assert_eq!(
        delivered["changes"]["github"]["mfa_disabled"], 1,
        "{delivered}"
    );
    assert_eq!(
        delivered["changes"]["github"]["source_failed"], 1,
        "{delivered}"
    );
    let mails = w.mails().await;
    assert_eq!(mails.len(), 2, "exactly one more message");
    let text = body(&mails[1]);
    assert!(text.contains("acme-dev0001"), "{text}");
    assert!(
        !text.contains("gamma-dev0002"),
        "gamma was not read: {text}"
    );
    assert!(text.contains("github:gamma"), "its failure is told: {text}");

    // The next pass reads gamma again and tells its change, once.
    let delivered = w.full_pass("pass-2026-12-01T12-00").await;
    assert_eq!(delivered["ok"], true, "{delivered}");
    let mails = w.mails().await;
    assert_eq!(mails.len(), 3);
    assert!(
        body(&mails[2]).contains("gamma-dev0002"),
        "{}",
        body(&mails[2])
    );
    assert!(!body(&mails[2]).contains("acme-dev0001"), "not twice");
}

#[tokio::test]
async fn a_deliver_step_that_fails_once_leaves_the_alerts_for_the_next_execution_to_send_once() {
    if common::skip_without_moto() {
        return;
    }
    let w = World::new().await;
    w.full_pass("pass-2026-12-01T10-00").await;
    serve_orgs(&w.github, &["beta/beta-dev0003"]).await;
    let run = "pass-2026-12-01T11-00";
    for event in w.plan(run).await {
        w.collect(&event).await;
    }
    let failed = w
        .step(json!({"mode": "deliver", "run_id": run}), &w.without_aws())
        .await
        .unwrap_err();
    assert_eq!(failed["errorType"], "StepFailed", "{failed}");
    assert!(
        failed["errorMessage"]
            .as_str()
            .unwrap()
            .contains("nothing was delivered"),
        "{failed}"
    );
    assert_eq!(w.mails().await.len(), 1, "only the baseline so far");

    let delivered = w.full_pass("pass-2026-12-01T12-00").await;
    assert_eq!(delivered["ok"], true, "{delivered}");
    let mails = w.mails().await;
    assert_eq!(mails.len(), 2, "the pending alert, in one message");
    assert!(
        body(&mails[1]).contains("beta-dev0003"),
        "{}",
        body(&mails[1])
    );
    w.full_pass("pass-2026-12-01T13-00").await;
    assert_eq!(w.mails().await.len(), 2, "and never again");
}

#[tokio::test]
async fn a_plan_too_large_to_pass_inline_is_put_in_the_plan_bucket_for_the_item_reader() {
    if common::skip_without_moto() {
        return;
    }
    let mut w = World::new().await;
    let run = "pass-2026-12-01T10-00";
    // 0: no plan passes inline.
    w.env
        .push(("MFA_PLAN_INLINE_KB".to_owned(), "0".to_owned()));
    let too_large = w
        .step(json!({"mode": "plan", "run_id": run}), &w.env)
        .await
        .unwrap_err();
    assert!(
        too_large["errorMessage"]
            .as_str()
            .unwrap()
            .contains("MFA_PLAN_BUCKET"),
        "{too_large}"
    );

    let bucket = common::unique("mfa-plans");
    let s3 = common::s3_client(&w.cfg);
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    w.env.push(("MFA_PLAN_BUCKET".to_owned(), bucket.clone()));
    let plan = w
        .step(json!({"mode": "plan", "run_id": run}), &w.env)
        .await
        .expect("planned");
    assert!(plan.get("batches").is_none(), "{plan}");
    assert_eq!(plan["items"]["Bucket"], bucket.as_str());
    assert_eq!(plan["items"]["Key"], format!("plans/{run}.json"));
    assert_eq!(plan["batch_count"], 2);
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(format!("plans/{run}.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type(), Some("application/json"));
    let items: Vec<Value> =
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["batch"], 0);
    assert_eq!(items[0]["targets"][0]["key"], "github:acme");
    assert_eq!(items[1]["targets"][0]["key"], "github:gamma");
    // The items read back are what the collect steps are given.
    for item in &items {
        let event = json!({"mode": "collect", "run_id": run, "batch": item["batch"], "targets": item["targets"]});
        w.collect(&event).await;
    }
    let delivered = w.deliver(run).await.expect("delivered");
    assert_eq!(delivered["ok"], true, "{delivered}");
    assert_eq!(delivered["targets"], 3);
}

#[tokio::test]
async fn a_step_event_without_its_fields_is_refused_naming_the_field() {
    if common::skip_without_moto() {
        return;
    }
    let w = World::new().await;
    let e = w
        .step(json!({"mode": "collect", "run_id": "r1"}), &w.env)
        .await
        .unwrap_err();
    assert_eq!(e["errorType"], "InvalidEvent", "{e}");
    assert!(
        e["errorMessage"].as_str().unwrap().contains("targets"),
        "{e}"
    );
}

/// What one step did for real: its response, or the error it reported.
type StepOutcome = Result<Value, Value>;

impl World {
    /// One pass through the state machine on moto's interpreter, its Lambda
    /// tasks answered by the real steps: each step is run here first (the
    /// batches in `failing` and, if `deliver_fails`, deliver with the state
    /// store unreachable), its response or failure queued for the
    /// interpreter in the order it invokes them (one batch at a time), and
    /// then the execution is started: through the launcher when
    /// `scheduled_time` is given, as the schedule does. The payloads the
    /// interpreter passed are compared with the events the steps were run
    /// with, so what ran is what the definition sends.
    async fn pass_on_sfn(
        &self,
        sfn: &Sfn,
        scheduled_time: &str,
        failing: &[u64],
        deliver_fails: bool,
    ) -> Finished {
        let run_id = run_id_of(scheduled_time);
        let plan_event = json!({"mode": "plan", "run_id": run_id});
        let plan = self.step(plan_event.clone(), &self.env).await;
        let mut events = vec![plan_event];
        let mut outcomes: Vec<StepOutcome> = vec![plan.clone()];
        for b in plan.expect("planned")["batches"].as_array().unwrap() {
            let event = json!({"mode": "collect", "run_id": run_id, "batch": b["batch"], "targets": b["targets"]});
            let env = if failing.contains(&b["batch"].as_u64().unwrap()) {
                self.without_aws()
            } else {
                self.env.clone()
            };
            outcomes.push(self.step(event.clone(), &env).await);
            events.push(event);
        }
        let deliver_event = json!({"mode": "deliver", "run_id": run_id});
        let env = if deliver_fails {
            self.without_aws()
        } else {
            self.env.clone()
        };
        outcomes.push(self.step(deliver_event.clone(), &env).await);
        events.push(deliver_event);

        for outcome in &outcomes {
            match outcome {
                Ok(response) => sfn.queue(std::slice::from_ref(response)).await,
                Err(error) => {
                    assert_eq!(error["errorType"], "StepFailed", "{error}");
                    sfn.queue_failure().await;
                }
            }
        }
        let before = sfn.invocations().await.len();
        let launched = sfn
            .run(&sfn.launch_arn, json!({"scheduled_time": scheduled_time}))
            .await;
        assert_eq!(launched.status, "SUCCEEDED", "{launched:?}");
        assert_eq!(launched.states_entered(), ["Launch"], "a pass started");
        let pass = sfn
            .wait(
                launched.output.as_ref().unwrap()["execution_arn"]
                    .as_str()
                    .unwrap(),
            )
            .await;
        assert_eq!(
            sfn.invocations().await[before..],
            events,
            "the interpreter passed the payloads the steps ran with"
        );
        pass
    }
}

/// The run id the launcher gives the pass of a scheduled time.
fn run_id_of(scheduled_time: &str) -> String {
    let minute: Vec<&str> = scheduled_time.splitn(3, ':').collect();
    format!("pass-{}-{}", minute[0], minute[1])
}

fn one_batch_at_a_time() -> Substitutions {
    Substitutions {
        max_concurrency: 1,
        tolerated_failure_percentage: 100.0,
    }
}

#[tokio::test]
async fn on_the_state_machine_a_failing_batch_fails_alone_one_message_tells_the_rest_and_a_repeated_schedule_starts_nothing(
) {
    if skip_without_sfn_moto() {
        return;
    }
    let w = World::new().await;
    let sfn = Sfn::new(one_batch_at_a_time()).await;
    let baseline = w
        .pass_on_sfn(&sfn, "2026-12-01T10:00:00Z", &[], false)
        .await;
    assert_eq!(baseline.status, "SUCCEEDED", "{baseline:?}");
    assert_eq!(w.mails().await.len(), 1, "one baseline message");

    serve_orgs(&w.github, &["acme/acme-dev0001", "gamma/gamma-dev0002"]).await;
    let scheduled = "2026-12-01T11:00:00Z";
    let pass = w.pass_on_sfn(&sfn, scheduled, &[1], false).await;
    assert_eq!(pass.status, "SUCCEEDED", "tolerated: {pass:?}");
    let runs = sfn.map_runs(&pass.arn).await;
    assert_eq!(
        (runs[0]["succeeded"].as_u64(), runs[0]["failed"].as_u64()),
        (Some(1), Some(1)),
        "{runs:?}"
    );
    let delivered = &pass.output.as_ref().unwrap()["deliver"]["summary"];
    assert_eq!(delivered["ok"], false, "{delivered}");
    assert_eq!(delivered["changes"]["github"]["mfa_disabled"], 1);
    assert_eq!(delivered["changes"]["github"]["source_failed"], 1);
    let mails = w.mails().await;
    assert_eq!(mails.len(), 2, "exactly one message for the pass");
    let text = body(&mails[1]);
    assert!(text.contains("acme-dev0001"), "{text}");
    assert!(!text.contains("gamma-dev0002"), "{text}");
    assert!(text.contains("github:gamma"), "{text}");

    // The schedule delivers the same scheduled time again.
    let before = sfn.invocations().await.len();
    let again = sfn
        .run(&sfn.launch_arn, json!({"scheduled_time": scheduled}))
        .await;
    assert_eq!(again.states_entered(), ["Launch", "AlreadyStarted"]);
    let names: Vec<String> = sfn
        .executions(&sfn.pass_arn)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == run_id_of(scheduled)).count(),
        1,
        "{names:?}"
    );
    assert_eq!(sfn.invocations().await.len(), before, "no step invoked");
    assert_eq!(w.mails().await.len(), 2, "no second message");
}

#[tokio::test]
async fn on_the_state_machine_a_deliver_that_fails_once_is_made_good_by_the_next_execution_once() {
    if skip_without_sfn_moto() {
        return;
    }
    let w = World::new().await;
    let sfn = Sfn::new(one_batch_at_a_time()).await;
    w.pass_on_sfn(&sfn, "2026-12-01T10:00:00Z", &[], false)
        .await;
    serve_orgs(&w.github, &["beta/beta-dev0003"]).await;
    let failed = w.pass_on_sfn(&sfn, "2026-12-01T11:00:00Z", &[], true).await;
    assert_eq!(failed.status, "FAILED", "{failed:?}");
    assert_eq!(
        failed.states_entered().last().map(String::as_str),
        Some("Deliver")
    );
    assert_eq!(w.mails().await.len(), 1, "only the baseline so far");

    let next = w
        .pass_on_sfn(&sfn, "2026-12-01T12:00:00Z", &[], false)
        .await;
    assert_eq!(next.status, "SUCCEEDED", "{next:?}");
    let mails = w.mails().await;
    assert_eq!(mails.len(), 2, "the pending alert, in one message");
    assert!(
        body(&mails[1]).contains("beta-dev0003"),
        "{}",
        body(&mails[1])
    );
    w.pass_on_sfn(&sfn, "2026-12-01T13:00:00Z", &[], false)
        .await;
    assert_eq!(w.mails().await.len(), 2, "and never again");
}

#[tokio::test]
async fn a_plan_bucket_answer_that_is_not_s3s_is_refused_naming_its_http_status() {
    if common::skip_without_moto() {
        return;
    }
    let mut w = World::new().await;
    // A proxy in front of S3 that does not take PUT, as Python's HTTP
    // servers answer: no S3 error code to name.
    let proxy = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("PUT"))
        .respond_with(
            wiremock::ResponseTemplate::new(501).set_body_string("Unsupported method ('PUT')"),
        )
        .expect(1..)
        .mount(&proxy)
        .await;
    w.env.extend([
        ("MFA_PLAN_INLINE_KB".to_owned(), "0".to_owned()),
        ("MFA_PLAN_BUCKET".to_owned(), "mfa-plans".to_owned()),
        ("AWS_ENDPOINT_URL_S3".to_owned(), proxy.uri()),
        ("AWS_MAX_ATTEMPTS".to_owned(), "1".to_owned()),
    ]);
    let e = w
        .step(
            json!({"mode": "plan", "run_id": "pass-2026-12-01T10-00"}),
            &w.env,
        )
        .await
        .unwrap_err();
    assert_eq!(e["errorType"], "StepFailed", "{e}");
    let message = e["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("s3://mfa-plans/plans/pass-2026-12-01T10-00.json"),
        "{message}"
    );
    assert!(message.contains("HTTP 501"), "{message}");
}
