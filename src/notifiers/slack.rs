//! Slack through an incoming webhook: Block Kit (header, sections, context)
//! with a plain `text` fallback, rendered from the same `Digest` as email.
//! Names from sources are escaped for mrkdwn, so a login cannot inject a
//! link or a mention; a message beyond Slack's limits is summarised with a
//! count, never rejected. The webhook URL is a secret: never printed.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::render::{Digest, Item};
use super::{Notifier, NotifyError};
use crate::http::HttpClient;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_TEXT: usize = 3000;
pub const MAX_HEADER: usize = 150;

/// Escapes the three characters Slack's mrkdwn gives meaning to.
pub fn escape_mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn line(i: &Item) -> String {
    let mut l = format!(
        "• {} — {}",
        escape_mrkdwn(&i.subject),
        escape_mrkdwn(&i.summary)
    );
    if i.admin {
        l.push_str(" *[admin]*");
    }
    if let Some(d) = &i.detail {
        l.push_str(": ");
        l.push_str(&escape_mrkdwn(d));
    }
    if i.delayed {
        l.push_str(&format!(
            " _(delayed: detected {})_",
            i.since.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    truncate(&l, MAX_TEXT / 2)
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}]})
}

/// The webhook payload for a digest, within Slack's limits.
pub fn payload(d: &Digest) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&format!("MFA: {}", d.title), MAX_HEADER), "emoji": true}
    })];
    if !d.warnings.is_empty() {
        let text: Vec<String> = d
            .warnings
            .iter()
            .map(|w| format!("• {}", escape_mrkdwn(w)))
            .collect();
        blocks.push(section(&format!(
            ":warning: *Attention*\n{}",
            text.join("\n")
        )));
    }
    // Room for the closing "and N more" context.
    let budget = MAX_BLOCKS - 1;
    let mut not_shown = 0usize;
    for (n, g) in d.groups.iter().enumerate() {
        let last_of_source = d
            .groups
            .get(n + 1)
            .is_none_or(|next| next.source != g.source);
        let mut chunks: Vec<String> = vec![format!("*{}*", escape_mrkdwn(&g.heading))];
        for i in &g.items {
            let l = line(i);
            let current = chunks.last_mut().expect("one chunk");
            if current.chars().count() + 1 + l.chars().count() > MAX_TEXT {
                chunks.push(l);
            } else {
                current.push('\n');
                current.push_str(&l);
            }
        }
        let needed = chunks.len() + 1;
        if blocks.len() + needed > budget {
            not_shown += g.items.len() + g.omitted;
            continue;
        }
        blocks.extend(chunks.iter().map(|c| section(c)));
        // The remediation once per source, after its last group.
        let mut ctx = if last_of_source {
            escape_mrkdwn(g.remediation)
        } else {
            String::new()
        };
        if g.omitted > 0 {
            ctx = format!("… and {} more not listed. {ctx}", g.omitted);
        }
        if !ctx.is_empty() {
            blocks.push(context(ctx.trim_end()));
        }
    }
    if not_shown > 0 {
        blocks.push(context(&format!(
            "… and {not_shown} more not shown here: see the email or run `mfa-monitor status`."
        )));
    }
    json!({
        "text": truncate(&format!("mfa-monitor: {}", escape_mrkdwn(&d.title)), MAX_TEXT),
        "blocks": blocks,
    })
}

pub struct SlackNotifier {
    http: HttpClient,
    url: SecretString,
}

impl SlackNotifier {
    pub fn new(http: HttpClient, url: SecretString) -> Self {
        Self { http, url }
    }

    fn error(message: String) -> NotifyError {
        NotifyError {
            channel: "slack",
            message,
            source: None,
        }
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn channel(&self) -> &'static str {
        "slack"
    }

    async fn send(&self, digest: &Digest) -> Result<(), NotifyError> {
        self.post(&payload(digest)).await
    }

    async fn send_report(&self, report: &crate::report::Report) -> Result<(), NotifyError> {
        self.post(&crate::report::slack(report)).await
    }

    async fn check(&self) -> Result<String, NotifyError> {
        // A webhook cannot be probed without posting to the channel.
        Ok("webhook configured (not called: a test post would notify the channel)".into())
    }
}

impl SlackNotifier {
    async fn post(&self, body: &Value) -> Result<(), NotifyError> {
        let url = self.url.expose_secret();
        let resp = self
            .http
            .send(|c| c.post(url).json(body))
            .await
            .map_err(|e| Self::error(format!("posting to SLACK_WEBHOOK_URL failed: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        // Slack answers errors with a short plain-text code.
        let code: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(100)
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let hint = match code.as_str() {
            "no_service"
            | "channel_not_found"
            | "channel_is_archived"
            | "no_team"
            | "team_disabled" => {
                "; the webhook no longer exists: create a new one and update SLACK_WEBHOOK_URL"
            }
            "invalid_token" | "action_prohibited" => {
                "; the webhook was revoked: update SLACK_WEBHOOK_URL"
            }
            "invalid_payload" | "too_many_attachments" => {
                "; Slack rejected the message format (a bug: please report it)"
            }
            _ => "",
        };
        Err(Self::error(format!(
            "SLACK_WEBHOOK_URL answered HTTP {status} `{code}`{hint}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(
            escape_mrkdwn("<!channel> <https://evil|x> & co"),
            "&lt;!channel&gt; &lt;https://evil|x&gt; &amp; co"
        );
    }

    #[test]
    fn long_text_is_truncated_on_a_character_boundary() {
        let s = "é".repeat(200);
        let t = truncate(&s, MAX_HEADER);
        assert_eq!(t.chars().count(), MAX_HEADER);
        assert!(t.ends_with('…'));
    }
}
