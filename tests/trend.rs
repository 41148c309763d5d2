//! The daily trend through the real binary: a GitHub org on a local server,
//! passes into a state file, the days moved back by editing the file (as
//! time passing would leave it), then the report's week-over-week line and
//! chart drawn from the records.
mod common;

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use wiremock::MockServer;

use common::github_fake::*;

struct World {
    server: MockServer,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let server = MockServer::start().await;
        let members = people("dev", 5, 30_000);
        serve(
            &server,
            "acme",
            &Org {
                disabled: vec![members[1].clone(), members[2].clone()],
                owners: vec![members[0].clone()],
                members,
                requirement: Some(true),
                ..Org::default()
            },
        )
        .await;
        Self {
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn state_path(&self) -> std::path::PathBuf {
        self.dir.path().join("state.json")
    }

    fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state_path()).unwrap()).unwrap()
    }

    fn write_state(&self, v: &Value) {
        std::fs::write(self.state_path(), serde_json::to_string_pretty(v).unwrap()).unwrap();
    }

    async fn run(&self, args: &[&str]) -> common::Ran {
        let env: Vec<(String, String)> = vec![
            ("GITHUB_ORGS".into(), "acme".into()),
            ("GITHUB_TOKEN".into(), TOKEN.into()),
            ("GITHUB_API_URL".into(), self.server.uri()),
            (
                "MFA_STATE_FILE".into(),
                self.state_path().to_str().unwrap().into(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
        ];
        let ran = common::run_binary(args, &env).await;
        assert_eq!(ran.code, 0, "{args:?}: {}", ran.stderr);
        ran
    }
}

#[tokio::test]
async fn a_pass_records_each_target_once_a_day_and_a_new_day_gets_its_own_record() {
    let w = World::new().await;
    let today = Utc::now().date_naive();
    w.run(&["run"]).await;
    let s = w.state();
    let records = s["trend"].as_object().unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let rec = &records[&format!("github:acme#{today}")];
    assert_eq!(
        (
            &rec["principals"],
            &rec["non_compliant"],
            &rec["admins_without_mfa"]
        ),
        (&json!(5), &json!(2), &json!(0))
    );
    let version = s["targets"]["github:acme"]["version"].clone();

    // The same day again: nothing written, not even the target's version.
    w.run(&["run"]).await;
    let s = w.state();
    assert_eq!(s["trend"].as_object().unwrap().len(), 1);
    assert_eq!(s["targets"]["github:acme"]["version"], version);

    // As if the first pass had been yesterday: today's first pass, with no
    // change at all, commits once for its record.
    let mut s = w.state();
    let yesterday = today - Duration::days(1);
    let mut old = s["trend"][&format!("github:acme#{today}")].clone();
    old["day"] = json!(yesterday.to_string());
    s["trend"] = json!({ format!("github:acme#{yesterday}"): old });
    s["targets"]["github:acme"]["settings"]["trend_day"] = json!(yesterday.to_string());
    w.write_state(&s);
    let ran = w.run(&["run", "--json"]).await;
    let summary: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(summary["targets"][0]["changes"], 0, "{summary}");
    let s = w.state();
    let mut days: Vec<&str> = s["trend"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["day"].as_str().unwrap())
        .collect();
    days.sort();
    assert_eq!(days, [yesterday.to_string(), today.to_string()]);
    assert_eq!(
        s["targets"]["github:acme"]["version"],
        json!(version.as_u64().unwrap() + 1)
    );
}

#[tokio::test]
async fn the_report_compares_this_week_with_last_and_draws_the_chart_from_the_records() {
    let w = World::new().await;
    let today = Utc::now().date_naive();
    w.run(&["run"]).await;
    // A week ago acme had 4 accounts without MFA, and 100 days ago 9 (too
    // old to draw: past the 12 weeks).
    let mut s = w.state();
    for (days, nc) in [(7, 4), (100, 9)] {
        let day = today - Duration::days(days);
        s["trend"][format!("github:acme#{day}")] = json!({
            "target": "github:acme", "day": day.to_string(),
            "principals": 5, "non_compliant": nc, "admins_without_mfa": 0
        });
    }
    w.write_state(&s);

    let table = w.run(&["report"]).await.stdout;
    assert!(
        table.contains("GitHub: 2 without MFA, 2 fewer than last week (4)"),
        "{table}"
    );
    let json: Value = serde_json::from_str(&w.run(&["report", "--json"]).await.stdout).unwrap();
    assert_eq!(
        json["report"]["week_over_week"]["github"],
        json!({"non_compliant": 2, "week_ago": 4})
    );
    let page = w.dir.path().join("r.html");
    w.run(&[
        "report",
        "--format",
        "html",
        "--output",
        page.to_str().unwrap(),
    ])
    .await;
    let html = std::fs::read_to_string(&page).unwrap();
    let line = html
        .split("<polyline")
        .nth(1)
        .expect("a line for GitHub")
        .split("/>")
        .next()
        .unwrap();
    assert!(line.contains("data-source=\"github\""), "{line}");
    let points = line
        .split("points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    // Seven days carried from a week ago, then today: 8 points, not the
    // 100-day-old record.
    assert_eq!(points.split(' ').count(), 8, "{points}");
    assert!(html.contains("2 without MFA, 2 fewer than last week (4)"));
}
