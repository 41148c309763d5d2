//! The routing file (`MFA_ROUTES_FILE`, or the SSM parameter named by
//! `MFA_ROUTES_PARAMETER`): named channels and the routes of principal-id
//! patterns to them (README "Routing to teams"). Parsing and checking
//! only, pure over the file's text; `routing.rs` fetches the text and
//! `app.rs` builds the channels. Every error names the line at fault.
//!
//! ```toml
//! [channels.platform-slack]
//! slack_webhook_secret_id = "mfa-monitor/slack/platform"
//!
//! [channels.data-mail]
//! email_to = ["data-oncall@example.com"]
//!
//! [[routes]]
//! principals = ["aws:111122223333/*", "aws:444455556666/*"]
//! channels = ["platform-slack"]
//!
//! [[routes]]
//! principals = ["snowflake:*/*"]
//! min_severity = "high"
//! channels = ["data-mail"]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::values::EmailAddress;
use crate::domain::route::{Pattern, Route};
use crate::domain::Severity;

/// Names the monitor gives its own channels: a routed channel may name
/// the first two (the default channels) in a route, never define them.
pub const RESERVED: [&str; 3] = ["email", "slack", "stdout"];

/// What a routed channel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelKind {
    /// A Slack incoming webhook whose URL is the Secrets Manager secret
    /// `secret_id` (a URL is a secret: never written in the file).
    Slack { secret_id: String },
    /// SES mail to `to`, from `from` (default `ALERT_EMAIL_FROM`).
    Email {
        from: EmailAddress,
        to: Vec<EmailAddress>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedChannel {
    pub name: String,
    pub line: usize,
    pub kind: ChannelKind,
}

/// A routing file, checked: every route names defined channels, no
/// definition overlaps another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutesConfig {
    /// `MFA_ROUTES_FILE=PATH` or `MFA_ROUTES_PARAMETER=NAME`, for messages.
    pub origin: String,
    pub channels: Vec<RoutedChannel>,
    pub routes: Vec<Route>,
}

/// What the rest of the configuration gives the file: the default
/// channels a route may also name, and the sender of routed e-mail.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub channels: Vec<&'static str>,
    pub email_from: Option<EmailAddress>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    #[serde(default)]
    channels: BTreeMap<String, Spanned<ChannelDef>>,
    #[serde(default)]
    routes: Vec<Spanned<RouteDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelDef {
    slack_webhook_secret_id: Option<Spanned<String>>,
    /// Refused with the reason: a webhook URL is a secret.
    slack_webhook_url: Option<Spanned<toml::Value>>,
    email_to: Option<Vec<Spanned<String>>>,
    email_from: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteDef {
    /// A name for people (`check`), optional.
    name: Option<String>,
    principals: Vec<Spanned<String>>,
    min_severity: Option<Spanned<String>>,
    channels: Vec<Spanned<String>>,
}

/// A routing file's error: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}, line {line}: {message}")]
pub struct RoutesError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

/// Parses and checks a routing file's text.
pub fn parse(text: &str, origin: &str, defaults: &Defaults) -> Result<RoutesConfig, RoutesError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let err = |offset: usize, message: String| RoutesError {
        origin: origin.to_owned(),
        line: line_of(offset),
        message,
    };
    let file: FileDef = toml::from_str(text).map_err(|e| {
        err(
            e.span().map_or(0, |s| s.start),
            e.message().trim().to_owned(),
        )
    })?;

    let mut channels: Vec<RoutedChannel> = Vec::new();
    // Two channels posting to the same webhook or mailing the same list
    // would deliver a change routed to both twice.
    let mut seen_targets: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (name, def) in &file.channels {
        let at = def.span().start;
        let line = line_of(at);
        let def = def.get_ref();
        if RESERVED.contains(&name.as_str()) {
            return Err(err(at, format!(
                "overlapping definition: `{name}` is the name of a default channel (ALERT_EMAIL_TO, SLACK_WEBHOOK_URL, stdout); name this channel otherwise"
            )));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                at,
                format!("channel name `{name}`: use letters, digits, `-` and `_` only"),
            ));
        }
        if let Some(url) = &def.slack_webhook_url {
            return Err(err(url.span().start, format!(
                "channel `{name}`: a webhook URL is a secret and is never written in this file; store it in Secrets Manager and give its id as slack_webhook_secret_id"
            )));
        }
        let kind = match (&def.slack_webhook_secret_id, &def.email_to) {
            (Some(_), Some(to)) => {
                return Err(err(
                    to.first().map_or(at, |t| t.span().start),
                    format!("overlapping definition: channel `{name}` is given both a Slack webhook and e-mail recipients; define one channel for each"),
                ))
            }
            (None, None) => {
                return Err(err(
                    at,
                    format!("channel `{name}` has neither slack_webhook_secret_id nor email_to"),
                ))
            }
            (Some(id), None) => {
                let value = id.get_ref().trim();
                if value.is_empty() {
                    return Err(err(
                        id.span().start,
                        format!("channel `{name}`: slack_webhook_secret_id is empty"),
                    ));
                }
                if value.contains("://") {
                    return Err(err(id.span().start, format!(
                        "channel `{name}`: slack_webhook_secret_id is a URL; a webhook URL is a secret: store it in Secrets Manager and give the secret's id or ARN here"
                    )));
                }
                if let Some(from) = &def.email_from {
                    return Err(err(
                        from.span().start,
                        format!("channel `{name}`: email_from belongs to an e-mail channel"),
                    ));
                }
                ChannelKind::Slack {
                    secret_id: value.to_owned(),
                }
            }
            (None, Some(to)) => {
                if to.is_empty() {
                    return Err(err(
                        at,
                        format!("channel `{name}`: email_to lists no recipient"),
                    ));
                }
                let to = to
                    .iter()
                    .map(|a| {
                        EmailAddress::parse("email_to", a.get_ref().trim())
                            .map_err(|e| err(a.span().start, format!("channel `{name}`: {}", e.reason)))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let from = match &def.email_from {
                    Some(f) => EmailAddress::parse("email_from", f.get_ref().trim())
                        .map_err(|e| err(f.span().start, format!("channel `{name}`: {}", e.reason)))?,
                    None => defaults.email_from.clone().ok_or_else(|| {
                        err(at, format!(
                            "channel `{name}`: no sender: give email_from here or set ALERT_EMAIL_FROM"
                        ))
                    })?,
                };
                ChannelKind::Email { from, to }
            }
        };
        let target = match &kind {
            ChannelKind::Slack { secret_id } => format!("Slack webhook secret `{secret_id}`"),
            ChannelKind::Email { to, .. } => {
                let mut to: Vec<&str> = to.iter().map(EmailAddress::as_str).collect();
                to.sort_unstable();
                format!("recipients {}", to.join(", "))
            }
        };
        if let Some((other, other_line)) = seen_targets.get(&target) {
            return Err(err(at, format!(
                "overlapping definition: channel `{name}` has the same {target} as channel `{other}` (line {other_line}); a change routed to both would be delivered twice"
            )));
        }
        seen_targets.insert(target, (name.clone(), line));
        channels.push(RoutedChannel {
            name: name.clone(),
            line,
            kind,
        });
    }

    let mut routes: Vec<Route> = Vec::new();
    // (pattern as written, minimum severity) → the line routing it.
    let mut seen_patterns: BTreeMap<(String, Option<Severity>), usize> = BTreeMap::new();
    for def in &file.routes {
        let at = def.span().start;
        let line = line_of(at);
        let def = def.get_ref();
        if def.principals.is_empty() {
            return Err(err(at, "a route lists no principals pattern".into()));
        }
        if def.channels.is_empty() {
            return Err(err(at, "a route lists no channel".into()));
        }
        let min_severity = match &def.min_severity {
            None => None,
            Some(s) => Some(match s.get_ref().trim() {
                "critical" => Severity::Critical,
                "high" => Severity::High,
                "info" => Severity::Info,
                other => {
                    return Err(err(
                        s.span().start,
                        format!("min_severity `{other}`: use critical, high or info"),
                    ))
                }
            }),
        };
        let mut patterns = Vec::new();
        for p in &def.principals {
            let pattern = Pattern::parse(p.get_ref().trim()).map_err(|e| err(p.span().start, e))?;
            let seen = (pattern.to_string(), min_severity);
            if let Some(other) = seen_patterns.get(&seen) {
                return Err(err(p.span().start, format!(
                    "overlapping definition: `{}` is already routed at line {other} with the same minimum severity; give that route both routes' channels",
                    seen.0
                )));
            }
            seen_patterns.insert(seen, line_of(p.span().start));
            patterns.push(pattern);
        }
        let mut names: Vec<String> = Vec::new();
        for c in &def.channels {
            let name = c.get_ref().trim();
            let known =
                channels.iter().any(|d| d.name == name) || defaults.channels.contains(&name);
            if !known {
                let mut defined: Vec<&str> = channels.iter().map(|d| d.name.as_str()).collect();
                defined.extend(defaults.channels.iter().copied());
                return Err(err(
                    c.span().start,
                    format!(
                        "unknown channel `{name}` (defined: {})",
                        if defined.is_empty() {
                            "none".to_owned()
                        } else {
                            defined.join(", ")
                        }
                    ),
                ));
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        routes.push(Route {
            name: def.name.clone(),
            line,
            patterns,
            min_severity,
            channels: names,
        });
    }
    Ok(RoutesConfig {
        origin: origin.to_owned(),
        channels,
        routes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            channels: vec!["email", "slack"],
            email_from: Some(EmailAddress::parse("ALERT_EMAIL_FROM", "mfa@example.com").unwrap()),
        }
    }

    const THREE_TEAMS: &str = r#"
[channels.platform-slack]
slack_webhook_secret_id = "mfa-monitor/slack/platform"

[channels.platform-mail]
email_to = ["platform-oncall@example.com", "cto@example.com"]

[channels.data-slack]
slack_webhook_secret_id = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:mfa/slack/data-AbCdEf"

[channels.web-mail]
email_to = ["web-leads@example.com"]
email_from = "mfa-web@example.com"

[[routes]]
name = "platform"
principals = ["aws:111122223333/*", "aws:444455556666/*"]
channels = ["platform-slack", "platform-mail"]

[[routes]]
name = "data"
principals = ["snowflake:*/*"]
min_severity = "high"
channels = ["data-slack"]

[[routes]]
name = "web"
principals = ["github:acme-web/*"]
channels = ["web-mail", "slack"]
"#;

    fn error(text: &str) -> RoutesError {
        parse(text, "MFA_ROUTES_FILE=routes.toml", &defaults()).unwrap_err()
    }

    #[test]
    fn a_routing_file_for_three_teams_reads_into_channels_and_routes() {
        let r = parse(THREE_TEAMS, "MFA_ROUTES_FILE=routes.toml", &defaults()).unwrap();
        let names: Vec<&str> = r.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["data-slack", "platform-mail", "platform-slack", "web-mail"]
        );
        assert_eq!(r.routes.len(), 3);
        assert_eq!(r.routes[0].line, 15);
        assert_eq!(r.routes[1].min_severity, Some(Severity::High));
        assert_eq!(r.routes[2].channels, ["web-mail", "slack"]);
        let web = r.channels.iter().find(|c| c.name == "web-mail").unwrap();
        assert!(
            matches!(&web.kind, ChannelKind::Email { from, .. } if from.as_str() == "mfa-web@example.com")
        );
        let platform = r
            .channels
            .iter()
            .find(|c| c.name == "platform-mail")
            .unwrap();
        assert!(
            matches!(&platform.kind, ChannelKind::Email { from, .. } if from.as_str() == "mfa@example.com")
        );
    }

    /// The README's example for three teams, as printed there.
    fn readme_example() -> String {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("# routes.toml")
            .expect("the README's routing example");
        readme[start..][..readme[start..].find("```").unwrap()].to_owned()
    }

    #[test]
    fn the_readme_routing_example_for_three_teams_is_a_valid_file() {
        let r = parse(
            &readme_example(),
            "MFA_ROUTES_FILE=routes.toml",
            &defaults(),
        )
        .unwrap();
        assert_eq!(r.channels.len(), 4);
        let lines: Vec<(Option<&str>, usize)> = r
            .routes
            .iter()
            .map(|r| (r.name.as_deref(), r.line))
            .collect();
        assert_eq!(
            lines,
            [
                (Some("platform"), 17),
                (Some("data"), 23),
                (Some("web"), 30),
                (Some("web admins"), 35)
            ],
            "the lines README's `check` output shows"
        );
        let misspelt =
            readme_example().replace("channels = [\"web-mail\"]", "channels = [\"web-mial\"]");
        let e = parse(&misspelt, "MFA_ROUTES_FILE=routes.toml", &defaults()).unwrap_err();
        assert!(
            include_str!("../../README.md").contains(&e.to_string()),
            "the README shows this error as it is: {e}"
        );
    }

    #[test]
    fn malformed_toml_names_its_line() {
        let e = error("[channels.a]\nemail_to = [\"a@example.com\"\n\n[[routes]]\n");
        assert!(e.line >= 2 && e.line <= 4, "{e}");
        let e = error("[[routes]]\nprincipals = \"github:acme/*\"\nchannels = [\"slack\"]\n");
        assert_eq!(e.line, 2, "{e}");
        assert!(
            e.to_string()
                .starts_with("MFA_ROUTES_FILE=routes.toml, line 2: "),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_channel_in_a_route_names_its_line_and_the_channels_defined() {
        let e = error("[channels.ops]\nemail_to = [\"ops@example.com\"]\n\n[[routes]]\nprincipals = [\"github:acme/*\"]\nchannels = [\"ops\", \"platfrom\"]\n");
        assert_eq!(e.line, 6, "{e}");
        assert!(
            e.message
                .contains("unknown channel `platfrom` (defined: ops, email, slack)"),
            "{e}"
        );
    }

    #[test]
    fn a_default_channel_not_configured_is_unknown_too() {
        let e = parse(
            "[[routes]]\nprincipals = [\"github:acme/*\"]\nchannels = [\"slack\"]\n",
            "MFA_ROUTES_FILE=r.toml",
            &Defaults::default(),
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("unknown channel `slack` (defined: none)"),
            "{e}"
        );
    }

    #[test]
    fn overlapping_definitions_are_refused_with_the_line_of_each() {
        let e = error("[channels.a]\nslack_webhook_secret_id = \"s\"\n\n[channels.a]\nslack_webhook_secret_id = \"t\"\n");
        assert_eq!(e.line, 4, "a channel defined twice: {e}");
        let e = error("[channels.a]\nslack_webhook_secret_id = \"s\"\n[channels.b]\nslack_webhook_secret_id = \"s\"\n");
        assert!(
            e.message
                .contains("same Slack webhook secret `s` as channel `a` (line 1)"),
            "{e}"
        );
        let e = error("[channels.a]\nemail_to = [\"x@example.com\", \"y@example.com\"]\n[channels.b]\nemail_to = [\"y@example.com\", \"x@example.com\"]\n");
        assert!(e.message.contains("as channel `a`"), "{e}");
        let e = error(
            "[channels.a]\nslack_webhook_secret_id = \"s\"\nemail_to = [\"x@example.com\"]\n",
        );
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("both a Slack webhook and e-mail"), "{e}");
        let e = error("[channels.slack]\nslack_webhook_secret_id = \"s\"\n");
        assert!(e.message.contains("name of a default channel"), "{e}");
        let e = error("[[routes]]\nprincipals = [\"github:acme/*\"]\nchannels = [\"slack\"]\n\n[[routes]]\nprincipals = [\"aws:1/*\", \"github:ACME/*\"]\nchannels = [\"email\"]\n");
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("already routed at line 2"), "{e}");
    }

    #[test]
    fn the_same_pattern_at_another_minimum_severity_is_no_overlap() {
        let text = "[[routes]]\nprincipals = [\"github:acme/*\"]\nchannels = [\"slack\"]\n\n[[routes]]\nprincipals = [\"github:acme/*\"]\nmin_severity = \"critical\"\nchannels = [\"email\"]\n";
        assert_eq!(parse(text, "f", &defaults()).unwrap().routes.len(), 2);
    }

    #[test]
    fn a_webhook_url_in_the_file_is_refused_without_repeating_it() {
        for text in [
            "[channels.a]\nslack_webhook_url = \"https://hooks.slack.com/services/T0/B0/s3cret\"\n",
            "[channels.a]\nslack_webhook_secret_id = \"https://hooks.slack.com/services/T0/B0/s3cret\"\n",
        ] {
            let e = error(text);
            assert_eq!(e.line, 2, "{e}");
            assert!(e.message.contains("secret"), "{e}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn bad_values_name_what_is_wrong() {
        for (text, line, says) in [
            ("[[routes]]\nprincipals = [\"gitlab:acme/*\"]\nchannels = [\"slack\"]\n", 2, "unknown source `gitlab`"),
            ("[[routes]]\nprincipals = [\"github:acme/*\"]\nmin_severity = \"urgent\"\nchannels = [\"slack\"]\n", 3, "min_severity `urgent`"),
            ("[[routes]]\nprincipals = []\nchannels = [\"slack\"]\n", 1, "no principals"),
            ("[[routes]]\nprincipals = [\"github:acme/*\"]\nchannels = []\n", 1, "no channel"),
            ("[[routes]]\nprincipals = [\"github:acme/*\"]\n", 1, "missing field `channels`"),
            ("[channels.a]\nemail_to = [\"not-an-address\"]\n", 2, "not an email address"),
            ("[channels.a]\n", 1, "neither"),
            ("[channels.\"a b\"]\nemail_to = [\"a@example.com\"]\n", 1, "letters, digits"),
            ("[[routes]]\nprincipal = [\"github:acme/*\"]\nchannels = [\"slack\"]\n", 2, "unknown field `principal`"),
        ] {
            let e = error(text);
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
        }
        let e = parse(
            "[channels.a]\nemail_to = [\"a@example.com\"]\n",
            "f",
            &Defaults::default(),
        )
        .unwrap_err();
        assert!(e.message.contains("no sender"), "{e}");
    }
}
