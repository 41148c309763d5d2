//! The media an account holder is told by (`MFA_NOTIFY_PEOPLE`): e-mail
//! through SES and, with a bot token, a Slack direct message. Which change
//! is told, and the bookkeeping, are `run/tell.rs`'s.

use tracing::warn;

use super::person::PersonMessage;
use super::ses::PersonEmailer;
use super::slack_dm::{DmError, SlackDm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Medium {
    Email,
    Slack,
}

impl Medium {
    pub const ALL: [Medium; 2] = [Medium::Email, Medium::Slack];

    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Email => "email",
            Medium::Slack => "slack",
        }
    }

    pub fn parse(text: &str) -> Option<Medium> {
        Medium::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// What telling one person by one medium came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Told {
    Yes,
    /// The medium knows nobody by that address (Slack's
    /// `users_not_found`): final, not retried.
    Unknown,
    /// Try again next pass.
    Failed(String),
}

pub struct PeopleTeller {
    pub email: Option<PersonEmailer>,
    pub slack: Option<SlackDm>,
}

impl PeopleTeller {
    pub fn has(&self, medium: Medium) -> bool {
        match medium {
            Medium::Email => self.email.is_some(),
            Medium::Slack => self.slack.is_some(),
        }
    }

    pub fn media(&self) -> impl Iterator<Item = Medium> + '_ {
        Medium::ALL.into_iter().filter(|m| self.has(*m))
    }

    /// Tells `address` `message` by `medium`; `principal` only for the log.
    pub async fn tell(
        &self,
        medium: Medium,
        address: &str,
        message: &PersonMessage,
        principal: &str,
    ) -> Told {
        let result = match (medium, &self.email, &self.slack) {
            (Medium::Email, Some(email), _) => email
                .send(address, message)
                .await
                .map_err(|e| Some(e.to_string())),
            (Medium::Slack, _, Some(slack)) => match slack.tell(address, &message.text).await {
                Ok(()) => Ok(()),
                Err(DmError::NoSuchUser) => Err(None),
                Err(e) => Err(Some(e.to_string())),
            },
            _ => Err(Some(format!("{} is not configured", medium.as_str()))),
        };
        match result {
            Ok(()) => Told::Yes,
            Err(None) => {
                warn!(
                    principal,
                    medium = medium.as_str(),
                    "the account holder's address is unknown to Slack; not retried"
                );
                Told::Unknown
            }
            Err(Some(e)) => Told::Failed(e),
        }
    }
}
