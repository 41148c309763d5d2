//! The fault matrix: for each source and each fault a Lambda meets, a pass
//! over all three sources at once, against real local servers (moto behind
//! a fault-injecting proxy for IAM; local GitHub and Snowflake servers).
//!
//! Every row: pass 1 records a baseline; then one account loses MFA in
//! every source and the faulty source breaks. Pass 2 must alert on the two
//! healthy sources, say nothing about the faulty one's accounts, report it
//! `source_failed` (exit 1), and leave its stored state as it was. Pass 3,
//! with the fault gone, finds the change that pass 2 could not see.
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::github_fake as gh;
use common::snowflake_fake as sf;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Github,
    Snowflake,
    Aws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Timeout,
    ConnectionRefused,
    ServerError,
    Unauthorized,
    Forbidden,
    RateLimitBeyondBudget,
    MalformedBody,
    MissingPage,
}

/// A closed port: connections are refused at once.
const REFUSED: &str = "http://127.0.0.1:9";

struct World {
    github: MockServer,
    org: gh::Org,
    snowflake: MockServer,
    users: Value,
    account: String,
    iam: aws_sdk_iam::Client,
    _dir: tempfile::TempDir,
    state: PathBuf,
}

impl World {
    async fn new() -> Self {
        let github = MockServer::start().await;
        let org = gh::standard_org();
        gh::serve(&github, "acme", &org).await;
        let snowflake = MockServer::start().await;
        let users = sf::fixture("200");
        sf::serve(&snowflake, users.clone(), sf::fixture("partition-1")).await;
        let account = common::unique_account();
        let iam = aws_sdk_iam::Client::new(&common::account_config(&account).await);
        common::seed_user(&iam, "alice", true).await;
        common::seed_user(&iam, "bob", true).await;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        Self {
            github,
            org,
            snowflake,
            users,
            account,
            iam,
            _dir: dir,
            state,
        }
    }

    async fn env(&self) -> Vec<(String, String)> {
        let mut env = common::account_env(&self.account).await;
        env.extend(
            [
                ("AWS_IAM_ACCOUNTS", "self".to_owned()),
                ("GITHUB_ORGS", "acme".into()),
                ("GITHUB_TOKEN", gh::TOKEN.into()),
                ("GITHUB_API_URL", self.github.uri()),
                ("SNOWFLAKE_ACCOUNT", sf::ACCOUNT.into()),
                ("SNOWFLAKE_USER", "mfa_monitor".into()),
                ("SNOWFLAKE_PRIVATE_KEY", sf::KEY.into()),
                ("SNOWFLAKE_API_URL", self.snowflake.uri()),
                ("MFA_STATE_FILE", self.state.to_str().unwrap().into()),
                ("MFA_TARGET_TIMEOUT_SECONDS", "60".into()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env
    }

    fn key(&self, source: Source) -> String {
        match source {
            Source::Github => "github:acme".into(),
            Source::Snowflake => format!("snowflake:{}", sf::ACCOUNT),
            Source::Aws => format!("aws:{}", self.account),
        }
    }

    /// One account loses MFA in every source: dev0001 on GitHub, ALICE in
    /// Snowflake, bob in IAM.
    async fn everyone_changes(&mut self) {
        self.org.disabled.push(self.org.members[1].clone());
        self.github.reset().await;
        gh::serve(&self.github, "acme", &self.org).await;
        let base = self.users.clone();
        sf::set(&mut self.users, &base, "ALICE", "has_mfa", Some("false"));
        self.snowflake.reset().await;
        sf::serve(
            &self.snowflake,
            self.users.clone(),
            sf::fixture("partition-1"),
        )
        .await;
        common::remove_mfa(&self.iam, &self.account, "bob").await;
    }

    /// Serves every source as it is, without faults.
    async fn heal(&self) {
        self.github.reset().await;
        gh::serve(&self.github, "acme", &self.org).await;
        self.snowflake.reset().await;
        sf::serve(
            &self.snowflake,
            self.users.clone(),
            sf::fixture("partition-1"),
        )
        .await;
    }

    /// Breaks `source` with `fault`; returns the environment of the broken
    /// pass and the proxy that must live as long as it.
    async fn inject(
        &self,
        source: Source,
        fault: Fault,
        mut env: Vec<(String, String)>,
    ) -> (Vec<(String, String)>, Option<common::FaultProxy>) {
        if fault == Fault::Timeout {
            // Long enough for a loaded moto, short next to the hang.
            set_env(&mut env, "MFA_TARGET_TIMEOUT_SECONDS", "10");
        }
        match source {
            Source::Github => {
                if fault == Fault::ConnectionRefused {
                    set_env(&mut env, "GITHUB_API_URL", REFUSED);
                } else {
                    github_fault(&self.github, fault).await;
                }
                (env, None)
            }
            Source::Snowflake => {
                if fault == Fault::ConnectionRefused {
                    set_env(&mut env, "SNOWFLAKE_API_URL", REFUSED);
                } else {
                    snowflake_fault(&self.snowflake, fault).await;
                }
                (env, None)
            }
            Source::Aws => {
                if fault == Fault::ConnectionRefused {
                    set_env(&mut env, "AWS_ENDPOINT_URL_IAM", REFUSED);
                    return (env, None);
                }
                let proxy = common::FaultProxy::start(&common::moto_url(), iam_rules(fault)).await;
                set_env(&mut env, "AWS_ENDPOINT_URL_IAM", &proxy.url);
                (env, Some(proxy))
            }
        }
    }
}

fn set_env(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
}

fn github_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string()
    }))
}

async fn github_fault(server: &MockServer, fault: Fault) {
    let reset = (chrono::Utc::now().timestamp() + 3600).to_string();
    let (on, response) = match fault {
        Fault::Timeout => (
            "/orgs/acme/members",
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(120)),
        ),
        Fault::ServerError => ("/orgs/acme/members", github_error(502, "Server Error")),
        Fault::Unauthorized => ("/orgs/acme/members", github_error(401, "Bad credentials")),
        Fault::Forbidden => (
            "/orgs/acme/members",
            github_error(403, "Resource not accessible by integration"),
        ),
        Fault::RateLimitBeyondBudget => (
            "/orgs/acme/members",
            github_error(403, "API rate limit exceeded for installation ID 1.")
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.as_str()),
        ),
        Fault::MalformedBody => (
            "/orgs/acme/members",
            ResponseTemplate::new(200).set_body_string("<html>unicorn</html>"),
        ),
        // Page 2 of the member listing is gone.
        Fault::MissingPage => (
            "/organizations/1000/members",
            github_error(404, "Not Found"),
        ),
        Fault::ConnectionRefused => unreachable!("set through the environment"),
    };
    Mock::given(method("GET"))
        .and(path(on))
        .and(query_param("filter", "all"))
        .respond_with(response)
        .with_priority(1)
        .mount(server)
        .await;
}

async fn snowflake_fault(server: &MockServer, fault: Fault) {
    let statement = || Mock::given(method("POST")).and(path("/api/v2/statements"));
    let handle = format!("/api/v2/statements/{}", sf::HANDLE);
    let mock = match fault {
        Fault::Timeout => statement().respond_with(
            ResponseTemplate::new(202)
                .set_body_json(sf::fixture("202"))
                .set_delay(Duration::from_secs(120)),
        ),
        Fault::ServerError => statement().respond_with(ResponseTemplate::new(500)),
        Fault::Unauthorized => {
            statement().respond_with(ResponseTemplate::new(401).set_body_json(sf::fixture("401")))
        }
        Fault::Forbidden => statement().respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"code": "390186", "message": "Role 'SECURITYADMIN' specified in the connect string is not granted to this user."}),
        )),
        Fault::RateLimitBeyondBudget => statement().respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3600")
                .set_body_json(json!({"code": "000610", "message": "Too many requests"})),
        ),
        Fault::MalformedBody => Mock::given(method("GET"))
            .and(path(handle.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_string("{\"data\": [[\"ALICE\"")),
        Fault::MissingPage => Mock::given(method("GET"))
            .and(path(handle.as_str()))
            .and(query_param("partition", "1"))
            .respond_with(ResponseTemplate::new(404).set_body_json(
                json!({"code": "000709", "message": "Statement not found"}),
            )),
        Fault::ConnectionRefused => unreachable!("set through the environment"),
    };
    mock.with_priority(1).mount(server).await;
}

fn aws_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>f00d</RequestId></ErrorResponse>"
    )
}

fn iam_rules(fault: Fault) -> Value {
    let xml = json!({"Content-Type": "text/xml"});
    match fault {
        Fault::Timeout => json!([{"action": "GetAccountAuthorizationDetails", "delay": 120}]),
        Fault::ServerError => {
            json!([{"action": "GetAccountAuthorizationDetails", "status": 500, "headers": xml,
            "body": aws_error("ServiceFailure", "Internal failure")}])
        }
        Fault::Unauthorized => {
            json!([{"action": "GetAccountAuthorizationDetails", "status": 401, "headers": xml,
            "body": aws_error("InvalidClientTokenId", "The security token included in the request is invalid.")}])
        }
        Fault::Forbidden => {
            json!([{"action": "GetAccountAuthorizationDetails", "status": 403, "headers": xml,
            "body": aws_error("AccessDenied", "User is not authorized to perform: iam:GetAccountAuthorizationDetails")}])
        }
        Fault::RateLimitBeyondBudget => {
            json!([{"action": "GetAccountAuthorizationDetails", "status": 400, "headers": xml,
            "body": aws_error("Throttling", "Rate exceeded")}])
        }
        Fault::MalformedBody => {
            json!([{"action": "GetAccountAuthorizationDetails", "status": 200, "headers": xml,
            "body": "<html>unicorn</html>"}])
        }
        // The listing says there is more, and the next page never comes.
        Fault::MissingPage => json!([
            {"action": "GetAccountAuthorizationDetails", "body_contains": "Marker=", "status": 500, "headers": xml,
             "body": aws_error("ServiceFailure", "Internal failure")},
            {"action": "GetAccountAuthorizationDetails", "rewrite": [["<IsTruncated>false</IsTruncated>",
             "<IsTruncated>true</IsTruncated><Marker>page-2</Marker>"]]}
        ]),
        Fault::ConnectionRefused => unreachable!("set through the environment"),
    }
}

async fn pass(env: &[(String, String)]) -> (i32, Value, String) {
    let ran = common::run_binary(&["run", "--json"], env).await;
    for secret in [gh::TOKEN, "PRIVATE KEY"] {
        assert!(
            !ran.stdout.contains(secret) && !ran.stderr.contains(secret),
            "secret leaked:\n{}\n{}",
            ran.stdout,
            ran.stderr
        );
    }
    let v: Value = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr));
    // Without a channel the alert is printed on stderr, after the logs.
    (ran.code, v, ran.stderr)
}

fn stored(state: &Path, key: &str) -> Value {
    common::targets_in(state)[key].clone()
}

fn lost_mfa_phrase(source: Source) -> &'static str {
    match source {
        Source::Github => "github:acme/dev0001 — lost MFA",
        Source::Snowflake => "snowflake:myorg-acct/ALICE — lost MFA",
        Source::Aws => "/bob — lost MFA",
    }
}

async fn row(source: Source, fault: Fault) {
    let mut world = World::new().await;
    let env = world.env().await;
    let (code, v, _) = pass(&env).await;
    assert_eq!(code, 0, "baseline: {v}");
    assert!(
        v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["result"] == "baseline"),
        "{v}"
    );

    world.everyone_changes().await;
    let before = stored(&world.state, &world.key(source));
    let (broken, proxy) = world.inject(source, fault, env.clone()).await;
    let (code, v, alert) = pass(&broken).await;
    let context = format!("{source:?} / {fault:?}: {v}\n{alert}");

    assert_eq!(code, 1, "a failed source is exit 1: {context}");
    for other in [Source::Github, Source::Snowflake, Source::Aws] {
        let key = world.key(other);
        let target = v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == key.as_str() || (other == source && t["result"] == "failed"))
            .unwrap_or_else(|| panic!("{key} missing: {context}"));
        let name = match other {
            Source::Github => "github",
            Source::Snowflake => "snowflake",
            Source::Aws => "aws",
        };
        if other == source {
            assert_eq!(target["result"], "failed", "{context}");
            assert_eq!(
                v["changes"][name],
                json!({"source_failed": 1}),
                "nothing but the failure: {context}"
            );
            assert!(
                !alert.contains(lost_mfa_phrase(other)),
                "no change alert for a source that could not be read: {context}"
            );
        } else {
            assert_eq!(target["result"], "changed", "{context}");
            assert_eq!(v["changes"][name], json!({"mfa_disabled": 1}), "{context}");
            assert!(alert.contains(lost_mfa_phrase(other)), "{context}");
        }
    }
    assert_eq!(
        stored(&world.state, &world.key(source)),
        before,
        "the failed source's state is untouched: {context}"
    );

    // The fault gone, the change pass 2 could not see is found.
    drop(proxy);
    world.heal().await;
    let (code, v, alert) = pass(&env).await;
    assert_eq!(code, 0, "{v}\n{alert}");
    assert!(
        alert.contains(lost_mfa_phrase(source)),
        "nothing was lost: {v}\n{alert}"
    );
}

macro_rules! matrix {
    ($($source:ident: [$($name:ident => $fault:ident),* $(,)?]),* $(,)?) => {
        $(
            #[allow(non_snake_case)]
            mod $source {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        if super::common::skip_without_moto() {
                            return;
                        }
                        super::row(super::Source::$source, super::Fault::$fault).await
                    }
                )*
            }
        )*
    };
}

matrix!(
    Github: [
        a_timeout_fails_only_this_source => Timeout,
        a_refused_connection_fails_only_this_source => ConnectionRefused,
        a_server_error_fails_only_this_source => ServerError,
        a_401_fails_only_this_source => Unauthorized,
        a_403_fails_only_this_source => Forbidden,
        a_rate_limit_beyond_the_budget_fails_only_this_source => RateLimitBeyondBudget,
        a_malformed_body_fails_only_this_source => MalformedBody,
        a_missing_page_fails_only_this_source => MissingPage,
    ],
    Snowflake: [
        a_timeout_fails_only_this_source => Timeout,
        a_refused_connection_fails_only_this_source => ConnectionRefused,
        a_server_error_fails_only_this_source => ServerError,
        a_401_fails_only_this_source => Unauthorized,
        a_403_fails_only_this_source => Forbidden,
        a_rate_limit_beyond_the_budget_fails_only_this_source => RateLimitBeyondBudget,
        a_malformed_body_fails_only_this_source => MalformedBody,
        a_missing_page_fails_only_this_source => MissingPage,
    ],
    Aws: [
        a_timeout_fails_only_this_source => Timeout,
        a_refused_connection_fails_only_this_source => ConnectionRefused,
        a_server_error_fails_only_this_source => ServerError,
        a_401_fails_only_this_source => Unauthorized,
        a_403_fails_only_this_source => Forbidden,
        a_rate_limit_beyond_the_budget_fails_only_this_source => RateLimitBeyondBudget,
        a_malformed_body_fails_only_this_source => MalformedBody,
        a_missing_page_fails_only_this_source => MissingPage,
    ],
);
