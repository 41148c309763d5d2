//! Secret variables: a secret `X` is given as `X` (local runs) or as
//! `X_SECRET_ID` (a Secrets Manager id, resolved once by `secrets.rs`).
//! Neither form ever shows the value. Either way the value loses the
//! whitespace and newlines around it (`echo` into a file, a console paste).

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

impl SecretVar {
    /// The variable to fix when the value is wrong: `X`, or `X_SECRET_ID`
    /// when the value came from Secrets Manager.
    pub fn origin(&self) -> &'static str {
        match self.source {
            SecretSource::Value(_) => self.variable,
            SecretSource::SecretsManager(_) => self.id_variable,
        }
    }
}

/// `text` without the whitespace and newlines around it, trimmed in place:
/// no second copy of the secret is left in freed memory.
pub fn trimmed(mut text: String) -> String {
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    text.drain(..start);
    text
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
            source: SecretSource::Value(trimmed(value).into()),
        })),
        (None, Some(id)) => Ok(Some(SecretVar {
            variable,
            id_variable,
            source: SecretSource::SecretsManager(id.trim().to_owned()),
        })),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_secret_loses_the_whitespace_and_newlines_around_it_and_keeps_what_is_inside() {
        assert_eq!(trimmed(" \t ghp_abc \r\n".into()), "ghp_abc");
        assert_eq!(trimmed("a b\n".into()), "a b");
        assert_eq!(trimmed(" \n ".into()), "");
        let var = secret_var("GITHUB_TOKEN", "GITHUB_TOKEN_SECRET_ID", |k| {
            (k == "GITHUB_TOKEN").then(|| "ghp_abc\n".to_owned())
        })
        .unwrap()
        .unwrap();
        let SecretSource::Value(v) = &var.source else {
            panic!("a value")
        };
        assert_eq!(v.expose_secret(), "ghp_abc");
        assert_eq!(var.origin(), "GITHUB_TOKEN");
    }

    #[test]
    fn a_secret_from_secrets_manager_is_fixed_through_its_id_variable() {
        let var = secret_var("GITHUB_TOKEN", "GITHUB_TOKEN_SECRET_ID", |k| {
            (k == "GITHUB_TOKEN_SECRET_ID").then(|| " gh-token \n".to_owned())
        })
        .unwrap()
        .unwrap();
        assert!(matches!(&var.source, SecretSource::SecretsManager(id) if id == "gh-token"));
        assert_eq!(var.origin(), "GITHUB_TOKEN_SECRET_ID");
    }
}
