//! What the CLI sees of a pass as it goes, without a hook in the pass: each
//! monitor is wrapped so that every read that finishes (or is cut off) is
//! recorded, with the non-compliant principals it found, and, on a
//! terminal, shown as a progress line on stderr (`[3/12] github:acme 1,204
//! principals`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::domain::{PrincipalId, Source, TargetKey, TargetSnapshot};
use crate::error::CheckItem;
use crate::monitors::{Monitor, MonitorError};

/// One target's read as the CLI saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The target's id; for a failed read, the one it was configured by.
    pub key: TargetKey,
    pub read: bool,
    /// Principals with MFA `disabled` or `insecure` (exempt or not).
    pub non_compliant: Vec<(PrincipalId, crate::domain::MfaStatus)>,
}

pub struct Watch {
    total: usize,
    done: AtomicUsize,
    progress: bool,
    seen: Mutex<Vec<Seen>>,
}

impl Watch {
    /// Wraps every monitor; `progress`: print a line per finished target.
    pub fn wrap(
        monitors: Vec<Box<dyn Monitor>>,
        progress: bool,
    ) -> (Arc<Watch>, Vec<Box<dyn Monitor>>) {
        let watch = Arc::new(Watch {
            total: monitors.iter().map(|m| m.targets().len()).sum(),
            done: AtomicUsize::new(0),
            progress,
            seen: Mutex::new(Vec::new()),
        });
        let wrapped = monitors
            .into_iter()
            .map(|inner| {
                Box::new(Watched {
                    inner,
                    watch: watch.clone(),
                }) as Box<dyn Monitor>
            })
            .collect();
        (watch, wrapped)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }

    fn record(&self, seen: Seen, outcome: &str) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if self.progress {
            eprintln!("{}", progress_line(n, self.total, &seen.key, outcome));
        }
        self.seen.lock().expect("not poisoned").push(seen);
    }
}

pub fn progress_line(n: usize, total: usize, key: &TargetKey, outcome: &str) -> String {
    format!("[{n}/{total}] {key} {outcome}")
}

/// `1204` → `1,204`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Watched {
    inner: Box<dyn Monitor>,
    watch: Arc<Watch>,
}

/// Records a read that never finished (the pass's timeout dropped it).
struct Unfinished<'a> {
    watch: &'a Watch,
    key: Option<TargetKey>,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let seen = Seen {
                key,
                read: false,
                non_compliant: Vec::new(),
            };
            self.watch.record(seen, "not finished in time");
        }
    }
}

#[async_trait]
impl Monitor for Watched {
    fn source(&self) -> Source {
        self.inner.source()
    }

    fn targets(&self) -> Vec<String> {
        self.inner.targets()
    }

    fn provisional_key(&self, target: &str) -> TargetKey {
        self.inner.provisional_key(target)
    }

    async fn discover(&self) -> Vec<crate::monitors::Discovery> {
        self.inner.discover().await
    }

    fn label_for(&self, key: &TargetKey) -> String {
        self.inner.label_for(key)
    }

    async fn collect(&self, target: &str) -> Result<TargetSnapshot, MonitorError> {
        let mut unfinished = Unfinished {
            watch: &self.watch,
            key: Some(self.inner.provisional_key(target)),
        };
        let result = self.inner.collect(target).await;
        let key = unfinished.key.take().expect("set above");
        match &result {
            Ok(s) => self.watch.record(
                Seen {
                    key: s.key.clone(),
                    read: true,
                    non_compliant: s
                        .principals
                        .iter()
                        .filter(|p| p.status.is_non_compliant())
                        .map(|p| (s.key.principal(p.name.clone()), p.status))
                        .collect(),
                },
                &format!("{} principals", thousands(s.principals.len())),
            ),
            Err(e) => self.watch.record(
                Seen {
                    key,
                    read: false,
                    non_compliant: Vec::new(),
                },
                &format!("failed: {e}"),
            ),
        }
        result
    }

    async fn check(&self, target: &str) -> CheckItem {
        self.inner.check(target).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Attributes, MfaStatus, Observation};
    use std::time::Duration;

    struct Fake;

    #[async_trait]
    impl Monitor for Fake {
        fn source(&self) -> Source {
            Source::Github
        }
        fn targets(&self) -> Vec<String> {
            vec!["acme".into(), "ghost".into(), "slow".into()]
        }
        async fn collect(&self, target: &str) -> Result<TargetSnapshot, MonitorError> {
            match target {
                "acme" => Ok(TargetSnapshot {
                    key: TargetKey::new(Source::Github, "acme"),
                    principals: vec![
                        Observation::new("a", MfaStatus::Enabled, Attributes::default()),
                        Observation::new("b", MfaStatus::Insecure, Attributes::default()),
                        Observation::new("c", MfaStatus::Unknown, Attributes::default()),
                    ],
                    settings: Default::default(),
                    warnings: Vec::new(),
                }),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    unreachable!("cut off by the test's timeout")
                }
                _ => Err(MonitorError::Incomplete("404".into())),
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

    #[tokio::test]
    async fn every_read_is_recorded_done_failed_or_cut_off_with_what_it_found() {
        let (watch, monitors) = Watch::wrap(vec![Box::new(Fake)], false);
        assert_eq!(watch.total, 3);
        let m = &monitors[0];
        assert!(m.collect("acme").await.is_ok());
        assert!(m.collect("ghost").await.is_err());
        let cut = tokio::time::timeout(Duration::from_millis(10), m.collect("slow")).await;
        assert!(cut.is_err());
        let seen = watch.seen();
        assert_eq!(watch.done.load(Ordering::SeqCst), 3);
        assert_eq!(seen[0].key.to_string(), "github:acme");
        assert_eq!(
            seen[0].non_compliant,
            [(
                "github:acme/b".parse::<PrincipalId>().unwrap(),
                MfaStatus::Insecure
            )]
        );
        assert_eq!(
            (seen[1].key.to_string(), seen[1].read),
            ("github:ghost".into(), false)
        );
        assert_eq!(
            (seen[2].key.to_string(), seen[2].read),
            ("github:slow".into(), false)
        );
    }

    #[test]
    fn a_progress_line_counts_targets_and_principals() {
        let key = TargetKey::new(Source::Github, "acme");
        let outcome = format!("{} principals", thousands(1204));
        assert_eq!(
            progress_line(3, 12, &key, &outcome),
            "[3/12] github:acme 1,204 principals"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
