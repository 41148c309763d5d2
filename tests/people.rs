//! One view of each person (issue 20): `report --by person` through the
//! real binary, over the state a pass against moto stored, linked by the
//! people file.
mod common;

use common::{run_binary, seed_user, Scenario};

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
