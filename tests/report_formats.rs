//! `report --format` and `--output` against the real binary: a GitHub org
//! on a local server playing GitHub, a real pass into a state file, then
//! the report read back in each format. No moto needed.
mod common;

use wiremock::MockServer;

use common::github_fake::*;

/// acme: six members, dev0002 without 2FA, and a member whose login is a
/// spreadsheet formula (GitHub itself would refuse it; a source's names are
/// untrusted all the same, and Snowflake's quoted identifiers allow it).
async fn org() -> MockServer {
    let server = MockServer::start().await;
    let mut members = people("dev", 5, 10_000);
    let hostile = person("=HYPERLINK(\"http://x\",\"y\")", 10_100);
    members.push(hostile.clone());
    serve(
        &server,
        "acme",
        &Org {
            disabled: vec![members[2].clone(), hostile],
            owners: vec![members[0].clone()],
            members,
            requirement: Some(true),
            ..Org::default()
        },
    )
    .await;
    server
}

struct World {
    server: MockServer,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let w = Self {
            server: org().await,
            dir: tempfile::tempdir().unwrap(),
        };
        let ran = w.run(&["run"]).await;
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        w
    }

    async fn run(&self, args: &[&str]) -> common::Ran {
        let env: Vec<(String, String)> = vec![
            ("GITHUB_ORGS".into(), "acme".into()),
            ("GITHUB_TOKEN".into(), TOKEN.into()),
            ("GITHUB_API_URL".into(), self.server.uri()),
            (
                "MFA_STATE_FILE".into(),
                self.dir.path().join("state.json").to_str().unwrap().into(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
        ];
        common::run_binary(args, &env).await
    }
}

fn records(text: &str) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().clone();
    let rows = r.records().collect::<Result<Vec<_>, _>>().unwrap();
    (header, rows)
}

#[tokio::test]
async fn csv_has_every_principal_once_and_a_formula_name_neutralised() {
    let w = World::new().await;
    let ran = w.run(&["report", "--format", "csv"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let (header, rows) = records(&ran.stdout);
    assert_eq!(
        &header.iter().collect::<Vec<_>>()[..3],
        ["principal", "source", "target"]
    );
    assert_eq!(rows.len(), 6, "{}", ran.stdout);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut names: Vec<&str> = rows.iter().map(|r| &r[col("name")]).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "'=HYPERLINK(\"http://x\",\"y\")",
            "dev0000",
            "dev0001",
            "dev0002",
            "dev0003",
            "dev0004"
        ]
    );
    assert!(rows
        .iter()
        .all(|r| &r[col("source")] == "github" && &r[col("target")] == "acme"));
    let dev2 = rows.iter().find(|r| &r[col("name")] == "dev0002").unwrap();
    assert_eq!(&dev2[col("status")], "disabled");
    let dev0 = rows.iter().find(|r| &r[col("name")] == "dev0000").unwrap();
    assert_eq!(&dev0[col("admin")], "true");
    // Seen by the pass this test ran: a UTC timestamp of today.
    let first_seen = chrono::DateTime::parse_from_rfc3339(&dev0[col("first_seen")]).unwrap();
    assert!((chrono::Utc::now() - first_seen.to_utc()).num_minutes() < 10);
    // Non-compliant first, as in the table.
    assert_ne!(&rows[0][col("status")], "enabled");
}

#[tokio::test]
async fn filter_applies_to_csv_and_output_writes_the_file_not_stdout() {
    let w = World::new().await;
    let file = w.dir.path().join("report.csv");
    let ran = w
        .run(&[
            "report",
            "--format",
            "csv",
            "--filter",
            "enabled",
            "--output",
            file.to_str().unwrap(),
        ])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, "");
    let (_, rows) = records(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| &r[4] == "enabled"));
}

#[tokio::test]
async fn format_json_is_the_same_as_json_and_json_with_csv_is_exit_2() {
    let w = World::new().await;
    let a = w.run(&["report", "--format", "json"]).await;
    let b = w.run(&["report", "--json"]).await;
    assert_eq!(a.code, 0, "{}", a.stderr);
    let a: serde_json::Value = serde_json::from_str(&a.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_str(&b.stdout).unwrap();
    assert_eq!(a["report"]["rows"], b["report"]["rows"]);
    assert_eq!(a["report"]["rows"].as_array().unwrap().len(), 6);
    let ran = w.run(&["report", "--json", "--format", "csv"]).await;
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("--format is csv"), "{}", ran.stderr);
}

#[tokio::test]
async fn an_unwritable_output_is_exit_1_naming_the_file() {
    let w = World::new().await;
    let file = w.dir.path().join("no-such-dir").join("report.csv");
    let ran = w
        .run(&[
            "report",
            "--format",
            "csv",
            "--output",
            file.to_str().unwrap(),
        ])
        .await;
    assert_eq!(ran.code, 1);
    assert!(ran.stderr.contains("no-such-dir"), "{}", ran.stderr);
}

#[tokio::test]
async fn ocsf_is_one_compliance_finding_per_account_without_mfa_with_the_required_fields() {
    let w = World::new().await;
    let ran = w.run(&["report", "--format", "ocsf"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let lines: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // dev0002 and the formula-named member lack 2FA.
    assert_eq!(lines.len(), 2, "{}", ran.stdout);
    for f in &lines {
        // Required by Compliance Finding (2003) and its base event, OCSF 1.8.0.
        for path in [
            "/activity_id",
            "/category_uid",
            "/class_uid",
            "/type_uid",
            "/severity_id",
            "/time",
            "/metadata/product/name",
            "/metadata/version",
            "/finding_info/uid",
            "/compliance/status_id",
        ] {
            assert!(
                f.pointer(path).is_some_and(|v| !v.is_null()),
                "{path} in {f}"
            );
        }
        assert_eq!(f["class_uid"], 2003);
        assert_eq!(f["category_uid"], 2);
        assert_eq!(f["type_uid"], 200301);
        assert_eq!(f["metadata"]["version"], "1.8.0");
        assert!(
            f["time"].as_i64().unwrap() > 1_700_000_000_000,
            "epoch milliseconds"
        );
    }
    let uids: Vec<&str> = lines
        .iter()
        .map(|f| f["finding_info"]["uid"].as_str().unwrap())
        .collect();
    assert!(
        uids.contains(&"mfa-monitor:github:acme/dev0002"),
        "{uids:?}"
    );
    // --filter applies: only enabled accounts, so no finding.
    let none = w
        .run(&["report", "--format", "ocsf", "--filter", "enabled"])
        .await;
    assert_eq!(none.stdout, "");
}
