//! The local state file (`MFA_STATE_FILE`): one JSON document, replaced
//! atomically (temp file + fsync + rename) under an advisory lock, so a
//! crash never leaves half a file and two CLI runs cannot both commit.

use crate::domain::securityhub::Synced;
use crate::domain::trend::TrendRecord;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::document::{Document, FORMAT};
use super::{Health, OutboxEntry, StateError, StateStore, TargetCommit};
use crate::domain::exemption::{Exemption, ExemptionNotice};
use crate::domain::snapshot::StoredTarget;
use crate::domain::TargetKey;

pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn backend(&self, operation: &'static str, err: std::io::Error) -> StateError {
        StateError::Backend {
            operation,
            location: self.path.display().to_string(),
            message: err.to_string(),
            source: Some(Box::new(err)),
        }
    }

    fn read(&self) -> Result<Document, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Document::default()),
            Err(e) => return Err(self.backend("read", e)),
        };
        let doc: Document = serde_json::from_slice(&bytes).map_err(|e| StateError::Malformed {
            location: self.path.display().to_string(),
            reason: e.to_string(),
        })?;
        if doc.format != FORMAT {
            return Err(StateError::Malformed {
                location: self.path.display().to_string(),
                reason: format!("format {} is not the supported format {FORMAT}", doc.format),
            });
        }
        for (k, t) in &doc.targets {
            if *k != t.key.to_string() {
                return Err(StateError::Malformed {
                    location: format!("{} target {k}", self.path.display()),
                    reason: format!("holds the state of {}", t.key),
                });
            }
        }
        Ok(doc)
    }

    fn write(&self, doc: &Document) -> Result<(), StateError> {
        let tmp = tmp_path(&self.path);
        let result = (|| {
            // Streamed: at 100k principals the whole document as one buffer
            // would be the pass's largest allocation.
            let mut out = std::io::BufWriter::new(File::create(&tmp)?);
            serde_json::to_writer_pretty(&mut out, doc)?;
            out.flush()?;
            let f = out.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            self.backend("write", e)
        })
    }

    /// Runs `f` on the document under an exclusive lock, writing it back
    /// when `f` says so.
    fn update<T>(
        &self,
        f: impl FnOnce(&mut Document) -> Result<(T, bool), StateError>,
    ) -> Result<T, StateError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.backend("create directory", e))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path(&self.path))
            .map_err(|e| self.backend("lock", e))?;
        lock.lock().map_err(|e| self.backend("lock", e))?;
        let mut doc = self.read()?;
        let (value, dirty) = f(&mut doc)?;
        if dirty {
            self.write(&doc)?;
        }
        Ok(value)
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

#[async_trait]
impl StateStore for FileStore {
    fn location(&self) -> String {
        format!("file {}", self.path.display())
    }

    async fn load(&self, key: &TargetKey) -> Result<Option<StoredTarget>, StateError> {
        Ok(self.read()?.targets.remove(&key.to_string()))
    }

    async fn commit(&self, commit: TargetCommit) -> Result<u64, StateError> {
        self.update(|doc| Ok((doc.commit(commit)?, true)))
    }

    async fn targets(&self) -> Result<Vec<StoredTarget>, StateError> {
        Ok(self.read()?.targets.into_values().collect())
    }

    async fn pending(&self) -> Result<Vec<OutboxEntry>, StateError> {
        Ok(self.read()?.pending())
    }

    async fn acknowledge(&self, id: &str, channel: &str) -> Result<(), StateError> {
        self.update(|doc| Ok(((), doc.acknowledge(id, channel))))
    }

    async fn acquire_lease(&self, holder: &str, until: DateTime<Utc>) -> Result<bool, StateError> {
        let now = Utc::now();
        self.update(|doc| {
            let taken = doc.acquire_lease(holder, until, now);
            Ok((taken, taken))
        })
    }

    async fn release_lease(&self, holder: &str) -> Result<(), StateError> {
        self.update(|doc| Ok(((), doc.release_lease(holder))))
    }

    async fn health(&self) -> Result<BTreeMap<String, Health>, StateError> {
        Ok(self.read()?.health)
    }

    async fn record_health(
        &self,
        key: &TargetKey,
        health: &Health,
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        self.update(|doc| {
            doc.record_health(key, health, outbox);
            Ok(((), true))
        })
    }

    async fn discovered(&self) -> Result<BTreeMap<String, Vec<String>>, StateError> {
        Ok(self.read()?.discovered)
    }

    async fn record_discovered(
        &self,
        scope: &TargetKey,
        members: &[String],
    ) -> Result<(), StateError> {
        self.update(|doc| {
            let changed =
                doc.discovered.get(&scope.to_string()).map(Vec::as_slice) != Some(members);
            doc.discovered.insert(scope.to_string(), members.to_vec());
            Ok(((), changed))
        })
    }

    async fn exemptions(&self) -> Result<Vec<Exemption>, StateError> {
        Ok(self.read()?.exemptions.into_values().collect())
    }

    async fn put_exemption(
        &self,
        exemption: &Exemption,
        notice: &ExemptionNotice,
    ) -> Result<(), StateError> {
        self.update(|doc| {
            doc.put_exemption(exemption, notice);
            Ok(((), true))
        })
    }

    async fn remove_exemption(&self, notice: &ExemptionNotice) -> Result<bool, StateError> {
        self.update(|doc| {
            let gone = doc.remove_exemption(notice);
            Ok((gone, gone))
        })
    }

    async fn exemption_notices(&self) -> Result<Vec<(String, ExemptionNotice)>, StateError> {
        Ok(self.read()?.exemption_log.into_iter().collect())
    }

    async fn announce_exemptions(
        &self,
        keys: &[String],
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        self.update(|doc| {
            doc.announce_exemptions(keys, outbox);
            Ok(((), true))
        })
    }

    async fn securityhub_synced(&self) -> Result<BTreeMap<String, Synced>, StateError> {
        Ok(self.read()?.securityhub)
    }

    async fn record_securityhub(
        &self,
        updates: &[(String, Option<Synced>)],
    ) -> Result<(), StateError> {
        self.update(|doc| Ok(((), doc.record_securityhub(updates))))
    }

    async fn trend(&self) -> Result<Vec<TrendRecord>, StateError> {
        Ok(self.read()?.trend.into_values().collect())
    }

    async fn record_run_part(
        &self,
        run_id: &str,
        part: &str,
        body: &str,
    ) -> Result<(), StateError> {
        self.update(|doc| {
            doc.record_run_part(run_id, part, body, chrono::Utc::now());
            Ok(((), true))
        })
    }

    async fn run_parts(&self, run_id: &str) -> Result<Vec<(String, String)>, StateError> {
        Ok(self.read()?.run_parts(run_id))
    }

    async fn check(&self) -> Result<String, StateError> {
        let doc = self.read()?;
        let exists = self.path.exists();
        Ok(format!(
            "{} ({}; {} target(s), {} pending alert batch(es))",
            self.path.display(),
            if exists {
                "readable"
            } else {
                "not created yet"
            },
            doc.targets.len(),
            doc.outbox.len()
        ))
    }
}
