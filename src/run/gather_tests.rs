//! Unit tests of steps 1–3 run together (`gather.rs`): each target
//! committed as soon as it is read, a bounded number at once, summarized in
//! planned order — on the in-memory store with scripted monitors.

use std::time::Duration;

use super::testkit::*;
use super::*;

#[tokio::test]
async fn targets_commit_side_by_side_at_most_eight_at_once_and_are_summarized_in_planned_order() {
    let names: Vec<String> = (0..20).map(|i| format!("org{i:02}")).collect();
    let script: Vec<(&str, Vec<Read>)> = names
        .iter()
        .map(|n| (n.as_str(), vec![Read::Users(vec![ALICE_OFF, BOB_ON])]))
        .collect();
    let h = Harness::new(&script, vec![RecordingChannel::new("email")]);
    h.store.delay_commits(Duration::from_millis(50));
    let s = h.pass(1).await;
    assert!(s.ok, "{s:?}");
    let most = h.store.most_commits_in_flight();
    assert!(
        (2..=8).contains(&most),
        "{most} commits were under way at once"
    );
    let summarized: Vec<&str> = s.targets.iter().map(|t| t.target.as_str()).collect();
    let planned: Vec<String> = names.iter().map(|n| format!("github:{n}")).collect();
    assert_eq!(summarized, planned);
    assert!(names
        .iter()
        .all(|n| result_of(&s, n) == TargetResult::Baseline));
    assert_eq!(h.store.snapshot().targets.len(), 20);
}
