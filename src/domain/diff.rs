//! `diff(previous, current)`: the pure comparison every alert comes from
//! (ARCHITECTURE.md §2). Over the house's ~400 lines on purpose: its cases
//! (baseline, arrivals with or without a grace, renames and reused logins,
//! removals large and small, dormant principals, an ended exemption,
//! settings and named switches, retirement, collapsed unknowns) all decide
//! one principal's fate in one loop, and split apart they would each need
//! the whole of it; its tests are most of the file.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::change::{BaselineEntry, BaselineSummary, Change, ChangeKind, Notice, Severity};
use super::policy::{self, Exemptions};
use super::principal::TargetKey;
use super::snapshot::{Observation, PrincipalRecord, StoredTarget, TargetSettings, TargetSnapshot};
use super::status::MfaStatus;

/// How many non-compliant principals a baseline summary names; the rest are
/// counted, so that the stored alert stays small at any organization size.
pub const BASELINE_LIST_CAP: usize = 200;

/// A removal of more principals than this, and of more than a fifth of a
/// target, is one collapsed notice rather than one line each.
pub const LARGE_REMOVAL_MIN: usize = 10;
/// How long principals missing in a large removal stay dormant.
pub const DORMANT_DAYS: i64 = 7;

/// What a pass learned about one target: what to tell people and what to
/// write. Unchanged principals appear in neither, so a pass with no change
/// writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffOutcome {
    pub notices: Vec<Notice>,
    pub upserts: Vec<PrincipalRecord>,
    pub deletes: Vec<String>,
    pub settings: TargetSettings,
    pub settings_changed: bool,
    pub baseline: bool,
    /// What the operator should know that is not a change (a setting that
    /// could not be read this pass and keeps its last known value).
    pub warnings: Vec<String>,
}

impl DiffOutcome {
    pub fn writes_nothing(&self) -> bool {
        self.upserts.is_empty()
            && self.deletes.is_empty()
            && !self.settings_changed
            && self.notices.is_empty()
    }

    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.notices.iter().filter_map(|n| match n {
            Notice::Change(c) => Some(c),
            Notice::Baseline(_) | Notice::Exemption(_) => None,
        })
    }
}

/// Compares a complete snapshot with the stored state of its target.
///
/// `previous == None` is the first pass: a baseline (one summary), not an
/// alert per account. A principal that disappears is `removed`, never
/// `mfa_enabled`. Exempt principals are recorded but never alerted on.
pub fn diff(
    previous: Option<&StoredTarget>,
    current: &TargetSnapshot,
    exemptions: &Exemptions,
    now: DateTime<Utc>,
) -> DiffOutcome {
    diff_with_grace(previous, current, exemptions, chrono::Duration::zero(), now)
}

/// `diff` with a grace for new accounts (`MFA_GRACE_DAYS`): a new account
/// without MFA that is not an admin is told as `info` ("new, N days to
/// enrol"), and once as `grace_ended` at its usual severity if it still
/// lacks MFA when the grace ends.
pub fn diff_with_grace(
    previous: Option<&StoredTarget>,
    current: &TargetSnapshot,
    exemptions: &Exemptions,
    grace: chrono::Duration,
    now: DateTime<Utc>,
) -> DiffOutcome {
    match previous {
        None => baseline(current, exemptions, now),
        // A target that comes back after it was retired starts afresh: its
        // principals were dropped, and a storm of `new_*` would say nothing.
        Some(prev) if prev.settings.retired_at.is_some() => baseline(current, exemptions, now),
        Some(prev) => compare(prev, current, exemptions, grace, now),
    }
}

/// A target that is no longer discovered (an AWS account that left the
/// organization or was suspended, an org that left its enterprise): one
/// notice for the target instead of a `removed` per principal, every
/// principal dropped, and the target marked retired so that a return is a
/// baseline. `why` says what discovery saw.
pub fn retire(prev: &StoredTarget, why: &str, now: DateTime<Utc>) -> DiffOutcome {
    let count = prev.present().count();
    let notice = Change::of_target(
        &prev.key,
        ChangeKind::Removed,
        format!(
            "{why}; its {} no longer monitored",
            match count {
                1 => "1 principal is".to_owned(),
                n => format!("{n} principals are"),
            }
        ),
        now,
    );
    DiffOutcome {
        notices: vec![Notice::Change(notice)],
        upserts: Vec::new(),
        deletes: prev.principals.keys().cloned().collect(),
        settings: TargetSettings {
            retired_at: Some(now),
            ..prev.settings.clone()
        },
        settings_changed: true,
        baseline: false,
        warnings: Vec::new(),
    }
}

fn baseline(current: &TargetSnapshot, exemptions: &Exemptions, now: DateTime<Utc>) -> DiffOutcome {
    let mut entries = Vec::new();
    let (mut non_compliant, mut unknown, mut exempt) = (0, 0, 0);
    for obs in &current.principals {
        if exemptions.contains(&current.key.principal(obs.name.clone())) {
            exempt += 1;
            continue;
        }
        match obs.status {
            s if s.is_non_compliant() => non_compliant += 1,
            MfaStatus::Unknown => unknown += 1,
            _ => continue,
        }
        entries.push(BaselineEntry {
            name: obs.name.clone(),
            status: obs.status,
            admin: obs.attributes.admin,
        });
    }
    entries.sort_by(|a, b| (!a.admin, a.status, &a.name).cmp(&(!b.admin, b.status, &b.name)));
    let omitted = entries.len().saturating_sub(BASELINE_LIST_CAP);
    entries.truncate(BASELINE_LIST_CAP);
    let summary = BaselineSummary {
        target: current.key.clone(),
        principals: current.principals.len(),
        non_compliant,
        unknown,
        exempt,
        listed: entries,
        omitted,
        mfa_required: current.settings.mfa_required,
        detected_at: now,
    };
    DiffOutcome {
        notices: vec![Notice::Baseline(summary)],
        upserts: current
            .principals
            .iter()
            .map(|o| PrincipalRecord {
                exempt: exemptions.contains(&current.key.principal(o.name.clone())),
                ..new_record(o, now)
            })
            .collect(),
        deletes: Vec::new(),
        settings: current.settings.clone(),
        settings_changed: true,
        baseline: true,
        warnings: Vec::new(),
    }
}

fn new_record(obs: &Observation, now: DateTime<Utc>) -> PrincipalRecord {
    PrincipalRecord {
        name: obs.name.clone(),
        status: obs.status,
        attributes: obs.attributes.clone(),
        first_seen: now,
        status_since: now,
        absent_since: None,
        exempt: false,
        grace_until: None,
    }
}

struct Differ<'a> {
    key: &'a TargetKey,
    exemptions: &'a Exemptions,
    now: DateTime<Utc>,
    changes: Vec<Change>,
}

impl Differ<'_> {
    fn push(
        &mut self,
        principal: Option<&str>,
        kind: ChangeKind,
        admin: bool,
        previous: Option<MfaStatus>,
        current: Option<MfaStatus>,
        detail: Option<String>,
    ) {
        if let Some(name) = principal {
            if self.exemptions.contains(&self.key.principal(name)) {
                return;
            }
        }
        self.changes.push(Change {
            target: self.key.clone(),
            principal: principal.map(str::to_owned),
            kind,
            severity: policy::severity(kind, admin),
            previous,
            current,
            admin,
            detail,
            detected_at: self.now,
        });
    }
}

fn compare(
    prev: &StoredTarget,
    current: &TargetSnapshot,
    exemptions: &Exemptions,
    grace: chrono::Duration,
    now: DateTime<Utc>,
) -> DiffOutcome {
    let mut d = Differ {
        key: &current.key,
        exemptions,
        now,
        changes: Vec::new(),
    };
    let current_names: BTreeMap<&str, &Observation> = current
        .principals
        .iter()
        .map(|o| (o.name.as_str(), o))
        .collect();
    // A login renamed at the source keeps its stable id: match on it first,
    // so a rename is not a removal plus a new account, and a login reused
    // by another account (bob renamed to bob2, a new member takes bob) is
    // that account's arrival, not bob's history. Names decide only where a
    // side has no stable id (records stored before ids were kept).
    let prev_by_stable_id: HashMap<&str, &PrincipalRecord> = prev
        .principals
        .values()
        .filter_map(|r| r.attributes.stable_id.as_deref().map(|id| (id, r)))
        .collect();

    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    let mut matched_old_names: BTreeSet<String> = BTreeSet::new();

    for obs in &current.principals {
        let admin = obs.attributes.admin;
        let earlier = match obs.attributes.stable_id.as_deref() {
            Some(id) => prev_by_stable_id.get(id).copied().or_else(|| {
                prev.principals
                    .get(&obs.name)
                    .filter(|r| r.attributes.stable_id.is_none())
            }),
            None => prev.principals.get(&obs.name),
        };
        if let Some(old) = earlier {
            matched_old_names.insert(old.name.clone());
        }
        let exempt = exemptions.contains(&current.key.principal(obs.name.clone()));
        let Some(old) = earlier else {
            // Admins get no grace: their accounts are the ones attacked.
            let graced = grace > chrono::Duration::zero()
                && !admin
                && !exempt
                && obs.status.is_non_compliant();
            if let Some(kind) = policy::arrival(obs.status) {
                let detail = if graced {
                    Some(format!("new, {} days to enrol", grace.num_days().max(1)))
                } else {
                    obs.attributes.hint.clone()
                };
                d.push(Some(&obs.name), kind, admin, None, Some(obs.status), detail);
                if graced {
                    if let Some(c) = d.changes.last_mut() {
                        c.severity = Severity::Info;
                    }
                }
            }
            if obs.attributes.bypass_active {
                d.push(
                    Some(&obs.name),
                    ChangeKind::BypassActive,
                    admin,
                    None,
                    Some(obs.status),
                    None,
                );
            }
            upserts.push(PrincipalRecord {
                exempt,
                grace_until: graced.then(|| now + grace),
                ..new_record(obs, now)
            });
            continue;
        };
        let renamed = old.name != obs.name;
        // The source's hint (e.g. Snowflake converting LEGACY_SERVICE users)
        // travels with the alert, after a rename if both apply.
        let detail = match (renamed, &obs.attributes.hint) {
            (true, Some(h)) => Some(format!("renamed from {}; {h}", old.name)),
            (true, None) => Some(format!("renamed from {}", old.name)),
            (false, h) => h.clone(),
        };
        if renamed && !current_names.contains_key(old.name.as_str()) {
            deletes.push(old.name.clone());
        }
        let lacking = obs.status.is_non_compliant();
        // Within its grace a new account's moves between "no MFA" and
        // "weak MFA" are no news; its end is.
        let grace_until = old.grace_until.filter(|_| lacking);
        let in_grace = grace_until.is_some_and(|t| now < t);
        let transition =
            policy::transition(old.status, obs.status).filter(|_| !(in_grace && lacking));
        if let Some(kind) = transition {
            d.push(
                Some(&obs.name),
                kind,
                admin,
                Some(old.status),
                Some(obs.status),
                detail.clone(),
            );
        }
        if transition.is_none() && lacking && old.exempt && !exempt {
            d.push(
                Some(&obs.name),
                ChangeKind::ExemptionExpired,
                admin,
                Some(old.status),
                Some(obs.status),
                Some("the exemption ended; judged like any other account from now on".into()),
            );
        }
        let grace_ended = grace_until.is_some() && !in_grace;
        if grace_ended && transition.is_none() {
            d.push(
                Some(&obs.name),
                ChangeKind::GraceEnded,
                admin,
                Some(old.status),
                Some(obs.status),
                Some(format!(
                    "new {} days ago, still without MFA",
                    (now - old.first_seen).num_days()
                )),
            );
        }
        let grace_until = grace_until.filter(|_| in_grace);
        if obs.attributes.bypass_active && !old.attributes.bypass_active {
            d.push(
                Some(&obs.name),
                ChangeKind::BypassActive,
                admin,
                Some(old.status),
                Some(obs.status),
                detail,
            );
        }
        if renamed
            || !old.same_facts(obs)
            || old.absent_since.is_some()
            || old.exempt != exempt
            || old.grace_until != grace_until
        {
            upserts.push(PrincipalRecord {
                absent_since: None,
                exempt,
                grace_until,
                name: obs.name.clone(),
                status: obs.status,
                attributes: obs.attributes.clone(),
                first_seen: old.first_seen,
                status_since: if old.status == obs.status {
                    old.status_since
                } else {
                    now
                },
            });
        }
    }

    let (dormant, gone): (Vec<&PrincipalRecord>, Vec<&PrincipalRecord>) = prev
        .principals
        .values()
        .filter(|old| !matched_old_names.contains(&old.name))
        .partition(|old| old.absent_since.is_some());
    // Dormant principals that stayed away past the window go for good; the
    // large removal that made them dormant was told then.
    for old in dormant {
        if old
            .absent_since
            .is_some_and(|t| now - t > chrono::Duration::days(DORMANT_DAYS))
        {
            deletes.push(old.name.clone());
        }
    }
    let present_before = prev.present().count();
    if gone.len() > LARGE_REMOVAL_MIN && gone.len() * 5 > present_before {
        // Real or not (a listing that lost a page reads the same), this is
        // one event: one notice with the count and a sample, and the
        // records kept dormant so their return is no storm either.
        let mut names: Vec<&str> = gone.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        let sample = names
            .iter()
            .take(10)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        d.push(
            None,
            ChangeKind::Removed,
            gone.iter().any(|r| r.attributes.admin),
            None,
            None,
            Some(format!(
                "{} of {present_before} principals are no longer listed: {sample}{}; kept for {DORMANT_DAYS} days in case the listing comes back",
                gone.len(),
                if names.len() > 10 {
                    format!(" and {} more", names.len() - 10)
                } else {
                    String::new()
                }
            )),
        );
        upserts.extend(gone.into_iter().map(|old| PrincipalRecord {
            absent_since: Some(now),
            ..old.clone()
        }));
    } else {
        for old in gone {
            d.push(
                Some(&old.name),
                ChangeKind::Removed,
                old.attributes.admin,
                Some(old.status),
                None,
                None,
            );
            deletes.push(old.name.clone());
        }
    }

    let (kept, switched, warnings) = settings_kept(&prev.settings, &current.settings);
    for (kind, detail) in switched {
        // Critical by policy; `admin` describes principals, not orgs.
        d.push(None, kind, false, None, None, detail);
    }
    let settings = &kept;

    let mut changes = collapse_unknowns(d.changes, &current.key, now);
    changes.sort_by(|a, b| {
        (a.severity, &a.principal, a.kind).cmp(&(b.severity, &b.principal, b.kind))
    });
    DiffOutcome {
        notices: changes.into_iter().map(Notice::Change).collect(),
        upserts,
        deletes,
        settings: settings.clone(),
        settings_changed: prev.settings != *settings,
        baseline: false,
        warnings,
    }
}

/// The settings to keep, the requirement switches that moved (with what to
/// say of each) and the warnings for those that could not be read.
type SettingsKept = (
    TargetSettings,
    Vec<(ChangeKind, Option<String>)>,
    Vec<String>,
);

/// The settings to keep and the requirement switches that moved.
///
/// A setting that could not be read this pass keeps its last known value:
/// one 403 must not read as "requirement gone" and the next good read as
/// "requirement switched on". A named switch seen for the first time is
/// recorded without an alert: it is new to the monitor (an upgrade, a
/// privilege just granted), not a change in the policy, and reports show it.
fn settings_kept(prev: &TargetSettings, current: &TargetSettings) -> SettingsKept {
    let mut warnings = Vec::new();
    let mut kept = current.clone();
    kept.retired_at = None;
    kept.trend_day = prev.trend_day;
    if kept.mfa_required.is_none() && prev.mfa_required.is_some() {
        kept.mfa_required = prev.mfa_required;
        warnings.push(
            "the MFA requirement setting could not be read this pass; its last known value is kept"
                .to_owned(),
        );
    }
    if kept.root_mfa_enabled.is_none() && prev.root_mfa_enabled.is_some() {
        kept.root_mfa_enabled = prev.root_mfa_enabled;
    }
    let mut switched = Vec::new();
    match (prev.mfa_required, kept.mfa_required) {
        (Some(true) | None, Some(false)) => switched.push((
            ChangeKind::RequirementDisabled,
            prev.mfa_required
                .is_none()
                .then(|| "previously unknown".to_owned()),
        )),
        (Some(false) | None, Some(true)) => switched.push((ChangeKind::RequirementEnabled, None)),
        _ => {}
    }
    for (name, was) in &prev.requirements {
        if !kept.requirements.contains_key(name) {
            kept.requirements.insert(name.clone(), *was);
            warnings.push(format!(
                "the setting `{name}` could not be read this pass; its last known value is kept"
            ));
        }
    }
    for (name, now_on) in &kept.requirements {
        match (prev.requirements.get(name), now_on) {
            (Some(true), false) => switched.push((
                ChangeKind::RequirementDisabled,
                Some(format!("`{name}` switched off")),
            )),
            (Some(false), true) => switched.push((
                ChangeKind::RequirementEnabled,
                Some(format!("`{name}` switched on")),
            )),
            _ => {}
        }
    }
    (kept, switched, warnings)
}

/// Many principals turning `unknown` in one pass is one cause (a token
/// that lost owner rights, a source that stopped telling): one target-level
/// alert, not one per principal.
fn collapse_unknowns(changes: Vec<Change>, key: &TargetKey, now: DateTime<Utc>) -> Vec<Change> {
    let (unknown, mut rest): (Vec<Change>, Vec<Change>) = changes
        .into_iter()
        .partition(|c| c.kind == ChangeKind::StatusUnknown && c.principal.is_some());
    if unknown.len() < 2 {
        rest.extend(unknown);
        return rest;
    }
    let mut names: Vec<&str> = unknown
        .iter()
        .filter_map(|c| c.principal.as_deref())
        .collect();
    names.sort_unstable();
    let shown = names
        .iter()
        .take(10)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = names.len().saturating_sub(10);
    rest.push(Change {
        target: key.clone(),
        principal: None,
        kind: ChangeKind::StatusUnknown,
        severity: policy::severity(ChangeKind::StatusUnknown, false),
        previous: None,
        current: Some(MfaStatus::Unknown),
        admin: unknown.iter().any(|c| c.admin),
        detail: Some(format!(
            "the MFA status of {} principals can no longer be read: {shown}{}",
            names.len(),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )),
        detected_at: now,
    });
    rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::principal::Source;
    use crate::domain::status::Attributes;
    use crate::domain::Severity;
    use chrono::TimeZone;
    use MfaStatus::*;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, h, 0, 0).unwrap()
    }

    fn key() -> TargetKey {
        TargetKey::new(Source::Aws, "123456789012")
    }

    fn obs(name: &str, status: MfaStatus) -> Observation {
        Observation::new(
            name,
            status,
            Attributes {
                console_login: true,
                ..Attributes::default()
            },
        )
    }

    fn admin(name: &str, status: MfaStatus) -> Observation {
        let mut o = obs(name, status);
        o.attributes.admin = true;
        o
    }

    fn snap(principals: Vec<Observation>) -> TargetSnapshot {
        TargetSnapshot {
            key: key(),
            principals,
            settings: TargetSettings::default(),
            warnings: Vec::new(),
        }
    }

    /// Stores a snapshot as a pass at `at` would have.
    fn stored(s: &TargetSnapshot, at: DateTime<Utc>) -> StoredTarget {
        let out = diff(None, s, &Exemptions::default(), at);
        StoredTarget {
            key: s.key.clone(),
            version: 1,
            settings: out.settings,
            updated_at: at,
            principals: out
                .upserts
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect(),
        }
    }

    fn kinds(out: &DiffOutcome) -> Vec<(String, ChangeKind)> {
        out.changes().map(|c| (c.subject(), c.kind)).collect()
    }

    /// What the store holds after committing `out` on `before`.
    fn after(before: &StoredTarget, out: &DiffOutcome) -> StoredTarget {
        let mut next = before.clone();
        for gone in &out.deletes {
            next.principals.remove(gone);
        }
        for r in &out.upserts {
            next.principals.insert(r.name.clone(), r.clone());
        }
        next.settings = out.settings.clone();
        next
    }

    #[test]
    fn an_address_that_changes_gained_or_lost_is_stored_and_never_a_change() {
        let with = |email: Option<&str>| {
            let mut o = obs("alice", Disabled);
            o.attributes.email = email.map(str::to_owned);
            snap(vec![o])
        };
        let before = stored(&with(Some("alice@example.com")), t(1));
        for now in [None, Some("alice@new.example.com")] {
            let out = diff(Some(&before), &with(now), &Exemptions::default(), t(2));
            assert!(out.notices.is_empty(), "{now:?}: {:?}", out.notices);
            assert_eq!(out.upserts.len(), 1, "{now:?}: the new address is kept");
            assert_eq!(out.upserts[0].attributes.email.as_deref(), now);
            assert_eq!(out.upserts[0].status_since, t(1), "the status did not move");
        }
    }

    #[test]
    fn an_exemption_that_ends_while_mfa_is_still_missing_is_told_once() {
        let s = snap(vec![obs("bob", Disabled), obs("carl", Enabled)]);
        let ex = Exemptions::parse("aws:123456789012/bob").unwrap();
        let first = diff(None, &s, &ex, t(1));
        let before = StoredTarget {
            key: key(),
            version: 1,
            settings: first.settings.clone(),
            updated_at: t(1),
            principals: first
                .upserts
                .iter()
                .map(|r| (r.name.clone(), r.clone()))
                .collect(),
        };
        assert!(before.principals["bob"].exempt, "recorded as exempt");

        let exempt_pass = diff(Some(&before), &s, &ex, t(2));
        assert_eq!(exempt_pass.changes().count(), 0);
        assert!(exempt_pass.writes_nothing());

        let none = Exemptions::default();
        let out = diff(Some(&before), &s, &none, t(3));
        let c: Vec<_> = out.changes().collect();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, ChangeKind::ExemptionExpired);
        assert_eq!(c[0].severity, Severity::High);
        let later = after(&before, &out);
        assert!(!later.principals["bob"].exempt);
        assert_eq!(
            diff(Some(&later), &s, &none, t(4)).changes().count(),
            0,
            "not repeated"
        );
    }

    #[test]
    fn a_new_account_in_its_grace_is_info_then_one_grace_ended_and_admins_get_none() {
        let grace = chrono::Duration::days(7);
        let ex = Exemptions::default();
        let start = stored(&snap(vec![obs("carl", Enabled)]), t(1));
        let mut admin = obs("root-like", Disabled);
        admin.attributes.admin = true;
        let s = snap(vec![obs("carl", Enabled), obs("nina", Disabled), admin]);
        let out = diff_with_grace(Some(&start), &s, &ex, grace, t(2));
        let c: Vec<_> = out.changes().collect();
        let nina = c
            .iter()
            .find(|c| c.principal.as_deref() == Some("nina"))
            .unwrap();
        assert_eq!(
            (nina.kind, nina.severity),
            (ChangeKind::NewWithoutMfa, Severity::Info)
        );
        assert_eq!(nina.detail.as_deref(), Some("new, 7 days to enrol"));
        let boss = c
            .iter()
            .find(|c| c.principal.as_deref() == Some("root-like"))
            .unwrap();
        assert_eq!(boss.severity, Severity::Critical, "admins get no grace");

        let during = after(&start, &out);
        let day3 = t(2) + chrono::Duration::days(3);
        assert_eq!(
            diff_with_grace(Some(&during), &s, &ex, grace, day3)
                .changes()
                .count(),
            0
        );

        let day8 = t(2) + chrono::Duration::days(8);
        let out = diff_with_grace(Some(&during), &s, &ex, grace, day8);
        let c: Vec<_> = out.changes().collect();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].kind, c[0].severity),
            (ChangeKind::GraceEnded, Severity::High)
        );
        let ended = after(&during, &out);
        let day9 = day8 + chrono::Duration::days(1);
        assert_eq!(
            diff_with_grace(Some(&ended), &s, &ex, grace, day9)
                .changes()
                .count(),
            0,
            "told once"
        );

        // Enrolling within the grace ends it quietly (one mfa_enabled, info).
        let mut enrolled = s.clone();
        enrolled.principals[1].status = Enabled;
        let out = diff_with_grace(Some(&during), &enrolled, &ex, grace, day3);
        assert_eq!(
            kinds(&out),
            [("aws:123456789012/nina".to_owned(), ChangeKind::MfaEnabled)]
        );
        assert_eq!(after(&during, &out).principals["nina"].grace_until, None);
    }

    #[test]
    fn the_first_pass_is_one_baseline_summary_not_an_alert_per_account() {
        let s = snap(vec![
            obs("alice", Enabled),
            obs("bob", Disabled),
            admin("root", Disabled),
            obs("carol", Unknown),
            obs("svc", NotApplicable),
            obs("sms", Insecure),
        ]);
        let out = diff(None, &s, &Exemptions::default(), t(1));
        assert!(out.baseline);
        assert_eq!(out.notices.len(), 1);
        let Notice::Baseline(b) = &out.notices[0] else {
            panic!("not a baseline: {:?}", out.notices[0]);
        };
        assert_eq!((b.principals, b.non_compliant, b.unknown), (6, 3, 1));
        let names: Vec<_> = b.listed.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["root", "sms", "bob", "carol"], "admins first");
        assert_eq!(out.upserts.len(), 6, "baseline records everyone");
    }

    #[test]
    fn a_baseline_of_a_huge_target_lists_a_capped_number_and_counts_the_rest() {
        let many: Vec<_> = (0..BASELINE_LIST_CAP + 7)
            .map(|i| obs(&format!("u{i:05}"), Disabled))
            .collect();
        let out = diff(None, &snap(many), &Exemptions::default(), t(1));
        let Notice::Baseline(b) = &out.notices[0] else {
            panic!()
        };
        assert_eq!(b.listed.len(), BASELINE_LIST_CAP);
        assert_eq!(b.omitted, 7);
        assert_eq!(b.non_compliant, BASELINE_LIST_CAP + 7);
    }

    #[test]
    fn a_user_losing_mfa_is_one_high_change_and_an_admin_losing_it_is_critical() {
        let before = stored(
            &snap(vec![obs("bob", Enabled), admin("root", Enabled)]),
            t(1),
        );
        let out = diff(
            Some(&before),
            &snap(vec![obs("bob", Disabled), admin("root", Disabled)]),
            &Exemptions::default(),
            t(2),
        );
        let changes: Vec<_> = out.changes().collect();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].subject(), "aws:123456789012/root");
        assert_eq!(changes[0].severity, Severity::Critical);
        assert_eq!(changes[1].kind, ChangeKind::MfaDisabled);
        assert_eq!(changes[1].severity, Severity::High);
        assert_eq!(changes[1].previous, Some(Enabled));
        assert!(out.upserts.iter().all(|r| r.status_since == t(2)));
    }

    #[test]
    fn a_principal_that_disappears_is_removed_never_mfa_enabled() {
        let before = stored(
            &snap(vec![obs("bob", Disabled), obs("alice", Enabled)]),
            t(1),
        );
        let out = diff(
            Some(&before),
            &snap(vec![obs("alice", Enabled)]),
            &Exemptions::default(),
            t(2),
        );
        assert_eq!(
            kinds(&out),
            [("aws:123456789012/bob".to_owned(), ChangeKind::Removed)]
        );
        assert_eq!(out.deletes, ["bob"]);
        assert!(out.upserts.is_empty());
    }

    #[test]
    fn no_change_means_no_notice_and_nothing_to_write() {
        let s = snap(vec![obs("bob", Disabled), admin("root", Enabled)]);
        let before = stored(&s, t(1));
        let out = diff(Some(&before), &s, &Exemptions::default(), t(2));
        assert!(out.writes_nothing(), "{out:?}");
    }

    #[test]
    fn an_attribute_change_is_written_silently_and_keeps_the_status_since_time() {
        let before = stored(&snap(vec![obs("bob", Disabled)]), t(1));
        let out = diff(
            Some(&before),
            &snap(vec![admin("bob", Disabled)]),
            &Exemptions::default(),
            t(2),
        );
        assert!(out.notices.is_empty());
        assert_eq!(out.upserts.len(), 1);
        assert_eq!(out.upserts[0].status_since, t(1));
        assert!(out.upserts[0].attributes.admin);
    }

    #[test]
    fn new_accounts_after_the_baseline_are_reported_with_or_without_mfa() {
        let before = stored(&snap(vec![obs("alice", Enabled)]), t(1));
        let out = diff(
            Some(&before),
            &snap(vec![
                obs("alice", Enabled),
                obs("dan", Disabled),
                obs("eve", Enabled),
                obs("svc", NotApplicable),
                obs("who", Unknown),
            ]),
            &Exemptions::default(),
            t(2),
        );
        let mut got = kinds(&out);
        got.sort();
        assert_eq!(
            got,
            [
                ("aws:123456789012/dan".to_owned(), ChangeKind::NewWithoutMfa),
                ("aws:123456789012/eve".to_owned(), ChangeKind::NewWithMfa),
                ("aws:123456789012/who".to_owned(), ChangeKind::StatusUnknown),
            ]
        );
        assert_eq!(out.upserts.len(), 4, "svc is recorded though not alerted");
    }

    #[test]
    fn exempt_principals_are_recorded_but_never_alerted_on() {
        let ex = Exemptions::parse("aws:123456789012/bob").unwrap();
        let before = stored(&snap(vec![obs("bob", Enabled), obs("carl", Enabled)]), t(1));
        let out = diff(
            Some(&before),
            &snap(vec![obs("bob", Disabled), obs("carl", Disabled)]),
            &ex,
            t(2),
        );
        assert_eq!(
            kinds(&out),
            [("aws:123456789012/carl".to_owned(), ChangeKind::MfaDisabled)]
        );
        assert_eq!(out.upserts.len(), 2);

        let first = diff(None, &snap(vec![obs("bob", Disabled)]), &ex, t(1));
        let Notice::Baseline(b) = &first.notices[0] else {
            panic!()
        };
        assert_eq!((b.non_compliant, b.exempt), (0, 1));
    }

    #[test]
    fn a_renamed_login_with_the_same_stable_id_is_not_a_removal_plus_a_new_account() {
        let mut old = obs("octocat", Enabled);
        old.attributes.stable_id = Some("583231".into());
        let before = stored(&snap(vec![old.clone()]), t(1));
        let mut renamed = old.clone();
        renamed.name = "octo-cat".into();
        let out = diff(
            Some(&before),
            &snap(vec![renamed.clone()]),
            &Exemptions::default(),
            t(2),
        );
        assert!(out.notices.is_empty(), "{:?}", out.notices);
        assert_eq!(out.deletes, ["octocat"]);
        assert_eq!(out.upserts[0].name, "octo-cat");
        assert_eq!(out.upserts[0].first_seen, t(1));

        renamed.status = Disabled;
        let out = diff(
            Some(&before),
            &snap(vec![renamed]),
            &Exemptions::default(),
            t(2),
        );
        let c: Vec<_> = out.changes().collect();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, ChangeKind::MfaDisabled);
        assert_eq!(c[0].detail.as_deref(), Some("renamed from octocat"));
    }

    #[test]
    fn a_named_switch_turned_off_is_one_critical_change_naming_it_and_an_unreadable_one_keeps_its_value(
    ) {
        let mut s = snap(vec![obs("alice", Enabled)]);
        s.settings
            .requirements
            .insert("mfa_enrollment_required".into(), true);
        s.settings
            .requirements
            .insert("mfa_on_external_auth".into(), false);
        let before = stored(&s, t(1));

        s.settings
            .requirements
            .insert("mfa_enrollment_required".into(), false);
        let out = diff(Some(&before), &s, &Exemptions::default(), t(2));
        let c: Vec<_> = out.changes().collect();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, ChangeKind::RequirementDisabled);
        assert_eq!(c[0].severity, Severity::Critical);
        assert!(c[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("mfa_enrollment_required"));

        let mut unreadable = s.clone();
        unreadable.settings.requirements.clear();
        let out = diff(Some(&before), &unreadable, &Exemptions::default(), t(2));
        assert_eq!(out.changes().count(), 0, "unreadable is no change");
        assert_eq!(out.settings.requirements, before.settings.requirements);
        assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
        assert!(!out.settings_changed);

        let mut tightened = s.clone();
        tightened
            .settings
            .requirements
            .insert("mfa_on_external_auth".into(), true);
        tightened
            .settings
            .requirements
            .insert("mfa_enrollment_required".into(), true);
        let out = diff(Some(&before), &tightened, &Exemptions::default(), t(2));
        let c: Vec<_> = out.changes().collect();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, ChangeKind::RequirementEnabled);
    }

    #[test]
    fn a_switch_seen_for_the_first_time_is_recorded_without_an_alert() {
        let mut s = snap(vec![obs("alice", Enabled)]);
        let before = stored(&s, t(1));
        s.settings
            .requirements
            .insert("mfa_enrollment_required".into(), false);
        let out = diff(Some(&before), &s, &Exemptions::default(), t(2));
        assert_eq!(out.changes().count(), 0);
        assert!(out.settings_changed);
    }

    #[test]
    fn a_retired_target_is_one_notice_drops_its_principals_and_comes_back_as_a_baseline() {
        let s = snap(vec![obs("alice", Disabled), obs("bob", Enabled)]);
        let before = stored(&s, t(1));
        let out = retire(&before, "account 123456789012 left the organization", t(2));
        let c: Vec<_> = out.changes().collect();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, ChangeKind::Removed);
        assert_eq!(c[0].principal, None);
        assert_eq!(c[0].severity, Severity::Info);
        assert!(c[0].detail.as_deref().unwrap().contains("2 principals"));
        assert_eq!(out.deletes.len(), 2);
        assert_eq!(out.settings.retired_at, Some(t(2)));

        let retired = StoredTarget {
            version: 2,
            settings: out.settings,
            principals: BTreeMap::new(),
            ..before
        };
        let back = diff(Some(&retired), &s, &Exemptions::default(), t(3));
        assert!(back.baseline, "a return is a baseline, not new accounts");
        assert_eq!(back.settings.retired_at, None);
        assert_eq!(back.upserts.len(), 2);
    }

    #[test]
    fn the_requirement_switched_off_is_critical_and_an_unreadable_one_keeps_its_value() {
        let mut s = snap(vec![]);
        s.settings.mfa_required = Some(true);
        let before = stored(&s, t(1));
        s.settings.mfa_required = Some(false);
        let out = diff(Some(&before), &s, &Exemptions::default(), t(2));
        let c: Vec<_> = out.changes().collect();
        assert_eq!(c[0].kind, ChangeKind::RequirementDisabled);
        assert_eq!(c[0].severity, Severity::Critical);
        assert!(out.settings_changed);

        s.settings.mfa_required = None;
        let out = diff(Some(&before), &s, &Exemptions::default(), t(2));
        assert!(out.writes_nothing(), "an unreadable setting is no change");
        assert_eq!(
            out.settings.mfa_required,
            Some(true),
            "the last known value stays"
        );
        assert_eq!(out.warnings.len(), 1);

        s.settings.mfa_required = Some(true);
        let out = diff(Some(&before), &s, &Exemptions::default(), t(2));
        assert!(out.writes_nothing());
    }

    #[test]
    fn an_opened_bypass_is_reported_once_and_critical_for_an_admin() {
        let before = stored(&snap(vec![admin("ADMIN", Enabled)]), t(1));
        let mut now = admin("ADMIN", Enabled);
        now.attributes.bypass_active = true;
        let out = diff(
            Some(&before),
            &snap(vec![now.clone()]),
            &Exemptions::default(),
            t(2),
        );
        let c: Vec<_> = out.changes().collect();
        assert_eq!(
            (c.len(), c[0].kind, c[0].severity),
            (1, ChangeKind::BypassActive, Severity::Critical)
        );

        let before = stored(&snap(vec![now.clone()]), t(2));
        let out = diff(
            Some(&before),
            &snap(vec![now]),
            &Exemptions::default(),
            t(3),
        );
        assert!(out.writes_nothing());
    }

    #[test]
    fn many_principals_going_unknown_at_once_are_one_target_level_alert() {
        let names: Vec<String> = (0..30).map(|i| format!("u{i:02}")).collect();
        let before = stored(&snap(names.iter().map(|n| obs(n, Enabled)).collect()), t(1));
        let out = diff(
            Some(&before),
            &snap(names.iter().map(|n| obs(n, Unknown)).collect()),
            &Exemptions::default(),
            t(2),
        );
        let c: Vec<_> = out.changes().collect();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].kind, c[0].principal.as_deref()),
            (ChangeKind::StatusUnknown, None)
        );
        let detail = c[0].detail.as_deref().unwrap();
        assert!(
            detail.contains("30 principals") && detail.contains("and 20 more"),
            "{detail}"
        );
        assert_eq!(out.upserts.len(), 30, "each is still recorded as unknown");
    }

    #[test]
    fn going_unknown_is_status_unknown_and_learning_enabled_alerts_nobody() {
        let before = stored(&snap(vec![obs("a", Disabled), obs("b", Unknown)]), t(1));
        let out = diff(
            Some(&before),
            &snap(vec![obs("a", Unknown), obs("b", Enabled)]),
            &Exemptions::default(),
            t(2),
        );
        assert_eq!(
            kinds(&out),
            [("aws:123456789012/a".to_owned(), ChangeKind::StatusUnknown)]
        );
        assert_eq!(out.upserts.len(), 2);
    }

    #[test]
    fn a_login_reused_by_another_account_is_that_accounts_arrival() {
        let mut bob = obs("bob", Enabled);
        bob.attributes.stable_id = Some("1".into());
        let before = stored(&snap(vec![bob.clone()]), t(1));
        let mut bob2 = bob.clone();
        bob2.name = "bob2".into();
        let mut newbob = obs("bob", Disabled);
        newbob.attributes.stable_id = Some("2".into());
        let out = diff(
            Some(&before),
            &snap(vec![bob2, newbob]),
            &Exemptions::default(),
            t(2),
        );
        let c: Vec<_> = out
            .changes()
            .map(|c| (c.principal.clone().unwrap(), c.kind))
            .collect();
        assert_eq!(c, [("bob".to_owned(), ChangeKind::NewWithoutMfa)]);
        let newbob = out
            .upserts
            .iter()
            .find(|r| r.attributes.stable_id.as_deref() == Some("2"))
            .unwrap();
        assert_eq!(
            newbob.first_seen,
            t(2),
            "the new bob does not inherit the old record"
        );
        let renamed = out.upserts.iter().find(|r| r.name == "bob2").unwrap();
        assert_eq!(renamed.first_seen, t(1), "bob2 keeps bob's history");
        assert!(
            !out.deletes.contains(&"bob".to_owned()) || out.upserts.iter().any(|r| r.name == "bob")
        );
    }

    #[test]
    fn an_unreadable_setting_then_a_good_read_sends_nothing() {
        let mut s = snap(vec![]);
        s.settings.mfa_required = Some(true);
        let before = stored(&s, t(1));
        s.settings.mfa_required = None;
        let out = diff(Some(&before), &s, &Exemptions::default(), t(2));
        let mut after = before.clone();
        after.settings = out.settings;
        s.settings.mfa_required = Some(true);
        let out = diff(Some(&after), &s, &Exemptions::default(), t(3));
        assert_eq!(out.changes().count(), 0);
    }

    fn people(n: usize) -> Vec<Observation> {
        (0..n).map(|i| obs(&format!("u{i:03}"), Enabled)).collect()
    }

    fn apply(prev: &StoredTarget, out: &DiffOutcome) -> StoredTarget {
        let mut next = prev.clone();
        for d in &out.deletes {
            next.principals.remove(d);
        }
        for r in &out.upserts {
            next.principals.insert(r.name.clone(), r.clone());
        }
        next.settings = out.settings.clone();
        next
    }

    #[test]
    fn a_large_removal_is_one_notice_and_the_principals_coming_back_are_no_storm() {
        let before = stored(&snap(people(40)), t(1));
        let out = diff(
            Some(&before),
            &snap(people(25)),
            &Exemptions::default(),
            t(2),
        );
        let c: Vec<_> = out.changes().collect();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].kind, c[0].principal.as_deref()),
            (ChangeKind::Removed, None)
        );
        assert!(c[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("15 of 40 principals are no longer listed: u025, u026"));
        assert!(out.deletes.is_empty(), "kept dormant");
        let after = apply(&before, &out);
        assert_eq!(after.present().count(), 25);

        let back = diff(
            Some(&after),
            &snap(people(40)),
            &Exemptions::default(),
            t(3),
        );
        assert_eq!(back.changes().count(), 0, "their return is no storm");
        let restored = apply(&after, &back);
        assert_eq!(restored.present().count(), 40);
        assert_eq!(restored.principals["u030"].first_seen, t(1), "history kept");
    }

    #[test]
    fn principals_dormant_past_the_window_are_dropped_silently() {
        let before = stored(&snap(people(40)), t(1));
        let out = diff(
            Some(&before),
            &snap(people(25)),
            &Exemptions::default(),
            t(2),
        );
        let after = apply(&before, &out);
        let later = t(2) + chrono::Duration::days(DORMANT_DAYS + 1);
        let out = diff(
            Some(&after),
            &snap(people(25)),
            &Exemptions::default(),
            later,
        );
        assert_eq!(out.changes().count(), 0);
        assert_eq!(out.deletes.len(), 15);
    }

    #[test]
    fn a_small_removal_is_told_principal_by_principal() {
        let before = stored(&snap(people(40)), t(1));
        let out = diff(
            Some(&before),
            &snap(people(35)),
            &Exemptions::default(),
            t(2),
        );
        assert_eq!(
            out.changes()
                .filter(|c| c.kind == ChangeKind::Removed)
                .count(),
            5
        );
        assert_eq!(out.deletes.len(), 5);
    }
}
