//! Unit tests of every branch of a pass, on the in-memory store with
//! scripted monitors and channels. The emulator tests (tests/pass.rs,
//! tests/delivery.rs, tests/faults.rs) prove the same promises end to end
//! through the binary, moto and local servers; these prove each branch
//! alone, fast. One file because every case shares the testkit's world
//! (`testkit.rs`); split by pass step (collect, apply, deliver, routing)
//! as it grows: `gather_tests.rs` holds how reads and commits overlap.

use std::time::Duration;

use super::testkit::*;
use super::*;
use crate::state::memory::{Fault, Operation};

#[tokio::test]
async fn a_first_pass_records_a_baseline_and_sends_one_summary() {
    let h = Harness::new(
        &[("acme", vec![Read::Users(vec![ALICE_OFF, BOB_ON])])],
        vec![RecordingChannel::new("email")],
    );
    let s = h.pass(1).await;
    assert!(s.ok, "{s:?}");
    assert_eq!(result_of(&s, "acme"), TargetResult::Baseline);
    let sent = h.channel(0).sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .title
            .contains("baseline of 1 target with 1 without MFA"),
        "{}",
        sent[0].title
    );
    assert!(
        kinds(&sent[0]).is_empty(),
        "a baseline is a summary, not alerts"
    );
    let doc = h.store.snapshot();
    assert_eq!(doc.targets["github:acme"].principals.len(), 2);
    assert!(doc.pending().is_empty(), "delivered and acknowledged");
}

#[tokio::test]
async fn a_pass_with_no_change_sends_nothing_and_commits_nothing() {
    let h = Harness::new(
        &[("acme", vec![Read::Users(vec![ALICE_ON, BOB_ON])])],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    let commits = h.store.calls(Operation::Commit);
    let s = h.pass(2).await;
    assert_eq!(result_of(&s, "acme"), TargetResult::Unchanged);
    assert_eq!(h.store.calls(Operation::Commit), commits, "no write");
    assert_eq!(h.channel(0).attempts(), 1, "only the baseline was sent");
    assert_eq!(s.channels[0].result, ChannelResult::NothingToSend);
}

#[tokio::test]
async fn a_principal_losing_mfa_is_one_alert_once() {
    let h = Harness::new(
        &[(
            "acme",
            vec![
                Read::Users(vec![ALICE_ON, BOB_ON]),
                Read::Users(vec![ALICE_OFF, BOB_ON]),
            ],
        )],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    let s = h.pass(2).await;
    assert_eq!(result_of(&s, "acme"), TargetResult::Changed);
    assert_eq!(s.changes[&Source::Github][&ChangeKind::MfaDisabled], 1);
    let sent = h.channel(0).sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(kinds(&sent[1]), [ChangeKind::MfaDisabled]);
    h.pass(3).await;
    assert_eq!(h.channel(0).sent().len(), 2, "not sent again");
}

#[tokio::test]
async fn a_target_failing_below_the_threshold_is_counted_but_not_alerted_and_its_state_is_untouched(
) {
    let h = Harness::new(
        &[(
            "acme",
            vec![
                Read::Users(vec![ALICE_ON]),
                Read::Fails("HTTP 502"),
                Read::Fails("HTTP 502"),
            ],
        )],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    let before = h.store.snapshot().targets["github:acme"].clone();
    for n in 2..=3 {
        let s = h.pass(n).await;
        assert!(!s.ok);
        assert_eq!(result_of(&s, "acme"), TargetResult::Failed);
        assert_eq!(s.changes[&Source::Github][&ChangeKind::SourceFailed], 1);
    }
    assert_eq!(h.channel(0).sent().len(), 1, "only the baseline");
    let doc = h.store.snapshot();
    assert_eq!(doc.targets["github:acme"], before);
    assert_eq!(doc.health["github:acme"].failures, 2);
}

#[tokio::test]
async fn a_target_failing_at_the_threshold_alerts_once_and_its_recovery_once() {
    let h = Harness::new(
        &[(
            "acme",
            vec![
                Read::Users(vec![ALICE_ON]),
                Read::Fails("HTTP 502"),
                Read::Fails("HTTP 502"),
                Read::Fails("HTTP 502"),
                Read::Fails("HTTP 502"),
                Read::Users(vec![ALICE_ON]),
            ],
        )],
        vec![RecordingChannel::new("email")],
    );
    for n in 1..=5 {
        h.pass(n).await;
    }
    let sent = h.channel(0).sent();
    assert_eq!(
        sent.len(),
        2,
        "baseline, then one source_failed at the third failure"
    );
    assert_eq!(kinds(&sent[1]), [ChangeKind::SourceFailed]);
    let s = h.pass(6).await;
    assert!(s.ok);
    assert_eq!(s.changes[&Source::Github][&ChangeKind::SourceRecovered], 1);
    let sent = h.channel(0).sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(kinds(&sent[2]), [ChangeKind::SourceRecovered]);
    assert!(
        h.store.snapshot().health.is_empty(),
        "healthy again, no record"
    );
}

#[tokio::test]
async fn a_channel_failing_keeps_the_alert_pending_and_the_next_pass_sends_it_once() {
    let h = Harness::new(
        &[(
            "acme",
            vec![Read::Users(vec![ALICE_ON]), Read::Users(vec![ALICE_OFF])],
        )],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    h.channel(0).refuse_next(1);
    let s = h.pass(2).await;
    assert!(!s.ok, "a channel failed");
    assert_eq!(s.channels[0].result, ChannelResult::Failed);
    assert_eq!(h.store.snapshot().pending().len(), 1);
    let s = h.pass(3).await;
    assert_eq!(s.channels[0].result, ChannelResult::Sent);
    let sent = h.channel(0).sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(kinds(&sent[1]), [ChangeKind::MfaDisabled]);
    assert!(h.store.snapshot().pending().is_empty());
    h.pass(4).await;
    assert_eq!(h.channel(0).sent().len(), 2, "not twice");
}

#[tokio::test]
async fn one_channel_failing_does_not_hold_back_or_repeat_the_other() {
    let h = Harness::new(
        &[(
            "acme",
            vec![Read::Users(vec![ALICE_ON]), Read::Users(vec![ALICE_OFF])],
        )],
        vec![
            RecordingChannel::new("email"),
            RecordingChannel::new("slack"),
        ],
    );
    h.pass(1).await;
    h.channel(0).refuse_next(1);
    h.pass(2).await;
    assert_eq!(h.channel(1).sent().len(), 2, "slack got the change at once");
    assert_eq!(h.channel(0).sent().len(), 1, "email only the baseline");
    h.pass(3).await;
    assert_eq!(
        h.channel(0).sent().len(),
        2,
        "email gets it on the next pass"
    );
    assert_eq!(h.channel(1).sent().len(), 2, "slack is not sent it again");
    assert_eq!(kinds(&h.channel(0).sent()[1]), [ChangeKind::MfaDisabled]);
}

#[tokio::test]
async fn a_pass_that_loses_the_commit_race_stays_silent() {
    let h = Harness::new(
        &[(
            "acme",
            vec![Read::Users(vec![ALICE_ON]), Read::Users(vec![ALICE_OFF])],
        )],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    h.store.fail_next(Operation::Commit, Fault::Conflict, 1);
    let s = h.pass(2).await;
    assert_eq!(result_of(&s, "acme"), TargetResult::Conflict);
    assert!(s.channels.is_empty(), "delivery is left to the winner");
    assert_eq!(h.channel(0).attempts(), 1, "only the baseline");
    assert!(h.store.snapshot().pending().is_empty(), "nothing committed");
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_slow_target_and_the_rest_is_still_committed() {
    let mut h = Harness::new(
        &[
            ("acme", vec![Read::Users(vec![ALICE_OFF])]),
            ("slowco", vec![Read::Slow(Duration::from_secs(600))]),
        ],
        vec![RecordingChannel::new("email")],
    );
    h.budget = Duration::from_secs(30);
    h.target_timeout = Duration::from_secs(120);
    let s = h.pass(1).await;
    assert_eq!(result_of(&s, "slowco"), TargetResult::Failed);
    let slow = s
        .targets
        .iter()
        .find(|t| t.target == "github:slowco")
        .unwrap();
    assert!(
        slow.error
            .as_deref()
            .unwrap()
            .contains("before the pass deadline"),
        "{slow:?}"
    );
    assert_eq!(result_of(&s, "acme"), TargetResult::Baseline);
    assert_eq!(h.channel(0).sent().len(), 1, "acme's baseline went out");
    assert!(h.store.snapshot().targets.contains_key("github:acme"));
    assert!(!h.store.snapshot().targets.contains_key("github:slowco"));
}

#[tokio::test]
async fn an_alert_older_than_the_delay_is_marked_delayed_when_it_finally_goes_out() {
    let mut h = Harness::new(
        &[(
            "acme",
            vec![Read::Users(vec![ALICE_ON]), Read::Users(vec![ALICE_OFF])],
        )],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    h.channel(0).refuse_next(1);
    h.pass(2).await;
    h.delayed_after = Duration::ZERO;
    h.pass(3).await;
    let late = &h.channel(0).sent()[1];
    assert!(late.groups.iter().flat_map(|g| &g.items).all(|i| i.delayed));
    assert!(
        late.warnings[0].contains("1 alert is delayed"),
        "{:?}",
        late.warnings
    );
}

#[tokio::test]
async fn a_pass_finding_the_lease_held_collects_nothing_and_sends_nothing() {
    let h = Harness::new(
        &[("acme", vec![Read::Users(vec![ALICE_ON])])],
        vec![RecordingChannel::new("email")],
    );
    use crate::state::StateStore as _;
    assert!(h
        .store
        .acquire_lease("someone-else", Utc::now() + chrono::Duration::minutes(5))
        .await
        .unwrap());
    let s = h.pass(1).await;
    assert!(s.skipped.is_some());
    assert!(s.targets.is_empty());
    assert_eq!(h.channel(0).attempts(), 0);
    assert_eq!(h.store.calls(Operation::Load), 0);
}

#[tokio::test]
async fn a_state_store_that_cannot_be_read_fails_the_target_and_keeps_nothing_half_done() {
    let h = Harness::new(
        &[("acme", vec![Read::Users(vec![ALICE_ON])])],
        vec![RecordingChannel::new("email")],
    );
    h.store.fail_next(Operation::Load, Fault::Backend, 1);
    let s = h.pass(1).await;
    assert_eq!(result_of(&s, "acme"), TargetResult::Failed);
    assert!(h.store.snapshot().targets.is_empty());
    assert_eq!(h.store.calls(Operation::Commit), 0);
}

#[tokio::test]
async fn a_pass_that_loses_the_commit_race_still_counts_the_health_of_its_failing_targets() {
    let h = Harness::new(
        &[
            (
                "acme",
                vec![Read::Users(vec![ALICE_ON]), Read::Users(vec![ALICE_OFF])],
            ),
            (
                "flaky",
                vec![Read::Users(vec![BOB_ON]), Read::Fails("HTTP 502")],
            ),
        ],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    h.store.fail_next(Operation::Commit, Fault::Conflict, 1);
    let s = h.pass(2).await;
    assert_eq!(result_of(&s, "acme"), TargetResult::Conflict);
    assert_eq!(result_of(&s, "flaky"), TargetResult::Failed);
    assert_eq!(
        h.store.snapshot().health["github:flaky"].failures,
        1,
        "the failure counts towards the threshold"
    );
    assert_eq!(
        h.channel(0).attempts(),
        1,
        "still nothing delivered by the loser"
    );
}

#[tokio::test]
async fn an_empty_listing_where_principals_were_stored_is_a_failure_not_a_mass_departure() {
    let h = Harness::new(
        &[(
            "acme",
            vec![Read::Users(vec![ALICE_OFF, BOB_ON]), Read::Users(vec![])],
        )],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    let before = h.store.snapshot().targets["github:acme"].clone();
    let s = h.pass(2).await;
    assert_eq!(result_of(&s, "acme"), TargetResult::Failed);
    assert!(s.targets[0]
        .error
        .as_deref()
        .unwrap()
        .contains("came back empty"));
    assert_eq!(
        h.store.snapshot().targets["github:acme"],
        before,
        "untouched"
    );
    assert_eq!(h.channel(0).sent().len(), 1, "no removal alerts");
}

#[tokio::test]
async fn alerts_for_a_channel_no_longer_configured_are_kept_a_week_then_dropped() {
    use crate::state::StateStore as _;
    let h = Harness::new(
        &[("acme", vec![Read::Users(vec![ALICE_ON])])],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    let key = TargetKey::new(Source::Github, "acme");
    let entry = |id: &str, days: i64| crate::state::OutboxEntry {
        id: id.into(),
        created_at: Utc::now() - chrono::Duration::days(days),
        channels: ["pager".to_owned()].into(),
        notices: vec![Notice::Change(Change::of_target(
            &key,
            ChangeKind::SourceFailed,
            "x".into(),
            Utc::now(),
        ))],
        routes: Default::default(),
    };
    h.store
        .record_health(&key, &Default::default(), Some(entry("recent", 1)))
        .await
        .unwrap();
    h.store
        .record_health(&key, &Default::default(), Some(entry("old", 8)))
        .await
        .unwrap();
    h.pass(2).await;
    let left: Vec<String> = h
        .store
        .snapshot()
        .pending()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        left,
        ["recent"],
        "the week-old entry is dropped, the recent one kept"
    );
    assert_eq!(h.channel(0).attempts(), 1, "never sent to another channel");
    let s = h.pass(3).await;
    assert_eq!(
        s.pending.unwrap().orphaned,
        1,
        "counted for the OrphanedAlerts metric"
    );
}

#[tokio::test]
async fn a_pass_that_cannot_read_the_exemptions_collects_and_sends_nothing() {
    let h = Harness::new(
        &[("acme", vec![Read::Users(vec![ALICE_OFF])])],
        vec![RecordingChannel::new("email")],
    );
    h.store.fail_next(Operation::Exemptions, Fault::Backend, 1);
    let s = h.pass(1).await;
    assert!(!s.ok);
    assert!(s.targets.is_empty(), "nothing read: {:?}", s.targets);
    assert!(
        h.channel(0).sent().is_empty(),
        "no alert for an exempt account"
    );
    assert!(h.store.snapshot().targets.is_empty());
    let s = h.pass(2).await;
    assert!(s.ok, "the next pass goes on: {s:?}");
}

#[tokio::test]
async fn an_exemption_change_is_told_once_to_each_channel_even_when_one_refuses_at_first() {
    use crate::domain::exemption::{Exemption, ExemptionNotice};
    let h = Harness::new(
        &[("acme", vec![Read::Users(vec![ALICE_ON, BOB_ON])])],
        vec![
            RecordingChannel::new("email"),
            RecordingChannel::new("slack"),
        ],
    );
    h.pass(1).await;
    let e = Exemption {
        principal: "github:acme/bob".parse().unwrap(),
        until: Utc::now().date_naive() + chrono::Duration::days(5),
        reason: "new phone".into(),
        owner: None,
        added_by: "alice".into(),
        added_at: Utc::now(),
    };
    h.store
        .put_exemption(&e, &ExemptionNotice::put(&e, None))
        .await
        .unwrap();
    h.channel(1).refuse_next(1);
    let s = h.pass(2).await;
    assert!(s.changes.is_empty(), "not a change kind: {s:?}");
    let told = |d: &crate::notifiers::digest::Digest| {
        d.groups
            .iter()
            .flat_map(|g| &g.items)
            .filter(|i| i.summary.starts_with("exemption added by alice"))
            .count()
    };
    assert_eq!(h.channel(0).sent().len(), 2);
    assert_eq!(told(&h.channel(0).sent()[1]), 1);
    assert!(h.store.snapshot().exemption_log.is_empty(), "told");
    h.pass(3).await;
    let email = h.channel(0).sent();
    assert_eq!(email.len(), 2, "email is not told again");
    let slack = h.channel(1).sent();
    assert_eq!(slack.len(), 2, "slack gets it on the next pass");
    assert_eq!(told(&slack[1]), 1);
    assert_eq!(h.store.calls(Operation::AnnounceExemptions), 1);
}

/// Two routes and the default: `github:acme/*` to `platform`, `github:web/*`
/// to `web` and `platform` at high or above, the rest to `email`.
fn two_routes() -> crate::domain::route::Router {
    use crate::domain::route::{Pattern, Route, Router};
    Router {
        routes: vec![
            Route {
                name: None,
                line: 1,
                patterns: vec![Pattern::parse("github:acme/*").unwrap()],
                min_severity: None,
                channels: vec!["platform".into()],
            },
            Route {
                name: None,
                line: 5,
                patterns: vec![Pattern::parse("github:web/*").unwrap()],
                min_severity: Some(crate::domain::Severity::High),
                channels: vec!["web".into(), "platform".into()],
            },
        ],
        defaults: vec!["email".into()],
    }
}

fn subjects(d: &crate::notifiers::digest::Digest) -> Vec<String> {
    let mut s: Vec<String> = d
        .groups
        .iter()
        .flat_map(|g| g.items.iter().map(|i| i.subject.clone()))
        .collect();
    s.sort();
    s
}

fn routed_harness() -> Harness {
    let users = |off: bool| Read::Users(vec![if off { ALICE_OFF } else { ALICE_ON }, BOB_ON]);
    let mut h = Harness::new(
        &[
            (
                "acme",
                vec![users(false), users(true), users(true), users(true)],
            ),
            (
                "web",
                vec![users(false), users(true), users(true), users(true)],
            ),
            (
                "other",
                vec![users(false), users(true), users(true), users(true)],
            ),
        ],
        vec![
            RecordingChannel::new("email"),
            RecordingChannel::new("platform"),
            RecordingChannel::new("web"),
        ],
    );
    h.router = Some(two_routes());
    h
}

#[tokio::test]
async fn each_change_reaches_exactly_the_channels_its_routes_name_once() {
    let h = routed_harness();
    h.pass(1).await;
    // The baselines (all-clear: info) follow the same routes, except that
    // `web` takes only high and above, so its all-clear goes to the default.
    assert_eq!(h.channel(0).sent().len(), 1);
    assert_eq!(h.channel(1).sent().len(), 1);
    assert_eq!(h.channel(2).sent().len(), 0);
    let s = h.pass(2).await;
    assert!(s.ok, "{s:?}");
    let last = |i: usize| subjects(h.channel(i).sent().last().unwrap());
    assert_eq!(last(0), ["github:other/alice"]);
    assert_eq!(last(1), ["github:acme/alice", "github:web/alice"]);
    assert_eq!(last(2), ["github:web/alice"]);
    assert_eq!(h.channel(2).sent().len(), 1);
    h.pass(3).await;
    assert_eq!(
        [0, 1, 2].map(|i| h.channel(i).sent().len()),
        [2, 2, 1],
        "nothing twice"
    );
    assert!(h.store.snapshot().pending().is_empty());
}

#[tokio::test]
async fn a_routed_channel_failing_keeps_only_its_own_alerts_pending() {
    let h = routed_harness();
    h.pass(1).await;
    h.channel(2).refuse_next(1);
    let s = h.pass(2).await;
    assert!(!s.ok, "a channel failed");
    let pending = h.store.snapshot().pending();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].id, "run-2/github:web");
    assert_eq!(pending[0].channels, ["web".to_owned()].into());
    assert_eq!(h.channel(0).sent().len(), 2);
    assert_eq!(h.channel(1).sent().len(), 2);
    h.pass(3).await;
    assert_eq!(
        subjects(h.channel(2).sent().last().unwrap()),
        ["github:web/alice"],
        "the failed channel gets its own alert, once"
    );
    assert_eq!(
        [0, 1, 2].map(|i| h.channel(i).sent().len()),
        [2, 2, 1],
        "the others are not sent it again"
    );
    assert!(h.store.snapshot().pending().is_empty());
}

#[tokio::test]
async fn an_alert_names_the_person_holding_the_account_when_the_people_file_knows_them() {
    let mut h = Harness::new(
        &[(
            "acme",
            vec![
                Read::Users(vec![ALICE_ON, BOB_ON]),
                Read::Users(vec![ALICE_OFF, ("bob", crate::domain::MfaStatus::Disabled)]),
            ],
        )],
        vec![RecordingChannel::new("email")],
    );
    h.people = [(
        "github:acme/alice".to_owned(),
        "alice@example.com".to_owned(),
    )]
    .into();
    h.pass(1).await;
    h.pass(2).await;
    let sent = h.channel(0).sent();
    let details: Vec<(String, Option<String>)> = sent[1]
        .groups
        .iter()
        .flat_map(|g| {
            g.items
                .iter()
                .map(|i| (i.subject.clone(), i.detail.clone()))
        })
        .collect();
    assert!(
        details.contains(&(
            "github:acme/alice".into(),
            Some("held by alice@example.com".into())
        )),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|(s, d)| s == "github:acme/bob"
                && d.as_deref().is_none_or(|d| !d.contains("held by"))),
        "bob is linked to nobody: {details:?}"
    );
    assert!(h.store.snapshot().pending().is_empty());
}

/// A scripted user whose source gave `email`.
fn with_email(
    name: &str,
    status: crate::domain::MfaStatus,
    email: &str,
) -> crate::domain::Observation {
    let mut o = super::testkit::user(name, status);
    o.attributes.email = Some(email.to_owned());
    o
}

#[tokio::test]
async fn an_alert_names_the_holder_by_the_sources_address_and_the_people_file_wins() {
    use crate::domain::MfaStatus::{Disabled, Enabled};
    let mut h = Harness::new(
        &[(
            "acme",
            vec![
                Read::Observed(vec![
                    with_email("alice", Enabled, "alice@example.com"),
                    with_email("bob", Enabled, "bob.old@example.com"),
                ]),
                Read::Observed(vec![
                    with_email("alice", Disabled, "alice@example.com"),
                    with_email("bob", Disabled, "bob.old@example.com"),
                ]),
            ],
        )],
        vec![RecordingChannel::new("email")],
    );
    h.people = [("github:acme/bob".to_owned(), "bob@example.com".to_owned())].into();
    h.pass(1).await;
    h.pass(2).await;
    let sent = h.channel(0).sent();
    let details: Vec<(String, Option<String>)> = sent[1]
        .groups
        .iter()
        .flat_map(|g| {
            g.items
                .iter()
                .map(|i| (i.subject.clone(), i.detail.clone()))
        })
        .collect();
    assert!(
        details.contains(&(
            "github:acme/alice".into(),
            Some("held by alice@example.com".into())
        )),
        "{details:?}"
    );
    assert!(
        details.contains(&(
            "github:acme/bob".into(),
            Some("held by bob@example.com".into())
        )),
        "the people file's address, not the source's: {details:?}"
    );
}

#[tokio::test]
async fn an_address_change_alone_is_stored_but_raises_no_alert() {
    use crate::domain::MfaStatus::Enabled;
    let h = Harness::new(
        &[(
            "acme",
            vec![
                Read::Observed(vec![with_email("alice", Enabled, "alice@example.com")]),
                Read::Observed(vec![with_email("alice", Enabled, "alice@new.example.com")]),
            ],
        )],
        vec![RecordingChannel::new("email")],
    );
    h.pass(1).await;
    let after_baseline = h.channel(0).sent().len();
    let summary = h.pass(2).await;
    assert!(summary.changes.is_empty(), "{:?}", summary.changes);
    assert_eq!(h.channel(0).sent().len(), after_baseline, "nothing sent");
    let stored = h.store.snapshot();
    let alice = &stored.targets["github:acme"].principals["alice"];
    assert_eq!(
        alice.attributes.email.as_deref(),
        Some("alice@new.example.com")
    );
}
