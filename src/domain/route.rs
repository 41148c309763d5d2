//! Which channels a notice goes to (routing, ARCHITECTURE.md §3 step 3).
//! Pure: the routing file is parsed in `config/routes.rs`; here channel
//! names are opaque labels and nothing is sent.
//!
//! A notice goes to every route it matches; a notice no route matches goes
//! to the default channels (`ALERT_EMAIL_TO`, `SLACK_WEBHOOK_URL`). A route
//! matches when one of its patterns matches and the notice is at least as
//! severe as the route's minimum.

use std::collections::BTreeSet;

use super::change::{Notice, Severity};
use super::principal::{Source, TargetKey};

/// `SOURCE:TARGET/NAME` with `*` standing for any run of characters within
/// its part (`github:acme/*`, `aws:111122223333/*`, `snowflake:*/*`).
/// Matching ignores ASCII case: GitHub logins and orgs are case-insensitive
/// and Snowflake upper-cases unquoted names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: Option<Source>,
    target: String,
    name: String,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let (source, rest) = text.split_once(':').ok_or_else(|| {
            format!("pattern `{text}` is not SOURCE:TARGET/NAME (e.g. `github:acme/*`)")
        })?;
        let (target, name) = rest.split_once('/').ok_or_else(|| {
            format!("pattern `{text}` lacks `/NAME` (use `/*` for every principal of a target)")
        })?;
        if target.is_empty() || name.is_empty() {
            return Err(format!(
                "pattern `{text}` has an empty target or name (use `*`)"
            ));
        }
        let source = match source {
            "*" => None,
            s => Some(s.parse::<Source>().map_err(|_| {
                format!("pattern `{text}`: unknown source `{s}` (github, aws, snowflake or *)")
            })?),
        };
        Ok(Pattern {
            source,
            target: target.to_ascii_lowercase(),
            name: name.to_ascii_lowercase(),
        })
    }

    fn matches_target(&self, key: &TargetKey) -> bool {
        self.source.is_none_or(|s| s == key.source)
            && glob(&self.target, &key.target.to_ascii_lowercase())
    }

    /// A principal of `key` named `name`; a notice about a whole target
    /// (a baseline, a switched requirement, a failing source) has no name
    /// and is matched only by a pattern covering every principal (`/*`).
    pub fn matches(&self, key: &TargetKey, name: Option<&str>) -> bool {
        self.matches_target(key)
            && match name {
                Some(n) => glob(&self.name, &n.to_ascii_lowercase()),
                None => self.name == "*",
            }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = self.source.map_or("*", Source::as_str);
        write!(f, "{source}:{}/{}", self.target, self.name)
    }
}

/// `*` matches any run of characters (none included); everything else
/// matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// One route of the routing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Where it is defined, for `check` and errors (`line 12`).
    pub line: usize,
    /// What the file calls it, if anything (`platform`).
    pub name: Option<String>,
    pub patterns: Vec<Pattern>,
    /// Less severe notices pass this route by.
    pub min_severity: Option<Severity>,
    pub channels: Vec<String>,
}

impl Route {
    fn takes(&self, key: &TargetKey, name: Option<&str>, severity: Severity) -> bool {
        // Severity sorts most urgent first: `Critical < High < Info`.
        self.min_severity.is_none_or(|min| severity <= min)
            && self.patterns.iter().any(|p| p.matches(key, name))
    }
}

/// The routes and the default channels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Router {
    pub routes: Vec<Route>,
    pub defaults: Vec<String>,
}

impl Router {
    /// Every notice to every default channel: no routing file.
    pub fn defaults_only(defaults: Vec<String>) -> Router {
        Router {
            routes: Vec::new(),
            defaults,
        }
    }

    /// The channels a notice goes to: those of every route it matches, or
    /// the defaults when none does.
    pub fn channels(&self, notice: &Notice) -> BTreeSet<String> {
        match notice {
            Notice::Change(c) => self.channels_for(&c.target, c.principal.as_deref(), c.severity),
            Notice::Baseline(b) => self.channels_for(&b.target, None, baseline_severity(b)),
            Notice::Exemption(e) => self.channels_for(
                &e.principal.target_key(),
                Some(&e.principal.name),
                Severity::Info,
            ),
        }
    }

    pub fn channels_for(
        &self,
        key: &TargetKey,
        name: Option<&str>,
        severity: Severity,
    ) -> BTreeSet<String> {
        let routed: BTreeSet<String> = self
            .routes
            .iter()
            .filter(|r| r.takes(key, name, severity))
            .flat_map(|r| r.channels.iter().cloned())
            .collect();
        if routed.is_empty() {
            self.defaults.iter().cloned().collect()
        } else {
            routed
        }
    }

    /// The routes a target's principals can fall into (by its patterns'
    /// target part), for `mfa-monitor check`.
    pub fn routes_of(&self, key: &TargetKey) -> Vec<&Route> {
        self.routes
            .iter()
            .filter(|r| r.patterns.iter().any(|p| p.matches_target(key)))
            .collect()
    }

    /// Whether every notice about `key` is taken by some route, so that
    /// none of them goes to the default channels.
    pub fn covers(&self, key: &TargetKey) -> bool {
        self.routes
            .iter()
            .any(|r| r.min_severity.is_none() && r.patterns.iter().any(|p| p.matches(key, None)))
    }
}

/// A first pass's summary is as severe as what it lists: an admin without
/// MFA is critical, anyone else without it high, an all-clear info.
fn baseline_severity(b: &super::change::BaselineSummary) -> Severity {
    if b.listed
        .iter()
        .any(|e| e.admin && e.status.is_non_compliant())
    {
        Severity::Critical
    } else if b.non_compliant > 0 {
        Severity::High
    } else {
        Severity::Info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::change::{BaselineEntry, BaselineSummary, Change, ChangeKind};
    use crate::domain::status::MfaStatus;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    fn key(text: &str) -> TargetKey {
        text.parse().unwrap()
    }

    fn change(target: &str, name: Option<&str>, severity: Severity) -> Notice {
        Notice::Change(Change {
            target: key(target),
            principal: name.map(str::to_owned),
            kind: ChangeKind::MfaDisabled,
            severity,
            previous: None,
            current: None,
            admin: false,
            detail: None,
            detected_at: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
        })
    }

    fn router() -> Router {
        Router {
            routes: vec![
                Route {
                    name: None,
                    line: 10,
                    patterns: vec![p("aws:111122223333/*"), p("aws:444455556666/*")],
                    min_severity: None,
                    channels: vec!["platform".into()],
                },
                Route {
                    name: None,
                    line: 20,
                    patterns: vec![p("snowflake:*/*")],
                    min_severity: Some(Severity::High),
                    channels: vec!["data".into()],
                },
                Route {
                    name: None,
                    line: 30,
                    patterns: vec![p("*:*/svc-*")],
                    min_severity: None,
                    channels: vec!["bots".into(), "platform".into()],
                },
            ],
            defaults: vec!["email".into(), "slack".into()],
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn patterns_match_their_source_target_and_name_ignoring_case() {
        assert!(p("github:acme/*").matches(&key("github:ACME"), Some("Octocat")));
        assert!(p("github:acme/octo*").matches(&key("github:acme"), Some("octocat")));
        assert!(!p("github:acme/*").matches(&key("github:acme-labs"), Some("x")));
        assert!(!p("github:acme/*").matches(&key("aws:acme"), Some("x")));
        assert!(p("snowflake:*/*").matches(&key("snowflake:myorg-acct"), Some("A/B")));
        assert!(p("*:*-prod/*").matches(&key("snowflake:org-prod"), Some("X")));
        assert!(p("aws:1111*3333/a*c*e").matches(&key("aws:111122223333"), Some("abcde")));
        assert!(!p("aws:1111*3333/a*c*e").matches(&key("aws:111122223333"), Some("abcd")));
        assert!(p("aws:*/<root>").matches(&key("aws:111122223333"), Some("<root>")));
    }

    #[test]
    fn a_whole_target_notice_matches_only_a_pattern_for_every_principal() {
        assert!(p("github:acme/*").matches(&key("github:acme"), None));
        assert!(!p("github:acme/bot-*").matches(&key("github:acme"), None));
    }

    #[test]
    fn malformed_patterns_say_what_is_wrong() {
        for (bad, says) in [
            ("acme/*", "SOURCE:TARGET/NAME"),
            ("github:acme", "/NAME"),
            ("gitlab:acme/*", "unknown source `gitlab`"),
            ("github:/x", "empty"),
            ("github:acme/", "empty"),
        ] {
            let e = Pattern::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_change_goes_to_every_route_it_matches_and_else_to_the_defaults() {
        let r = router();
        assert_eq!(
            r.channels(&change("aws:111122223333", Some("alice"), Severity::High)),
            set(&["platform"])
        );
        assert_eq!(
            r.channels(&change("aws:111122223333", Some("svc-ci"), Severity::High)),
            set(&["bots", "platform"]),
            "two routes, each channel once"
        );
        assert_eq!(
            r.channels(&change("github:acme", Some("octocat"), Severity::Critical)),
            set(&["email", "slack"])
        );
    }

    #[test]
    fn a_route_with_a_minimum_severity_lets_less_severe_changes_go_elsewhere() {
        let r = router();
        assert_eq!(
            r.channels(&change(
                "snowflake:org-acct",
                Some("BOB"),
                Severity::Critical
            )),
            set(&["data"])
        );
        assert_eq!(
            r.channels(&change("snowflake:org-acct", Some("BOB"), Severity::High)),
            set(&["data"])
        );
        assert_eq!(
            r.channels(&change("snowflake:org-acct", Some("BOB"), Severity::Info)),
            set(&["email", "slack"])
        );
    }

    #[test]
    fn a_baseline_is_routed_by_its_target_and_as_severe_as_what_it_lists() {
        let baseline = |admin: bool, non_compliant: usize| {
            Notice::Baseline(BaselineSummary {
                target: key("snowflake:org-acct"),
                principals: 3,
                non_compliant,
                unknown: 0,
                exempt: 0,
                listed: (0..non_compliant)
                    .map(|_| BaselineEntry {
                        name: "X".into(),
                        status: MfaStatus::Disabled,
                        admin,
                    })
                    .collect(),
                omitted: 0,
                mfa_required: None,
                detected_at: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            })
        };
        let r = router();
        assert_eq!(r.channels(&baseline(true, 1)), set(&["data"]));
        assert_eq!(r.channels(&baseline(false, 2)), set(&["data"]));
        assert_eq!(r.channels(&baseline(false, 0)), set(&["email", "slack"]));
    }

    #[test]
    fn the_routes_of_a_target_are_those_whose_patterns_name_it() {
        let r = router();
        let lines =
            |t: &str| -> Vec<usize> { r.routes_of(&key(t)).iter().map(|r| r.line).collect() };
        assert_eq!(lines("aws:444455556666"), [10, 30]);
        assert_eq!(lines("snowflake:org-acct"), [20, 30]);
        assert_eq!(lines("github:acme"), [30]);
    }
}
