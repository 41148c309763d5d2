//! A Slack direct message to an account holder through the Web API
//! (`SLACK_BOT_TOKEN`, `MFA_NOTIFY_PEOPLE`): `users.lookupByEmail` finds the
//! user by address, then `chat.postMessage` with `channel` = the user id
//! opens (or reuses) the DM with the bot.
//!
//! Shapes (https://docs.slack.dev/reference/methods/users.lookupByEmail,
//! .../chat.postMessage): HTTP 200 with `{"ok":true,"user":{"id":"W…"}}`
//! or `{"ok":false,"error":"users_not_found"}`; a rate limit is HTTP 429
//! with `Retry-After` in seconds (`ratelimited`), waited out by
//! `http.rs` within its budget. The token goes in the `Authorization`
//! header, never in a URL, and is never logged.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::http::{HttpClient, Retry};

#[derive(Debug, thiserror::Error)]
pub enum DmError {
    /// Slack knows nobody by that address: a final answer, not retried
    /// (asking again next pass would get the same, forever).
    #[error("no Slack user has this address (users_not_found)")]
    NoSuchUser,
    /// Anything else (`channel_not_found`, a rate limit beyond the budget,
    /// the network): this person's message stays pending.
    #[error("Slack Web API {method}: {message}")]
    Failed {
        method: &'static str,
        message: String,
    },
}

pub struct SlackDm {
    http: HttpClient,
    /// `SLACK_API_URL`, without a trailing `/`.
    api: String,
    token: SecretString,
}

impl SlackDm {
    pub fn new(http: HttpClient, api: &str, token: SecretString) -> Self {
        Self {
            http,
            api: api.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// Tells the Slack user registered with `email` `text`.
    pub async fn tell(&self, email: &str, text: &str) -> Result<(), DmError> {
        let user = self.lookup(email).await?;
        let body = json!({ "channel": user, "text": text, "unfurl_links": false });
        let url = format!("{}/chat.postMessage", self.api);
        let token = self.token.expose_secret();
        // A post may take effect even when its answer is lost: repeated
        // only when Slack refused it (429) or it was never sent.
        let resp = self
            .http
            .send_with(Retry::UnlessSent, |c, _| {
                c.post(&url).bearer_auth(token).json(&body)
            })
            .await
            .map_err(|e| failed("chat.postMessage", e.to_string()))?;
        answer("chat.postMessage", resp).await.map(|_| ())
    }

    /// For `mfa-monitor check`: `auth.test` says whose token it is; the
    /// `x-oauth-scopes` header Slack sends with Web API answers says
    /// whether it may look people up and write to them.
    pub async fn check(&self) -> Result<String, DmError> {
        let url = format!("{}/auth.test", self.api);
        let token = self.token.expose_secret();
        let resp = self
            .http
            .send(|c| c.post(&url).bearer_auth(token))
            .await
            .map_err(|e| failed("auth.test", e.to_string()))?;
        let scopes = resp
            .headers()
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .collect::<Vec<_>>()
            });
        let v = answer("auth.test", resp).await?;
        let who = format!(
            "bot {} in {}",
            v["user"].as_str().unwrap_or("(unnamed)"),
            v["team"].as_str().unwrap_or("(unnamed workspace)")
        );
        match scopes {
            None => Ok(format!("{who}; its scopes were not reported")),
            Some(have) => {
                let missing: Vec<&str> = NEEDED_SCOPES
                    .iter()
                    .copied()
                    .filter(|need| !have.iter().any(|h| h == need))
                    .collect();
                if missing.is_empty() {
                    Ok(format!("{who}, with {}", NEEDED_SCOPES.join(" and ")))
                } else {
                    Err(failed(
                        "auth.test",
                        format!("{who} lacks the scope(s) {}", missing.join(", ")),
                    ))
                }
            }
        }
    }

    /// The user id of `email`.
    async fn lookup(&self, email: &str) -> Result<String, DmError> {
        let mut url = reqwest::Url::parse(&format!("{}/users.lookupByEmail", self.api))
            .map_err(|e| failed("users.lookupByEmail", format!("SLACK_API_URL: {e}")))?;
        url.query_pairs_mut().append_pair("email", email);
        let token = self.token.expose_secret();
        let resp = self
            .http
            .send(|c| c.get(url.clone()).bearer_auth(token))
            .await
            .map_err(|e| failed("users.lookupByEmail", e.to_string()))?;
        let v = answer("users.lookupByEmail", resp).await?;
        v["user"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| failed("users.lookupByEmail", "no user id in the answer".into()))
    }
}

/// What a direct message needs: the user found by address, then a post.
const NEEDED_SCOPES: [&str; 2] = ["users:read.email", "chat:write"];

fn failed(method: &'static str, message: String) -> DmError {
    DmError::Failed { method, message }
}

/// The body of an `ok` answer; Slack's own error code otherwise.
async fn answer(method: &'static str, resp: reqwest::Response) -> Result<Value, DmError> {
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .map_err(|e| failed(method, format!("HTTP {status}, not a Web API answer: {e}")))?;
    if v["ok"].as_bool() == Some(true) {
        return Ok(v);
    }
    let code = v["error"].as_str().unwrap_or("no error code");
    Err(match code {
        // Older documentation spells it `user_not_found`.
        "users_not_found" | "user_not_found" => DmError::NoSuchUser,
        _ => failed(method, format!("HTTP {status} `{}`{}", code, hint(code))),
    })
}

fn hint(code: &str) -> &'static str {
    match code {
        "missing_scope" => "; the bot needs the users:read.email and chat:write scopes",
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => {
            "; check SLACK_BOT_TOKEN"
        }
        _ => "",
    }
}
