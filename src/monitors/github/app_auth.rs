//! GitHub App authentication: an RS256 JWT of the App (`iat` backdated 60 s
//! against clock drift, `exp` 9 minutes on, inside GitHub's 10-minute
//! bound), the installation of each org (`GET /orgs/{org}/installation`),
//! and an installation token per installation (`POST
//! /app/installations/{id}/access_tokens`, valid one hour), reused until
//! five minutes before its `expires_at` and minted again then. The
//! margin outlasts a target's read (at most `MFA_TARGET_TIMEOUT_SECONDS`),
//! so a token never expires halfway through an org.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tracing::debug;

use super::super::MonitorError;
use super::rest::{body_error, error_message, Bearer, CredentialKind, Rest};
use crate::jwt::Rs256Signer;

/// GitHub recommends an `iat` 60 s in the past.
const BACKDATE: Duration = Duration::from_secs(60);
/// `exp - now`; GitHub refuses more than 10 minutes.
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);
/// A cached installation token is used only while it has this much left.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

#[derive(Serialize)]
struct Claims {
    iat: u64,
    exp: u64,
    /// A numeric App id as a number (as GitHub's examples send it), a
    /// client id (`Iv23...`) as a string.
    iss: serde_json::Value,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: DateTime<Utc>,
}

struct Cached {
    token: SecretString,
    expires_at: SystemTime,
}

pub struct AppAuth {
    app_id: String,
    signer: Rs256Signer,
    /// org (lower case) → installation id. Kept for the life of the monitor
    /// (one pass, or one Lambda sandbox); an installation removed meanwhile
    /// shows as a 404 when its token is minted, and the org fails.
    installations: Mutex<HashMap<String, u64>>,
    tokens: Mutex<HashMap<u64, Cached>>,
}

impl std::fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppAuth")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl AppAuth {
    pub fn new(app_id: String, signer: Rs256Signer) -> Self {
        Self {
            app_id,
            signer,
            installations: Mutex::default(),
            tokens: Mutex::default(),
        }
    }

    /// The App's own JWT, minted fresh for each use (it is cheap and lives
    /// minutes).
    pub fn app_jwt(&self, now: SystemTime) -> Result<Bearer, MonitorError> {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let claims = Claims {
            iat: (now - BACKDATE.min(now)).as_secs(),
            exp: (now + JWT_LIFETIME).as_secs(),
            iss: self
                .app_id
                .parse::<u64>()
                .map_or_else(|_| self.app_id.clone().into(), Into::into),
        };
        let token = self
            .signer
            .encode(&claims)
            .map_err(|e| MonitorError::Call {
                operation: "github",
                message: format!("signing the GitHub App JWT: {e}"),
                source: Some(Box::new(e)),
            })?;
        Ok(Bearer {
            token: token.into(),
            kind: CredentialKind::AppJwt,
        })
    }

    /// An installation token for `org`: the cached one while it has more
    /// than [`REFRESH_BEFORE`] left, else a new one. The lock is held while
    /// minting, so concurrent reads of one org mint one token.
    pub async fn bearer_for(&self, rest: &Rest, org: &str) -> Result<Bearer, MonitorError> {
        let installation = self.installation(rest, org).await?;
        let mut tokens = self.tokens.lock().await;
        let now = SystemTime::now();
        if let Some(c) = tokens.get(&installation) {
            if c.expires_at > now + REFRESH_BEFORE {
                return Ok(Bearer {
                    token: c.token.clone(),
                    kind: CredentialKind::Installation,
                });
            }
        }
        let what = format!("POST /app/installations/{installation}/access_tokens");
        let url = rest.url(
            &format!("app/installations/{installation}/access_tokens"),
            &[],
        );
        let resp = rest.post(&url, &what, &self.app_jwt(now)?).await?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| body_error(&what, e))?;
        if !status.is_success() {
            return Err(self.refusal(&what, org, status, &body));
        }
        // serde's message can quote a value, and the value may be the
        // token: only the kind and place of the fault are shown.
        let minted: AccessToken = serde_json::from_str(&body).map_err(|e| {
            MonitorError::Malformed(format!(
                "{what}: not an installation token response ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let expires_at = SystemTime::from(minted.expires_at);
        debug!(%org, installation, expires_at = %minted.expires_at, "installation token minted");
        let token: SecretString = minted.token.into();
        tokens.insert(
            installation,
            Cached {
                token: token.clone(),
                expires_at,
            },
        );
        Ok(Bearer {
            token,
            kind: CredentialKind::Installation,
        })
    }

    async fn installation(&self, rest: &Rest, org: &str) -> Result<u64, MonitorError> {
        let key = org.to_ascii_lowercase();
        if let Some(id) = self.installations.lock().await.get(&key) {
            return Ok(*id);
        }
        let what = format!("GET /orgs/{org}/installation");
        let url = rest.url(&format!("orgs/{org}/installation"), &[]);
        let resp = rest
            .get(&url, &what, &self.app_jwt(SystemTime::now())?)
            .await?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| body_error(&what, e))?;
        if !status.is_success() {
            return Err(self.refusal(&what, org, status, &body));
        }
        let found: Installation = serde_json::from_str(&body).map_err(|e| {
            MonitorError::Malformed(format!("{what}: not an installation object: {e}"))
        })?;
        self.installations.lock().await.insert(key, found.id);
        Ok(found.id)
    }

    fn refusal(
        &self,
        what: &str,
        org: &str,
        status: reqwest::StatusCode,
        body: &str,
    ) -> MonitorError {
        let message = error_message(body);
        let text = match status.as_u16() {
            401 => format!(
                "{what}: the GitHub App JWT was rejected (HTTP 401 {message}): check GITHUB_APP_ID ({}), that GITHUB_APP_PRIVATE_KEY is a current key of that App, and this machine's clock",
                self.app_id
            ),
            404 => format!(
                "{what}: HTTP 404: the GitHub App {} is not installed on {org} (install it on the organization; README: GitHub App)",
                self.app_id
            ),
            403 => format!(
                "{what}: HTTP 403 {message}: the installation of App {} on {org} is suspended or refused",
                self.app_id
            ),
            _ => format!("{what}: HTTP {status} {message}"),
        };
        MonitorError::Call {
            operation: "github",
            message: text,
            source: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn the_app_jwt_is_backdated_a_minute_lives_under_ten_and_names_the_app() {
        let signer = Rs256Signer::from_rsa_pem(include_str!(
            "../../../tests/fixtures/github-app-test-key.pem"
        ))
        .unwrap();
        let auth = AppAuth::new("123456".into(), signer);
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let jwt = auth.app_jwt(now).unwrap();
        assert_eq!(jwt.kind, CredentialKind::AppJwt);
        let token = secrecy::ExposeSecret::expose_secret(&jwt.token).to_owned();
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["iss"], 123456, "a numeric id goes as a number");
        assert_eq!(claims["iat"], 1_800_000_000 - 60);
        let exp = claims["exp"].as_u64().unwrap();
        assert!(exp > 1_800_000_000 && exp - 1_800_000_000 <= 600, "{exp}");
    }
}
