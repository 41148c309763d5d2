//! The fanned-out pass's steps on the in-memory store (`fanout.rs`): the
//! same promises as a single-invocation pass, batch by batch.

use super::testkit::*;
use super::*;

fn three_orgs(second: Vec<Read>) -> Harness {
    Harness::new(
        &[
            (
                "acme",
                vec![
                    Read::Users(vec![ALICE_ON, BOB_ON]),
                    Read::Users(vec![ALICE_OFF, BOB_ON]),
                ],
            ),
            ("beta", second),
            (
                "gamma",
                vec![Read::Users(vec![ALICE_ON]), Read::Users(vec![ALICE_OFF])],
            ),
        ],
        vec![
            RecordingChannel::new("email"),
            RecordingChannel::new("slack"),
        ],
    )
}

#[tokio::test]
async fn a_fanned_out_pass_commits_every_batch_and_sends_each_channel_one_message() {
    let h = three_orgs(vec![Read::Users(vec![BOB_ON]), Read::Users(vec![BOB_ON])]);
    let s = h.fanned_out(1, 2, &[]).await.unwrap();
    assert!(s.ok, "{s:?}");
    assert_eq!(s.targets.len(), 3);
    assert!(
        s.targets.iter().all(|t| t.result == TargetResult::Baseline),
        "{s:?}"
    );
    for c in 0..2 {
        assert_eq!(
            h.channel(c).sent().len(),
            1,
            "one baseline message per channel"
        );
    }
    let s = h.fanned_out(2, 2, &[]).await.unwrap();
    assert!(s.ok, "{s:?}");
    assert_eq!(s.changes[&Source::Github][&ChangeKind::MfaDisabled], 2);
    for c in 0..2 {
        let sent = h.channel(c).sent();
        assert_eq!(sent.len(), 2, "one more message, not one per batch");
        assert_eq!(
            kinds(&sent[1]),
            [ChangeKind::MfaDisabled, ChangeKind::MfaDisabled]
        );
    }
    assert!(h.store.snapshot().pending().is_empty());
    let s = h.fanned_out(3, 2, &[]).await.unwrap();
    assert_eq!(h.channel(0).sent().len(), 2, "nothing twice: {s:?}");
}

#[tokio::test]
async fn a_batch_that_never_reports_leaves_its_targets_failed_and_the_others_delivered() {
    let h = three_orgs(vec![Read::Users(vec![BOB_ON]), Read::Users(vec![BOB_ON])]);
    h.fanned_out(1, 2, &[]).await.unwrap();
    // Batch 0 is acme and beta, batch 1 gamma; batch 1 crashes.
    let s = h.fanned_out(2, 2, &[1]).await.unwrap();
    assert!(!s.ok, "a failed batch fails the pass: {s:?}");
    assert_eq!(result_of(&s, "gamma"), TargetResult::Failed);
    let gamma = s
        .targets
        .iter()
        .find(|t| t.target == "github:gamma")
        .unwrap();
    assert!(
        gamma
            .error
            .as_deref()
            .unwrap()
            .contains("batch did not complete"),
        "{gamma:?}"
    );
    assert_eq!(result_of(&s, "acme"), TargetResult::Changed);
    assert_eq!(s.changes[&Source::Github][&ChangeKind::SourceFailed], 1);
    let sent = h.channel(0).sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        kinds(&sent[1]),
        [ChangeKind::MfaDisabled],
        "acme's change only"
    );
    // gamma's state is untouched: read next pass, its change alerts then.
    assert_eq!(
        h.store.snapshot().targets["github:gamma"].principals["alice"].status,
        crate::domain::MfaStatus::Enabled
    );
    let s = h.fanned_out(3, 2, &[]).await.unwrap();
    assert!(s.ok, "{s:?}");
    assert_eq!(kinds(&h.channel(0).sent()[2]), [ChangeKind::MfaDisabled]);
}

#[tokio::test]
async fn a_delivery_that_finds_the_lease_held_sends_nothing_and_the_next_sends_once() {
    let h = three_orgs(vec![Read::Users(vec![BOB_ON])]);
    assert!(h
        .store
        .acquire_lease(
            "someone-else",
            chrono::Utc::now() + chrono::Duration::minutes(5)
        )
        .await
        .unwrap());
    let s = h.fanned_out(1, 2, &[]).await.unwrap();
    assert!(s.skipped.is_some(), "{s:?}");
    assert!(h.channel(0).sent().is_empty());
    h.store.release_lease("someone-else").await.unwrap();
    h.fanned_out(2, 2, &[]).await.unwrap();
    assert_eq!(h.channel(0).sent().len(), 1, "the pending baseline, once");
}

#[tokio::test]
async fn a_delivery_that_cannot_take_the_lease_fails_and_the_next_delivers_once() {
    use crate::state::memory::{Fault, Operation};
    let h = three_orgs(vec![Read::Users(vec![BOB_ON])]);
    h.store
        .fail_next(Operation::AcquireLease, Fault::Backend, 1);
    let e = h.fanned_out(1, 2, &[]).await.unwrap_err();
    assert!(e.to_string().contains("nothing was delivered"), "{e}");
    assert!(h.channel(0).sent().is_empty());
    assert_eq!(
        h.store.snapshot().pending().len(),
        3,
        "three baselines pending"
    );
    let s = h.fanned_out(2, 2, &[]).await.unwrap();
    assert!(s.ok, "{s:?}");
    assert_eq!(
        h.channel(0).sent().len(),
        1,
        "the pending baselines in one message"
    );
    h.fanned_out(3, 2, &[]).await.unwrap();
    assert_eq!(h.channel(0).sent().len(), 1, "and never again");
}
