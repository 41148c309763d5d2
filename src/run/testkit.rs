//! Scripted monitors and channels and one harness that runs passes
//! against the in-memory store, for the pass's unit tests (`tests.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::domain::report::Report;
use crate::domain::{Attributes, MfaStatus, Observation, TargetSettings, TargetSnapshot};
use crate::error::CheckItem;
use crate::monitors::MonitorError;
use crate::notifiers::digest::Digest;
use crate::notifiers::NotifyError;
use crate::state::memory::MemoryStore;

/// What a scripted target answers on one pass.
#[derive(Clone)]
pub(super) enum Read {
    Users(Vec<(&'static str, MfaStatus)>),
    /// Principals with attributes of their own (an address, say).
    Observed(Vec<Observation>),
    Fails(&'static str),
    /// Answers only after this long (for the deadline).
    Slow(Duration),
}

/// A monitor whose targets answer from a script, one entry per pass; the
/// last entry repeats.
pub(super) struct ScriptedMonitor {
    pub(super) targets: BTreeMap<String, Mutex<VecDeque<Read>>>,
    /// With a discovery script, only these targets are configured; the
    /// others are there to be found.
    pub(super) configured: Option<Vec<String>>,
    /// What the one scope `github:ent` finds on each pass (`None`: the
    /// discovery fails); the last entry repeats.
    pub(super) discovery: Mutex<VecDeque<Option<Vec<&'static str>>>>,
    pub(super) in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub(super) most_in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ScriptedMonitor {
    pub(super) fn new(script: &[(&str, Vec<Read>)]) -> Self {
        Self {
            targets: script
                .iter()
                .map(|(t, reads)| (t.to_string(), Mutex::new(reads.iter().cloned().collect())))
                .collect(),
            configured: None,
            discovery: Mutex::new(VecDeque::new()),
            in_flight: Default::default(),
            most_in_flight: Default::default(),
        }
    }

    /// Configures only `configured`; the scope `github:ent` finds the
    /// rest as `discovery` says, pass by pass.
    pub(super) fn discovering(
        mut self,
        configured: &[&str],
        discovery: Vec<Option<Vec<&'static str>>>,
    ) -> Self {
        self.configured = Some(configured.iter().map(|t| t.to_string()).collect());
        self.discovery = Mutex::new(discovery.into());
        self
    }
}

pub(super) fn scope() -> TargetKey {
    TargetKey::new(Source::Github, "ent")
}

pub(super) fn user(name: &str, status: MfaStatus) -> Observation {
    Observation::new(
        name,
        status,
        Attributes {
            console_login: true,
            ..Attributes::default()
        },
    )
}

#[async_trait]
impl Monitor for ScriptedMonitor {
    fn source(&self) -> Source {
        Source::Github
    }

    fn targets(&self) -> Vec<String> {
        self.configured
            .clone()
            .unwrap_or_else(|| self.targets.keys().cloned().collect())
    }

    async fn discover(&self) -> Vec<crate::monitors::Discovery> {
        let found = {
            let mut q = self.discovery.lock().unwrap();
            if q.len() > 1 {
                q.pop_front().unwrap()
            } else {
                match q.front() {
                    Some(f) => f.clone(),
                    None => return Vec::new(),
                }
            }
        };
        vec![crate::monitors::Discovery {
            scope: scope(),
            found: found
                .map(|ts| {
                    ts.iter()
                        .map(|t| TargetKey::new(Source::Github, *t))
                        .collect()
                })
                .ok_or_else(|| MonitorError::Malformed("enterprise unreadable (scripted)".into())),
        }]
    }

    async fn collect(&self, target: &str) -> Result<TargetSnapshot, MonitorError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most_in_flight.fetch_max(now, SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.in_flight.fetch_sub(1, SeqCst);
        let read = {
            let mut q = self.targets[target].lock().unwrap();
            if q.len() > 1 {
                q.pop_front().unwrap()
            } else {
                q.front().cloned().expect("a scripted read")
            }
        };
        match read {
            Read::Users(users) => Ok(TargetSnapshot {
                key: TargetKey::new(Source::Github, target),
                principals: users.iter().map(|(n, s)| user(n, *s)).collect(),
                settings: TargetSettings {
                    mfa_required: Some(true),
                    ..TargetSettings::default()
                },
                warnings: Vec::new(),
            }),
            Read::Observed(principals) => Ok(TargetSnapshot {
                key: TargetKey::new(Source::Github, target),
                principals,
                settings: TargetSettings {
                    mfa_required: Some(true),
                    ..TargetSettings::default()
                },
                warnings: Vec::new(),
            }),
            Read::Fails(why) => Err(MonitorError::Malformed(why.into())),
            Read::Slow(d) => {
                tokio::time::sleep(d).await;
                Err(MonitorError::Malformed("too slow to matter".into()))
            }
        }
    }

    async fn check(&self, target: &str) -> CheckItem {
        CheckItem {
            component: target.into(),
            ok: true,
            detail: String::new(),
        }
    }
}

/// A channel that records what it was sent and fails when told to.
pub(super) struct RecordingChannel {
    pub(super) name: &'static str,
    pub(super) fail_next: Mutex<usize>,
    pub(super) sent: Mutex<Vec<Digest>>,
    pub(super) attempts: Mutex<usize>,
}

impl RecordingChannel {
    pub(super) fn new(name: &'static str) -> Self {
        Self {
            name,
            fail_next: Mutex::new(0),
            sent: Mutex::new(Vec::new()),
            attempts: Mutex::new(0),
        }
    }

    /// The next `times` sends are refused.
    pub(super) fn refuse_next(&self, times: usize) {
        *self.fail_next.lock().unwrap() = times;
    }

    pub(super) fn sent(&self) -> Vec<Digest> {
        self.sent.lock().unwrap().clone()
    }

    pub(super) fn attempts(&self) -> usize {
        *self.attempts.lock().unwrap()
    }
}

#[async_trait]
impl Notifier for RecordingChannel {
    fn channel(&self) -> &str {
        self.name
    }

    async fn send(&self, digest: &Digest) -> Result<(), NotifyError> {
        *self.attempts.lock().unwrap() += 1;
        let mut fail = self.fail_next.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return Err(NotifyError {
                channel: self.name,
                message: "refused (scripted)".into(),
                source: None,
            });
        }
        self.sent.lock().unwrap().push(digest.clone());
        Ok(())
    }

    async fn send_report(&self, _report: &Report) -> Result<(), NotifyError> {
        unreachable!("a pass sends no report")
    }

    async fn check(&self) -> Result<String, NotifyError> {
        Ok(String::new())
    }
}

/// One app under test: monitors, store and channels built once, passes
/// run against them with the settings a test overrides.
pub(super) struct Harness {
    pub(super) monitors: Vec<Box<dyn Monitor>>,
    pub(super) store: MemoryStore,
    pub(super) channels: Vec<std::sync::Arc<RecordingChannel>>,
    pub(super) threshold: u32,
    pub(super) delayed_after: Duration,
    pub(super) budget: Duration,
    pub(super) target_timeout: Duration,
    pub(super) target_concurrency: usize,
    pub(super) grace: chrono::Duration,
    /// The routes a test gives the pass; every channel takes everything
    /// without.
    pub(super) router: Option<crate::domain::route::Router>,
    /// The people file a test gives the pass.
    pub(super) people: std::collections::BTreeMap<String, String>,
}

/// Lets the harness keep a handle on each channel it gives the pass.
pub(super) struct Shared(std::sync::Arc<RecordingChannel>);

#[async_trait]
impl Notifier for Shared {
    fn channel(&self) -> &str {
        self.0.channel()
    }
    async fn send(&self, digest: &Digest) -> Result<(), NotifyError> {
        self.0.send(digest).await
    }
    async fn send_report(&self, report: &Report) -> Result<(), NotifyError> {
        self.0.send_report(report).await
    }
    async fn check(&self) -> Result<String, NotifyError> {
        self.0.check().await
    }
}

impl Harness {
    pub(super) fn new(script: &[(&str, Vec<Read>)], channels: Vec<RecordingChannel>) -> Self {
        Self::with_monitor(ScriptedMonitor::new(script), channels)
    }

    pub(super) fn with_monitor(monitor: ScriptedMonitor, channels: Vec<RecordingChannel>) -> Self {
        Self {
            monitors: vec![Box::new(monitor)],
            store: MemoryStore::new(),
            channels: channels.into_iter().map(std::sync::Arc::new).collect(),
            threshold: 3,
            delayed_after: Duration::from_secs(30 * 60),
            budget: Duration::from_secs(60),
            target_timeout: Duration::from_secs(30),
            target_concurrency: 16,
            grace: chrono::Duration::zero(),
            router: None,
            people: Default::default(),
        }
    }

    pub(super) async fn pass(&self, n: usize) -> RunSummary {
        let notifiers: Vec<Box<dyn Notifier>> = self
            .channels
            .iter()
            .map(|c| Box::new(Shared(c.clone())) as Box<dyn Notifier>)
            .collect();
        let exemptions = Exemptions::default();
        let run_id = format!("run-{n}");
        let router = self.router.clone().unwrap_or_else(|| {
            crate::domain::route::Router::defaults_only(
                notifiers.iter().map(|n| n.channel().to_owned()).collect(),
            )
        });
        Pass {
            monitors: &self.monitors,
            store: &self.store,
            notifiers: &notifiers,
            router: &router,
            people: &self.people,
            exemptions: &exemptions,
            grace: self.grace,
            target_timeout: self.target_timeout,
            target_concurrency: self.target_concurrency,
            run_id: &run_id,
            deadline: Deadline::after(self.budget),
            failure_threshold: self.threshold,
            delayed_after: self.delayed_after,
            securityhub: None,
            teller: None,
        }
        .run(false)
        .await
    }

    /// Pass `n` fanned out as the state machine runs it: plan, one
    /// collect step per batch of `batch_targets` (those in `lost` never
    /// report, as when their invocation crashed), deliver.
    pub(super) async fn fanned_out(
        &self,
        n: usize,
        batch_targets: usize,
        lost: &[u32],
    ) -> Result<RunSummary, FanoutError> {
        let notifiers: Vec<Box<dyn Notifier>> = self
            .channels
            .iter()
            .map(|c| Box::new(Shared(c.clone())) as Box<dyn Notifier>)
            .collect();
        let exemptions = Exemptions::default();
        let run_id = format!("run-{n}");
        let router = self.router.clone().unwrap_or_else(|| {
            crate::domain::route::Router::defaults_only(
                notifiers.iter().map(|n| n.channel().to_owned()).collect(),
            )
        });
        let pass = Pass {
            monitors: &self.monitors,
            store: &self.store,
            notifiers: &notifiers,
            router: &router,
            people: &self.people,
            exemptions: &exemptions,
            grace: self.grace,
            target_timeout: self.target_timeout,
            target_concurrency: self.target_concurrency,
            run_id: &run_id,
            deadline: Deadline::after(self.budget),
            failure_threshold: self.threshold,
            delayed_after: self.delayed_after,
            securityhub: None,
            teller: None,
        };
        let plan = pass.plan_batches(batch_targets).await.expect("planned");
        for batch in plan.batches.iter().filter(|b| !lost.contains(&b.batch)) {
            pass.collect_batch(batch).await.expect("collected");
        }
        pass.deliver_run().await
    }

    pub(super) fn channel(&self, i: usize) -> &RecordingChannel {
        &self.channels[i]
    }
}

pub(super) fn kinds(d: &Digest) -> Vec<ChangeKind> {
    d.groups
        .iter()
        .flat_map(|g| g.items.iter().filter_map(|i| i.kind))
        .collect()
}

pub(super) fn result_of(s: &RunSummary, target: &str) -> TargetResult {
    s.targets
        .iter()
        .find(|t| t.target == format!("github:{target}"))
        .unwrap_or_else(|| panic!("no outcome for {target}: {:?}", s.targets))
        .result
}

pub(super) const ALICE_ON: (&str, MfaStatus) = ("alice", MfaStatus::Enabled);
pub(super) const ALICE_OFF: (&str, MfaStatus) = ("alice", MfaStatus::Disabled);
pub(super) const BOB_ON: (&str, MfaStatus) = ("bob", MfaStatus::Enabled);
