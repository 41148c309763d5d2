//! The local state file (`MFA_STATE_FILE`): one JSON document, replaced
//! atomically (temp file + fsync + rename) under an advisory lock, so a
//! crash never leaves half a file and two CLI runs cannot both commit.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::{Health, Lease, OutboxEntry, StateError, StateStore, TargetCommit};
use crate::domain::snapshot::StoredTarget;
use crate::domain::TargetKey;

const FORMAT: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    format: u32,
    /// Keyed by `SOURCE:TARGET`.
    targets: BTreeMap<String, StoredTarget>,
    #[serde(default)]
    outbox: Vec<OutboxEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<Lease>,
    /// Source health of failing targets, keyed by `SOURCE:TARGET`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    health: BTreeMap<String, Health>,
}

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
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Document {
                    format: FORMAT,
                    ..Document::default()
                })
            }
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
        self.update(|doc| {
            let name = commit.key.to_string();
            let current = doc.targets.get(&name).map(|t| t.version);
            if current != commit.expected_version {
                return Err(StateError::Conflict {
                    key: commit.key.clone(),
                    expected: commit.expected_version,
                });
            }
            let target = doc.targets.entry(name).or_insert_with(|| StoredTarget {
                key: commit.key.clone(),
                version: 0,
                settings: Default::default(),
                updated_at: commit.at,
                principals: BTreeMap::new(),
            });
            for gone in &commit.deletes {
                target.principals.remove(gone);
            }
            for record in commit.upserts {
                target.principals.insert(record.name.clone(), record);
            }
            target.settings = commit.settings;
            target.updated_at = commit.at;
            target.version += 1;
            let version = target.version;
            if let Some(entry) = commit.outbox {
                doc.outbox.push(entry);
            }
            Ok((version, true))
        })
    }

    async fn targets(&self) -> Result<Vec<StoredTarget>, StateError> {
        Ok(self.read()?.targets.into_values().collect())
    }

    async fn pending(&self) -> Result<Vec<OutboxEntry>, StateError> {
        let mut entries = self.read()?.outbox;
        entries.retain(|e| !e.channels.is_empty());
        entries.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(entries)
    }

    async fn acknowledge(&self, id: &str, channel: &str) -> Result<(), StateError> {
        self.update(|doc| {
            let before = doc.outbox.len();
            let mut dirty = false;
            for entry in doc.outbox.iter_mut().filter(|e| e.id == id) {
                dirty |= entry.channels.remove(channel);
            }
            doc.outbox.retain(|e| !e.channels.is_empty());
            Ok(((), dirty || doc.outbox.len() != before))
        })
    }

    async fn acquire_lease(&self, holder: &str, until: DateTime<Utc>) -> Result<bool, StateError> {
        let now = Utc::now();
        self.update(|doc| match &doc.lease {
            Some(l) if l.holder != holder && l.until > now => Ok((false, false)),
            _ => {
                doc.lease = Some(Lease {
                    holder: holder.to_owned(),
                    until,
                });
                Ok((true, true))
            }
        })
    }

    async fn release_lease(&self, holder: &str) -> Result<(), StateError> {
        self.update(|doc| {
            if doc.lease.as_ref().is_some_and(|l| l.holder == holder) {
                doc.lease = None;
                Ok(((), true))
            } else {
                Ok(((), false))
            }
        })
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
            if health.is_healthy() {
                doc.health.remove(&key.to_string());
            } else {
                doc.health.insert(key.to_string(), health.clone());
            }
            if let Some(entry) = outbox.filter(|e| !e.channels.is_empty()) {
                doc.outbox.push(entry);
            }
            Ok(((), true))
        })
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
