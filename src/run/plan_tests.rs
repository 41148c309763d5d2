//! Unit tests of step 0 and 1 of a pass (`plan.rs`, `collect.rs`):
//! discovered targets, their retirement, a failed or empty discovery, and
//! the concurrency bound — on the in-memory store with scripted monitors.

use super::testkit::*;
use super::*;

fn removed_targets(d: &crate::notifiers::digest::Digest) -> Vec<String> {
    d.groups
        .iter()
        .flat_map(|g| g.items.iter())
        .filter(|i| i.kind == Some(ChangeKind::Removed))
        .map(|i| i.subject.clone())
        .collect()
}

#[tokio::test]
async fn discovered_targets_get_a_baseline_and_one_that_leaves_is_one_notice_and_retired() {
    let monitor = ScriptedMonitor::new(&[
        ("a", vec![Read::Users(vec![ALICE_OFF, BOB_ON])]),
        ("b", vec![Read::Users(vec![ALICE_OFF, BOB_ON])]),
    ])
    .discovering(
        &[],
        vec![Some(vec!["a", "b"]), Some(vec!["a"]), Some(vec!["a", "b"])],
    );
    let h = Harness::with_monitor(monitor, vec![RecordingChannel::new("email")]);

    let s = h.pass(1).await;
    assert!(s.ok, "{s:?}");
    assert_eq!(result_of(&s, "a"), TargetResult::Baseline);
    assert_eq!(result_of(&s, "b"), TargetResult::Baseline);
    assert_eq!(h.store.snapshot().discovered["github:ent"], ["a", "b"]);

    let s = h.pass(2).await;
    assert!(s.ok, "{s:?}");
    let sent = h.channel(0).sent();
    assert_eq!(sent.len(), 2, "the baseline, then the one notice");
    assert_eq!(removed_targets(&sent[1]), ["github:b"], "{:?}", sent[1]);
    assert_eq!(
        kinds(&sent[1]),
        [ChangeKind::Removed],
        "one notice for the target, not one per principal"
    );
    let doc = h.store.snapshot();
    assert!(doc.targets["github:b"].principals.is_empty());
    assert!(doc.targets["github:b"].settings.retired_at.is_some());
    assert_eq!(doc.discovered["github:ent"], ["a"]);

    let s = h.pass(3).await;
    assert_eq!(
        result_of(&s, "b"),
        TargetResult::Baseline,
        "a target that comes back starts afresh"
    );
    assert_eq!(h.channel(0).sent().len(), 3);
    assert!(kinds(&h.channel(0).sent()[2]).is_empty(), "a baseline");
}

#[tokio::test]
async fn a_failed_discovery_still_reads_every_known_target_and_retires_none() {
    let monitor = ScriptedMonitor::new(&[
        ("a", vec![Read::Users(vec![ALICE_ON])]),
        ("b", vec![Read::Users(vec![ALICE_ON])]),
    ])
    .discovering(&[], vec![Some(vec!["a", "b"]), None]);
    let h = Harness::with_monitor(monitor, vec![RecordingChannel::new("email")]);
    h.pass(1).await;

    let s = h.pass(2).await;
    assert!(!s.ok, "the failed discovery counts as a failure");
    assert_eq!(result_of(&s, "a"), TargetResult::Unchanged);
    assert_eq!(result_of(&s, "b"), TargetResult::Unchanged);
    assert_eq!(result_of(&s, "ent"), TargetResult::Failed);
    let doc = h.store.snapshot();
    assert_eq!(doc.discovered["github:ent"], ["a", "b"], "members kept");
    assert!(doc.targets["github:b"].settings.retired_at.is_none());
    assert_eq!(doc.health["github:ent"].failures, 1);
    assert_eq!(h.channel(0).sent().len(), 1, "below the threshold: silent");
}

#[tokio::test]
async fn a_discovery_that_comes_back_empty_where_targets_were_known_retires_none() {
    let monitor = ScriptedMonitor::new(&[("a", vec![Read::Users(vec![ALICE_ON])])])
        .discovering(&[], vec![Some(vec!["a"]), Some(vec![])]);
    let h = Harness::with_monitor(monitor, vec![RecordingChannel::new("email")]);
    h.pass(1).await;
    let s = h.pass(2).await;
    assert_eq!(result_of(&s, "ent"), TargetResult::Failed);
    assert_eq!(result_of(&s, "a"), TargetResult::Unchanged);
    assert!(h.store.snapshot().targets["github:a"]
        .settings
        .retired_at
        .is_none());
}

#[tokio::test]
async fn a_target_configured_and_discovered_is_read_once_and_is_not_retired_while_configured() {
    let monitor = ScriptedMonitor::new(&[
        ("a", vec![Read::Users(vec![ALICE_ON])]),
        ("b", vec![Read::Users(vec![ALICE_ON])]),
    ])
    .discovering(&["a"], vec![Some(vec!["a", "b"]), Some(vec!["b"])]);
    let h = Harness::with_monitor(monitor, vec![RecordingChannel::new("email")]);
    let s = h.pass(1).await;
    assert_eq!(s.targets.len(), 2, "{:?}", s.targets);
    let s = h.pass(2).await;
    assert_eq!(result_of(&s, "a"), TargetResult::Unchanged);
    assert!(h.store.snapshot().targets["github:a"]
        .settings
        .retired_at
        .is_none());
}

#[tokio::test]
async fn no_more_targets_are_read_at_once_than_the_concurrency_bound() {
    let script: Vec<(String, Vec<Read>)> = (0..12)
        .map(|i| (format!("org{i}"), vec![Read::Users(vec![ALICE_ON])]))
        .collect();
    let script: Vec<(&str, Vec<Read>)> = script
        .iter()
        .map(|(n, r)| (n.as_str(), r.clone()))
        .collect();
    let monitor = ScriptedMonitor::new(&script);
    let most = monitor.most_in_flight.clone();
    let mut h = Harness::with_monitor(monitor, vec![RecordingChannel::new("email")]);
    h.target_concurrency = 3;
    let s = h.pass(1).await;
    assert_eq!(s.targets.len(), 12);
    assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 3);
}
