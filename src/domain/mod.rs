//! Pure, synchronous domain logic: no I/O, no clocks read here (times are
//! passed in), so every rule is unit-testable.

pub mod change;
pub mod diff;
pub mod exemption;
pub mod health;
pub mod people;
pub mod policy;
pub mod principal;
pub mod readiness;
pub mod report;
pub mod route;
pub mod securityhub;
pub mod snapshot;
pub mod status;
pub mod trend;

pub use change::{BaselineSummary, Change, ChangeKind, Notice, Severity};
pub use diff::{diff, diff_with_grace, retire, DiffOutcome};
pub use policy::Exemptions;
pub use principal::{PrincipalId, Source, TargetKey};
pub use snapshot::{Observation, PrincipalRecord, TargetSettings, TargetSnapshot};
pub use status::{AccountKind, Attributes, MfaDevice, MfaMethod, MfaMethods, MfaStatus, NaReason};
