//! Resolves secrets given as `X_SECRET_ID` from AWS Secrets Manager, once at
//! start, without the whitespace and newlines around the value. Errors name
//! the variable and the secret id, never the value.

use secrecy::SecretString;

use crate::config::{trimmed, SecretSource, SecretVar};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("could not read secret `{secret_id}`: {message}")]
    Read {
        variable: &'static str,
        id_variable: &'static str,
        secret_id: String,
        message: String,
    },
    #[error("secret `{secret_id}` has no string value")]
    NotAString {
        variable: &'static str,
        id_variable: &'static str,
        secret_id: String,
    },
    #[error("secret `{secret_id}` is empty (or only whitespace)")]
    Empty {
        variable: &'static str,
        id_variable: &'static str,
        secret_id: String,
    },
}

impl SecretError {
    /// The variable at fault: the `_SECRET_ID` one.
    pub fn variable(&self) -> &'static str {
        match self {
            SecretError::Read { id_variable, .. }
            | SecretError::NotAString { id_variable, .. }
            | SecretError::Empty { id_variable, .. } => id_variable,
        }
    }
}

pub async fn resolve(
    var: &SecretVar,
    client: &aws_sdk_secretsmanager::Client,
) -> Result<SecretString, SecretError> {
    let secret_id = match &var.source {
        SecretSource::Value(v) => return Ok(v.clone()),
        SecretSource::SecretsManager(id) => id,
    };
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            variable: var.variable,
            id_variable: var.id_variable,
            secret_id: secret_id.clone(),
            // The SDK error carries the service code and message, not the
            // secret value, which only arrives on success.
            message: crate::aws::error_text(&e),
        })?;
    match out.secret_string {
        Some(s) => {
            let s = trimmed(s);
            if s.is_empty() {
                return Err(SecretError::Empty {
                    variable: var.variable,
                    id_variable: var.id_variable,
                    secret_id: secret_id.clone(),
                });
            }
            Ok(SecretString::from(s))
        }
        None => Err(SecretError::NotAString {
            variable: var.variable,
            id_variable: var.id_variable,
            secret_id: secret_id.clone(),
        }),
    }
}
