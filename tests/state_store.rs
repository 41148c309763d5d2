//! One behavioural suite for both state stores: every case below runs as
//! `file::NAME` (a JSON file in a temporary directory) and as
//! `dynamodb::NAME` (a fresh table in a fresh account of the moto server).
//! A few DynamoDB-only cases (batching, paging, chunked outbox items) follow.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use mfa_monitor::domain::change::BaselineEntry;
use mfa_monitor::domain::snapshot::StoredTarget;
use mfa_monitor::domain::trend::TrendRecord;
use mfa_monitor::domain::{
    Attributes, BaselineSummary, Change, ChangeKind, MfaStatus, Notice, PrincipalRecord, Severity,
    Source, TargetKey, TargetSettings,
};
use mfa_monitor::state::dynamodb::{create_table, DynamoDbStore};
use mfa_monitor::state::file::FileStore;
use mfa_monitor::state::{Health, OutboxEntry, StateError, StateStore, TargetCommit};

// ---------------------------------------------------------------- harness

/// One store under test, plus raw access to what it stored.
#[async_trait]
trait Harness: Send + Sync {
    fn store(&self) -> Arc<dyn StateStore>;
    /// Makes the stored principal `name` of `key` unreadable, behind the
    /// store's back. Returns what the `Malformed` location must name.
    async fn corrupt(&self, key: &TargetKey, name: &str) -> Vec<String>;
    /// The raw stored form of that principal, to show it was not touched.
    async fn raw(&self, key: &TargetKey, name: &str) -> String;
}

struct FileHarness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Arc<FileStore>,
}

impl FileHarness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        Self {
            store: Arc::new(FileStore::new(&path)),
            path,
            _dir: dir,
        }
    }
}

#[async_trait]
impl Harness for FileHarness {
    fn store(&self) -> Arc<dyn StateStore> {
        self.store.clone()
    }

    async fn corrupt(&self, _key: &TargetKey, _name: &str) -> Vec<String> {
        std::fs::write(
            &self.path,
            b"{\"format\": 1, \"targets\": {\"aws:1\": [garbage",
        )
        .unwrap();
        vec![self.path.display().to_string()]
    }

    async fn raw(&self, _key: &TargetKey, _name: &str) -> String {
        std::fs::read_to_string(&self.path).unwrap()
    }
}

struct DynamoDbHarness {
    client: aws_sdk_dynamodb::Client,
    table: String,
    store: Arc<DynamoDbStore>,
}

impl DynamoDbHarness {
    async fn new() -> Self {
        Self::with_store(|s| s).await
    }

    async fn with_store(tune: impl FnOnce(DynamoDbStore) -> DynamoDbStore) -> Self {
        let cfg = common::account_config(&common::unique_account()).await;
        let client = aws_sdk_dynamodb::Client::new(&cfg);
        let table = common::unique("state");
        create_table(&client, &table).await.unwrap();
        // Creating an existing table is fine.
        create_table(&client, &table).await.unwrap();
        Self {
            store: Arc::new(tune(DynamoDbStore::new(client.clone(), &table))),
            client,
            table,
        }
    }

    fn key(partition: &str, sort: &str) -> std::collections::HashMap<String, AttributeValue> {
        [
            ("target".to_owned(), AttributeValue::S(partition.to_owned())),
            ("principal".to_owned(), AttributeValue::S(sort.to_owned())),
        ]
        .into()
    }

    /// Every raw item of one partition (one page is enough for the small
    /// partitions this is used on; `pages` says how many it took).
    async fn partition(
        &self,
        partition: &str,
    ) -> (
        Vec<std::collections::HashMap<String, AttributeValue>>,
        usize,
    ) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#t = :t")
                .expression_attribute_names("#t", "target")
                .expression_attribute_values(":t", AttributeValue::S(partition.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            pages += 1;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return (items, pages);
            }
        }
    }
}

#[async_trait]
impl Harness for DynamoDbHarness {
    fn store(&self) -> Arc<dyn StateStore> {
        self.store.clone()
    }

    async fn corrupt(&self, key: &TargetKey, name: &str) -> Vec<String> {
        let mut item = Self::key(&key.to_string(), name);
        item.insert("status".into(), AttributeValue::S("bogus".into()));
        item.insert("attributes".into(), AttributeValue::S("{}".into()));
        item.insert(
            "first_seen".into(),
            AttributeValue::S("2026-11-01T00:00:00Z".into()),
        );
        item.insert(
            "status_since".into(),
            AttributeValue::S("2026-11-01T00:00:00Z".into()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
        vec![
            self.table.clone(),
            format!("target={key}"),
            format!("principal={name}"),
        ]
    }

    async fn raw(&self, key: &TargetKey, name: &str) -> String {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .set_key(Some(Self::key(&key.to_string(), name)))
            .send()
            .await
            .unwrap();
        let item: BTreeMap<String, String> = out
            .item
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, format!("{v:?}")))
            .collect();
        format!("{item:?}")
    }
}

/// Runs each named case against both stores, as `file::NAME` and
/// `dynamodb::NAME`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::FileHarness::new().await).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::common::skip_without_moto() {
                        return;
                    }
                    super::$name(&super::DynamoDbHarness::new().await).await
                }
            )*
        }
    };
}

on_both_stores!(
    an_unknown_target_loads_as_none,
    a_first_commit_is_read_back_with_version_1_and_all_principals,
    a_commit_with_a_stale_expected_version_is_refused_and_changes_nothing,
    of_two_concurrent_first_commits_for_one_target_exactly_one_succeeds,
    upserts_and_deletes_apply_and_settings_round_trip,
    every_committed_target_is_listed_for_status,
    an_entry_for_email_and_slack_stays_pending_until_each_channel_acknowledged,
    pending_entries_come_oldest_first_and_an_entry_for_no_channel_is_never_pending,
    a_large_entry_of_3000_notices_round_trips_intact,
    a_malformed_stored_item_is_reported_with_its_location_and_never_overwritten,
    check_names_the_store,
    only_one_pass_holds_the_lease_until_it_is_released_or_expires,
    the_lease_does_not_hide_targets_from_status,
    source_health_is_stored_apart_from_the_target_and_its_alert_is_pending,
    discovered_members_are_kept_per_scope_replaced_whole_and_are_no_target,
    each_exemption_change_is_journaled_with_it_and_told_once_with_its_outbox_entry,
    a_routed_entry_keeps_which_notices_each_channel_is_given_through_its_acknowledgements,
    a_trend_record_is_written_with_its_commit_once_per_day_and_is_no_target,
    a_trend_record_is_not_written_when_its_commit_is_refused,
    many_entries_acknowledged_at_once_leave_each_pending_only_on_its_other_channels,
);

// ---------------------------------------------------------------- data

fn target() -> TargetKey {
    TargetKey::new(Source::Aws, common::unique_account())
}

fn t0() -> DateTime<Utc> {
    // Sub-second precision on purpose: times must round-trip exactly.
    DateTime::parse_from_rfc3339("2026-11-05T10:00:00.123456789Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn record(name: &str, status: MfaStatus, at: DateTime<Utc>) -> PrincipalRecord {
    PrincipalRecord {
        name: name.to_owned(),
        status,
        attributes: Attributes {
            admin: name == "<root>",
            console_login: true,
            kind: Some("user".into()),
            bypass_active: false,
            stable_id: Some(format!("id-{name}")),
            mfa_devices: if status == MfaStatus::Enabled {
                vec![mfa_monitor::domain::MfaDevice::Virtual]
            } else {
                vec![]
            },
            reason: (status == MfaStatus::NotApplicable)
                .then_some(mfa_monitor::domain::NaReason::NoConsolePassword),
            ..Attributes::default()
        },
        first_seen: at,
        status_since: at + Duration::seconds(1),
        absent_since: None,
        // Bookkeeping round-trips too: the exempt flag and the grace end.
        exempt: status == MfaStatus::Disabled,
        grace_until: (status == MfaStatus::Disabled).then(|| at + Duration::days(7)),
    }
}

fn change(key: &TargetKey, i: usize, at: DateTime<Utc>) -> Notice {
    Notice::Change(Change {
        target: key.clone(),
        principal: Some(format!("user-{i:05}-Zoë")),
        kind: ChangeKind::MfaDisabled,
        severity: Severity::High,
        previous: Some(MfaStatus::Enabled),
        current: Some(MfaStatus::Disabled),
        admin: i.is_multiple_of(7),
        // Multi-byte characters, so that chunk boundaries fall inside some.
        detail: Some(format!("device {i} removed — ✓ 🔑")),
        detected_at: at,
    })
}

fn baseline(key: &TargetKey, at: DateTime<Utc>) -> Notice {
    Notice::Baseline(BaselineSummary {
        target: key.clone(),
        principals: 3,
        non_compliant: 1,
        unknown: 0,
        exempt: 0,
        listed: vec![BaselineEntry {
            name: "bob".into(),
            status: MfaStatus::Disabled,
            admin: false,
        }],
        omitted: 0,
        mfa_required: None,
        detected_at: at,
    })
}

fn entry(id: &str, channels: &[&str], notices: Vec<Notice>, at: DateTime<Utc>) -> OutboxEntry {
    OutboxEntry {
        id: id.to_owned(),
        created_at: at,
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        notices,
        routes: Default::default(),
    }
}

fn first_commit(key: &TargetKey, principals: Vec<PrincipalRecord>) -> TargetCommit {
    TargetCommit {
        key: key.clone(),
        expected_version: None,
        upserts: principals,
        deletes: vec![],
        settings: TargetSettings::default(),
        outbox: None,
        trend: None,
        at: t0(),
    }
}

fn three(at: DateTime<Utc>) -> Vec<PrincipalRecord> {
    vec![
        record("alice", MfaStatus::Enabled, at),
        record("bob", MfaStatus::Disabled, at),
        record("<root>", MfaStatus::Insecure, at),
    ]
}

fn by_name(records: Vec<PrincipalRecord>) -> BTreeMap<String, PrincipalRecord> {
    records.into_iter().map(|r| (r.name.clone(), r)).collect()
}

fn channels(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|c| (*c).to_owned()).collect()
}

// ---------------------------------------------------------------- cases

async fn an_unknown_target_loads_as_none(h: &dyn Harness) {
    let store = h.store();
    assert_eq!(store.load(&target()).await.unwrap(), None);
    assert!(store.targets().await.unwrap().is_empty());
    assert!(store.pending().await.unwrap().is_empty());
}

async fn a_first_commit_is_read_back_with_version_1_and_all_principals(h: &dyn Harness) {
    let store = h.store();
    let key = target();
    let mut principals = three(t0());
    // A name that looks like the store's own bookkeeping is still a name.
    principals.push(record("#meta", MfaStatus::Unknown, t0()));
    principals.push(record(
        "ALICE/ops@example.com",
        MfaStatus::NotApplicable,
        t0(),
    ));
    let settings = TargetSettings {
        root_mfa_enabled: Some(true),
        requirements: [("mfa_enrollment_required".to_owned(), true)].into(),
        details: [("allowed_methods".to_owned(), "PASSKEY, TOTP".to_owned())].into(),
        ..TargetSettings::default()
    };
    let mut commit = first_commit(&key, principals.clone());
    commit.settings = settings.clone();
    assert_eq!(store.commit(commit).await.unwrap(), 1);

    let loaded = store.load(&key).await.unwrap().expect("stored");
    assert_eq!(
        loaded,
        StoredTarget {
            key: key.clone(),
            version: 1,
            settings,
            updated_at: t0(),
            principals: by_name(principals),
        }
    );
    // Another target is still unknown.
    assert_eq!(store.load(&target()).await.unwrap(), None);
}

async fn a_commit_with_a_stale_expected_version_is_refused_and_changes_nothing(h: &dyn Harness) {
    let store = h.store();
    let key = target();
    store.commit(first_commit(&key, three(t0()))).await.unwrap();
    let later = t0() + Duration::minutes(5);
    let second = TargetCommit {
        expected_version: Some(1),
        upserts: vec![record("carol", MfaStatus::Disabled, later)],
        at: later,
        ..first_commit(&key, vec![])
    };
    assert_eq!(store.commit(second).await.unwrap(), 2);
    let before = store.load(&key).await.unwrap().unwrap();
    let pending_before = store.pending().await.unwrap();

    let much_later = later + Duration::minutes(5);
    for expected in [Some(1), None, Some(3)] {
        let stale = TargetCommit {
            key: key.clone(),
            expected_version: expected,
            upserts: vec![record("alice", MfaStatus::Disabled, much_later)],
            deletes: vec!["bob".into()],
            settings: TargetSettings {
                mfa_required: Some(false),
                ..TargetSettings::default()
            },
            outbox: Some(entry(
                "run-stale/x",
                &["email"],
                vec![change(&key, 1, much_later)],
                much_later,
            )),
            trend: None,
            at: much_later,
        };
        match store.commit(stale).await {
            Err(StateError::Conflict {
                key: k,
                expected: e,
            }) => {
                assert_eq!((k, e), (key.clone(), expected));
            }
            other => panic!("expected {expected:?} to conflict, got {other:?}"),
        }
        assert_eq!(store.load(&key).await.unwrap().unwrap(), before);
        assert_eq!(store.pending().await.unwrap(), pending_before);
    }
    // A version expected of a target that was never stored conflicts too.
    let ghost = target();
    let err = store
        .commit(TargetCommit {
            expected_version: Some(1),
            ..first_commit(&ghost, three(t0()))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err:?}");
    assert_eq!(store.load(&ghost).await.unwrap(), None);
}

async fn of_two_concurrent_first_commits_for_one_target_exactly_one_succeeds(h: &dyn Harness) {
    let store = h.store();
    for round in 0..4 {
        let key = target();
        let commits: Vec<TargetCommit> = ["a", "b"]
            .into_iter()
            .map(|who| TargetCommit {
                outbox: Some(entry(
                    &format!("run-{who}/{key}"),
                    &["email"],
                    vec![baseline(&key, t0())],
                    t0(),
                )),
                ..first_commit(
                    &key,
                    vec![
                        record(&format!("only-{who}"), MfaStatus::Disabled, t0()),
                        record("shared", MfaStatus::Enabled, t0()),
                    ],
                )
            })
            .collect();
        let handles: Vec<_> = commits
            .into_iter()
            .map(|c| {
                let store = store.clone();
                tokio::spawn(async move { store.commit(c).await })
            })
            .collect();
        let mut winners = Vec::new();
        for (who, handle) in ["a", "b"].into_iter().zip(handles) {
            match handle.await.unwrap() {
                Ok(version) => {
                    assert_eq!(version, 1);
                    winners.push(who);
                }
                Err(StateError::Conflict { .. }) => {}
                Err(e) => panic!("round {round}: {who} failed otherwise: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let who = winners[0];
        let loaded = store.load(&key).await.unwrap().unwrap();
        assert_eq!(
            loaded.principals.keys().cloned().collect::<Vec<_>>(),
            vec![format!("only-{who}"), "shared".to_owned()],
            "round {round}: the loser's principals must not be written"
        );
        let pending: Vec<String> = store
            .pending()
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.id.ends_with(&key.to_string()))
            .map(|e| e.id)
            .collect();
        assert_eq!(pending, vec![format!("run-{who}/{key}")], "round {round}");
    }
}

async fn upserts_and_deletes_apply_and_settings_round_trip(h: &dyn Harness) {
    let store = h.store();
    let key = target();
    let mut principals = three(t0());
    principals.push(record("carol", MfaStatus::Unknown, t0()));
    store.commit(first_commit(&key, principals)).await.unwrap();

    let later = t0() + Duration::hours(1);
    let bob = PrincipalRecord {
        status: MfaStatus::Enabled,
        status_since: later,
        absent_since: None,
        ..record("bob", MfaStatus::Enabled, t0())
    };
    let dave = record("dave", MfaStatus::Disabled, later);
    let settings = TargetSettings {
        mfa_required: Some(true),
        root_mfa_enabled: Some(false),
        ..TargetSettings::default()
    };
    let version = store
        .commit(TargetCommit {
            key: key.clone(),
            expected_version: Some(1),
            upserts: vec![bob.clone(), dave.clone()],
            deletes: vec!["carol".into(), "<root>".into(), "never-stored".into()],
            settings: settings.clone(),
            outbox: None,
            trend: None,
            at: later,
        })
        .await
        .unwrap();
    assert_eq!(version, 2);
    let loaded = store.load(&key).await.unwrap().unwrap();
    assert_eq!(
        loaded,
        StoredTarget {
            key: key.clone(),
            version: 2,
            settings,
            updated_at: later,
            principals: by_name(vec![record("alice", MfaStatus::Enabled, t0()), bob, dave]),
        }
    );

    // Settings back to unknown round-trip as well.
    let version = store
        .commit(TargetCommit {
            expected_version: Some(2),
            at: later,
            ..first_commit(&key, vec![])
        })
        .await
        .unwrap();
    assert_eq!(version, 3);
    let loaded = store.load(&key).await.unwrap().unwrap();
    assert_eq!(loaded.settings, TargetSettings::default());
    assert_eq!(loaded.principals.len(), 3);
}

async fn every_committed_target_is_listed_for_status(h: &dyn Harness) {
    let store = h.store();
    let (a, b) = (
        target(),
        TargetKey::new(Source::Github, common::unique("org")),
    );
    store
        .commit(TargetCommit {
            outbox: Some(entry("run-1/a", &["email"], vec![baseline(&a, t0())], t0())),
            ..first_commit(&a, three(t0()))
        })
        .await
        .unwrap();
    store.commit(first_commit(&b, vec![])).await.unwrap();
    let mut listed = store.targets().await.unwrap();
    listed.sort_by(|x, y| x.key.cmp(&y.key));
    let mut expected = vec![
        store.load(&a).await.unwrap().unwrap(),
        store.load(&b).await.unwrap().unwrap(),
    ];
    expected.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(listed, expected);
    assert_eq!(listed.iter().map(|t| t.principals.len()).sum::<usize>(), 3);
}

async fn an_entry_for_email_and_slack_stays_pending_until_each_channel_acknowledged(
    h: &dyn Harness,
) {
    let store = h.store();
    let key = target();
    let notices = vec![baseline(&key, t0()), change(&key, 1, t0())];
    let id = format!("run-1/{key}");
    store
        .commit(TargetCommit {
            outbox: Some(entry(&id, &["email", "slack"], notices.clone(), t0())),
            ..first_commit(&key, three(t0()))
        })
        .await
        .unwrap();
    let pending = store.pending().await.unwrap();
    assert_eq!(
        pending,
        vec![entry(&id, &["email", "slack"], notices.clone(), t0())]
    );

    store.acknowledge(&id, "email").await.unwrap();
    let pending = store.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].channels, channels(&["slack"]));
    assert_eq!(pending[0].notices, notices);

    // Acknowledging twice, an unknown channel or an unknown entry is harmless.
    store.acknowledge(&id, "email").await.unwrap();
    store.acknowledge(&id, "pagerduty").await.unwrap();
    store.acknowledge("run-0/nothing", "slack").await.unwrap();
    assert_eq!(
        store.pending().await.unwrap()[0].channels,
        channels(&["slack"])
    );

    store.acknowledge(&id, "slack").await.unwrap();
    assert_eq!(store.pending().await.unwrap(), vec![]);
    // The state it was committed with is untouched by acknowledgements.
    assert_eq!(store.load(&key).await.unwrap().unwrap().version, 1);
}

async fn many_entries_acknowledged_at_once_leave_each_pending_only_on_its_other_channels(
    h: &dyn Harness,
) {
    let store = h.store();
    let mut committed = Vec::new();
    for i in 0..40 {
        let key = target();
        let at = t0() + Duration::milliseconds(i);
        // `#` in an id: an entry's chunks are found by id, not by a
        // prefix another id may share.
        let id = format!("run-1/{key}#{}", i % 3);
        let e = entry(
            &id,
            &["email", "slack"],
            vec![change(&key, i as usize, at)],
            at,
        );
        store
            .commit(TargetCommit {
                outbox: Some(e.clone()),
                ..first_commit(&key, three(t0()))
            })
            .await
            .unwrap();
        committed.push(e);
    }
    let pending = store.pending().await.unwrap();
    assert_eq!(pending, committed);

    // One entry acknowledged on its own before; one given with a
    // created_at it was not stored under; one that never existed.
    store.acknowledge(&committed[0].id, "email").await.unwrap();
    let mut moved = committed[1].clone();
    moved.created_at += Duration::seconds(5);
    let ghost = entry("run-0/nothing", &["email"], vec![], t0());
    let mut asked: Vec<&OutboxEntry> = committed.iter().skip(2).collect();
    asked.extend([&committed[0], &moved, &ghost]);
    let results = store.acknowledge_each(&asked, "email").await;
    assert_eq!(results.len(), asked.len());
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let pending = store.pending().await.unwrap();
    assert_eq!(pending.len(), 40, "slack has taken none of them");
    assert!(
        pending.iter().all(|e| e.channels == channels(&["slack"])),
        "{:?}",
        pending.iter().map(|e| &e.channels).collect::<Vec<_>>()
    );
    let every: Vec<&OutboxEntry> = pending.iter().collect();
    assert!(store
        .acknowledge_each(&every, "slack")
        .await
        .iter()
        .all(Result::is_ok));
    assert_eq!(store.pending().await.unwrap(), vec![]);
}

async fn a_routed_entry_keeps_which_notices_each_channel_is_given_through_its_acknowledgements(
    h: &dyn Harness,
) {
    let store = h.store();
    let key = target();
    let notices = vec![
        change(&key, 1, t0()),
        change(&key, 2, t0()),
        change(&key, 3, t0()),
    ];
    let id = format!("run-1/{key}");
    let routed = OutboxEntry {
        routes: [
            ("platform".to_owned(), vec![0, 2]),
            ("data".to_owned(), vec![1]),
        ]
        .into(),
        ..entry(&id, &["data", "email", "platform"], notices.clone(), t0())
    };
    store
        .commit(TargetCommit {
            outbox: Some(routed.clone()),
            ..first_commit(&key, three(t0()))
        })
        .await
        .unwrap();
    assert_eq!(store.pending().await.unwrap(), vec![routed.clone()]);
    store.acknowledge(&id, "email").await.unwrap();
    store.acknowledge(&id, "data").await.unwrap();
    let pending = store.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].channels, channels(&["platform"]));
    assert_eq!(
        pending[0].notices_for("platform"),
        [&notices[0], &notices[2]],
        "platform is still given only its own notices"
    );
    assert_eq!(pending[0].notices_for("email").len(), 3, "unrouted: all");
    store.acknowledge(&id, "platform").await.unwrap();
    assert_eq!(store.pending().await.unwrap(), vec![]);
}

async fn pending_entries_come_oldest_first_and_an_entry_for_no_channel_is_never_pending(
    h: &dyn Harness,
) {
    let store = h.store();
    let (newer, older, silent) = (target(), target(), target());
    let later = t0() + Duration::seconds(30);
    // Committed newest first.
    for (key, at, chans) in [
        (&newer, later, &["slack"][..]),
        (&older, t0(), &["email", "slack"][..]),
        (&silent, t0() - Duration::hours(1), &[][..]),
    ] {
        store
            .commit(TargetCommit {
                outbox: Some(entry(
                    &format!("run/{key}"),
                    chans,
                    vec![change(key, 0, at)],
                    at,
                )),
                at,
                ..first_commit(key, vec![])
            })
            .await
            .unwrap();
    }
    let ids: Vec<String> = store
        .pending()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![format!("run/{older}"), format!("run/{newer}")]);
}

async fn a_large_entry_of_3000_notices_round_trips_intact(h: &dyn Harness) {
    let store = h.store();
    let key = target();
    let mut notices = vec![baseline(&key, t0())];
    notices.extend((0..3000).map(|i| change(&key, i, t0() + Duration::milliseconds(i as i64))));
    let id = format!("run-big/{key}");
    let big = entry(&id, &["email", "slack"], notices, t0());
    assert!(
        serde_json::to_string(&big.notices).unwrap().len() > 600 * 1024,
        "the entry must span several items"
    );
    store
        .commit(TargetCommit {
            outbox: Some(big.clone()),
            ..first_commit(&key, three(t0()))
        })
        .await
        .unwrap();
    assert_eq!(store.pending().await.unwrap(), vec![big.clone()]);
    store.acknowledge(&id, "slack").await.unwrap();
    assert_eq!(
        store.pending().await.unwrap(),
        vec![OutboxEntry {
            channels: channels(&["email"]),
            ..big
        }]
    );
    store.acknowledge(&id, "email").await.unwrap();
    assert_eq!(store.pending().await.unwrap(), vec![]);
}

async fn a_malformed_stored_item_is_reported_with_its_location_and_never_overwritten(
    h: &dyn Harness,
) {
    let store = h.store();
    let key = target();
    store.commit(first_commit(&key, three(t0()))).await.unwrap();
    let must_name = h.corrupt(&key, "bob").await;
    let raw = h.raw(&key, "bob").await;

    match store.load(&key).await {
        Err(StateError::Malformed { location, reason }) => {
            for part in &must_name {
                assert!(
                    location.contains(part.as_str()),
                    "location `{location}` does not name `{part}`"
                );
            }
            assert!(!reason.is_empty());
        }
        other => panic!("expected Malformed, got {other:?}"),
    }

    // A commit that would rewrite (or delete) it is refused.
    let later = t0() + Duration::hours(1);
    for (upserts, deletes) in [
        (vec![record("bob", MfaStatus::Enabled, later)], vec![]),
        (vec![], vec!["bob".to_owned()]),
    ] {
        let err = store
            .commit(TargetCommit {
                key: key.clone(),
                expected_version: Some(1),
                upserts,
                deletes,
                settings: TargetSettings::default(),
                outbox: Some(entry(
                    "run-2/x",
                    &["email"],
                    vec![change(&key, 2, later)],
                    later,
                )),
                trend: None,
                at: later,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StateError::Malformed { .. }), "{err:?}");
        assert_eq!(
            h.raw(&key, "bob").await,
            raw,
            "the malformed item was touched"
        );
    }
    assert!(store.load(&key).await.is_err());
}

async fn check_names_the_store(h: &dyn Harness) {
    let store = h.store();
    store
        .commit(first_commit(&target(), three(t0())))
        .await
        .unwrap();
    let text = store.check().await.unwrap();
    let location = store.location();
    let name = location.rsplit(' ').next().unwrap();
    assert!(text.contains(name), "`{text}` does not name `{name}`");
}

// ---------------------------------------------------------------- DynamoDB only

async fn only_one_pass_holds_the_lease_until_it_is_released_or_expires(h: &dyn Harness) {
    let store = h.store();
    let later = Utc::now() + Duration::minutes(15);
    assert!(store.acquire_lease("run-a", later).await.unwrap());
    assert!(
        !store.acquire_lease("run-b", later).await.unwrap(),
        "overlapping pass let in"
    );
    assert!(
        store.acquire_lease("run-a", later).await.unwrap(),
        "the holder renews"
    );
    store.release_lease("run-b").await.unwrap();
    assert!(
        !store.acquire_lease("run-b", later).await.unwrap(),
        "a non-holder released it"
    );
    store.release_lease("run-a").await.unwrap();
    assert!(store
        .acquire_lease("run-b", Utc::now() - Duration::seconds(5))
        .await
        .unwrap());
    // run-b crashed: its lease has already expired, so the next pass runs.
    assert!(
        store.acquire_lease("run-c", later).await.unwrap(),
        "an expired lease blocked"
    );

    let (a, b) = tokio::join!(
        store.acquire_lease("run-d", later),
        store.acquire_lease("run-e", later)
    );
    assert!(!a.unwrap() && !b.unwrap(), "run-c still holds it");
}

async fn the_lease_does_not_hide_targets_from_status(h: &dyn Harness) {
    let store = h.store();
    store
        .acquire_lease("run-a", Utc::now() + Duration::minutes(5))
        .await
        .unwrap();
    store
        .commit(first_commit(&target(), three(t0())))
        .await
        .unwrap();
    let targets = store.targets().await.unwrap();
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert!(store
        .pending()
        .await
        .unwrap()
        .iter()
        .all(|e| !e.id.contains("lease")));
}

async fn source_health_is_stored_apart_from_the_target_and_its_alert_is_pending(h: &dyn Harness) {
    let store = h.store();
    let key = target();
    store.commit(first_commit(&key, three(t0()))).await.unwrap();
    let stored = store.load(&key).await.unwrap();
    assert!(store.health().await.unwrap().is_empty());

    let failing = Health {
        failures: 3,
        since: Some(t0()),
        last_error: Some("iam:ListUsers failed: boom".into()),
        alerted: true,
    };
    let alert = entry(
        "run-9/aws#health",
        &["email", "slack"],
        vec![change(&key, 0, t0())],
        t0(),
    );
    store
        .record_health(&key, &failing, Some(alert.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.health().await.unwrap(),
        BTreeMap::from([(key.to_string(), failing.clone())])
    );
    assert_eq!(store.pending().await.unwrap(), vec![alert]);
    assert_eq!(
        store.load(&key).await.unwrap(),
        stored,
        "health never touches the target's state"
    );
    assert_eq!(
        store.targets().await.unwrap().len(),
        1,
        "health is not a target"
    );

    // Recovered: the record goes; an alert without channels is not kept.
    store
        .record_health(
            &key,
            &Health::default(),
            Some(entry(
                "run-10/aws#health",
                &[],
                vec![change(&key, 1, t0())],
                t0(),
            )),
        )
        .await
        .unwrap();
    assert!(store.health().await.unwrap().is_empty());
    assert_eq!(store.pending().await.unwrap().len(), 1);
}

fn population(n: usize, at: DateTime<Utc>, padding: usize) -> Vec<PrincipalRecord> {
    (0..n)
        .map(|i| {
            let mut r = record(&format!("user-{i:04}"), MfaStatus::ALL[i % 5], at);
            // Bulk, so that reading the target back takes several 1 MB pages.
            r.attributes.kind = Some("x".repeat(padding).into());
            r
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_a_commit_of_1000_upserts_is_written_in_batches_and_read_back_whole() {
    if common::skip_without_moto() {
        return;
    }
    let h = DynamoDbHarness::new().await;
    let store = h.store();
    let key = target();
    let everyone = population(1000, t0(), 1500);
    store
        .commit(first_commit(&key, everyone.clone()))
        .await
        .unwrap();

    let (raw, pages) = h.partition(&key.to_string()).await;
    assert_eq!(raw.len(), 1001, "1,000 principal items and the meta item");
    assert!(pages > 1, "the target should span several Query pages");

    let loaded = store.load(&key).await.unwrap().unwrap();
    assert_eq!(loaded.principals, by_name(everyone.clone()));

    // Then 600 leave and 300 change, again over many batches.
    let later = t0() + Duration::days(1);
    let changed: Vec<PrincipalRecord> = everyone[600..900]
        .iter()
        .map(|r| PrincipalRecord {
            status: MfaStatus::Disabled,
            status_since: later,
            ..r.clone()
        })
        .collect();
    let gone: Vec<String> = everyone[..600].iter().map(|r| r.name.clone()).collect();
    store
        .commit(TargetCommit {
            expected_version: Some(1),
            deletes: gone,
            at: later,
            ..first_commit(&key, changed.clone())
        })
        .await
        .unwrap();
    let mut expected = by_name(everyone[900..].to_vec());
    expected.extend(by_name(changed));
    let loaded = store.load(&key).await.unwrap().unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.principals, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_an_entry_of_more_chunks_than_one_transaction_holds_round_trips_and_leaves_nothing_once_delivered(
) {
    if common::skip_without_moto() {
        return;
    }
    // 4 KiB chunks: 3,000 notices make ~200 chunk items, more than the 100
    // actions one TransactWriteItems takes.
    let h = DynamoDbHarness::with_store(|s| s.with_outbox_chunk_bytes(4096)).await;
    let store = h.store();
    let key = target();
    let notices: Vec<Notice> = (0..3000).map(|i| change(&key, i, t0())).collect();
    let id = format!("run-huge/{key}");
    let huge = entry(&id, &["email", "slack"], notices, t0());
    store
        .commit(TargetCommit {
            outbox: Some(huge.clone()),
            ..first_commit(&key, three(t0()))
        })
        .await
        .unwrap();
    let (items, _) = h.partition("#outbox").await;
    assert!(items.len() > 100, "only {} chunk items", items.len());
    assert!(items
        .iter()
        .all(|i| { matches!(i.get("notices"), Some(AttributeValue::S(s)) if s.len() <= 4096) }));
    assert_eq!(store.pending().await.unwrap(), vec![huge.clone()]);

    store.acknowledge(&id, "email").await.unwrap();
    // Found by its sort-key prefix, every chunk of it.
    let acked = store.acknowledge_each(&[&huge], "slack").await;
    assert!(acked.iter().all(Result::is_ok), "{acked:?}");
    // The last acknowledgement itself removes the entry's items.
    let (items, _) = h.partition("#outbox").await;
    assert!(items.is_empty(), "{} outbox items left", items.len());
    assert_eq!(store.pending().await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_principal_items_without_a_meta_item_are_malformed_not_a_first_pass() {
    if common::skip_without_moto() {
        return;
    }
    let h = DynamoDbHarness::new().await;
    let store = h.store();
    let key = target();
    // A valid-looking principal item, but no `#meta` item beside it.
    let mut item = DynamoDbHarness::key(&key.to_string(), "stray");
    for (k, v) in [
        ("status", "disabled"),
        ("attributes", "{}"),
        ("first_seen", "2026-11-01T00:00:00Z"),
        ("status_since", "2026-11-01T00:00:00Z"),
    ] {
        item.insert(k.into(), AttributeValue::S(v.into()));
    }
    h.client
        .put_item()
        .table_name(&h.table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    let raw = h.raw(&key, "stray").await;

    match store.load(&key).await {
        Err(StateError::Malformed { location, .. }) => {
            assert!(location.contains(&h.table), "{location}");
            assert!(location.contains(&key.to_string()), "{location}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    let err = store
        .commit(first_commit(
            &key,
            vec![record("stray", MfaStatus::Enabled, t0())],
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Malformed { .. }), "{err:?}");
    assert_eq!(h.raw(&key, "stray").await, raw);
    let (items, _) = h.partition(&key.to_string()).await;
    assert_eq!(items.len(), 1, "no meta item may have been written");
}

fn trend_record(key: &TargetKey, day: chrono::NaiveDate, non_compliant: usize) -> TrendRecord {
    TrendRecord {
        target: key.to_string(),
        day,
        principals: 3,
        non_compliant,
        admins_without_mfa: 1,
    }
}

async fn a_trend_record_is_written_with_its_commit_once_per_day_and_is_no_target(h: &dyn Harness) {
    let store = h.store();
    let key = target();
    let day = t0().date_naive();
    let mut commit = first_commit(&key, three(t0()));
    commit.trend = Some(trend_record(&key, day, 2));
    store.commit(commit).await.unwrap();
    assert_eq!(store.trend().await.unwrap(), [trend_record(&key, day, 2)]);

    // The next day's record beside it; a second record of the same day
    // replaces the first (the pass writes one a day; a replay must not
    // double a day).
    let next = day.succ_opt().unwrap();
    for (version, record) in [
        (1, trend_record(&key, next, 1)),
        (2, trend_record(&key, next, 0)),
    ] {
        let commit = TargetCommit {
            expected_version: Some(version),
            upserts: vec![],
            trend: Some(record),
            at: t0() + chrono::Duration::days(1),
            ..first_commit(&key, vec![])
        };
        store.commit(commit).await.unwrap();
    }
    let mut records = store.trend().await.unwrap();
    records.sort_by_key(|r| r.day);
    assert_eq!(
        records,
        [trend_record(&key, day, 2), trend_record(&key, next, 0)]
    );
    let targets = store.targets().await.unwrap();
    assert_eq!(targets.len(), 1, "a trend record is not a target");
    assert_eq!(targets[0].present().count(), 3);
}

async fn a_trend_record_is_not_written_when_its_commit_is_refused(h: &dyn Harness) {
    let store = h.store();
    let key = target();
    store.commit(first_commit(&key, three(t0()))).await.unwrap();
    let mut stale = first_commit(&key, vec![]);
    stale.trend = Some(trend_record(&key, t0().date_naive(), 9));
    let refused = store.commit(stale).await;
    assert!(
        matches!(refused, Err(StateError::Conflict { .. })),
        "{refused:?}"
    );
    assert!(store.trend().await.unwrap().is_empty());
}

async fn discovered_members_are_kept_per_scope_replaced_whole_and_are_no_target(h: &dyn Harness) {
    let store = h.store();
    assert!(store.discovered().await.unwrap().is_empty());
    let org = TargetKey::new(Source::Aws, "o-a1b2c3d4e5");
    let ent = TargetKey::new(Source::Github, "enterprise-acme");
    let accounts: Vec<String> = (0..2_000)
        .map(|i| format!("{:012}", 111_111_111_111u64 + i))
        .collect();
    store.record_discovered(&org, &accounts).await.unwrap();
    store
        .record_discovered(&ent, &["acme".to_owned(), "acme-labs".to_owned()])
        .await
        .unwrap();
    let all = store.discovered().await.unwrap();
    assert_eq!(
        all[&org.to_string()],
        accounts,
        "2,000 accounts in one item, in order"
    );
    assert_eq!(all[&ent.to_string()], ["acme", "acme-labs"]);

    store
        .record_discovered(&ent, &["acme".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        store.discovered().await.unwrap()[&ent.to_string()],
        ["acme"]
    );
    assert!(
        store.targets().await.unwrap().is_empty(),
        "a discovery record is not a target"
    );
}

async fn each_exemption_change_is_journaled_with_it_and_told_once_with_its_outbox_entry(
    h: &dyn Harness,
) {
    use mfa_monitor::domain::exemption::{Exemption, ExemptionAction, ExemptionNotice};
    let store = h.store();
    let bob: mfa_monitor::domain::PrincipalId = "aws:123456789012/bob".parse().unwrap();
    let e = Exemption {
        principal: bob.clone(),
        until: t0().date_naive() + Duration::days(10),
        reason: "waiting for a key".into(),
        owner: None,
        added_by: "alice".into(),
        added_at: t0(),
    };
    store
        .put_exemption(&e, &ExemptionNotice::put(&e, None))
        .await
        .unwrap();
    let gone = ExemptionNotice::removed(&bob, "alice", t0() + Duration::minutes(1));
    assert!(store.remove_exemption(&gone).await.unwrap());
    assert!(
        !store.remove_exemption(&gone).await.unwrap(),
        "nothing left to remove, and nothing journaled for it"
    );
    assert!(store.exemptions().await.unwrap().is_empty());

    let journal = store.exemption_notices().await.unwrap();
    let actions: Vec<ExemptionAction> = journal.iter().map(|(_, n)| n.action).collect();
    assert_eq!(
        actions,
        [ExemptionAction::Added, ExemptionAction::Removed],
        "oldest first"
    );
    let keys: Vec<String> = journal.iter().map(|(k, _)| k.clone()).collect();
    let told = entry(
        "run-x/#exemptions",
        &["email"],
        journal
            .into_iter()
            .map(|(_, n)| Notice::Exemption(n))
            .collect(),
        t0(),
    );
    store
        .announce_exemptions(&keys, Some(told.clone()))
        .await
        .unwrap();
    assert!(store.exemption_notices().await.unwrap().is_empty());
    assert_eq!(store.pending().await.unwrap(), [told]);
    assert!(
        store.targets().await.unwrap().is_empty(),
        "the journal is no target"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_a_trend_record_expires_through_the_tables_ttl_after_100_days() {
    if common::skip_without_moto() {
        return;
    }
    let h = DynamoDbHarness::new().await;
    let key = target();
    let mut commit = first_commit(&key, three(t0()));
    commit.trend = Some(trend_record(&key, t0().date_naive(), 1));
    h.store.commit(commit).await.unwrap();
    let (items, _) = h.partition("#trend").await;
    assert_eq!(items.len(), 1);
    let sort = items[0]["principal"].as_s().unwrap();
    assert_eq!(sort, &format!("{key}#{}", t0().date_naive()));
    let expires: i64 = items[0]["expires_at"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires, (t0() + chrono::Duration::days(100)).timestamp());
}
