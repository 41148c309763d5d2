//! `mfa-monitor exempt add|list|remove`: exemptions kept in the state store
//! (the DynamoDB table in Lambda, the state file locally), so that an
//! exception needs no redeploy and ends on its own date.

use chrono::Utc;
use serde::Serialize;
use tracing::info;

use super::args::ExemptCommand;
use super::{Print, EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use crate::app::App;
use crate::config::values::EmailAddress;
use crate::domain::exemption::{validate, Exemption, ExemptionNotice, Request};
use crate::domain::PrincipalId;

/// One row of `exempt list`: a stored exemption, or a permanent one.
#[derive(Debug, Serialize)]
struct Listed {
    principal: String,
    /// `None` for a permanent exemption (`MFA_EXEMPT`).
    until: Option<String>,
    days_left: Option<i64>,
    permanent: bool,
    reason: String,
    owner: Option<String>,
    added_by: Option<String>,
    added_at: Option<String>,
}

pub(super) async fn exempt(app: App, command: ExemptCommand, print: Print) -> u8 {
    match command {
        ExemptCommand::Add {
            principal,
            until,
            reason,
            owner,
        } => add(app, &principal, &until, &reason, owner.as_deref(), print).await,
        ExemptCommand::List => list(app, print).await,
        ExemptCommand::Remove { principal } => remove(app, &principal, print).await,
    }
}

/// Who is adding: the local user (the AWS identity is not asked for, so
/// that a local state file needs no AWS at all).
fn caller() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

async fn add(
    app: App,
    principal: &str,
    until: &str,
    reason: &str,
    owner: Option<&str>,
    print: Print,
) -> u8 {
    let owner = match owner.map(|o| EmailAddress::parse("--owner", o.trim())) {
        None => None,
        Some(Ok(o)) => Some(o.as_str().to_owned()),
        Some(Err(e)) => {
            print.error(e);
            return EXIT_CONFIG;
        }
    };
    let request = Request {
        principal,
        until,
        reason,
        owner,
        added_by: caller(),
    };
    let exemption = match validate(request, Utc::now(), app.config.exempt_max_days as i64) {
        Ok(e) => e,
        Err(e) => {
            print.error(e);
            return EXIT_CONFIG;
        }
    };
    // Read first only to tell "added" from "changed" in the line the next
    // pass sends; the write itself does not depend on it.
    let previous = match app.store.exemptions().await {
        Ok(all) => all.into_iter().find(|e| e.principal == exemption.principal),
        Err(e) => {
            print.error(e);
            return EXIT_FAILED;
        }
    };
    let notice = ExemptionNotice::put(&exemption, previous.as_ref());
    if let Err(e) = app.store.put_exemption(&exemption, &notice).await {
        print.error(e);
        return EXIT_FAILED;
    }
    let action = if previous.is_some() {
        "exemption changed"
    } else {
        "exemption added"
    };
    info!(principal = %exemption.principal, until = %exemption.until, reason = %exemption.reason, owner = exemption.owner.as_deref().unwrap_or(""), added_by = %exemption.added_by, "{action}");
    print.result(&listed(&exemption), || {
        format!(
            "{} exempt until {} (inclusive): {}\n",
            exemption.principal, exemption.until, exemption.reason
        )
    });
    EXIT_OK
}

fn listed(e: &Exemption) -> Listed {
    Listed {
        principal: e.principal.to_string(),
        until: Some(e.until.to_string()),
        days_left: Some(e.days_left(Utc::now().date_naive())),
        permanent: false,
        reason: e.reason.clone(),
        owner: e.owner.clone(),
        added_by: Some(e.added_by.clone()),
        added_at: Some(e.added_at.to_rfc3339()),
    }
}

async fn list(app: App, print: Print) -> u8 {
    let stored = match app.store.exemptions().await {
        Ok(s) => s,
        Err(e) => {
            print.error(e);
            return EXIT_FAILED;
        }
    };
    let mut rows: Vec<Listed> = stored.iter().map(listed).collect();
    rows.extend(app.config.exemptions.iter().map(|id| Listed {
        principal: id.to_string(),
        until: None,
        days_left: None,
        permanent: true,
        reason: "MFA_EXEMPT".into(),
        owner: None,
        added_by: None,
        added_at: None,
    }));
    rows.sort_by(|a, b| a.principal.cmp(&b.principal));
    print.result(&rows, || {
        let mut out = String::new();
        if rows.is_empty() {
            out.push_str("(no exemptions)\n");
        }
        for r in &rows {
            let when = match (&r.until, r.days_left) {
                (Some(u), Some(d)) if d > 0 => format!("until {u} ({d} days left)"),
                (Some(u), _) => format!("until {u} (expired)"),
                _ => "permanent".into(),
            };
            let who = match (&r.added_by, &r.added_at) {
                (Some(by), Some(at)) => format!("; added by {by} at {at}"),
                _ => String::new(),
            };
            let owner = r
                .owner
                .as_deref()
                .map(|o| format!("; owner {o}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{}  {when}  {}{owner}{who}\n",
                r.principal, r.reason
            ));
        }
        out
    });
    EXIT_OK
}

async fn remove(app: App, principal: &str, print: Print) -> u8 {
    let id: PrincipalId = match principal.parse() {
        Ok(id) => id,
        Err(e) => {
            print.error(format!(
                "`{principal}` is not a principal id of the form SOURCE:TARGET/NAME: {e}"
            ));
            return EXIT_CONFIG;
        }
    };
    let notice = ExemptionNotice::removed(&id, &caller(), Utc::now());
    match app.store.remove_exemption(&notice).await {
        Ok(true) => {
            info!(principal = %id, removed_by = %notice.by, "exemption removed");
            print.result(&serde_json::json!({"removed": id.to_string()}), || {
                format!("{id} is no longer exempt\n")
            });
            EXIT_OK
        }
        Ok(false) => {
            let permanent = app.config.exemptions.contains(&id);
            print.error(if permanent {
                format!(
                    "{id} is exempt through MFA_EXEMPT (permanent); change that variable to end it"
                )
            } else {
                format!("{id} has no stored exemption")
            });
            EXIT_CONFIG
        }
        Err(e) => {
            print.error(e);
            EXIT_FAILED
        }
    }
}
