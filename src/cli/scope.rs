//! `--source` and `--target`: which targets a command looks at. Between
//! the two flags a target must pass both; within one, any value will do.

use std::fmt;
use std::str::FromStr;

use crate::domain::principal::ParseIdError;
use crate::domain::{Source, TargetKey};

/// One `--target` value: `acme` (any source) or `github:acme`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSelector {
    pub source: Option<Source>,
    pub target: String,
}

impl TargetSelector {
    /// Org names and Snowflake accounts are case-insensitive at their
    /// source, so the match is too.
    pub fn matches(&self, key: &TargetKey) -> bool {
        self.source.is_none_or(|s| s == key.source) && self.target.eq_ignore_ascii_case(&key.target)
    }
}

impl FromStr for TargetSelector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains(':') {
            let key: TargetKey = s.parse().map_err(|e: ParseIdError| e.0)?;
            return Ok(TargetSelector {
                source: Some(key.source),
                target: key.target,
            });
        }
        if s.is_empty() || s.contains('/') {
            return Err(format!(
                "`{s}` is not a target: an org, account id or Snowflake account, or SOURCE:TARGET"
            ));
        }
        Ok(TargetSelector {
            source: None,
            target: s.to_owned(),
        })
    }
}

impl fmt::Display for TargetSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Some(s) => write!(f, "{s}:{}", self.target),
            None => f.write_str(&self.target),
        }
    }
}

/// The targets chosen by `--source` and `--target`; empty flags choose all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    sources: Vec<Source>,
    targets: Vec<TargetSelector>,
}

impl Selection {
    pub fn new(sources: Vec<Source>, targets: Vec<TargetSelector>) -> Self {
        Self { sources, targets }
    }

    /// No flag given: every target.
    pub fn is_everything(&self) -> bool {
        self.sources.is_empty() && self.targets.is_empty()
    }

    pub fn narrows_targets(&self) -> bool {
        !self.targets.is_empty()
    }

    pub fn keeps_source(&self, source: Source) -> bool {
        self.sources.is_empty() || self.sources.contains(&source)
    }

    pub fn keeps(&self, key: &TargetKey) -> bool {
        self.keeps_source(key.source)
            && (self.targets.is_empty() || self.targets.iter().any(|t| t.matches(key)))
    }

    /// The `--target` values that match none of `known` among the selected
    /// sources: a typo must not read as "nothing to report".
    pub fn unmatched<'a>(
        &self,
        known: impl IntoIterator<Item = &'a TargetKey> + Clone,
    ) -> Vec<String> {
        self.targets
            .iter()
            .filter(|t| {
                !known
                    .clone()
                    .into_iter()
                    .any(|k| self.keeps_source(k.source) && t.matches(k))
            })
            .map(ToString::to_string)
            .collect()
    }

    /// The error for [`Selection::unmatched`] values, naming what there is.
    pub fn unmatched_error<'a>(
        &self,
        unmatched: &[String],
        known: impl IntoIterator<Item = &'a TargetKey>,
        looked_in: &str,
    ) -> String {
        let known: std::collections::BTreeSet<String> = known
            .into_iter()
            .filter(|k| self.keeps_source(k.source))
            .map(ToString::to_string)
            .collect();
        format!(
            "--target {} matches no target {looked_in}{}; there are: {}",
            unmatched.join(","),
            if self.sources.is_empty() {
                String::new()
            } else {
                let s: Vec<&str> = self.sources.iter().map(|s| s.as_str()).collect();
                format!(" of --source {}", s.join(","))
            },
            if known.is_empty() {
                "none".to_owned()
            } else {
                Vec::from_iter(known).join(", ")
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> TargetKey {
        s.parse().unwrap()
    }

    fn selection(sources: &[Source], targets: &[&str]) -> Selection {
        Selection::new(
            sources.to_vec(),
            targets.iter().map(|t| t.parse().unwrap()).collect(),
        )
    }

    #[test]
    fn no_flag_keeps_every_target() {
        let s = Selection::default();
        assert!(s.is_everything());
        assert!(s.keeps(&key("github:acme")) && s.keeps(&key("aws:123456789012")));
    }

    #[test]
    fn a_bare_target_matches_it_in_any_source_and_ignores_case() {
        let s = selection(&[], &["Acme"]);
        assert!(s.keeps(&key("github:acme")));
        assert!(s.keeps(&key("snowflake:acme")));
        assert!(!s.keeps(&key("github:beta")));
    }

    #[test]
    fn a_source_prefixed_target_matches_only_in_that_source() {
        let s = selection(&[], &["github:acme"]);
        assert!(s.keeps(&key("github:acme")));
        assert!(!s.keeps(&key("snowflake:acme")));
    }

    #[test]
    fn a_target_must_pass_both_flags_and_any_value_of_one() {
        let s = selection(&[Source::Github], &["acme", "beta"]);
        assert!(s.keeps(&key("github:acme")) && s.keeps(&key("github:beta")));
        assert!(!s.keeps(&key("aws:acme")));
        let s = selection(&[Source::Github, Source::Aws], &[]);
        assert!(s.keeps(&key("aws:123456789012")));
        assert!(!s.keeps(&key("snowflake:org-acct")));
    }

    #[test]
    fn malformed_targets_are_refused_with_the_reason() {
        for bad in ["", "gitlab:acme", "github:", "acme/bot", "github:acme/bot"] {
            assert!(bad.parse::<TargetSelector>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_target_that_matches_nothing_of_the_selected_sources_is_named() {
        let known = [key("github:acme"), key("aws:123456789012")];
        let s = selection(&[Source::Aws], &["acme", "123456789012"]);
        let unmatched = s.unmatched(&known);
        assert_eq!(unmatched, ["acme"]);
        assert_eq!(
            s.unmatched_error(&unmatched, &known, "in the state"),
            "--target acme matches no target in the state of --source aws; there are: aws:123456789012"
        );
        assert!(selection(&[], &["acme"]).unmatched(&known).is_empty());
    }
}
