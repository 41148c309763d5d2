use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a principal lives. The lowercase names are part of the contract
/// (principal ids, logs, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Github,
    Aws,
    Snowflake,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Github, Source::Aws, Source::Snowflake];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Github => "github",
            Source::Aws => "aws",
            Source::Snowflake => "snowflake",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Source::Github => "GitHub",
            Source::Aws => "AWS IAM",
            Source::Snowflake => "Snowflake",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "github" => Ok(Source::Github),
            "aws" => Ok(Source::Aws),
            "snowflake" => Ok(Source::Snowflake),
            other => Err(ParseIdError(format!("unknown source `{other}`"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid principal id: {0}")]
pub struct ParseIdError(pub String);

/// One monitored target: a GitHub org, an AWS account id, a Snowflake account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TargetKey {
    pub source: Source,
    pub target: String,
}

impl TargetKey {
    pub fn new(source: Source, target: impl Into<String>) -> Self {
        Self {
            source,
            target: target.into(),
        }
    }

    pub fn principal(&self, name: impl Into<String>) -> PrincipalId {
        PrincipalId {
            source: self.source,
            target: self.target.clone(),
            name: name.into(),
        }
    }
}

impl fmt::Display for TargetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.target)
    }
}

impl FromStr for TargetKey {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (source, target) = s
            .split_once(':')
            .ok_or_else(|| ParseIdError(format!("`{s}` lacks `SOURCE:`")))?;
        if target.is_empty() || target.contains('/') {
            return Err(ParseIdError(format!("`{s}` has no valid target")));
        }
        Ok(TargetKey::new(source.parse()?, target))
    }
}

/// `SOURCE:TARGET/NAME` (contract), e.g. `aws:123456789012/<root>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrincipalId {
    pub source: Source,
    pub target: String,
    pub name: String,
}

impl PrincipalId {
    pub fn target_key(&self) -> TargetKey {
        TargetKey::new(self.source, self.target.clone())
    }
}

impl fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.source, self.target, self.name)
    }
}

impl FromStr for PrincipalId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (target, name) = s
            .split_once('/')
            .ok_or_else(|| ParseIdError(format!("`{s}` lacks `/NAME`")))?;
        if name.is_empty() {
            return Err(ParseIdError(format!("`{s}` has an empty name")));
        }
        let key: TargetKey = target.parse()?;
        Ok(key.principal(name))
    }
}

impl TryFrom<String> for PrincipalId {
    type Error = ParseIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<PrincipalId> for String {
    fn from(id: PrincipalId) -> String {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_ids_round_trip_through_their_contract_form() {
        for s in [
            "github:acme/octocat",
            "aws:123456789012/alice",
            "aws:123456789012/<root>",
            "snowflake:myorg-acct/ALICE",
        ] {
            let id: PrincipalId = s.parse().unwrap();
            assert_eq!(id.to_string(), s);
        }
    }

    #[test]
    fn a_name_may_itself_contain_a_slash_after_the_first_one() {
        let id: PrincipalId = "snowflake:org-acct/A/B".parse().unwrap();
        assert_eq!(id.target, "org-acct");
        assert_eq!(id.name, "A/B");
    }

    #[test]
    fn malformed_principal_ids_are_rejected_with_the_reason() {
        for bad in [
            "acme/octocat",
            "gitlab:acme/x",
            "github:/x",
            "github:acme/",
            "github:acme",
        ] {
            assert!(bad.parse::<PrincipalId>().is_err(), "{bad} accepted");
        }
    }
}
