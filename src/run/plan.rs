//! Step 0 of a pass: which targets to read. The configured ones, plus what
//! each discovery scope (an AWS organization, a GitHub enterprise) finds,
//! each target once. A discovery that fails fails closed: every member it
//! found before is read again and none is treated as gone. A discovery
//! that completes names the members it no longer finds, for retirement
//! once the pass has read the rest (ARCHITECTURE.md §3, discovery).

use std::collections::BTreeSet;

use futures::future::join_all;
use tracing::{error, info, warn};

use super::Pass;
use crate::domain::TargetKey;
use crate::monitors::{Discovery, Monitor, MonitorError};

pub(super) struct Job<'m> {
    pub monitor: &'m dyn Monitor,
    pub label: String,
    pub key: TargetKey,
}

/// How one discovery scope went this pass.
pub(super) struct Scope {
    pub key: TargetKey,
    /// The member ids found, or why the scope could not be listed whole.
    pub found: Result<Vec<String>, String>,
    /// Members found before and not now (discovery complete): to retire.
    pub gone: Vec<TargetKey>,
    /// Whether `found` differs from what the store holds, so the pass
    /// writes the members only when they moved.
    pub moved: bool,
}

pub(super) struct Plan<'m> {
    pub jobs: Vec<Job<'m>>,
    pub scopes: Vec<Scope>,
}

impl<'p> Pass<'p> {
    pub(super) async fn plan(&self) -> Plan<'p> {
        let monitors: &'p [Box<dyn Monitor>] = self.monitors;
        // Discovery first: a monitor learns there who it runs as, so that
        // `provisional_key("self")` names the account discovery finds too.
        let (bound, _) = self.bound_now();
        let discoveries = join_all(monitors.iter().map(|m| async move {
            let found = tokio::time::timeout(bound, m.discover()).await;
            (m.as_ref(), found)
        }))
        .await;
        let mut jobs = Vec::new();
        let mut seen = BTreeSet::new();
        for m in monitors {
            for label in m.targets() {
                let key = m.provisional_key(&label);
                if seen.insert(key.clone()) {
                    jobs.push(Job {
                        monitor: m.as_ref(),
                        label,
                        key,
                    });
                }
            }
        }
        if discoveries
            .iter()
            .all(|(_, d)| matches!(d, Ok(list) if list.is_empty()))
        {
            return Plan {
                jobs,
                scopes: Vec::new(),
            };
        }
        // Without the members found before, nothing can be retired safely;
        // what is found now is still read.
        let known = match self.store.discovered().await {
            Ok(k) => Some(k),
            Err(e) => {
                error!(error = %e, "the members discovered before could not be read; none is retired this pass");
                None
            }
        };
        let mut scopes = Vec::new();
        for (monitor, result) in discoveries {
            let list = match result {
                Ok(list) => list,
                Err(_) => {
                    // The monitor could not even say its scopes in time:
                    // every scope of its source known before fails closed.
                    known
                        .iter()
                        .flatten()
                        .filter(|(scope, _)| {
                            scope
                                .parse::<TargetKey>()
                                .is_ok_and(|k| k.source == monitor.source())
                        })
                        .filter_map(|(scope, _)| scope.parse::<TargetKey>().ok())
                        .map(|scope| Discovery {
                            scope,
                            found: Err(MonitorError::Timeout(bound)),
                        })
                        .collect()
                }
            };
            for d in list {
                let before = known
                    .as_ref()
                    .and_then(|k| k.get(&d.scope.to_string()))
                    .cloned();
                scopes.push(self.plan_scope(
                    monitor,
                    d,
                    before,
                    known.is_some(),
                    &mut seen,
                    &mut jobs,
                ));
            }
        }
        Plan { jobs, scopes }
    }

    fn plan_scope(
        &self,
        monitor: &'p dyn Monitor,
        d: Discovery,
        before: Option<Vec<String>>,
        store_readable: bool,
        seen: &mut BTreeSet<TargetKey>,
        jobs: &mut Vec<Job<'p>>,
    ) -> Scope {
        let source = d.scope.source;
        let add = |key: TargetKey, seen: &mut BTreeSet<TargetKey>, jobs: &mut Vec<Job<'p>>| {
            if seen.insert(key.clone()) {
                jobs.push(Job {
                    monitor,
                    label: monitor.label_for(&key),
                    key,
                });
            }
        };
        let before_count = before.as_ref().map_or(0, Vec::len);
        let found = match d.found {
            Ok(keys) if keys.is_empty() && before_count > 0 => Err(format!(
                "discovery found no target where {before_count} were found before: read as a failed listing, not as every target leaving"
            )),
            Ok(keys) => Ok(keys),
            Err(e) => Err(format!("discovery failed: {e}")),
        };
        match found {
            Err(text) => {
                error!(scope = %d.scope, error = %text, known = before_count, "discovery failed; the targets found before are read, none is treated as gone");
                for id in before.into_iter().flatten() {
                    add(TargetKey::new(source, id), seen, jobs);
                }
                Scope {
                    key: d.scope,
                    found: Err(text),
                    gone: Vec::new(),
                    moved: false,
                }
            }
            Ok(keys) => {
                let ids: Vec<String> = keys.iter().map(|k| k.target.clone()).collect();
                let now: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
                let gone: Vec<TargetKey> = before
                    .iter()
                    .flatten()
                    .filter(|id| !now.contains(id.as_str()))
                    .map(|id| TargetKey::new(source, id.clone()))
                    // Still configured by hand: read, not retired.
                    .filter(|k| !seen.contains(k))
                    .collect();
                let was: BTreeSet<&str> = before.iter().flatten().map(String::as_str).collect();
                let new = ids.iter().filter(|id| !was.contains(id.as_str())).count();
                info!(scope = %d.scope, found = ids.len(), new, gone = gone.len(), "discovery complete");
                if !gone.is_empty() && !store_readable {
                    warn!(scope = %d.scope, "members no longer found are not retired: the store could not be read");
                }
                let moved = before.as_deref() != Some(ids.as_slice());
                for key in keys {
                    add(key, seen, jobs);
                }
                Scope {
                    key: d.scope,
                    found: Ok(ids),
                    gone: if store_readable { gone } else { Vec::new() },
                    moved: moved && store_readable,
                }
            }
        }
    }
}
