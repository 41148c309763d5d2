//! When a pass must be done, and what it keeps back for committing and
//! delivering before then.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Time a commit or a delivery needs at least; with less left the pass
/// does not start one (it would be cut off by the Lambda mid-way).
pub(crate) const FINISH_MARGIN: Duration = Duration::from_secs(3);
/// How long past its deadline a pass's lease still keeps others out.
const LEASE_SLACK: Duration = Duration::from_secs(10);

/// When a pass must be done: the Lambda invocation's deadline, or the CLI's
/// budget.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    wall: DateTime<Utc>,
}

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
            wall: Utc::now() + chrono::Duration::from_std(budget).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// A Lambda deadline, in milliseconds since the epoch.
    pub fn at_epoch_millis(ms: i64) -> Self {
        let wall = DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now);
        let left = (wall - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Self {
            at: Instant::now() + left,
            wall,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// When the pass lease lapses: shortly after the deadline, so a crashed
    /// or timed-out pass never blocks the next one for long.
    pub fn lease_until(&self) -> DateTime<Utc> {
        self.wall + chrono::Duration::from_std(LEASE_SLACK).expect("small")
    }

    /// Time kept back from collection for committing and delivering:
    /// a fifth of what is left, between 5 s and a minute.
    pub(crate) fn reserve(&self) -> Duration {
        (self.remaining() / 5).clamp(Duration::from_secs(5), Duration::from_secs(60))
    }
}
