//! The sources' configuration: AWS accounts, GitHub organizations, the
//! Snowflake account — each parsed from its variables, naming the one at
//! fault.

use super::secret::{secret_var, SecretVar};
use super::values::ServiceUrl;
use super::ConfigError;
use crate::text::comma_list;

/// One entry of `AWS_IAM_ACCOUNTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsAccount {
    /// The credentials the program runs with.
    SelfAccount,
    /// A role to assume; the account id is the ARN's fifth field.
    Role { arn: String, account_id: String },
    /// `org:ROLE_NAME`: every ACTIVE account of the AWS organization the
    /// program's credentials can list, each through this role (the calling
    /// account directly).
    Organization { role_name: String },
}

impl AwsAccount {
    pub fn label(&self) -> &str {
        match self {
            AwsAccount::SelfAccount => "self",
            AwsAccount::Role { arn, .. } => arn,
            AwsAccount::Organization { role_name } => role_name,
        }
    }

    fn parse(s: &str) -> Result<Self, ConfigError> {
        if s == "self" {
            return Ok(AwsAccount::SelfAccount);
        }
        if let Some(role_name) = s.strip_prefix("org:") {
            // IAM role names: 1–64 of letters, digits and `+=,.@_-`.
            let valid = !role_name.is_empty()
                && role_name.len() <= 64
                && role_name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
            return if valid {
                Ok(AwsAccount::Organization {
                    role_name: role_name.to_owned(),
                })
            } else {
                Err(ConfigError::new(
                    "AWS_IAM_ACCOUNTS",
                    format!("`{s}`: after `org:` comes a role name (letters, digits and +=,.@_-, at most 64), e.g. `org:MfaMonitorAudit`"),
                ))
            };
        }
        let fields: Vec<&str> = s.splitn(6, ':').collect();
        match fields.as_slice() {
            ["arn", _partition, "iam", "", account, resource]
                if account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && resource.starts_with("role/") =>
            {
                Ok(AwsAccount::Role {
                    arn: s.to_owned(),
                    account_id: (*account).to_owned(),
                })
            }
            _ => Err(ConfigError::new(
                "AWS_IAM_ACCOUNTS",
                format!(
                    "`{s}` is neither `self`, `org:ROLE_NAME` nor a role ARN (arn:aws:iam::123456789012:role/NAME)"
                ),
            )),
        }
    }
}

pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

#[derive(Debug, Clone)]
pub struct GithubConfig {
    pub orgs: Vec<String>,
    pub token: SecretVar,
    /// `https://api.github.com`, or `https://HOST/api/v3` for GitHub
    /// Enterprise Server; no trailing slash.
    pub api_url: ServiceUrl,
}

#[derive(Debug, Clone)]
pub struct SnowflakeConfig {
    /// As configured (`ORG-ACCOUNT`, or a legacy locator).
    pub account: String,
    pub user: String,
    pub private_key: SecretVar,
    pub role: Option<String>,
    pub warehouse: Option<String>,
    pub api_url: ServiceUrl,
}

/// Why a resolved GitHub token cannot be one: GitHub's tokens are one word
/// of printable ASCII (`ghp_…`, `github_pat_…`, or 40 hex digits), and a
/// space, newline or other character inside comes from a bad paste. The
/// reason never shows the token.
pub fn check_github_token(token: &str) -> Result<(), &'static str> {
    if token.is_empty() {
        return Err("the token is empty");
    }
    if token.contains(char::is_whitespace) {
        return Err("the token has whitespace inside it (a bad paste?)");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token has a character that is not printable ASCII");
    }
    Ok(())
}

/// `AWS_IAM_ACCOUNTS`: each account once, in the order given.
pub fn aws_accounts(list: Option<String>) -> Result<Vec<AwsAccount>, ConfigError> {
    let mut accounts = Vec::new();
    for item in comma_list(list.as_deref().unwrap_or_default()) {
        let account = AwsAccount::parse(item)?;
        if !accounts.contains(&account) {
            accounts.push(account);
        }
    }
    Ok(accounts)
}

/// `AWS_IAM_EXCLUDE_ACCOUNTS`: 12-digit account ids left out of every
/// AWS entry (discovered or named).
pub fn aws_excluded(
    list: Option<String>,
) -> Result<std::collections::BTreeSet<String>, ConfigError> {
    let mut ids = std::collections::BTreeSet::new();
    for item in comma_list(list.as_deref().unwrap_or_default()) {
        if item.len() != 12 || !item.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::new(
                "AWS_IAM_EXCLUDE_ACCOUNTS",
                format!("`{item}` is not a 12-digit AWS account id"),
            ));
        }
        ids.insert(item.to_owned());
    }
    Ok(ids)
}

/// `GITHUB_ORGS` with its token and API URL; `None` when no org is named.
pub fn github(
    get: &impl Fn(&str) -> Option<String>,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<GithubConfig>, ConfigError> {
    let Some(list) = get("GITHUB_ORGS") else {
        return Ok(None);
    };
    let mut orgs: Vec<String> = Vec::new();
    for org in comma_list(&list) {
        if !org
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new(
                "GITHUB_ORGS",
                format!("`{org}` is not an organization login"),
            ));
        }
        if !orgs.iter().any(|o| o.eq_ignore_ascii_case(org)) {
            orgs.push(org.to_owned());
        }
    }
    let token = secret_var("GITHUB_TOKEN", "GITHUB_TOKEN_SECRET_ID", lookup)?.ok_or_else(|| {
        ConfigError::new(
            "GITHUB_TOKEN",
            "GITHUB_ORGS is set but neither GITHUB_TOKEN nor GITHUB_TOKEN_SECRET_ID is",
        )
    })?;
    let api_url = ServiceUrl::parse(
        "GITHUB_API_URL",
        &get("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_GITHUB_API_URL.to_owned()),
        " (e.g. https://github.example.com/api/v3)",
    )?;
    Ok((!orgs.is_empty()).then_some(GithubConfig {
        orgs,
        token,
        api_url,
    }))
}

/// `SNOWFLAKE_ACCOUNT` with its user, key and API URL.
pub fn snowflake(
    get: &impl Fn(&str) -> Option<String>,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SnowflakeConfig>, ConfigError> {
    let Some(account) = get("SNOWFLAKE_ACCOUNT") else {
        return Ok(None);
    };
    if !account
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(ConfigError::new(
            "SNOWFLAKE_ACCOUNT",
            format!("`{account}` is not an account identifier (ORG-ACCOUNT)"),
        ));
    }
    let user = get("SNOWFLAKE_USER").ok_or_else(|| {
        ConfigError::new(
            "SNOWFLAKE_USER",
            "SNOWFLAKE_ACCOUNT is set but SNOWFLAKE_USER is not",
        )
    })?;
    let private_key = secret_var(
        "SNOWFLAKE_PRIVATE_KEY",
        "SNOWFLAKE_PRIVATE_KEY_SECRET_ID",
        lookup,
    )?
    .ok_or_else(|| {
        ConfigError::new(
            "SNOWFLAKE_PRIVATE_KEY",
            "SNOWFLAKE_ACCOUNT is set but neither SNOWFLAKE_PRIVATE_KEY nor SNOWFLAKE_PRIVATE_KEY_SECRET_ID is",
        )
    })?;
    let api_url = get("SNOWFLAKE_API_URL").unwrap_or_else(|| {
        format!(
            "https://{}.snowflakecomputing.com",
            account.to_ascii_lowercase().replace('_', "-")
        )
    });
    let api_url = ServiceUrl::parse("SNOWFLAKE_API_URL", &api_url, "")?;
    Ok(Some(SnowflakeConfig {
        account,
        user,
        private_key,
        role: get("SNOWFLAKE_ROLE"),
        warehouse: get("SNOWFLAKE_WAREHOUSE"),
        api_url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_github_token_with_whitespace_or_odd_characters_inside_is_refused_without_showing_it() {
        for good in [
            "ghp_0123456789abcdefABCDEF0123456789abcd",
            "github_pat_11ABC_xyz",
            "0123456789abcdef0123456789abcdef01234567",
        ] {
            assert!(check_github_token(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ghp_s3cret ghp_s3cret",
            "ghp_s3cret\nghp_s3cret",
            "ghp_s3cret\t",
            "ghp_s3cr\u{e9}t",
            "ghp_s3cret\u{0}",
        ] {
            let why = check_github_token(bad).unwrap_err();
            assert!(!why.contains("s3cr"), "{why}");
        }
        assert!(check_github_token("a b")
            .unwrap_err()
            .contains("whitespace"));
    }
}
