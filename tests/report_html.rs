//! `report --format html` in a real browser: Debian's Chromium, headless,
//! driven over WebDriver (tests/common/webdriver.rs). The page comes from
//! the real binary after a real pass over a GitHub org on a local server.
mod common;

use wiremock::MockServer;

use common::github_fake::*;
use common::webdriver::{skip_without_browser, Browser};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// acme: dev0000 (owner) to dev0004, dev0002 without 2FA, and a member
/// whose login is markup, also without 2FA.
async fn org() -> MockServer {
    let server = MockServer::start().await;
    let mut members = people("dev", 5, 20_000);
    let hostile = person(HOSTILE, 20_100);
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

/// Runs a pass and writes the page; returns its file URL and the dir.
async fn page() -> (String, tempfile::TempDir, MockServer) {
    let server = org().await;
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = vec![
        ("GITHUB_ORGS".into(), "acme".into()),
        ("GITHUB_TOKEN".into(), TOKEN.into()),
        ("GITHUB_API_URL".into(), server.uri()),
        (
            "MFA_STATE_FILE".into(),
            dir.path().join("state.json").to_str().unwrap().into(),
        ),
        ("AWS_REGION".into(), "us-east-1".into()),
    ];
    let ran = common::run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let file = dir.path().join("report.html");
    let ran = common::run_binary(
        &[
            "report",
            "--format",
            "html",
            "--output",
            file.to_str().unwrap(),
        ],
        &env,
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    (format!("file://{}", file.display()), dir, server)
}

const ROWS: &str = "#principals tbody tr";
const PRINCIPALS: &str = "#principals tbody tr td.principal";

async fn severe(browser: &Browser) -> Vec<serde_json::Value> {
    browser
        .console()
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect()
}

#[tokio::test]
async fn the_page_loads_without_console_errors_and_the_mfa_filter_changes_the_rows() {
    if skip_without_browser() {
        return;
    }
    let (url, _dir, _server) = page().await;
    let browser = Browser::start().await;
    browser.open(&url).await;
    assert_eq!(browser.visible_texts(ROWS).await.len(), 6);
    assert_eq!(browser.visible_texts("#shown").await, ["Showing 6 of 6"]);

    browser.click("#f-disabled").await;
    let mut lacking = browser.visible_texts(PRINCIPALS).await;
    lacking.sort();
    assert_eq!(
        lacking,
        [
            format!("github:acme/{HOSTILE}"),
            "github:acme/dev0002".to_string()
        ]
    );
    assert_eq!(browser.visible_texts("#shown").await, ["Showing 2 of 6"]);
    browser.click("#f-enabled").await;
    assert_eq!(browser.visible_texts(ROWS).await.len(), 4);
    browser.click("#f-all").await;
    assert_eq!(browser.visible_texts(ROWS).await.len(), 6);
    browser.click("#admins").await;
    assert_eq!(
        browser.visible_texts(PRINCIPALS).await,
        ["github:acme/dev0000"]
    );

    let errors = severe(&browser).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    if let Some(path) = std::env::var_os("MFA_SCREENSHOT") {
        std::fs::write(path, browser.screenshot_png().await).unwrap();
    }
    browser.quit().await;
}

#[tokio::test]
async fn a_hostile_name_renders_as_text_and_the_search_narrows_the_rows() {
    if skip_without_browser() {
        return;
    }
    let (url, _dir, _server) = page().await;
    let browser = Browser::start().await;
    browser.open(&url).await;
    // Shown as its text, never as an element: no image, no alert (an open
    // alert would fail every WebDriver call after it).
    assert_eq!(browser.script("return document.images.length").await, 0);
    let principals = browser.visible_texts(PRINCIPALS).await;
    assert!(
        principals.contains(&format!("github:acme/{HOSTILE}")),
        "{principals:?}"
    );
    // Non-compliant first by default.
    assert!(
        principals[..2]
            .iter()
            .all(|p| p.ends_with("dev0002") || p.ends_with(HOSTILE)),
        "{principals:?}"
    );

    browser.type_into("#search", "dev0003").await;
    assert_eq!(
        browser.visible_texts(PRINCIPALS).await,
        ["github:acme/dev0003"]
    );
    let errors = severe(&browser).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.quit().await;
}

#[tokio::test]
async fn a_header_click_sorts_by_that_column_and_a_second_click_reverses() {
    if skip_without_browser() {
        return;
    }
    let (url, _dir, _server) = page().await;
    let browser = Browser::start().await;
    browser.open(&url).await;
    browser
        .click("#principals thead th:nth-child(1) button")
        .await;
    let ascending = browser.visible_texts(PRINCIPALS).await;
    browser
        .click("#principals thead th:nth-child(1) button")
        .await;
    let descending = browser.visible_texts(PRINCIPALS).await;
    let mut reversed = ascending.clone();
    reversed.reverse();
    assert_eq!(descending, reversed);
    let dev: Vec<&String> = ascending.iter().filter(|p| p.contains("/dev")).collect();
    assert_eq!(dev.first().map(|s| s.as_str()), Some("github:acme/dev0000"));
    // Days without MFA sorts as a number: the two without MFA last when
    // ascending would put "-1" (MFA on) first.
    browser
        .click("#principals thead th:nth-child(7) button")
        .await;
    let by_days = browser.visible_texts(PRINCIPALS).await;
    assert!(
        by_days[4..]
            .iter()
            .all(|p| p.ends_with("dev0002") || p.ends_with(HOSTILE)),
        "{by_days:?}"
    );
    assert!(severe(&browser).await.is_empty());
    browser.quit().await;
}

/// A stored state of three sources with 12 weeks of trend, written through
/// the real file store, for the README's picture of the page.
async fn showcase_state(path: &std::path::Path) {
    use chrono::{Duration, Utc};
    use mfa_monitor::domain::trend::TrendRecord;
    use mfa_monitor::domain::{
        Attributes, MfaStatus, NaReason, PrincipalRecord, Source, TargetKey,
    };
    use mfa_monitor::state::file::FileStore;
    use mfa_monitor::state::{StateStore, TargetCommit};

    let now = Utc::now();
    let store = FileStore::new(path);
    let rec = |name: &str, status: MfaStatus, admin: bool, days: i64, kind: &str| PrincipalRecord {
        name: name.into(),
        status,
        attributes: Attributes {
            admin,
            console_login: status != MfaStatus::NotApplicable,
            kind: (!kind.is_empty()).then(|| kind.into()),
            reason: (status == MfaStatus::NotApplicable).then_some(NaReason::NoConsolePassword),
            ..Attributes::default()
        },
        first_seen: now - Duration::days(200),
        status_since: now - Duration::days(days),
        absent_since: None,
        exempt: false,
        grace_until: None,
    };
    use MfaStatus::*;
    let targets = [
        (
            TargetKey::new(Source::Github, "acme"),
            vec![
                rec("octocat", Disabled, true, 4, ""),
                rec("hubot", Disabled, false, 19, ""),
                rec("monalisa", Enabled, true, 0, ""),
                rec("defunkt", Enabled, false, 0, ""),
                rec("mojombo", Enabled, false, 0, ""),
                rec("pjhyett", Enabled, false, 0, ""),
            ],
            [6usize, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2],
        ),
        (
            TargetKey::new(Source::Aws, "111122223333"),
            vec![
                rec("<root>", Enabled, true, 0, ""),
                rec("alice", Enabled, true, 0, ""),
                rec("bob", Disabled, false, 37, ""),
                rec("carol", Enabled, false, 0, ""),
                rec("ci-deployer", NotApplicable, false, 0, ""),
            ],
            [3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1],
        ),
        (
            TargetKey::new(Source::Snowflake, "myorg-analytics"),
            vec![
                rec("ACCOUNTADMIN_JANE", Enabled, true, 0, "PERSON"),
                rec("DAVE", Insecure, false, 8, "PERSON"),
                rec("ERIN", Disabled, false, 61, "PERSON"),
                rec("FRANK", Enabled, false, 0, "PERSON"),
                rec("ETL_SERVICE", NotApplicable, false, 0, "SERVICE"),
            ],
            [5, 5, 5, 4, 4, 4, 3, 3, 3, 2, 2, 2],
        ),
    ];
    for (key, principals, weekly) in targets {
        // One record a day: each week's count, for the last 12 weeks.
        let mut version = None;
        for day in (0..84i64).rev() {
            let at = now - Duration::days(day);
            let week = 11 - (day / 7) as usize;
            let commit = TargetCommit {
                key: key.clone(),
                expected_version: version,
                upserts: if version.is_none() {
                    principals.clone()
                } else {
                    vec![]
                },
                deletes: vec![],
                settings: Default::default(),
                outbox: None,
                trend: Some(TrendRecord {
                    target: key.to_string(),
                    day: at.date_naive(),
                    principals: principals.len(),
                    non_compliant: weekly[week],
                    admins_without_mfa: usize::from(key.source == Source::Github),
                }),
                at,
            };
            version = Some(store.commit(commit).await.unwrap());
        }
    }
}

/// The README's picture of the page (docs/images/report-html.png), taken in
/// the same headless Chromium: `bash docs/render_examples.sh`.
#[tokio::test]
#[ignore = "renders docs/images/report-html.png; run by docs/render_examples.sh"]
async fn the_readme_picture_of_the_page() {
    let out = std::env::var("MFA_SCREENSHOT").expect("MFA_SCREENSHOT names the PNG to write");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    showcase_state(&state).await;
    let file = dir.path().join("report.html");
    let env: Vec<(String, String)> = vec![
        ("GITHUB_ORGS".into(), "acme".into()),
        ("GITHUB_TOKEN".into(), TOKEN.into()),
        ("MFA_STATE_FILE".into(), state.to_str().unwrap().into()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ];
    let ran = common::run_binary(
        &[
            "report",
            "--format",
            "html",
            "--output",
            file.to_str().unwrap(),
        ],
        &env,
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let browser = Browser::start().await;
    browser.resize(1280, 1250).await;
    browser.open(&format!("file://{}", file.display())).await;
    browser.click("#f-disabled").await;
    assert!(severe(&browser).await.is_empty());
    std::fs::write(out, browser.screenshot_png().await).unwrap();
    browser.quit().await;
}
