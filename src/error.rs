//! Types every layer shares: the boxed cause kept inside our errors, and
//! one line of `mfa-monitor check`.

/// A cause kept inside one of our errors (`#[source]`), whatever its type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One line of `mfa-monitor check` for a target, channel or the state store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckItem {
    pub component: String,
    pub ok: bool,
    pub detail: String,
}
