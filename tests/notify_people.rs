//! A word to the person (issue 20, `MFA_NOTIFY_PEOPLE=true`), through the
//! real binary: IAM and SES in moto, Slack's Web API a local server
//! answering with its real shapes (`{"ok":true,"user":{"id":…}}`,
//! `{"ok":false,"error":"users_not_found"}`, HTTP 429 `ratelimited` with
//! `Retry-After`, `{"ok":false,"error":"channel_not_found"}`).
mod common;

use common::{remove_mfa, run_binary, seed_user, sent_emails_to, unique, Scenario};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "xoxb-0000-test-token";

/// A unique address for a person of this test.
fn address(name: &str) -> String {
    format!("{}@example.com", unique(name))
}

/// Writes the people file mapping each IAM user of `world` to an address.
fn people_file(world: &Scenario, people: &[(&str, &str)]) -> String {
    let path = world.dir.path().join("people.toml");
    let mut text = "[people]\n".to_owned();
    for (user, email) in people {
        text.push_str(&format!("\"aws:{}/{user}\" = \"{email}\"\n", world.account));
    }
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The environment telling people, with the team e-mail when `team_email`.
async fn env(
    world: &Scenario,
    people: &str,
    slack: Option<&MockServer>,
    team_email: bool,
) -> Vec<(String, String)> {
    let mut env = world.file_env().await;
    if !team_email {
        env.retain(|(k, _)| k != "ALERT_EMAIL_FROM" && k != "ALERT_EMAIL_TO");
    }
    env.push(("MFA_NOTIFY_PEOPLE".into(), "true".into()));
    env.push(("MFA_PEOPLE_FILE".into(), people.into()));
    if let Some(server) = slack {
        env.push(("SLACK_BOT_TOKEN".into(), TOKEN.into()));
        env.push(("SLACK_API_URL".into(), server.uri()));
    }
    env
}

/// The channels still pending in the state file's outbox.
fn pending_channels(world: &Scenario) -> Vec<String> {
    let doc: Value = serde_json::from_slice(&std::fs::read(world.state_file()).unwrap()).unwrap();
    let mut out: Vec<String> = doc["outbox"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|e| e["channels"].as_array().cloned().unwrap_or_default())
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// Slack knows `email` as user `id`.
async fn slack_user(server: &MockServer, email: &str, id: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path("/users.lookupByEmail"))
        .and(query_param("email", email))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "user": {"id": id, "team_id": "T012AB3C4", "name": id.to_lowercase(), "deleted": false}
        })))
        .expect(times)
        .mount(server)
        .await;
}

/// `chat.postMessage` to `user` succeeds, `times` times.
async fn post_ok(server: &MockServer, user: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_partial_json(json!({"channel": user})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "channel": "D0123456789", "ts": "1700000000.000100",
            "message": {"type": "message", "text": "…", "user": "B0BOT"}
        })))
        .expect(times)
        .mount(server)
        .await;
}

/// A first pass (the baseline), then `users` lose MFA.
async fn baseline_then_lose_mfa(world: &Scenario, env: &[(String, String)], users: &[&str]) {
    for u in users {
        seed_user(&world.iam, u, true).await;
    }
    let ran = run_binary(&["run"], env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    for u in users {
        remove_mfa(&world.iam, &world.account, u).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_told_by_email_and_by_slack_dm_exactly_once_per_change_not_again_and_not_when_exempt(
) {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let slack = MockServer::start().await;
    let (alice, bob) = (address("alice"), address("bob"));
    let people = people_file(&world, &[("alice", &alice), ("bob", &bob)]);
    let mut env = env(&world, &people, Some(&slack), true).await;
    env.push(("MFA_EXEMPT".into(), format!("aws:{}/bob", world.account)));
    slack_user(&slack, &alice, "W0ALICE", 1).await;
    post_ok(&slack, "W0ALICE", 1).await;
    baseline_then_lose_mfa(&world, &env, &["alice", "bob"]).await;

    for pass in 2..=3 {
        let ran = run_binary(&["run"], &env).await;
        assert_eq!(ran.code, 0, "pass {pass}: {}", ran.stderr);
        let mails = sent_emails_to(&alice).await;
        assert_eq!(mails.len(), 1, "pass {pass}: {mails:?}");
        assert_eq!(
            mails[0]["subject"],
            format!(
                "Please turn on MFA for your AWS account aws:{}/alice",
                world.account
            )
        );
        let body = mails[0]["body"].as_str().unwrap();
        assert!(body.contains("Why it matters"), "{body}");
        assert!(body.contains("IAM console"), "{body}");
        assert!(sent_emails_to(&bob).await.is_empty(), "bob is exempt");
        assert_eq!(pending_channels(&world), Vec::<String>::new());
    }
    let posts: Vec<Value> = slack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/chat.postMessage")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0]["text"]
        .as_str()
        .unwrap()
        .contains(&format!("aws:{}/alice", world.account)));
    // Dropping the server checks each `.expect`: bob was never looked up.
    assert!(!slack.received_requests().await.unwrap().iter().any(|r| r
        .url
        .query()
        .unwrap_or("")
        .contains("bob")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_without_an_address_is_listed_in_the_team_message_as_could_not_be_told() {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let alice = address("alice");
    let people = people_file(&world, &[("alice", &alice)]);
    let env = env(&world, &people, None, true).await;
    baseline_then_lose_mfa(&world, &env, &["alice", "carol"]).await;

    let ran = run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(sent_emails_to(&alice).await.len(), 1);
    let team = sent_emails_to(&world.to).await;
    let last = team.last().expect("a team message");
    let body = last["body"].as_str().unwrap();
    // One table row per change: carol's says so, alice's names her instead.
    let row = |who: &str| {
        body.split("<tr>")
            .find(|r| r.contains(&format!("/{who}<")))
            .unwrap_or_else(|| panic!("no row for {who}: {body}"))
            .to_owned()
    };
    assert!(row("carol").contains("could not be told"), "{body}");
    let alice_row = row("alice");
    assert!(!alice_row.contains("could not be told"), "{alice_row}");
    assert!(
        alice_row.contains(&format!("held by {alice}")),
        "{alice_row}"
    );
    assert_eq!(pending_channels(&world), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_not_knowing_the_address_is_a_final_answer_listed_in_the_team_message_with_no_retry_storm(
) {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let slack = MockServer::start().await;
    let erin = address("erin");
    let people = people_file(&world, &[("erin", &erin)]);
    // No e-mail at all: Slack is the only way to erin, and the team channel
    // is a Slack webhook on the same local server.
    let mut env = env(&world, &people, Some(&slack), false).await;
    env.push((
        "SLACK_WEBHOOK_URL".into(),
        format!("{}/services/T0/B0/team", slack.uri()),
    ));
    Mock::given(method("GET"))
        .and(path("/users.lookupByEmail"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "users_not_found"})),
        )
        .expect(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(0)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/T0/B0/team"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    baseline_then_lose_mfa(&world, &env, &["erin"]).await;

    for pass in 2..=3 {
        let ran = run_binary(&["run"], &env).await;
        assert_eq!(ran.code, 0, "pass {pass}: {}", ran.stderr);
        assert_eq!(pending_channels(&world), Vec::<String>::new());
    }
    let team: Vec<String> = slack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/services/T0/B0/team")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    let told = team
        .iter()
        .find(|b| b.contains("erin"))
        .expect("the team heard of erin");
    assert!(told.contains("could not be told"), "{told}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ratelimited_direct_message_is_retried_after_retry_after_and_told_once() {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let slack = MockServer::start().await;
    let frank = address("frank");
    let people = people_file(&world, &[("frank", &frank)]);
    let env = env(&world, &people, Some(&slack), false).await;
    slack_user(&slack, &frank, "W0FRANK", 1).await;
    // The first post is refused as Slack refuses it over the limit; the
    // mock registered first wins while it lasts.
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"ok": false, "error": "ratelimited"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&slack)
        .await;
    post_ok(&slack, "W0FRANK", 1).await;
    baseline_then_lose_mfa(&world, &env, &["frank"]).await;

    let started = std::time::Instant::now();
    let ran = run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "waited as told"
    );
    assert_eq!(pending_channels(&world), Vec::<String>::new());
    let ran = run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_persons_channel_not_found_keeps_only_that_message_pending() {
    channel_not_found_keeps_only_that_message_pending(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_persons_channel_not_found_keeps_only_that_message_pending_in_dynamodb_too() {
    channel_not_found_keeps_only_that_message_pending(true).await;
}

/// With the state in a file or in a DynamoDB table (where person channels
/// and their routes go through the outbox's chunks and string sets).
async fn channel_not_found_keeps_only_that_message_pending(table: bool) {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let slack = MockServer::start().await;
    let (grace, heidi) = (address("grace"), address("heidi"));
    let people = people_file(&world, &[("grace", &grace), ("heidi", &heidi)]);
    let mut env = env(&world, &people, Some(&slack), false).await;
    if table {
        let state = world.table_env().await;
        env.retain(|(k, _)| k != "MFA_STATE_FILE");
        env.extend(state.into_iter().filter(|(k, _)| k == "MFA_STATE_TABLE"));
    }
    slack_user(&slack, &grace, "W0GRACE", 1).await;
    slack_user(&slack, &heidi, "W0HEIDI", 2).await;
    post_ok(&slack, "W0GRACE", 1).await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(body_partial_json(json!({"channel": "W0HEIDI"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .expect(2)
        .mount(&slack)
        .await;
    baseline_then_lose_mfa(&world, &env, &["grace", "heidi"]).await;

    let heidi_channel = vec![format!("person:slack:aws:{}/heidi", world.account)];
    for pass in 2..=3 {
        let ran = run_binary(&["run", "--json"], &env).await;
        assert_eq!(
            ran.code, 1,
            "pass {pass}: a person not told is a failed channel"
        );
        assert!(ran.stdout.contains("channel_not_found"), "{}", ran.stdout);
        if !table {
            assert_eq!(pending_channels(&world), heidi_channel, "pass {pass}");
        }
    }
    // What the store holds pending, through the binary, either store.
    let ran = run_binary(&["status"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout
            .contains(&format!("pending delivery to: {}\n", heidi_channel[0])),
        "{}",
        ran.stdout
    );
    // Dropping the server checks: heidi asked twice, grace told once.
}

/// `auth.test` as Slack answers it for a bot token, with the scopes
/// header Slack sends on Web API answers.
async fn auth_test(server: &MockServer, scopes: &str) {
    Mock::given(method("POST"))
        .and(path("/auth.test"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-oauth-scopes", scopes)
                .set_body_json(json!({
                    "ok": true, "url": "https://acme.slack.com/", "team": "Acme",
                    "user": "mfa-monitor", "team_id": "T12345678", "user_id": "U0BOT",
                    "bot_id": "B0BOT", "is_enterprise_install": false
                })),
        )
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn check_asks_slack_whose_bot_token_it_is_and_names_a_missing_scope() {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let people = people_file(&world, &[]);
    let slack = MockServer::start().await;
    auth_test(&slack, "chat:write,users:read,users:read.email").await;
    let vars = env(&world, &people, Some(&slack), true).await;
    let ran = run_binary(&["check"], &vars).await;
    assert!(ran.stdout.contains("people slack"), "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("bot mfa-monitor in Acme, with users:read.email and chat:write"),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains(TOKEN) && !ran.stderr.contains(TOKEN));
    slack.verify().await;

    let slack = MockServer::start().await;
    auth_test(&slack, "chat:write").await;
    let vars = env(&world, &people, Some(&slack), true).await;
    let ran = run_binary(&["check"], &vars).await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("lacks the scope(s) users:read.email"),
        "{}",
        ran.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_found_untellable_after_the_team_had_the_change_is_told_to_the_team_once() {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let slack = MockServer::start().await;
    let ivy = address("ivy");
    let people = people_file(&world, &[("ivy", &ivy)]);
    let mut env = env(&world, &people, Some(&slack), false).await;
    env.push((
        "SLACK_WEBHOOK_URL".into(),
        format!("{}/services/T0/B0/team", slack.uri()),
    ));
    // Pass 2: Slack knows ivy, but the DM fails (kept pending); the team
    // channel takes the change. Pass 3: ivy's user is gone.
    Mock::given(method("GET"))
        .and(path("/users.lookupByEmail"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "user": {"id": "W0IVY"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&slack)
        .await;
    Mock::given(method("GET"))
        .and(path("/users.lookupByEmail"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "users_not_found"})),
        )
        .with_priority(2)
        .expect(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .expect(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/T0/B0/team"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    baseline_then_lose_mfa(&world, &env, &["ivy"]).await;

    let ran = run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 1, "the DM failed: {}", ran.stderr);
    let ivy_channel = format!("person:slack:aws:{}/ivy", world.account);
    assert_eq!(pending_channels(&world), [ivy_channel]);
    for pass in 3..=4 {
        let ran = run_binary(&["run"], &env).await;
        assert_eq!(ran.code, 0, "pass {pass}: {}", ran.stderr);
        assert_eq!(
            pending_channels(&world),
            Vec::<String>::new(),
            "pass {pass}"
        );
    }
    let team: Vec<String> = slack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/services/T0/B0/team")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .filter(|b| b.contains("ivy"))
        .collect();
    assert_eq!(
        team.len(),
        2,
        "the change, then the one late line: {team:?}"
    );
    assert!(!team[0].contains("could not be told"), "{}", team[0]);
    assert!(
        team[1].contains("sent before; its holder could not be told"),
        "{}",
        team[1]
    );
}
