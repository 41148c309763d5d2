//! Routing to team channels (issue 20) through the real binary: the
//! routing file from a file and from a moto SSM parameter, team Slack
//! webhooks (local servers, their URLs in moto Secrets Manager) and team
//! e-mail lists (moto SES), beside the default channels.
mod common;

use common::{run_binary, seed_user, sent_emails_to, unique, Scenario};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn slack_ok() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

async fn posts(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

fn with(env: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

/// One account's world with two team routes and the defaults: principals
/// named `plat-*` go to the platform Slack webhook, `data-*` to the data
/// team's list, the rest to `ALERT_EMAIL_TO` and `SLACK_WEBHOOK_URL`.
struct Teams {
    world: Scenario,
    platform: MockServer,
    default_slack: MockServer,
    data_to: String,
    routes: String,
}

impl Teams {
    async fn new(platform: MockServer) -> Teams {
        let world = Scenario::new().await;
        let secret = unique("slack-platform");
        aws_sdk_secretsmanager::Client::new(&world.cfg)
            .create_secret()
            .name(&secret)
            .secret_string(format!("{}/services/T0/B0/platform", platform.uri()))
            .send()
            .await
            .unwrap();
        let data_to = format!("{}@example.com", unique("data-team"));
        let account = &world.account;
        let routes = format!(
            r#"# three teams' worth of routing, two of them here
[channels.platform-slack]
slack_webhook_secret_id = "{secret}"

[channels.data-mail]
email_to = ["{data_to}"]

[[routes]]
name = "platform"
principals = ["aws:{account}/plat-*"]
channels = ["platform-slack"]

[[routes]]
name = "data"
principals = ["aws:{account}/data-*"]
min_severity = "high"
channels = ["data-mail"]
"#
        );
        Teams {
            world,
            platform,
            default_slack: slack_ok().await,
            data_to,
            routes,
        }
    }

    async fn env(&self, routes: (&str, &str)) -> Vec<(String, String)> {
        let hook = format!("{}/services/T0/B0/default", self.default_slack.uri());
        with(
            &self.world.file_env().await,
            &[("SLACK_WEBHOOK_URL", hook.as_str()), routes],
        )
    }

    fn routes_file(&self) -> String {
        let path = self.world.dir.path().join("routes.toml");
        std::fs::write(&path, &self.routes).unwrap();
        path.to_str().unwrap().to_owned()
    }

    async fn seed_three(&self) {
        for name in ["plat-alice", "data-bob", "carol"] {
            seed_user(&self.world.iam, name, false).await;
        }
    }

    fn id(&self, name: &str) -> String {
        format!("aws:{}/{name}", self.world.account)
    }
}

async fn pass(env: &[(String, String)]) -> serde_json::Value {
    let ran = run_binary(&["run", "--json"], env).await;
    serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr))
}

fn bodies(mails: &[serde_json::Value]) -> Vec<String> {
    mails
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_routes_and_a_default_each_change_reaches_exactly_its_channels_once() {
    if common::skip_without_moto() {
        return;
    }
    let teams = Teams::new(slack_ok().await).await;
    // The routing file from SSM Parameter Store, as in Lambda.
    let parameter = format!("/{}/routes", unique("mfa-monitor"));
    aws_sdk_ssm::Client::new(&teams.world.cfg)
        .put_parameter()
        .name(&parameter)
        .value(&teams.routes)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let env = teams
        .env(("MFA_ROUTES_PARAMETER", parameter.as_str()))
        .await;
    seed_user(&teams.world.iam, "root-like", true).await;

    let v = pass(&env).await;
    assert_eq!(v["ok"], true, "{v}");
    // A baseline is about the whole account: no `/*` route takes it.
    assert_eq!(sent_emails_to(&teams.world.to).await.len(), 1);
    assert_eq!(posts(&teams.default_slack).await.len(), 1);
    assert!(posts(&teams.platform).await.is_empty());
    assert!(sent_emails_to(&teams.data_to).await.is_empty());

    teams.seed_three().await;
    let v = pass(&env).await;
    assert_eq!(v["ok"], true, "{v}");
    let platform = posts(&teams.platform).await;
    assert_eq!(platform.len(), 1, "{platform:?}");
    assert!(
        platform[0].contains(&teams.id("plat-alice")),
        "{}",
        platform[0]
    );
    assert!(!platform[0].contains("data-bob") && !platform[0].contains("carol"));

    let data = bodies(&sent_emails_to(&teams.data_to).await);
    assert_eq!(data.len(), 1);
    assert!(data[0].contains(&teams.id("data-bob")), "{}", data[0]);
    assert!(!data[0].contains("plat-alice") && !data[0].contains("carol"));

    let default_mail = bodies(&sent_emails_to(&teams.world.to).await);
    assert_eq!(default_mail.len(), 2);
    assert!(
        default_mail[1].contains(&teams.id("carol")),
        "{}",
        default_mail[1]
    );
    assert!(!default_mail[1].contains("plat-alice") && !default_mail[1].contains("data-bob"));
    let default_slack = posts(&teams.default_slack).await;
    assert_eq!(default_slack.len(), 2);
    assert!(default_slack[1].contains("carol") && !default_slack[1].contains("plat-alice"));

    let v = pass(&env).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(posts(&teams.platform).await.len(), 1, "nothing twice");
    assert_eq!(sent_emails_to(&teams.data_to).await.len(), 1);
    assert_eq!(sent_emails_to(&teams.world.to).await.len(), 2);
    assert_eq!(posts(&teams.default_slack).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routed_channel_failing_keeps_only_its_own_alerts_pending_for_the_next_pass() {
    if common::skip_without_moto() {
        return;
    }
    let platform = MockServer::start().await;
    let teams = Teams::new(platform).await;
    let routes = teams.routes_file();
    let env = teams.env(("MFA_ROUTES_FILE", routes.as_str())).await;
    seed_user(&teams.world.iam, "root-like", true).await;
    assert_eq!(pass(&env).await["ok"], true);
    teams.seed_three().await;

    // The platform webhook refuses the next post (a 500), then takes them.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal_error"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&teams.platform)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(2)
        .mount(&teams.platform)
        .await;
    let v = pass(&env).await;
    assert_eq!(v["ok"], false, "{v}");
    let results: Vec<(String, String)> = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap().to_owned(),
                c["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("email", "sent"),
        ("slack", "sent"),
        ("data-mail", "sent"),
        ("platform-slack", "failed"),
    ] {
        assert!(
            results.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{results:?}"
        );
    }
    let status = run_binary(&["status", "--json"], &env).await;
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let pending = status["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(
        pending[0]["channels"],
        serde_json::json!(["platform-slack"])
    );

    let v = pass(&env).await;
    assert_eq!(v["ok"], true, "{v}");
    let platform = posts(&teams.platform).await;
    assert_eq!(
        platform.len(),
        2,
        "the refused post, then the one that went"
    );
    assert!(platform[1].contains(&teams.id("plat-alice")) && !platform[1].contains("carol"));
    assert_eq!(sent_emails_to(&teams.data_to).await.len(), 1, "not resent");
    assert_eq!(sent_emails_to(&teams.world.to).await.len(), 2, "not resent");
    assert_eq!(posts(&teams.default_slack).await.len(), 2, "not resent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_which_route_each_target_falls_into() {
    if common::skip_without_moto() {
        return;
    }
    let teams = Teams::new(slack_ok().await).await;
    let routes = teams.routes_file();
    let env = teams.env(("MFA_ROUTES_FILE", routes.as_str())).await;
    let ran = run_binary(&["check", "--json"], &env).await;
    let items: serde_json::Value = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr));
    let detail = |component: &str| -> String {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["component"] == component)
            .unwrap_or_else(|| panic!("no {component}: {items}"))["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let summary = detail("routes");
    assert!(summary.contains("2 route(s), 2 channel(s)"), "{summary}");
    assert!(
        summary.contains("unmatched changes go to: email, slack"),
        "{summary}"
    );
    let target = detail(&format!("routes aws:{}", teams.world.account));
    assert!(
        target.contains("route `platform` (line 8:")
            && target.contains("→ platform-slack")
            && target.contains("route `data` (line 13:")
            && target.contains("high and above) → data-mail")
            && target.contains("the rest → default channels: email, slack"),
        "{target}"
    );
    let channel = detail("channel platform-slack");
    assert!(
        channel.contains("slack channel of the routing file"),
        "{channel}"
    );
    assert!(!ran.stdout.contains("/services/T0"), "no webhook URL shown");
}

#[tokio::test]
async fn a_malformed_routing_file_exits_2_naming_the_line_and_touches_no_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let routes = dir.path().join("routes.toml");
    for (text, line, says) in [
        (
            "[channels.ops]\nemail_to = [\"ops@example.com\"]\n\n[[routes]]\nprincipals = [\"aws:*/*\"]\nchannels = [\"opps\"]\n",
            6,
            "unknown channel `opps`",
        ),
        ("[[routes]\nprincipals = [\"aws:*/*\"]\n", 1, ""),
        (
            "[channels.a]\nslack_webhook_url = \"https://hooks.slack.com/services/T0/B0/s3cret\"\n",
            2,
            "never written in this file",
        ),
    ] {
        std::fs::write(&routes, text).unwrap();
        let env: Vec<(String, String)> = [
            ("AWS_IAM_ACCOUNTS", "self"),
            ("AWS_REGION", "us-east-1"),
            ("MFA_STATE_FILE", state.to_str().unwrap()),
            ("MFA_ROUTES_FILE", routes.to_str().unwrap()),
            ("ALERT_EMAIL_FROM", "mfa@example.com"),
            ("ALERT_EMAIL_TO", "security@example.com"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let ran = run_binary(&["run"], &env).await;
        assert_eq!(ran.code, 2, "{text}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("MFA_ROUTES_FILE")
                && ran.stderr.contains(&format!("line {line}:"))
                && ran.stderr.contains(says),
            "{text}: {}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("s3cret"), "{}", ran.stderr);
        assert!(!state.exists(), "no state written");
    }
}
