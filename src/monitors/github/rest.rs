//! The REST transport of the GitHub monitor: every call through the one
//! HTTP client (timeouts, retries, rate limits), only to `GITHUB_API_URL`'s
//! origin, and errors that say what to fix for the kind of credential in
//! use. GitHub's error bodies carry a `message`, never the token.

use reqwest::header::ACCEPT;
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};

use super::super::MonitorError;
use crate::http::{HttpClient, HttpError};

/// Which credential a call carries, for the advice in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A personal access token (`GITHUB_TOKEN`).
    Token,
    /// A GitHub App's installation token.
    Installation,
    /// A GitHub App's own JWT (installation lookup and token minting).
    AppJwt,
}

impl CredentialKind {
    pub fn describe(self) -> &'static str {
        match self {
            CredentialKind::Token => "personal access token (GITHUB_TOKEN)",
            CredentialKind::Installation => "GitHub App installation token",
            CredentialKind::AppJwt => "GitHub App JWT (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY)",
        }
    }
}

/// A bearer credential for one org's calls.
pub struct Bearer {
    pub token: SecretString,
    pub kind: CredentialKind,
}

#[derive(Clone)]
pub struct Rest {
    http: HttpClient,
    api: Url,
}

impl Rest {
    pub fn new(http: HttpClient, api_url: &str) -> Result<Self, crate::config::ConfigError> {
        let api = Url::parse(&format!("{}/", api_url.trim_end_matches('/'))).map_err(|e| {
            crate::config::ConfigError::new("GITHUB_API_URL", format!("`{api_url}`: {e}"))
        })?;
        Ok(Self { http, api })
    }

    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.api.join(path).expect("relative API path");
        url.query_pairs_mut().extend_pairs(query);
        url
    }

    fn same_origin(&self, url: &Url, what: &str) -> Result<(), MonitorError> {
        // Link URLs come from the server: never send the token elsewhere.
        if url.origin() != self.api.origin() {
            return Err(MonitorError::Malformed(format!(
                "{what}: a link points outside GITHUB_API_URL ({})",
                url.origin().ascii_serialization()
            )));
        }
        Ok(())
    }

    pub async fn get(
        &self,
        url: &Url,
        what: &str,
        bearer: &Bearer,
    ) -> Result<reqwest::Response, MonitorError> {
        self.send(reqwest::Method::GET, url, what, bearer).await
    }

    /// A POST whose repetition is harmless (minting an installation token
    /// twice gives two tokens, both valid), so it is retried like a read.
    pub async fn post(
        &self,
        url: &Url,
        what: &str,
        bearer: &Bearer,
    ) -> Result<reqwest::Response, MonitorError> {
        self.send(reqwest::Method::POST, url, what, bearer).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &Url,
        what: &str,
        bearer: &Bearer,
    ) -> Result<reqwest::Response, MonitorError> {
        self.same_origin(url, what)?;
        let token = bearer.token.expose_secret();
        self.http
            .send(|c| {
                c.request(method.clone(), url.clone())
                    .header(ACCEPT, "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", "2022-11-28")
                    .bearer_auth(token)
            })
            .await
            .map_err(|e| http_error(what, e))
    }
}

pub fn http_error(what: &str, err: HttpError) -> MonitorError {
    MonitorError::Call {
        operation: "github",
        message: format!("{what}: {err}"),
        source: Some(Box::new(err)),
    }
}

pub fn body_error(what: &str, err: reqwest::Error) -> MonitorError {
    MonitorError::Call {
        operation: "github",
        message: format!("{what}: reading the body: {}", err.without_url()),
        source: None,
    }
}

/// GitHub's `message` of an error body, if it has one.
pub fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// Passes a 2xx through; turns anything else into an error that says what
/// to fix for the credential `kind`.
pub async fn ok_or_error(
    resp: reqwest::Response,
    what: &str,
    org: &str,
    kind: CredentialKind,
) -> Result<reqwest::Response, MonitorError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let message = error_message(&resp.text().await.unwrap_or_default());
    let needs = match kind {
        CredentialKind::Token => {
            "classic token: `read:org`; fine-grained: organization Members read"
        }
        CredentialKind::Installation | CredentialKind::AppJwt => {
            "the App needs the organization permission Members (read) and must be installed on the org"
        }
    };
    let text = match status {
        StatusCode::UNAUTHORIZED => match kind {
            CredentialKind::Token => format!(
                "{what}: GITHUB_TOKEN was rejected (HTTP 401 {message}): check that the token is valid and not expired"
            ),
            CredentialKind::Installation => format!(
                "{what}: the GitHub App installation token was rejected (HTTP 401 {message}): the installation may have been suspended or removed"
            ),
            CredentialKind::AppJwt => format!(
                "{what}: the GitHub App JWT was rejected (HTTP 401 {message}): check GITHUB_APP_ID, that GITHUB_APP_PRIVATE_KEY is a current key of that App, and this machine's clock"
            ),
        },
        StatusCode::FORBIDDEN => format!(
            "{what}: HTTP 403 {message}: the {} lacks access to {org} ({needs})",
            kind.describe()
        ),
        StatusCode::NOT_FOUND => format!(
            "{what}: HTTP 404: organization {org} does not exist or the {} cannot see it",
            kind.describe()
        ),
        s => format!("{what}: HTTP {s} {message}"),
    };
    Err(MonitorError::Call {
        operation: "github",
        message: text,
        source: None,
    })
}
