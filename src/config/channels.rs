//! The channels' configuration: SES e-mail (sender and recipients) and
//! the Slack webhook (a secret).

use super::secret::{secret_var, SecretVar};
use super::values::EmailAddress;
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

/// `SLACK_WEBHOOK_URL` / `SLACK_WEBHOOK_URL_SECRET_ID`; its value is
/// checked once resolved (`app.rs`), never shown.
pub fn slack(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<SecretVar>, ConfigError> {
    secret_var("SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL_SECRET_ID", lookup)
}
