//! One view of each person (issue 20): `report --by person` through the
//! real binary, over the state a pass stored, linked by the people file
//! and by the addresses the sources give: Snowflake's `EMAIL` (a local SQL
//! API server with today's `SHOW USERS` shape), the IAM user tag
//! `MFA_EMAIL_TAG` (moto), with GitHub (a local REST server) linked by the
//! people file.
mod common;

use common::github_fake::{self, person, Org};
use common::snowflake_fake::{self, describe_policy, fixture, serve_account, ACCOUNT, KEY};
use common::{run_binary, seed_user, Scenario};
use serde_json::{json, Value};
use wiremock::MockServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_by_person_links_a_persons_accounts_by_the_people_file_lacking_mfa_first() {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    seed_user(&world.iam, "alice", true).await;
    seed_user(&world.iam, "bob", true).await;
    seed_user(&world.iam, "bob-admin", false).await;
    seed_user(&world.iam, "svc-ci", false).await;
    let account = &world.account;
    let people = world.dir.path().join("people.toml");
    std::fs::write(
        &people,
        format!(
            "[people]\n\"aws:{account}/alice\" = \"alice@example.com\"\n\"aws:{account}/bob\" = \"bob@example.com\"\n\"aws:{account}/bob-admin\" = \"Bob@Example.com\"\n\"github:acme/bob-gh\" = \"bob@example.com\"\n"
        ),
    )
    .unwrap();
    let mut env = world.file_env().await;
    env.push(("MFA_PEOPLE_FILE".into(), people.to_str().unwrap().into()));
    let ran = run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let ran = run_binary(&["report", "--by", "person", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let people: Vec<(String, Vec<String>, u64)> = v["people"]["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut accounts: Vec<String> = p["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["principal"].as_str().unwrap().to_owned())
                .collect();
            accounts.sort();
            (
                p["email"].as_str().unwrap().to_owned(),
                accounts,
                p["lacking_mfa"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        people,
        [
            (
                "bob@example.com".to_owned(),
                vec![
                    format!("aws:{account}/bob"),
                    format!("aws:{account}/bob-admin")
                ],
                1
            ),
            (
                "alice@example.com".to_owned(),
                vec![format!("aws:{account}/alice")],
                0
            ),
        ],
        "bob lacks MFA on one account, so comes first"
    );
    let unlinked: Vec<&str> = v["people"]["unlinked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["principal"].as_str().unwrap())
        .collect();
    assert!(
        unlinked.contains(&format!("aws:{account}/svc-ci").as_str()),
        "{unlinked:?}"
    );

    let text = run_binary(&["report", "--by", "person"], &env).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    let bob = text
        .stdout
        .find("bob@example.com: 2 account(s), 1 lacking MFA")
        .expect(&text.stdout);
    let alice = text
        .stdout
        .find("alice@example.com: 1 account(s)")
        .expect(&text.stdout);
    let nobody = text.stdout.find("Linked to nobody").expect(&text.stdout);
    assert!(bob < alice && alice < nobody, "{}", text.stdout);
}

#[tokio::test]
async fn a_malformed_people_file_exits_2_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let people = dir.path().join("people.toml");
    std::fs::write(
        &people,
        "[people]\n\"github:acme/a\" = \"a@example.com\"\n\"acme/b\" = \"b@example.com\"\n",
    )
    .unwrap();
    let env: Vec<(String, String)> = [
        ("AWS_IAM_ACCOUNTS", "self"),
        ("AWS_REGION", "us-east-1"),
        (
            "MFA_STATE_FILE",
            dir.path().join("s.json").to_str().unwrap(),
        ),
        ("MFA_PEOPLE_FILE", people.to_str().unwrap()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let ran = run_binary(&["report", "--by", "person"], &env).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("MFA_PEOPLE_FILE") && ran.stderr.contains("line 3:"),
        "{}",
        ran.stderr
    );
}

// ------------------------------------------- addresses given by the sources

/// The environment monitoring the Snowflake account `ACCOUNT` behind
/// `server`, with its state in `dir`.
fn snowflake_env(server: &MockServer, dir: &std::path::Path) -> Vec<(String, String)> {
    [
        ("SNOWFLAKE_ACCOUNT", ACCOUNT.to_owned()),
        ("SNOWFLAKE_USER", "mfa_monitor".to_owned()),
        ("SNOWFLAKE_PRIVATE_KEY", KEY.to_owned()),
        ("SNOWFLAKE_ROLE", "SECURITYADMIN".to_owned()),
        ("SNOWFLAKE_API_URL", format!("{}/{{account}}", server.uri())),
        (
            "MFA_STATE_FILE",
            dir.join("state.json").to_str().unwrap().to_owned(),
        ),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Today's `SHOW USERS` result with `email` of each named user replaced.
fn show_users(emails: &[(&str, Option<&str>)]) -> Value {
    let mut users = fixture("2026");
    let meta = users.clone();
    for (name, email) in emails {
        snowflake_fake::set(&mut users, &meta, name, "email", *email);
    }
    users
}

/// A fresh local Snowflake answering `users` for `ACCOUNT`.
async fn snowflake(users: Value) -> MockServer {
    let server = MockServer::start().await;
    serve_account(
        &server,
        ACCOUNT,
        &format!("/{ACCOUNT}"),
        users,
        describe_policy("REQUIRED_PASSWORD_ONLY", "NONE"),
    )
    .await;
    server
}

fn with_people(env: &mut Vec<(String, String)>, dir: &std::path::Path, lines: &[(String, &str)]) {
    let file = dir.join("people.toml");
    let mut text = "[people]\n".to_owned();
    for (id, email) in lines {
        text.push_str(&format!("\"{id}\" = \"{email}\"\n"));
    }
    std::fs::write(&file, text).unwrap();
    env.push(("MFA_PEOPLE_FILE".into(), file.to_str().unwrap().into()));
}

/// `report --by person --json`: each person's address with their
/// accounts (sorted), and the unlinked accounts.
async fn by_person(env: &[(String, String)]) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let ran = run_binary(&["report", "--by", "person", "--json"], env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let v: Value = serde_json::from_str(&ran.stdout).unwrap();
    let principals = |rows: &Value| -> Vec<String> {
        let mut p: Vec<String> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["principal"].as_str().unwrap().to_owned())
            .collect();
        p.sort();
        p
    };
    let people = v["people"]["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["email"].as_str().unwrap().to_owned(),
                principals(&p["accounts"]),
            )
        })
        .collect();
    (people, principals(&v["people"]["unlinked"]))
}

fn sf(name: &str) -> String {
    format!("snowflake:{ACCOUNT}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_by_person_groups_a_snowflake_email_an_iam_email_tag_and_the_people_files_github_entry(
) {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    seed_user(&world.iam, "alice", true).await;
    world
        .iam
        .tag_user()
        .user_name("alice")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("email")
                .value("Alice@Example.com")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    seed_user(&world.iam, "svc-ci", false).await;
    let sf_server = snowflake(fixture("2026")).await;
    let gh_server = MockServer::start().await;
    let org = Org {
        members: vec![person("alice-gh", 1), person("octocat", 2)],
        requirement: Some(true),
        ..Org::default()
    };
    github_fake::serve(&gh_server, "acme", &org).await;

    let account = &world.account;
    let mut env = world.file_env().await;
    env.extend(
        snowflake_env(&sf_server, world.dir.path())
            .into_iter()
            .filter(|(k, _)| k.starts_with("SNOWFLAKE_")),
    );
    env.extend([
        ("GITHUB_ORGS".to_owned(), "acme".to_owned()),
        ("GITHUB_TOKEN".to_owned(), github_fake::TOKEN.to_owned()),
        ("GITHUB_API_URL".to_owned(), gh_server.uri()),
    ]);
    with_people(
        &mut env,
        world.dir.path(),
        &[("github:acme/alice-gh".to_owned(), "alice@example.com")],
    );
    // At info, so that an address logged there would show.
    let mut verbose = env.clone();
    verbose.push(("RUST_LOG".into(), "info".into()));
    let ran = run_binary(&["run", "--json"], &verbose).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("INFO"),
        "logged at info: {}",
        ran.stderr
    );
    let summary: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        summary["targets"].as_array().unwrap().len(),
        3,
        "github, aws and snowflake read: {summary}"
    );

    let (people, unlinked) = by_person(&env).await;
    let alice = people
        .iter()
        .find(|(email, _)| email == "alice@example.com")
        .unwrap_or_else(|| panic!("{people:?}"));
    assert_eq!(
        alice.1,
        [
            format!("aws:{account}/alice"),
            "github:acme/alice-gh".to_owned(),
            sf("ALICE"),
        ],
        "one person across the three sources, the IAM tag's case aside"
    );
    assert!(
        people
            .iter()
            .any(|(e, a)| e == "ned@example.com" && a == &[sf("NULL_TYPE")]),
        "{people:?}"
    );
    for nobody in [
        format!("aws:{account}/svc-ci"),
        "github:acme/octocat".to_owned(),
        sf("KEY_SVC"),
    ] {
        assert!(unlinked.contains(&nobody), "{nobody} in {unlinked:?}");
    }
    assert!(
        !ran.stderr
            .to_ascii_lowercase()
            .contains("alice@example.com"),
        "no address in the logs: {}",
        ran.stderr
    );
}

#[tokio::test]
async fn the_people_files_address_wins_over_the_one_the_source_gives() {
    let server = snowflake(show_users(&[("DANA_SSO", Some("dana.old@example.com"))])).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = snowflake_env(&server, dir.path());
    with_people(
        &mut env,
        dir.path(),
        &[(sf("DANA_SSO"), "dana@example.com")],
    );
    let ran = run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let (people, _) = by_person(&env).await;
    let emails: Vec<&str> = people.iter().map(|(e, _)| e.as_str()).collect();
    assert!(
        people.contains(&("dana@example.com".to_owned(), vec![sf("DANA_SSO")])),
        "{people:?}"
    );
    assert!(!emails.contains(&"dana.old@example.com"), "{emails:?}");
    assert!(
        people.contains(&("alice@example.com".to_owned(), vec![sf("ALICE")])),
        "the others still by the source's address: {people:?}"
    );
}

#[tokio::test]
async fn an_address_that_is_not_one_is_ignored_and_the_target_is_still_read() {
    let server = snowflake(show_users(&[
        ("ALICE", Some("not an address")),
        ("NULL_TYPE", Some("ned@localhost")),
    ]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let env = snowflake_env(&server, dir.path());
    let ran = run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let summary: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(summary["targets"][0]["result"], "baseline", "{summary}");
    assert!(
        ran.stderr.contains("not e-mail addresses were ignored") && ran.stderr.contains("ALICE"),
        "one warning naming the principals: {}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("not an address"),
        "the value is not repeated: {}",
        ran.stderr
    );

    let (people, unlinked) = by_person(&env).await;
    for ignored in [sf("ALICE"), sf("NULL_TYPE")] {
        assert!(
            unlinked.contains(&ignored),
            "{ignored}: {people:?} {unlinked:?}"
        );
    }
    assert!(
        people.contains(&("dana@example.com".to_owned(), vec![sf("DANA_SSO")])),
        "{people:?}"
    );
}

#[tokio::test]
async fn an_email_change_alone_raises_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let first = snowflake(fixture("2026")).await;
    let ran = run_binary(&["run", "--json"], &snowflake_env(&first, dir.path())).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let changed = snowflake(show_users(&[
        ("ALICE", Some("alice@new.example.com")),
        ("NULL_TYPE", None),
    ]))
    .await;
    let env = snowflake_env(&changed, dir.path());
    let ran = run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let summary: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(summary["changes"], json!({}), "{summary}");
    assert!(
        summary["channels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["notices"] == 0),
        "nothing sent: {summary}"
    );

    let (people, unlinked) = by_person(&env).await;
    assert!(
        people.contains(&("alice@new.example.com".to_owned(), vec![sf("ALICE")])),
        "the new address is stored: {people:?}"
    );
    assert!(unlinked.contains(&sf("NULL_TYPE")), "{unlinked:?}");
}

#[tokio::test]
async fn an_alert_names_the_holder_by_the_address_snowflake_gives() {
    let dir = tempfile::tempdir().unwrap();
    let first = snowflake(fixture("2026")).await;
    let ran = run_binary(&["run", "--json"], &snowflake_env(&first, dir.path())).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let mut users = fixture("2026");
    let meta = users.clone();
    snowflake_fake::set(&mut users, &meta, "ALICE", "has_mfa", Some("false"));
    let lost = snowflake(users).await;
    let ran = run_binary(&["run", "--json"], &snowflake_env(&lost, dir.path())).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // Without a channel the alert is printed on stderr.
    let line = ran
        .stderr
        .lines()
        .find(|l| l.contains(&sf("ALICE")))
        .unwrap_or_else(|| panic!("no alert for ALICE: {}", ran.stderr));
    assert!(line.contains("held by alice@example.com"), "{line}");
}

/// One page of `organization.membersWithRole` with each member's
/// verified-domain addresses, as GitHub's GraphQL API answers it.
fn members_page(nodes: &[(&str, &[&str])], next: Option<&str>) -> Value {
    json!({
        "data": {
            "organization": {
                "membersWithRole": {
                    "pageInfo": {"hasNextPage": next.is_some(), "endCursor": next},
                    "nodes": nodes.iter().map(|(login, emails)| json!({
                        "login": login, "organizationVerifiedDomainEmails": emails
                    })).collect::<Vec<_>>()
                }
            },
            "rateLimit": {"cost": 1, "remaining": 4999, "resetAt": "2026-12-02T23:00:00Z"}
        }
    })
}

async fn github_org_with_emails(graphql: Option<(Value, Value)>) -> MockServer {
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, ResponseTemplate};
    let server = MockServer::start().await;
    let org = Org {
        members: vec![
            person("alice-gh", 1),
            person("octocat", 2),
            person("Dana", 3),
        ],
        requirement: Some(true),
        ..Org::default()
    };
    github_fake::serve(&server, "acme", &org).await;
    let emails = Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_string_contains("organizationVerifiedDomainEmails"));
    match graphql {
        Some((first, second)) => {
            Mock::given(method("POST"))
                .and(path("/graphql"))
                .and(body_string_contains("\"after\":\"c1\""))
                .respond_with(ResponseTemplate::new(200).set_body_json(second))
                .expect(1)
                .with_priority(1)
                .mount(&server)
                .await;
            emails
                .respond_with(ResponseTemplate::new(200).set_body_json(first))
                .expect(1)
                .with_priority(2)
                .mount(&server)
                .await;
        }
        None => {
            emails
                .respond_with(ResponseTemplate::new(502))
                .mount(&server)
                .await;
        }
    }
    server
}

fn github_env(server: &MockServer, dir: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("GITHUB_ORGS".to_owned(), "acme".to_owned()),
        ("GITHUB_TOKEN".to_owned(), github_fake::TOKEN.to_owned()),
        ("GITHUB_API_URL".to_owned(), server.uri()),
        (
            "MFA_STATE_FILE".to_owned(),
            dir.join("state.json").to_str().unwrap().to_owned(),
        ),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
    ]
}

#[tokio::test]
async fn a_github_members_verified_domain_address_links_them_to_a_person_over_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = github_org_with_emails(Some((
        members_page(
            &[("alice-gh", &["alice@acme.example"]), ("octocat", &[])],
            Some("c1"),
        ),
        members_page(&[("dana", &["", "dana@acme.example"])], None),
    )))
    .await;
    let env = github_env(&server, dir.path());
    let ran = run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("acme.example"),
        "no address logged: {}",
        ran.stderr
    );
    let (people, unlinked) = by_person(&env).await;
    assert!(
        people.contains(&(
            "alice@acme.example".to_owned(),
            vec!["github:acme/alice-gh".to_owned()]
        )),
        "{people:?}"
    );
    assert!(
        people.contains(&(
            "dana@acme.example".to_owned(),
            vec!["github:acme/Dana".to_owned()]
        )),
        "login matched without case: {people:?}"
    );
    assert_eq!(unlinked, ["github:acme/octocat"]);
    server.verify().await;
}

#[tokio::test]
async fn verified_domain_addresses_that_cannot_be_read_leave_the_org_read_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = github_org_with_emails(None).await;
    let env = github_env(&server, dir.path());
    let ran = run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let summary: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(summary["targets"][0]["result"], "baseline", "{summary}");
    assert_eq!(summary["targets"][0]["principals"], 3, "{summary}");
    assert!(
        ran.stderr
            .contains("verified-domain e-mail addresses could not be read"),
        "{}",
        ran.stderr
    );
    let (people, unlinked) = by_person(&env).await;
    assert!(people.is_empty(), "{people:?}");
    assert_eq!(unlinked.len(), 3);
}
