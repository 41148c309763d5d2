//! The channels' configuration: SES e-mail (sender and recipients) and
//! the Slack webhook (a secret).

use reqwest::Url;

use super::secret::{secret_var, SecretVar};
use super::values::{http_url, is_loopback, EmailAddress};
use super::ConfigError;
use crate::text::comma_list;

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub from: EmailAddress,
    pub to: Vec<EmailAddress>,
}

/// `ALERT_EMAIL_FROM` and `ALERT_EMAIL_TO`: both or neither.
pub fn email(get: &impl Fn(&str) -> Option<String>) -> Result<Option<EmailConfig>, ConfigError> {
    match (get("ALERT_EMAIL_FROM"), get("ALERT_EMAIL_TO")) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::new(
            "ALERT_EMAIL_TO",
            "ALERT_EMAIL_FROM is set but no recipient is",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "ALERT_EMAIL_FROM",
            "ALERT_EMAIL_TO is set but no sender is",
        )),
        (Some(from), Some(to)) => {
            let from = EmailAddress::parse("ALERT_EMAIL_FROM", &from)?;
            let to = comma_list(&to)
                .map(|a| EmailAddress::parse("ALERT_EMAIL_TO", a))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(EmailConfig { from, to }))
        }
    }
}

/// The hosts of Slack's incoming webhooks: Slack, and GovSlack (Slack for
/// US public sector, on its own domain `slack-gov.com`).
pub const SLACK_WEBHOOK_HOSTS: [&str; 2] = ["hooks.slack.com", "hooks.slack-gov.com"];

/// Checks a resolved webhook URL: `https://hooks.slack.com/…` (or
/// GovSlack's `hooks.slack-gov.com`) on the default port with a path, or
/// any http(s) URL to this machine (tests, a local emulator). Anything else
/// would send the alerts, and the channel's secret, somewhere that is not
/// Slack. The reason never repeats the URL: it is the secret.
pub fn slack_webhook_url(text: &str) -> Result<Url, &'static str> {
    let url = http_url(text)?;
    if is_loopback(&url) {
        return Ok(url);
    }
    if !url
        .host_str()
        .is_some_and(|h| SLACK_WEBHOOK_HOSTS.contains(&h))
    {
        return Err("the host is not hooks.slack.com (nor GovSlack's hooks.slack-gov.com)");
    }
    if url.port().is_some() {
        return Err("a Slack webhook URL names no port");
    }
    if url.path().trim_matches('/').is_empty() {
        return Err("no webhook path after the host (https://hooks.slack.com/services/…)");
    }
    Ok(url)
}

/// `SLACK_WEBHOOK_URL` / `SLACK_WEBHOOK_URL_SECRET_ID`; its value is
/// checked once resolved (`app.rs`, [`slack_webhook_url`]), never shown.
pub fn slack(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<SecretVar>, ConfigError> {
    secret_var("SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL_SECRET_ID", lookup)
}

/// Telling the account holder (`MFA_NOTIFY_PEOPLE=true`, ARCHITECTURE.md
/// §3, people): by e-mail from `ALERT_EMAIL_FROM`, and by Slack direct
/// message when a bot token is set.
#[derive(Debug, Clone)]
pub struct NotifyPeopleConfig {
    /// The SES sender of the person's e-mail (`ALERT_EMAIL_FROM`), if any.
    pub email_from: Option<EmailAddress>,
    /// `SLACK_BOT_TOKEN` / `SLACK_BOT_TOKEN_SECRET_ID`, resolved in `app.rs`.
    pub slack_bot_token: Option<SecretVar>,
    /// The Slack Web API's base (`SLACK_API_URL`, default
    /// [`DEFAULT_SLACK_API_URL`]): a local server in tests.
    pub slack_api_url: super::values::ServiceUrl,
}

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

/// `MFA_NOTIFY_PEOPLE` (`true`/`false`, default off) and what it needs:
/// off, the bot token and API URL are not even read, so nothing changes.
pub fn notify_people(
    get: &impl Fn(&str) -> Option<String>,
    lookup: &impl Fn(&str) -> Option<String>,
    email: Option<&EmailConfig>,
) -> Result<Option<NotifyPeopleConfig>, ConfigError> {
    match get("MFA_NOTIFY_PEOPLE").as_deref() {
        None | Some("false") => return Ok(None),
        Some("true") => {}
        Some(other) => {
            return Err(ConfigError::new(
                "MFA_NOTIFY_PEOPLE",
                format!("must be true or false, got `{other}`"),
            ))
        }
    }
    let slack_bot_token = secret_var("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN_SECRET_ID", lookup)?;
    let email_from = email.map(|e| e.from.clone());
    if email_from.is_none() && slack_bot_token.is_none() {
        return Err(ConfigError::new(
            "MFA_NOTIFY_PEOPLE",
            "true, but there is no way to tell anyone: set ALERT_EMAIL_FROM (with ALERT_EMAIL_TO) and/or SLACK_BOT_TOKEN",
        ));
    }
    let slack_api_url = super::values::ServiceUrl::parse(
        "SLACK_API_URL",
        &get("SLACK_API_URL").unwrap_or_else(|| DEFAULT_SLACK_API_URL.to_owned()),
        "",
    )?;
    Ok(Some(NotifyPeopleConfig {
        email_from,
        slack_bot_token,
        slack_api_url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_webhook_url_is_slacks_or_govslacks_over_https_or_on_this_machine() {
        for good in [
            "https://hooks.slack.com/services/T0/B0/s3cret",
            "https://hooks.slack.com/workflows/T0/A0/1/s3cret",
            "https://hooks.slack-gov.com/services/T0/B0/s3cret",
            "http://127.0.0.1:4010/services/T0/B0/s3cret",
            "http://localhost:4010/services/T0/B0/s3cret",
        ] {
            assert!(slack_webhook_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://hooks.slack.com/services/T0/B0/s3cret",
            "https://hooks.slack.com.evil.example/services/T0/B0/s3cret",
            "https://evil.example/hooks.slack.com/services/T0/B0/s3cret",
            "https://slack.com/services/T0/B0/s3cret",
            "https://hooks.slack.com:8443/services/T0/B0/s3cret",
            "https://hooks.slack.com/",
            "https://u:s3cret@hooks.slack.com/services/T0/B0/x",
            "hooks.slack.com/services/T0/B0/s3cret",
            "T0/B0/s3cret",
        ] {
            let why = slack_webhook_url(bad).unwrap_err();
            assert!(
                !why.contains("s3cret") && !why.contains("T0"),
                "{bad}: {why}"
            );
        }
    }
}
