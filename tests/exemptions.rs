//! Exemptions that end and grace for new accounts, through the real binary
//! against a local server playing GitHub, on the state file and on a moto
//! DynamoDB table. Time passes by moving the stored dates back (an
//! exemption's last day, a grace's end), never by waiting.
mod common;

use chrono::Utc;
use serde_json::Value;
use wiremock::MockServer;

use common::github_fake::*;

/// acme: dev0000 (owner) … dev0004, all with 2FA unless listed.
async fn acme(server: &MockServer, disabled: &[usize], extra: &[Person], owners: &[Person]) {
    server.reset().await;
    let mut members = people("dev", 5, 10_000);
    members.extend(extra.iter().cloned());
    let mut all_owners = vec![members[0].clone()];
    all_owners.extend(owners.iter().cloned());
    serve(
        server,
        "acme",
        &Org {
            disabled: disabled
                .iter()
                .map(|i| members[*i].clone())
                .chain(extra.iter().cloned())
                .collect(),
            owners: all_owners,
            members,
            requirement: Some(true),
            ..Org::default()
        },
    )
    .await;
}

struct World {
    server: MockServer,
    dir: tempfile::TempDir,
    extra: Vec<(String, String)>,
}

impl World {
    async fn new(extra: &[(&str, &str)]) -> Self {
        let server = MockServer::start().await;
        acme(&server, &[], &[], &[]).await;
        Self {
            server,
            dir: tempfile::tempdir().unwrap(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn state_path(&self) -> std::path::PathBuf {
        self.dir.path().join("state.json")
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            ("GITHUB_ORGS".into(), "acme".into()),
            ("GITHUB_TOKEN".into(), TOKEN.into()),
            ("GITHUB_API_URL".into(), self.server.uri()),
            (
                "MFA_STATE_FILE".into(),
                self.state_path().to_str().unwrap().into(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
        ];
        env.extend(self.extra.iter().cloned());
        env
    }

    async fn cli(&self, args: &[&str]) -> common::Ran {
        common::run_binary(args, &self.env()).await
    }

    /// One pass; its run summary.
    async fn pass(&self) -> Value {
        self.pass_told().await.0
    }

    /// One pass; its run summary and the message it printed (the terminal
    /// is the channel when none is configured).
    async fn pass_told(&self) -> (Value, String) {
        let ran = self.cli(&["run", "--json"]).await;
        let summary = serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr));
        (summary, ran.stderr)
    }

    fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.state_path()).unwrap()).unwrap()
    }

    /// Edits the stored state, as the passing of time would have left it.
    fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut doc = self.state();
        f(&mut doc);
        std::fs::write(self.state_path(), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    }
}

fn in_days(n: i64) -> String {
    (Utc::now().date_naive() + chrono::Duration::days(n)).to_string()
}

fn count(summary: &Value, kind: &str) -> u64 {
    summary["changes"]["github"][kind].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn exemptions_are_added_listed_and_removed_and_each_bad_request_exits_2() {
    let w = World::new(&[]).await;
    let until = in_days(30);
    let added = w
        .cli(&[
            "exempt",
            "add",
            "github:acme/dev0001",
            "--until",
            &until,
            "--reason",
            "hardware key on order",
            "--owner",
            "sec@example.com",
        ])
        .await;
    assert_eq!(added.code, 0, "{}", added.stderr);

    let listed = w.cli(&["exempt", "list", "--json"]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let rows: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(rows[0]["principal"], "github:acme/dev0001");
    assert_eq!(rows[0]["until"], until.as_str());
    assert_eq!(rows[0]["days_left"], 31);
    assert_eq!(rows[0]["reason"], "hardware key on order");
    assert_eq!(rows[0]["owner"], "sec@example.com");
    assert!(rows[0]["added_by"].is_string() && rows[0]["added_at"].is_string());
    let text = w.cli(&["exempt", "list"]).await;
    assert!(text.stdout.contains("31 days left"), "{}", text.stdout);

    let far = in_days(400);
    let past = in_days(-1);
    for (args, needle) in [
        (
            vec![
                "exempt",
                "add",
                "acme/dev0001",
                "--until",
                &until,
                "--reason",
                "x",
            ],
            "SOURCE:TARGET/NAME",
        ),
        (
            vec![
                "exempt",
                "add",
                "github:acme/dev0002",
                "--until",
                &past,
                "--reason",
                "x",
            ],
            "in the past",
        ),
        (
            vec![
                "exempt",
                "add",
                "github:acme/dev0002",
                "--until",
                &far,
                "--reason",
                "x",
            ],
            "MFA_EXEMPT_MAX_DAYS",
        ),
        (
            vec![
                "exempt",
                "add",
                "github:acme/dev0002",
                "--until",
                &until,
                "--reason",
                " ",
            ],
            "--reason",
        ),
        (
            vec![
                "exempt",
                "add",
                "github:acme/dev0002",
                "--until",
                &until,
                "--reason",
                "x",
                "--owner",
                "nobody",
            ],
            "email address",
        ),
    ] {
        let ran = w.cli(&args).await;
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(needle), "{args:?}: {}", ran.stderr);
    }

    let removed = w.cli(&["exempt", "remove", "github:acme/dev0001"]).await;
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let again = w.cli(&["exempt", "remove", "github:acme/dev0001"]).await;
    assert_eq!(again.code, 2, "nothing left to remove: {}", again.stderr);
    let rows: Value =
        serde_json::from_str(&w.cli(&["exempt", "list", "--json"]).await.stdout).unwrap();
    assert_eq!(rows, serde_json::json!([]));
}

/// The message's lines that tell an exemption change.
fn exemption_lines(message: &str) -> Vec<&str> {
    message
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("- ")
                && (l.contains("exemption added")
                    || l.contains("exemption changed")
                    || l.contains("exemption removed"))
        })
        .collect()
}

#[tokio::test]
async fn each_exemption_change_is_one_info_line_in_the_next_pass_message_and_only_there() {
    let w = World::new(&[]).await;
    assert_eq!(w.pass().await["ok"], true);
    let until = in_days(20);
    let add = [
        "exempt",
        "add",
        "github:acme/dev0004",
        "--until",
        &until,
        "--reason",
        "hardware key on its way",
        "--owner",
        "sec@example.com",
    ];
    assert_eq!(w.cli(&add).await.code, 0);

    let (s, message) = w.pass_told().await;
    assert_eq!(s["ok"], true, "{s}");
    let lines = exemption_lines(&message);
    assert_eq!(lines.len(), 1, "{lines:?}\n{message}");
    assert!(
        lines[0].contains(&format!(
            "until {until} (owner sec@example.com): hardware key on its way"
        )),
        "{message}"
    );
    assert!(message.contains("github:acme/dev0004"), "{message}");
    assert!(
        message.contains("info: exemptions changed (1)"),
        "told as info: {message}"
    );
    assert!(
        s["changes"].as_object().unwrap().is_empty(),
        "not a change kind: {s}"
    );

    let (_, message) = w.pass_told().await;
    assert!(exemption_lines(&message).is_empty(), "told once: {message}");

    let later = in_days(25);
    let mut change = add;
    change[4] = &later;
    assert_eq!(w.cli(&change).await.code, 0);
    assert_eq!(
        w.cli(&["exempt", "remove", "github:acme/dev0004"])
            .await
            .code,
        0
    );
    let (_, message) = w.pass_told().await;
    let lines = exemption_lines(&message);
    assert_eq!(lines.len(), 2, "{message}");
    assert!(lines[0].contains("exemption changed by"), "{message}");
    assert!(
        lines[1].contains("exemption removed by"),
        "oldest first: {message}"
    );
    assert!(
        w.state().get("exemption_log").is_none(),
        "the journal is empty once told: {}",
        w.state()
    );
}

#[tokio::test]
async fn an_exempt_member_losing_mfa_is_not_alerted_and_its_ended_exemption_is_told_once() {
    let w = World::new(&[]).await;
    assert_eq!(w.pass().await["ok"], true);
    let until = in_days(30);
    let ran = w
        .cli(&[
            "exempt",
            "add",
            "github:acme/dev0001",
            "--until",
            &until,
            "--reason",
            "travel",
        ])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    acme(&w.server, &[1, 2], &[], &[]).await;
    let s = w.pass().await;
    assert_eq!(count(&s, "mfa_disabled"), 1, "dev0002 only: {s}");
    let principals = &w.state()["targets"]["github:acme"]["principals"];
    assert_eq!(
        principals["dev0001"]["status"], "disabled",
        "recorded all the same"
    );
    assert_eq!(principals["dev0001"]["exempt"], true);

    // The exemption's last day was yesterday.
    w.edit(|doc| doc["exemptions"]["github:acme/dev0001"]["until"] = in_days(-1).into());
    let s = w.pass().await;
    assert_eq!(count(&s, "exemption_expired"), 1, "{s}");
    assert_eq!(s["changes"]["github"].as_object().unwrap().len(), 1, "{s}");
    let s = w.pass().await;
    assert!(
        s["changes"].as_object().unwrap().is_empty(),
        "not repeated: {s}"
    );
}

#[tokio::test]
async fn a_new_member_in_grace_is_info_then_one_grace_ended_and_a_new_owner_gets_no_grace() {
    let w = World::new(&[("MFA_GRACE_DAYS", "7")]).await;
    assert_eq!(w.pass().await["ok"], true);

    let newbie = person("newbie", 50_000);
    let boss = person("boss", 50_001);
    acme(&w.server, &[], &[newbie, boss.clone()], &[boss]).await;
    let s = w.pass().await;
    assert_eq!(count(&s, "new_without_mfa"), 2, "{s}");
    let principals = &w.state()["targets"]["github:acme"]["principals"];
    assert!(
        principals["newbie"]["grace_until"].is_string(),
        "{principals}"
    );
    assert!(
        principals["boss"].get("grace_until").is_none(),
        "owners get no grace"
    );

    let s = w.pass().await;
    assert!(
        s["changes"].as_object().unwrap().is_empty(),
        "within the grace: {s}"
    );

    w.edit(|doc| {
        doc["targets"]["github:acme"]["principals"]["newbie"]["grace_until"] = (Utc::now()
            - chrono::Duration::hours(1))
        .to_rfc3339()
        .into()
    });
    let s = w.pass().await;
    assert_eq!(count(&s, "grace_ended"), 1, "{s}");
    let s = w.pass().await;
    assert!(
        s["changes"].as_object().unwrap().is_empty(),
        "told once: {s}"
    );
}

#[tokio::test]
async fn exemptions_in_a_dynamodb_table_survive_across_commands_and_passes() {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let cfg = common::account_config(&account).await;
    let table = common::unique("mfa-exempt");
    mfa_monitor::state::dynamodb::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &table)
        .await
        .unwrap();
    let mut extra = common::account_env(&account).await;
    extra.push(("MFA_STATE_TABLE".into(), table));
    let pairs: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let w = World::new(&pairs).await;
    let until = in_days(10);
    let ran = w
        .cli(&[
            "exempt",
            "add",
            "github:acme/dev0003",
            "--until",
            &until,
            "--reason",
            "on leave",
        ])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(w.pass().await["ok"], true);
    acme(&w.server, &[3], &[], &[]).await;
    let s = w.pass().await;
    assert!(s["changes"].as_object().unwrap().is_empty(), "exempt: {s}");
    let rows: Value =
        serde_json::from_str(&w.cli(&["exempt", "list", "--json"]).await.stdout).unwrap();
    assert_eq!(rows[0]["principal"], "github:acme/dev0003");
    assert_eq!(
        w.cli(&["exempt", "remove", "github:acme/dev0003"])
            .await
            .code,
        0
    );
    let s = w.pass().await;
    assert_eq!(count(&s, "exemption_expired"), 1, "removed is ended: {s}");
}

#[tokio::test]
async fn the_report_reminds_of_what_stayed_open_beyond_the_bound_and_of_exemptions_no_longer_needed(
) {
    let w = World::new(&[("MFA_REMIND_DAYS", "14")]).await;
    acme(&w.server, &[2, 3], &[], &[]).await;
    assert_eq!(w.pass().await["ok"], true);
    let until = in_days(30);
    let ran = w
        .cli(&[
            "exempt",
            "add",
            "github:acme/dev0004",
            "--until",
            &until,
            "--reason",
            "x",
        ])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // dev0002 has lacked MFA for 20 days, dev0003 for 3.
    w.edit(|doc| {
        let p = &mut doc["targets"]["github:acme"]["principals"];
        p["dev0002"]["status_since"] = (Utc::now() - chrono::Duration::days(20))
            .to_rfc3339()
            .into();
        p["dev0003"]["status_since"] = (Utc::now() - chrono::Duration::days(3)).to_rfc3339().into();
    });
    let ran = w.cli(&["report", "--json"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let out: Value = serde_json::from_str(&ran.stdout).unwrap();
    let r = &out["report"];
    assert_eq!(r["remind_days"], 14, "{out}");
    let open: Vec<&str> = r["open_beyond"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["principal"].as_str().unwrap())
        .collect();
    assert_eq!(open, ["github:acme/dev0002"], "{r}");
    assert_eq!(r["open_beyond"][0]["days_without_mfa"], 20);
    assert_eq!(
        r["exemptions_no_longer_needed"],
        serde_json::json!(["github:acme/dev0004"]),
        "dev0004 has 2FA"
    );
    let text = w.cli(&["report"]).await.stdout;
    assert!(text.contains("Open for more than 14 days: 1"), "{text}");
    assert!(text.contains("Exemptions no longer needed"), "{text}");
}
