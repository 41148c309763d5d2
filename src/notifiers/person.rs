//! The word to the person whose account lacks MFA (`MFA_NOTIFY_PEOPLE`,
//! ARCHITECTURE.md §3, people): which account, why it matters, how to turn
//! MFA on there. Pure: the same text goes by e-mail (`ses.rs`) and by
//! Slack direct message (`slack_dm.rs`).

use crate::domain::{Change, ChangeKind, Source};

use super::digest::remediation;

/// Whether a change is one its holder is told of: the account lost MFA
/// (`mfa_disabled`) or is new without it (`new_without_mfa`).
/// `mfa_weakened` (MFA kept, but by SMS) is not: the account still has a
/// second factor, the team is told, and a word to every SMS user would be
/// the noise that teaches people to ignore these messages.
pub fn deserves_word(change: &Change) -> bool {
    change.principal.is_some()
        && matches!(
            change.kind,
            ChangeKind::MfaDisabled | ChangeKind::NewWithoutMfa
        )
}

/// One message to one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonMessage {
    pub subject: String,
    /// Plain text; Slack's mrkdwn shows it as written.
    pub text: String,
}

fn service(source: Source) -> &'static str {
    match source {
        Source::Github => "GitHub",
        Source::Aws => "AWS",
        Source::Snowflake => "Snowflake",
    }
}

/// The message for `change`'s holder. Never names anyone else, and says
/// nothing a stranger holding the mailbox could use beyond the account id.
pub fn person_message(change: &Change) -> PersonMessage {
    let service = service(change.target.source);
    let account = change.subject();
    let what = match change.kind {
        ChangeKind::NewWithoutMfa => "is new and has no multi-factor authentication (MFA)",
        _ => "no longer has multi-factor authentication (MFA)",
    };
    let admin = if change.admin {
        " It has administrator rights, so whoever signs in as you can change everything it can."
    } else {
        ""
    };
    let text = format!(
        "Your {service} account {account} {what}.\n\n\
         Why it matters: without MFA a stolen or guessed password is all it takes to sign in as you.{admin}\n\n\
         How to turn it on: {}\n\n\
         You get this message once for this change. If the account is not yours, tell your security team.",
        remediation(change.target.source)
    );
    PersonMessage {
        subject: format!("Please turn on MFA for your {service} account {account}"),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Severity, TargetKey};

    fn change(kind: ChangeKind, admin: bool) -> Change {
        Change {
            target: TargetKey::new(Source::Aws, "111122223333"),
            principal: Some("alice".into()),
            kind,
            severity: Severity::High,
            previous: None,
            current: None,
            admin,
            detail: None,
            detected_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn only_losing_mfa_or_being_new_without_it_deserves_a_word() {
        assert!(deserves_word(&change(ChangeKind::MfaDisabled, false)));
        assert!(deserves_word(&change(ChangeKind::NewWithoutMfa, false)));
        for kind in [
            ChangeKind::MfaWeakened,
            ChangeKind::MfaEnabled,
            ChangeKind::Removed,
            ChangeKind::BypassActive,
        ] {
            assert!(!deserves_word(&change(kind, false)), "{kind}");
        }
        let mut whole_target = change(ChangeKind::MfaDisabled, false);
        whole_target.principal = None;
        assert!(!deserves_word(&whole_target));
    }

    #[test]
    fn the_message_names_the_account_why_and_how_to_fix_it() {
        let m = person_message(&change(ChangeKind::MfaDisabled, true));
        assert_eq!(
            m.subject,
            "Please turn on MFA for your AWS account aws:111122223333/alice"
        );
        assert!(m
            .text
            .starts_with("Your AWS account aws:111122223333/alice no longer has"));
        assert!(m.text.contains("administrator rights"));
        assert!(m.text.contains(remediation(Source::Aws)));
        let new = person_message(&change(ChangeKind::NewWithoutMfa, false));
        assert!(new.text.contains("is new and has no"), "{}", new.text);
        assert!(!new.text.contains("administrator"));
    }
}
