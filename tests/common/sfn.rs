//! moto's Step Functions interpreter running the real state machine
//! definitions (`infra/statemachine/*.asl.json`), for tests/sfn.rs.
//!
//! It runs on its own moto server (`MOTO_SFN_URL`, started by
//! `infra/dev/test.sh`): the settings turned on here are global to a server.
//! - `POST /moto-api/config` `{"stepfunctions":{"execute_state_machine":true},
//!   "lambda":{"use_docker":false}}`: executions are interpreted
//!   (moto/stepfunctions/responses.py get_backend) and Lambda is
//!   moto/awslambda_simple, which runs no code: each invocation returns the
//!   next result queued with `POST /moto-api/static/lambda-simple/response`
//!   (one FIFO per account and Region, the invocation's payload itself when
//!   empty), and needs no function to exist.
//! - `POST /moto-api/recorder/start-recording`: moto records every request
//!   it serves, among them the interpreter's Lambda invocations with their
//!   payloads. The history of an execution does not hold what a Distributed
//!   Map's iterations sent (moto gives each map run a throwaway event
//!   manager, state_map/iteration/distributed_iteration_component.py), so
//!   [`Sfn::invocations`] reads the recording instead.
//!
//! The interpreter calls Lambda, S3 and Step Functions back on the same
//! server as moto's default account (its clients sign with the key "ak"),
//! so every test works in that account and keeps apart from the others by a
//! Region of its own (the Lambda queue is per Region) and unique names.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The account the interpreter's clients act in (moto's default).
pub const ACCOUNT: &str = "123456789012";

/// True when the Step Functions tests cannot run here (see
/// [`super::skip_without_moto`]); a `MOTO_URL` without `MOTO_SFN_URL` means
/// the servers were not started by `infra/dev/test.sh`, a failure.
pub fn skip_without_sfn_moto() -> bool {
    if std::env::var_os("MOTO_SFN_URL").is_some() {
        return false;
    }
    if super::skip_without_moto() {
        return true;
    }
    panic!("MOTO_URL is set but MOTO_SFN_URL is not: run the tests through infra/dev/test.sh");
}

pub fn sfn_url() -> String {
    std::env::var("MOTO_SFN_URL").expect("MOTO_SFN_URL")
}

/// How the state machine's definition substitutions are filled in a test.
pub struct Substitutions {
    pub max_concurrency: u32,
    /// moto's ASL grammar takes ToleratedFailurePercentage only as a
    /// NUMBER token with a fraction ("100" lexes as an INT and fails to
    /// parse); the value is written with one, e.g. 100.0. moto also ignores
    /// it: a failed iteration never fails its map run.
    pub tolerated_failure_percentage: f64,
}

/// One test's Region, function, pass and launch state machines on moto.
pub struct Sfn {
    http: reqwest::Client,
    url: String,
    pub region: String,
    pub function_arn: String,
    pub pass_arn: String,
    pub launch_arn: String,
}

/// How an execution ended.
#[derive(Debug)]
pub struct Finished {
    pub arn: String,
    pub status: String,
    pub error: Option<String>,
    pub output: Option<Value>,
    pub history: Vec<Value>,
}

impl Finished {
    /// The Lambda payloads this execution's own Task states sent, in order,
    /// from its history (TaskScheduled parameters of `lambda:invoke`, or
    /// LambdaFunctionScheduled input); a Distributed Map's iterations are
    /// not in it (see [`Sfn::invocations`]).
    pub fn lambda_payloads(&self) -> Vec<Value> {
        self.history
            .iter()
            .filter_map(|e| match e["type"].as_str()? {
                "TaskScheduled" => {
                    let d = &e["taskScheduledEventDetails"];
                    (d["resourceType"] == "lambda").then(|| {
                        let p: Value = serde_json::from_str(d["parameters"].as_str()?).ok()?;
                        Some(p["Payload"].clone())
                    })?
                }
                "LambdaFunctionScheduled" => serde_json::from_str(
                    e["lambdaFunctionScheduledEventDetails"]["input"].as_str()?,
                )
                .ok(),
                _ => None,
            })
            .collect()
    }

    /// The names of the states this execution entered, in order.
    pub fn states_entered(&self) -> Vec<String> {
        self.history
            .iter()
            .filter(|e| {
                e["type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("StateEntered"))
            })
            .filter_map(|e| {
                e["stateEnteredEventDetails"]["name"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }
}

/// Regions handed out one per test (the Lambda result queue is per Region).
const REGIONS: &[&str] = &[
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "sa-east-1",
];

fn next_region() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let i = N.fetch_add(1, Ordering::SeqCst);
    assert!(
        i < REGIONS.len(),
        "more Step Functions tests than Regions in tests/common/sfn.rs"
    );
    REGIONS[i].to_owned()
}

fn definition(file: &str, subs: &[(&str, String)]) -> String {
    let path = format!("{}/infra/statemachine/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (name, value) in subs {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    assert!(
        !text.contains("${"),
        "{file}: a substitution is left unfilled"
    );
    serde_json::from_str::<Value>(&text)
        .unwrap_or_else(|e| panic!("{file} with substitutions is not JSON: {e}"));
    text
}

impl Sfn {
    /// Turns on the interpreter, the Docker-less Lambda and the recorder,
    /// and creates the pass and launch state machines from the real
    /// definitions in a Region of this test's own.
    pub async fn new(subs: Substitutions) -> Sfn {
        let http = reqwest::Client::new();
        let url = sfn_url();
        for (path, body) in [
            (
                "/moto-api/config",
                json!({"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}),
            ),
            ("/moto-api/recorder/start-recording", json!({})),
        ] {
            let r = http
                .post(format!("{url}{path}"))
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("moto at {url} ({path}): {e}"));
            assert!(r.status().is_success(), "{path}: {}", r.status());
        }
        let region = next_region();
        let name = super::unique("mfa-monitor");
        let function_arn = format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}");
        let mut sfn = Sfn {
            http,
            url,
            region,
            function_arn,
            pass_arn: String::new(),
            launch_arn: String::new(),
        };
        let pass = definition(
            "pass.asl.json",
            &[
                ("FunctionArn", sfn.function_arn.clone()),
                ("MaxConcurrency", subs.max_concurrency.to_string()),
                (
                    "ToleratedFailurePercentage",
                    format!("{:.1}", subs.tolerated_failure_percentage),
                ),
            ],
        );
        sfn.pass_arn = sfn
            .create_state_machine(&format!("{name}-pass"), &pass)
            .await;
        let launch = definition(
            "launch.asl.json",
            &[("PassStateMachineArn", sfn.pass_arn.clone())],
        );
        sfn.launch_arn = sfn
            .create_state_machine(&format!("{name}-launch"), &launch)
            .await;
        sfn
    }

    /// One Step Functions JSON API call. moto needs no valid signature, but
    /// reads the Region from the Authorization header's credential scope
    /// and the account from its access key (an unknown key: the default).
    pub async fn call(&self, action: &str, body: Value) -> Result<Value, (u16, Value)> {
        let r = self
            .http
            .post(format!("{}/", self.url))
            .header("X-Amz-Target", format!("AWSStepFunctions.{action}"))
            .header("Content-Type", "application/x-amz-json-1.0")
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=ak/20261202/{}/states/aws4_request, SignedHeaders=host, Signature=0",
                    self.region
                ),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status == 200 {
            Ok(value)
        } else {
            Err((status, value))
        }
    }

    async fn create_state_machine(&self, name: &str, definition: &str) -> String {
        let out = self
            .call(
                "CreateStateMachine",
                json!({
                    "name": name,
                    "definition": definition,
                    "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/mfa-monitor-sfn"),
                    "type": "STANDARD",
                }),
            )
            .await
            .unwrap_or_else(|e| panic!("CreateStateMachine {name}: {e:?}"));
        out["stateMachineArn"].as_str().unwrap().to_owned()
    }

    /// Queues the next Lambda results of this Region, in order: each is the
    /// JSON the function returns.
    pub async fn queue(&self, results: &[Value]) {
        let results: Vec<String> = results.iter().map(Value::to_string).collect();
        self.queue_raw(results).await;
    }

    /// Queues one invocation that fails as a Lambda function error. The
    /// simple backend never sets FunctionError itself, but moto's Invoke
    /// (awslambda/responses.py) answers a result above 6,000,000 bytes with
    /// `X-Amz-Function-Error: Unhandled` and errorType
    /// `Function.ResponseSizeTooLarge`, as Lambda does: the interpreter
    /// then fails the task with that error (no Retry of the definitions
    /// names it; a Catch of States.ALL takes it).
    pub async fn queue_failure(&self) {
        self.queue_raw(vec!["x".repeat(6_000_100)]).await;
    }

    async fn queue_raw(&self, results: Vec<String>) {
        let r = self
            .http
            .post(format!(
                "{}/moto-api/static/lambda-simple/response",
                self.url
            ))
            .json(&json!({"results": results, "region": self.region, "account_id": ACCOUNT}))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "queue Lambda results: {}",
            r.status()
        );
    }

    /// Starts an execution of `state_machine` (a name is always given:
    /// moto names an unnamed execution "None", so a second one collides).
    pub async fn start(
        &self,
        state_machine: &str,
        input: Value,
        name: Option<&str>,
    ) -> Result<String, (u16, Value)> {
        let name = name.map_or_else(|| super::unique("x"), str::to_owned);
        let out = self
            .call(
                "StartExecution",
                json!({"stateMachineArn": state_machine, "name": name, "input": input.to_string()}),
            )
            .await?;
        Ok(out["executionArn"].as_str().unwrap().to_owned())
    }

    /// Waits (at most 60 s) for the execution to end; its history with it.
    pub async fn wait(&self, execution_arn: &str) -> Finished {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self
                .call("DescribeExecution", json!({"executionArn": execution_arn}))
                .await
                .unwrap_or_else(|e| panic!("DescribeExecution: {e:?}"));
            let status = d["status"].as_str().unwrap_or_default().to_owned();
            if status != "RUNNING" {
                let history = self
                    .call(
                        "GetExecutionHistory",
                        json!({"executionArn": execution_arn, "maxResults": 1000}),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("GetExecutionHistory: {e:?}"));
                return Finished {
                    arn: execution_arn.to_owned(),
                    status,
                    error: d["error"].as_str().map(str::to_owned),
                    output: d["output"]
                        .as_str()
                        .and_then(|o| serde_json::from_str(o).ok()),
                    history: history["events"].as_array().cloned().unwrap_or_default(),
                };
            }
            assert!(
                Instant::now() < deadline,
                "{execution_arn} still RUNNING after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts an execution and waits for it to end.
    pub async fn run(&self, state_machine: &str, input: Value) -> Finished {
        let arn = self
            .start(state_machine, input, None)
            .await
            .unwrap_or_else(|e| panic!("StartExecution: {e:?}"));
        self.wait(&arn).await
    }

    /// (name, status) of every execution of `state_machine`.
    pub async fn executions(&self, state_machine: &str) -> Vec<(String, String)> {
        let out = self
            .call("ListExecutions", json!({"stateMachineArn": state_machine}))
            .await
            .unwrap_or_else(|e| panic!("ListExecutions: {e:?}"));
        out["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or_default().to_owned(),
                    e["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The item counts (`succeeded`, `failed`, `total`, ...) of each map
    /// run of an execution, in order.
    pub async fn map_runs(&self, execution_arn: &str) -> Vec<Value> {
        let list = self
            .call("ListMapRuns", json!({"executionArn": execution_arn}))
            .await
            .unwrap_or_else(|e| panic!("ListMapRuns: {e:?}"));
        let mut out = Vec::new();
        for run in list["mapRuns"].as_array().cloned().unwrap_or_default() {
            let d = self
                .call("DescribeMapRun", json!({"mapRunArn": run["mapRunArn"]}))
                .await
                .unwrap_or_else(|e| panic!("DescribeMapRun: {e:?}"));
            out.push(d["itemCounts"].clone());
        }
        out
    }

    /// Every payload this test's function was invoked with, in the order
    /// moto served the invocations (from moto's request recording).
    pub async fn invocations(&self) -> Vec<Value> {
        use base64::Engine as _;
        let name = self.function_arn.rsplit(':').next().unwrap();
        let text = self
            .http
            .get(format!("{}/moto-api/recorder/download-recording", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            // Cheap before parsing: the queued results (one of 6 MB per
            // failure) never hold the function's name.
            .filter(|line| line.contains(name))
            .filter_map(|line| {
                let e: Value = serde_json::from_str(line).ok()?;
                let url = e["url"].as_str()?;
                if !(url.contains(name) && url.ends_with("/invocations")) {
                    return None;
                }
                let body = e["body"].as_str()?;
                let body = if e["body_encoded"] == true {
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(body)
                            .ok()?,
                    )
                    .ok()?
                } else {
                    body.to_owned()
                };
                serde_json::from_str(&body).ok()
            })
            .collect()
    }

    /// An S3 client of the interpreter's account on the Step Functions
    /// server, in this test's Region.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        use aws_config::{BehaviorVersion, Region};
        let cfg = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new(self.region.clone()))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "ak", "sk", None, None, "tests",
            ))
            .load()
            .await;
        super::s3_client(&cfg)
    }
}
