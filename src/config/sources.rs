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

/// How the GitHub monitor authenticates: a personal access token of an
/// org owner, or a GitHub App (an installation token per org).
#[derive(Debug, Clone)]
pub enum GithubCredential {
    Token(SecretVar),
    App {
        /// `GITHUB_APP_ID`: the App's id or client id (the JWT's `iss`).
        app_id: String,
        /// `GITHUB_APP_PRIVATE_KEY`[`_SECRET_ID`]: the App's PEM key.
        private_key: SecretVar,
    },
}

#[derive(Debug, Clone)]
pub struct GithubConfig {
    pub orgs: Vec<String>,
    pub credential: GithubCredential,
    /// `https://api.github.com`, or `https://HOST/api/v3` for GitHub
    /// Enterprise Server; no trailing slash.
    pub api_url: ServiceUrl,
    /// `GITHUB_GRAPHQL_URL`, by default derived from the API URL.
    pub graphql_url: ServiceUrl,
    /// `GITHUB_ENTERPRISES`: enterprise slugs read through GraphQL.
    pub enterprises: Vec<String>,
    /// `GITHUB_EMU_ORGS`: orgs declared managed-user orgs, each with the
    /// enterprise shortcode when given (`ORG:SHORTCODE`).
    pub emu_orgs: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct SnowflakeConfig {
    /// As configured (`ORG-ACCOUNT`, or a legacy locator), each once.
    pub accounts: Vec<SnowflakeAccount>,
    /// The same user name and key are registered in every account.
    pub user: String,
    pub private_key: SecretVar,
    pub role: Option<String>,
    pub warehouse: Option<String>,
}

/// One entry of `SNOWFLAKE_ACCOUNT` with its SQL API base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnowflakeAccount {
    pub account: String,
    pub api_url: ServiceUrl,
}

/// Where `SNOWFLAKE_API_URL` names the account.
pub const ACCOUNT_PLACEHOLDER: &str = "{account}";

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

fn is_login(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Each login of a comma list once (GitHub logins are case-insensitive).
fn logins(variable: &'static str, list: &str, what: &str) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for item in comma_list(list) {
        if !is_login(item) {
            return Err(ConfigError::new(
                variable,
                format!("`{item}` is not {what}"),
            ));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(item)) {
            out.push(item.to_owned());
        }
    }
    Ok(out)
}

/// The GraphQL endpoint GitHub serves beside a REST API URL:
/// `https://api.github.com` → `https://api.github.com/graphql`;
/// GitHub Enterprise Server `https://HOST/api/v3` → `https://HOST/api/graphql`.
pub fn default_graphql_url(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    match api.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{api}/graphql"),
    }
}

/// `GITHUB_ORGS` and/or `GITHUB_ENTERPRISES` with the credential (a token
/// or an App, never both) and the API URLs; `None` when neither is named.
pub fn github(
    get: &impl Fn(&str) -> Option<String>,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<GithubConfig>, ConfigError> {
    let orgs_var = get("GITHUB_ORGS");
    let enterprises_var = get("GITHUB_ENTERPRISES");
    if orgs_var.is_none() && enterprises_var.is_none() {
        return Ok(None);
    }
    let orgs = logins(
        "GITHUB_ORGS",
        orgs_var.as_deref().unwrap_or_default(),
        "an organization login",
    )?;
    let enterprises = logins(
        "GITHUB_ENTERPRISES",
        enterprises_var.as_deref().unwrap_or_default(),
        "an enterprise slug",
    )?;
    let mut emu_orgs: Vec<(String, Option<String>)> = Vec::new();
    for item in comma_list(get("GITHUB_EMU_ORGS").as_deref().unwrap_or_default()) {
        let (org, shortcode) = match item.split_once(':') {
            Some((o, c)) => (o, Some(c)),
            None => (item, None),
        };
        if !is_login(org) || shortcode.is_some_and(|c| !is_login(c) || c.contains('_')) {
            return Err(ConfigError::new(
                "GITHUB_EMU_ORGS",
                format!("`{item}` is neither ORG nor ORG:SHORTCODE"),
            ));
        }
        emu_orgs.push((org.to_owned(), shortcode.map(str::to_owned)));
    }
    let token = secret_var("GITHUB_TOKEN", "GITHUB_TOKEN_SECRET_ID", lookup)?;
    let app_id = get("GITHUB_APP_ID");
    let app_key = secret_var(
        "GITHUB_APP_PRIVATE_KEY",
        "GITHUB_APP_PRIVATE_KEY_SECRET_ID",
        lookup,
    )?;
    let credential = match (token, app_id, app_key) {
        (Some(_), Some(_), _) | (Some(_), None, Some(_)) => {
            return Err(ConfigError::new(
                "GITHUB_APP_ID",
                "both a personal token (GITHUB_TOKEN) and a GitHub App (GITHUB_APP_ID / GITHUB_APP_PRIVATE_KEY) are configured: set one of them",
            ))
        }
        (Some(token), None, None) => GithubCredential::Token(token),
        (None, Some(app_id), Some(private_key)) => {
            if !app_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
                return Err(ConfigError::new(
                    "GITHUB_APP_ID",
                    "not an App id (digits) or client id (`Iv23...`)",
                ));
            }
            GithubCredential::App {
                app_id,
                private_key,
            }
        }
        (None, Some(_), None) => {
            return Err(ConfigError::new(
                "GITHUB_APP_PRIVATE_KEY",
                "GITHUB_APP_ID is set but neither GITHUB_APP_PRIVATE_KEY nor GITHUB_APP_PRIVATE_KEY_SECRET_ID is",
            ))
        }
        (None, None, Some(_)) => {
            return Err(ConfigError::new(
                "GITHUB_APP_ID",
                "GITHUB_APP_PRIVATE_KEY is set but GITHUB_APP_ID is not",
            ))
        }
        (None, None, None) => {
            return Err(ConfigError::new(
                "GITHUB_TOKEN",
                "GITHUB_ORGS or GITHUB_ENTERPRISES is set but no credential is: set GITHUB_TOKEN (or GITHUB_TOKEN_SECRET_ID), or a GitHub App (GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY[_SECRET_ID])",
            ))
        }
    };
    if !enterprises.is_empty() && matches!(credential, GithubCredential::App { .. }) {
        // GraphQL's `ownerInfo` (the 2FA policy, the owners) is shown only
        // to enterprise owners' personal tokens.
        return Err(ConfigError::new(
            "GITHUB_ENTERPRISES",
            "enterprises are read with a personal token of an enterprise owner (classic, `read:enterprise` scope), not a GitHub App: set GITHUB_TOKEN instead of GITHUB_APP_ID, or leave GITHUB_ENTERPRISES out",
        ));
    }
    let api_url = ServiceUrl::parse(
        "GITHUB_API_URL",
        &get("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_GITHUB_API_URL.to_owned()),
        " (e.g. https://github.example.com/api/v3)",
    )?;
    let graphql_url = ServiceUrl::parse(
        "GITHUB_GRAPHQL_URL",
        &get("GITHUB_GRAPHQL_URL").unwrap_or_else(|| default_graphql_url(api_url.as_str())),
        " (e.g. https://github.example.com/api/graphql)",
    )?;
    Ok(
        (!orgs.is_empty() || !enterprises.is_empty()).then_some(GithubConfig {
            orgs,
            credential,
            api_url,
            graphql_url,
            enterprises,
            emu_orgs,
        }),
    )
}

/// `SNOWFLAKE_ACCOUNT` (one account or a comma list) with its user, key
/// and API URL. `SNOWFLAKE_API_URL` may hold `{account}` (private-link
/// hosts, local tests); it must when several accounts are listed, or they
/// would all be read from one host.
pub fn snowflake(
    get: &impl Fn(&str) -> Option<String>,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SnowflakeConfig>, ConfigError> {
    let Some(list) = get("SNOWFLAKE_ACCOUNT") else {
        return Ok(None);
    };
    let mut names: Vec<String> = Vec::new();
    for account in comma_list(&list) {
        if !account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::new(
                "SNOWFLAKE_ACCOUNT",
                format!("`{account}` is not an account identifier (ORG-ACCOUNT)"),
            ));
        }
        if !names.iter().any(|n| n.eq_ignore_ascii_case(account)) {
            names.push(account.to_owned());
        }
    }
    if names.is_empty() {
        return Err(ConfigError::new(
            "SNOWFLAKE_ACCOUNT",
            "is set but names no account",
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
    let template = get("SNOWFLAKE_API_URL");
    if let Some(t) = &template {
        if names.len() > 1 && !t.contains(ACCOUNT_PLACEHOLDER) {
            return Err(ConfigError::new(
                "SNOWFLAKE_API_URL",
                format!("SNOWFLAKE_ACCOUNT lists {} accounts but the URL has no `{ACCOUNT_PLACEHOLDER}`: every account would be read from one host (e.g. https://{ACCOUNT_PLACEHOLDER}.privatelink.snowflakecomputing.com)", names.len()),
            ));
        }
    }
    let template =
        template.unwrap_or_else(|| format!("https://{ACCOUNT_PLACEHOLDER}.snowflakecomputing.com"));
    let accounts = names
        .into_iter()
        .map(|account| {
            let host = account.to_ascii_lowercase().replace('_', "-");
            let url = template.replace(ACCOUNT_PLACEHOLDER, &host);
            Ok(SnowflakeAccount {
                api_url: ServiceUrl::parse("SNOWFLAKE_API_URL", &url, "")?,
                account,
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    Ok(Some(SnowflakeConfig {
        accounts,
        user,
        private_key,
        role: get("SNOWFLAKE_ROLE"),
        warehouse: get("SNOWFLAKE_WAREHOUSE"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graphql_url_is_derived_from_the_rest_one_for_github_com_and_enterprise_server() {
        assert_eq!(
            default_graphql_url("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            default_graphql_url("https://github.example.com/api/v3"),
            "https://github.example.com/api/graphql"
        );
        assert_eq!(
            default_graphql_url("http://127.0.0.1:4000/"),
            "http://127.0.0.1:4000/graphql"
        );
    }

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
