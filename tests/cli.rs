//! The command line's conventions against the real binary: exit 3 with
//! --fail-on-findings, --source/--target, -q/-v, colour and progress only
//! on a terminal, completions and man pages. Two small GitHub orgs on a
//! local server playing GitHub and a state file: no moto needed.
mod common;

use serde_json::Value;
use wiremock::MockServer;

use common::github_fake::*;

/// acme: dev0003 without 2FA, dev0007 with SMS only (2 findings);
/// beta: ops0001 without 2FA (1 finding). One page each.
async fn two_orgs() -> MockServer {
    let server = MockServer::start().await;
    let acme = people("dev", 10, 10_000);
    serve(
        &server,
        "acme",
        &Org {
            disabled: vec![acme[3].clone()],
            insecure: vec![acme[7].clone()],
            owners: vec![acme[0].clone()],
            members: acme,
            requirement: Some(true),
            ..Org::default()
        },
    )
    .await;
    let beta = people("ops", 5, 20_000);
    serve(
        &server,
        "beta",
        &Org {
            disabled: vec![beta[1].clone()],
            owners: vec![beta[0].clone()],
            members: beta,
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
        Self {
            server: two_orgs().await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            ("GITHUB_ORGS".into(), "acme,beta".into()),
            ("GITHUB_TOKEN".into(), TOKEN.into()),
            ("GITHUB_API_URL".into(), self.server.uri()),
            (
                "MFA_STATE_FILE".into(),
                self.dir.path().join("state.json").to_str().unwrap().into(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push(((*k).into(), (*v).into()));
        }
        env
    }

    async fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> common::Ran {
        common::run_binary(args, &self.env(extra)).await
    }

    /// A real pass, so that `status` and `report` have a state to read.
    async fn baseline(&self) {
        let ran = self.run(&["run"], &[]).await;
        assert_eq!(ran.code, 0, "{}", ran.stderr);
    }
}

fn json(ran: &common::Ran) -> Value {
    serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr))
}

/// The targets of a run summary.
fn targets(v: &Value) -> Vec<&str> {
    v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect()
}

// ------------------------------------------------------ --fail-on-findings

#[tokio::test]
async fn findings_exit_3_only_when_asked_for_and_exempt_principals_do_not_count() {
    let w = World::new().await;
    let ran = w.run(&["run", "--dry-run"], &[]).await;
    assert_eq!(ran.code, 0, "opt-in only: {}", ran.stderr);

    let ran = w
        .run(&["run", "--dry-run", "--fail-on-findings"], &[])
        .await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("3 non-compliant principal(s)"),
        "{}",
        ran.stderr
    );

    let exempt = [(
        "MFA_EXEMPT",
        "github:acme/dev0003,github:acme/dev0007,github:beta/ops0001",
    )];
    let ran = w
        .run(&["run", "--dry-run", "--fail-on-findings"], &exempt)
        .await;
    assert_eq!(ran.code, 0, "all exempt: {}", ran.stderr);

    // A real pass looks at the same principals.
    let ran = w.run(&["run", "--fail-on-findings"], &[]).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let ran = w.run(&["status", "--fail-on-findings"], &[]).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let ran = w.run(&["status", "--fail-on-findings"], &exempt).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout.contains("github:acme/dev0003 (exempt)"),
        "{}",
        ran.stdout
    );

    let ran = w
        .run(
            &["status", "--fail-on-findings"],
            &[("MFA_EXEMPT", "dev0003")],
        )
        .await;
    assert_eq!(ran.code, 2, "bad configuration wins: {}", ran.stderr);
    assert!(ran.stderr.contains("MFA_EXEMPT"), "{}", ran.stderr);
}

#[tokio::test]
async fn a_source_failure_exit_1_wins_over_findings() {
    let w = World::new().await;
    let ran = w
        .run(
            &["run", "--dry-run", "--fail-on-findings"],
            &[("GITHUB_ORGS", "acme,ghost")],
        )
        .await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
}

#[tokio::test]
async fn report_counts_findings_whatever_filter_lists() {
    let w = World::new().await;
    w.baseline().await;
    let ran = w
        .run(
            &["report", "--filter", "enabled", "--fail-on-findings"],
            &[],
        )
        .await;
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    assert!(!ran.stdout.contains("dev0003"), "only enabled rows listed");
    let ran = w.run(&["report", "--filter", "enabled"], &[]).await;
    assert_eq!(ran.code, 0);
}

// ------------------------------------------------------ --source, --target

#[tokio::test]
async fn status_and_report_narrow_to_the_selected_targets_and_count_only_their_findings() {
    let w = World::new().await;
    w.baseline().await;

    let ran = w.run(&["--json", "status", "--target", "beta"], &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let v = json(&ran);
    assert_eq!(v["targets"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v["targets"][0]["key"],
        serde_json::json!({"source": "github", "target": "beta"})
    );

    let ran = w
        .run(
            &[
                "--json",
                "report",
                "--target",
                "github:beta",
                "--fail-on-findings",
            ],
            &[("MFA_EXEMPT", "github:acme/dev0003,github:acme/dev0007")],
        )
        .await;
    assert_eq!(ran.code, 3, "beta's own finding: {}", ran.stderr);
    let v = json(&ran);
    let rows: Vec<&str> = v["report"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["principal"].as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(
        rows.iter().all(|r| r.starts_with("github:beta/")),
        "{rows:?}"
    );
    assert_eq!(v["report"]["counts"]["github"]["principals"], 5);

    let ran = w
        .run(
            &["report", "--target", "beta", "--fail-on-findings"],
            &[("MFA_EXEMPT", "github:beta/ops0001")],
        )
        .await;
    assert_eq!(ran.code, 0, "acme's findings are outside: {}", ran.stderr);

    let ran = w
        .run(
            &[
                "--json",
                "status",
                "--source",
                "aws,snowflake",
                "--fail-on-findings",
            ],
            &[],
        )
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(json(&ran)["targets"], serde_json::json!([]));
}

#[tokio::test]
async fn a_dry_run_narrowed_to_one_org_prints_only_it() {
    let w = World::new().await;
    let ran = w
        .run(&["--json", "run", "--dry-run", "--target", "acme"], &[])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let v = json(&ran);
    assert_eq!(targets(&v), ["github:acme"]);
    let notices: Vec<&str> = v["would_send"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["target"]["target"].as_str().unwrap())
        .collect();
    assert_eq!(notices, ["acme"], "{v}");

    let ran = w
        .run(
            &["run", "--dry-run", "--target", "beta", "--fail-on-findings"],
            &[],
        )
        .await;
    assert_eq!(ran.code, 3);
    assert!(
        ran.stdout.contains("github:beta") && !ran.stdout.contains("github:acme"),
        "{}",
        ran.stdout
    );
}

#[tokio::test]
async fn a_target_that_matches_nothing_is_exit_2_naming_what_there_is() {
    let w = World::new().await;
    w.baseline().await;
    for args in [
        &["status", "--target", "acmee"][..],
        &["report", "--target", "acmee", "--send"][..],
        &["run", "--dry-run", "--target", "acmee"][..],
    ] {
        let ran = w.run(args, &[]).await;
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("--target acmee matches no target")
                && ran.stderr.contains("github:acme, github:beta"),
            "{args:?}: {}",
            ran.stderr
        );
    }
    let ran = w
        .run(
            &["status", "--source", "github", "--target", "aws:acme"],
            &[],
        )
        .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
}

#[tokio::test]
async fn a_real_run_refuses_the_filters_with_exit_2_and_says_why() {
    for args in [
        &["run", "--source", "github"][..],
        &["run", "--target", "acme"][..],
    ] {
        // No configuration at all: the usage error comes first.
        let ran = common::run_binary(args, &[]).await;
        assert_eq!(ran.code, 2, "{args:?}");
        assert!(
            ran.stderr.contains("need --dry-run") && ran.stderr.contains("every"),
            "{}",
            ran.stderr
        );
    }
    let ran = common::run_binary(&["run", "--help"], &[]).await;
    assert!(
        ran.stdout.contains("--source and --target need --dry-run"),
        "{}",
        ran.stdout
    );
}

// ------------------------------------------------------------ -q, -v

#[tokio::test]
async fn quiet_prints_only_errors_and_the_json_when_asked() {
    let w = World::new().await;
    w.baseline().await;
    let ran = w.run(&["-q", "status"], &[]).await;
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (0, "", "")
    );
    let ran = w.run(&["-q", "run", "--dry-run"], &[]).await;
    assert_eq!(
        (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
        (0, "", "")
    );
    let ran = w.run(&["--json", "status", "-q"], &[]).await;
    assert_eq!(json(&ran)["targets"].as_array().unwrap().len(), 2);
    assert_eq!(ran.stderr, "");

    let ran = w
        .run(
            &["-q", "run", "--dry-run"],
            &[("GITHUB_ORGS", "acme,ghost")],
        )
        .await;
    assert_eq!(ran.code, 1);
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr.contains("github:ghost") && ran.stderr.contains("404"),
        "{}",
        ran.stderr
    );

    let ran = w.run(&["-q", "status", "--fail-on-findings"], &[]).await;
    assert_eq!(
        (ran.code, ran.stderr.as_str()),
        (3, ""),
        "the exit code says it"
    );
}

#[tokio::test]
async fn verbose_raises_the_log_level_on_stderr_one_step_per_v() {
    let w = World::new().await;
    let ran = w.run(&["run", "--dry-run"], &[]).await;
    assert!(
        !ran.stderr.contains("INFO"),
        "warn by default: {}",
        ran.stderr
    );
    let ran = w.run(&["-v", "run", "--dry-run"], &[]).await;
    assert!(
        ran.stderr.contains("INFO") && ran.stderr.contains("target collected"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("DEBUG"), "{}", ran.stderr);
    let ran = w.run(&["run", "--dry-run", "-vv"], &[]).await;
    assert!(
        ran.stderr.contains("DEBUG") && ran.stderr.contains("configured"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stdout.contains("INFO"), "logs never on stdout");
}

// --------------------------------------------- colour and progress: a tty

/// The binary on a pseudo-terminal (stdout and stderr both), through
/// Python's `pty`; returns what the terminal showed.
async fn on_a_terminal(args: &[&str], env: &[(String, String)]) -> String {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg("-c")
        .arg("import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))")
        .arg(env!("CARGO_BIN_EXE_mfa-monitor"))
        .args(args)
        .env_clear();
    for k in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .expect("finished")
        .expect("python3 runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn no_colour_on_pipes_nor_with_no_color_and_no_progress_on_pipes() {
    let w = World::new().await;
    for extra in [&[][..], &[("NO_COLOR", "1")][..]] {
        let ran = w.run(&["-vv", "run", "--dry-run"], extra).await;
        assert!(
            ran.stderr.contains("INFO"),
            "there are logs: {}",
            ran.stderr
        );
        assert!(
            !ran.stdout.contains("\x1b[") && !ran.stderr.contains("\x1b["),
            "{extra:?}: {:?}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("[1/2]"), "no progress on a pipe");
    }
    let ran = w.run(&["-vv", "status", "--target", "nope"], &[]).await;
    assert!(!ran.stderr.contains("\x1b["), "{:?}", ran.stderr);
}

#[tokio::test]
async fn on_a_terminal_progress_shows_and_colour_unless_no_color() {
    let w = World::new().await;
    let shown = on_a_terminal(&["-v", "run", "--dry-run"], &w.env(&[])).await;
    assert!(shown.contains("\x1b["), "colour on a terminal: {shown:?}");
    assert!(
        shown.contains("github:acme 10 principals") && shown.contains("github:beta 5 principals"),
        "{shown:?}"
    );
    assert!(
        shown.contains("[1/2]") && shown.contains("[2/2]"),
        "{shown:?}"
    );

    let shown = on_a_terminal(&["-v", "run", "--dry-run"], &w.env(&[("NO_COLOR", "1")])).await;
    assert!(shown.contains("INFO"), "{shown:?}");
    assert!(!shown.contains("\x1b["), "NO_COLOR: {shown:?}");

    for quiet in [
        &["-q", "run", "--dry-run"][..],
        &["--json", "run", "--dry-run"][..],
    ] {
        let shown = on_a_terminal(quiet, &w.env(&[])).await;
        assert!(!shown.contains("[1/2]"), "{quiet:?}: {shown:?}");
    }
}

// ------------------------------------------------ completions, man pages

#[tokio::test]
async fn completions_for_bash_and_zsh_offer_every_subcommand() {
    for shell in ["bash", "zsh"] {
        let ran = common::run_binary(&["completions", shell], &[]).await;
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        for sub in ["run", "report", "status", "check", "completions", "man"] {
            assert!(ran.stdout.contains(sub), "{shell}: {sub}");
        }
        for flag in [
            "--dry-run",
            "--fail-on-findings",
            "--source",
            "--target",
            "--quiet",
        ] {
            assert!(ran.stdout.contains(flag), "{shell}: {flag}");
        }
        assert!(ran.stdout.contains("snowflake"), "{shell}: --source values");
    }
    for shell in ["fish", "powershell", "elvish"] {
        let ran = common::run_binary(&["completions", shell], &[]).await;
        assert_eq!(ran.code, 0, "{shell}");
        assert!(ran.stdout.contains("dry-run"), "{shell}");
    }
}

#[tokio::test]
async fn the_committed_man_pages_are_the_generated_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ran = common::run_binary(&["man", dir.path().to_str().unwrap()], &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
    let names = |d: &std::path::Path| {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let generated = names(dir.path());
    assert!(
        generated.contains(&"mfa-monitor.1".to_owned())
            && generated.contains(&"mfa-monitor-run.1".to_owned())
    );
    assert_eq!(
        names(&committed),
        generated,
        "regenerate with: cargo run --quiet -- man docs/man"
    );
    for name in &generated {
        assert_eq!(
            std::fs::read_to_string(committed.join(name)).unwrap(),
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            "docs/man/{name} is stale: regenerate with `cargo run --quiet -- man docs/man`"
        );
    }
}
