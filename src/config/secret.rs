//! Secret variables: a secret `X` is given as `X` (local runs) or as
//! `X_SECRET_ID` (a Secrets Manager id, resolved once by `secrets.rs`).
//! Neither form ever shows the value.

use std::fmt;

use super::ConfigError;

/// Where a secret comes from. The value itself is never shown by `Debug`.
#[derive(Clone)]
pub enum SecretSource {
    Value(secrecy::SecretString),
    SecretsManager(String),
}

/// A secret variable `X`, given as `X` or `X_SECRET_ID`.
#[derive(Clone)]
pub struct SecretVar {
    pub variable: &'static str,
    pub id_variable: &'static str,
    pub source: SecretSource,
}

impl fmt::Debug for SecretVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            SecretSource::Value(_) => write!(f, "{}=<redacted>", self.variable),
            SecretSource::SecretsManager(id) => write!(f, "{}={id}", self.id_variable),
        }
    }
}

/// Reads secret `X` as `X` or `X_SECRET_ID`; both set is ambiguous.
pub fn secret_var(
    variable: &'static str,
    id_variable: &'static str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<SecretVar>, ConfigError> {
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    match (get(variable), get(id_variable)) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            variable,
            format!("set either {variable} or {id_variable}, not both"),
        )),
        (Some(value), None) => Ok(Some(SecretVar {
            variable,
            id_variable,
            source: SecretSource::Value(value.into()),
        })),
        (None, Some(id)) => Ok(Some(SecretVar {
            variable,
            id_variable,
            source: SecretSource::SecretsManager(id.trim().to_owned()),
        })),
        (None, None) => Ok(None),
    }
}
