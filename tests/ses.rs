//! The email channel against moto's SES: what is sent can be read back.
mod common;

use mfa_monitor::config::values::EmailAddress;
use mfa_monitor::config::EmailConfig;

fn addr(a: &str) -> EmailAddress {
    EmailAddress::parse("ALERT_EMAIL_TO", a).unwrap()
}
use mfa_monitor::notifiers::ses::SesNotifier;
use mfa_monitor::notifiers::{Message, Notifier};

fn message(tag: &str) -> Message {
    Message {
        subject: format!("[mfa-monitor] 1 high {tag}"),
        text: "aws:123456789012/bob — lost MFA".into(),
        html: "<p>aws:123456789012/bob &mdash; lost MFA</p>".into(),
    }
}

fn recipient() -> String {
    format!("{}@example.com", common::unique("sec"))
}

#[tokio::test]
async fn a_message_is_delivered_with_its_subject_and_body() {
    if common::skip_without_moto() {
        return;
    }
    let cfg = common::account_config(&common::unique_account()).await;
    let (from, to) = common::email_pair(&cfg).await;
    let ses = SesNotifier::new(
        common::ses_client(&cfg),
        EmailConfig {
            from: addr(&from),
            to: vec![addr(&to)],
        },
    );
    ses.send_message(&message("one")).await.unwrap();
    let mails = common::sent_emails_to(&to).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["source"], from);
    assert_eq!(mails[0]["subject"], "[mfa-monitor] 1 high one");
    // moto keeps one body: the HTML part when both are given.
    assert!(
        mails[0]["body"].as_str().unwrap().contains("lost MFA"),
        "{}",
        mails[0]
    );
}

#[tokio::test]
async fn an_unverified_sender_is_an_error_naming_alert_email_from() {
    if common::skip_without_moto() {
        return;
    }
    let cfg = common::account_config(&common::unique_account()).await;
    let to = recipient();
    let ses = SesNotifier::new(
        common::ses_client(&cfg),
        EmailConfig {
            from: addr("nobody@unverified.example.com"),
            to: vec![addr(&to)],
        },
    );
    let err = ses.send_message(&message("x")).await.unwrap_err();
    assert!(err.to_string().contains("ALERT_EMAIL_FROM"), "{err}");
    assert!(common::sent_emails_to(&to).await.is_empty());
    let err = ses.check().await.unwrap_err();
    assert!(err.to_string().contains("ALERT_EMAIL_FROM"), "{err}");
}

#[tokio::test]
async fn check_reports_a_verified_sender() {
    if common::skip_without_moto() {
        return;
    }
    let cfg = common::account_config(&common::unique_account()).await;
    let (from, to) = common::email_pair(&cfg).await;
    let ses = SesNotifier::new(
        common::ses_client(&cfg),
        EmailConfig {
            from: addr(&from),
            to: vec![addr(&to)],
        },
    );
    let detail = ses.check().await.unwrap();
    assert!(
        detail.contains(&from) && detail.contains("verified"),
        "{detail}"
    );
}

#[tokio::test]
async fn sixty_recipients_all_receive_the_message_in_batches_of_fifty() {
    if common::skip_without_moto() {
        return;
    }
    let cfg = common::account_config(&common::unique_account()).await;
    let (from, _) = common::email_pair(&cfg).await;
    let to: Vec<String> = (0..60).map(|_| recipient()).collect();
    let ses = SesNotifier::new(
        common::ses_client(&cfg),
        EmailConfig {
            from: addr(&from),
            to: to.iter().map(|a| addr(a)).collect(),
        },
    );
    ses.send_message(&message("many")).await.unwrap();
    for r in [&to[0], &to[49], &to[50], &to[59]] {
        assert_eq!(common::sent_emails_to(r).await.len(), 1, "{r}");
    }
}
