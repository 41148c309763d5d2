//! Configuration from environment variables (ARCHITECTURE.md §5, contract).
//! Parsing is pure over a lookup function so every rule is unit-tested;
//! secrets are only *referenced* here and resolved once by `secrets`.
//! Sources (`sources.rs`), channels (`channels.rs`), secret variables
//! (`secret.rs`) and typed values (`values.rs`) each parse their own part.

mod channels;
pub mod people;
pub mod routes;
mod secret;
mod sources;
pub mod values;

pub use channels::{
    slack_webhook_url, EmailConfig, NotifyPeopleConfig, DEFAULT_SLACK_API_URL, SLACK_WEBHOOK_HOSTS,
};
pub use secret::{secret_var, trimmed, SecretSource, SecretVar};
pub use sources::{
    check_github_token, default_graphql_url, AwsAccount, GithubConfig, GithubCredential,
    SnowflakeConfig, DEFAULT_GITHUB_API_URL,
};

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::domain::Exemptions;
use values::positive;

pub const DEFAULT_STATE_FILE: &str = "./mfa-monitor-state.json";
const DEFAULT_TARGET_TIMEOUT_SECS: u64 = 120;
const DEFAULT_SOURCE_FAILURE_THRESHOLD: u32 = 3;
/// Targets read at once across all sources when `MFA_TARGET_CONCURRENCY`
/// is not set (README "Performance" has the measurement behind it).
pub const DEFAULT_TARGET_CONCURRENCY: usize = 16;
const DEFAULT_DELAYED_AFTER_MINUTES: u64 = 30;
/// Targets per collect invocation of a fanned-out pass: at 10 s an account
/// and 16 at once, 50 take about half a minute, far inside one
/// invocation's 15, and a batch that fails takes few targets with it.
pub const DEFAULT_BATCH_TARGETS: usize = 50;
/// Plans up to this size pass inline through Step Functions.
const DEFAULT_PLAN_INLINE_KB: usize = 200;
/// A batch must still fit one invocation and one DynamoDB item of outcomes.
pub const MAX_BATCH_TARGETS: usize = 1000;

/// Bad configuration: always names the variable at fault (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    Table(String),
    File(PathBuf),
}

impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::Table(t) => write!(f, "DynamoDB table {t}"),
            StateLocation::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

/// Where the routing file is read from (README "Routing to teams").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutesSource {
    /// `MFA_ROUTES_FILE`: a local file, or one packaged with the function.
    File(PathBuf),
    /// `MFA_ROUTES_PARAMETER`: an SSM Parameter Store parameter's name.
    Parameter(String),
}

impl RoutesSource {
    /// The variable to fix when the file is wrong.
    pub fn variable(&self) -> &'static str {
        match self {
            RoutesSource::File(_) => "MFA_ROUTES_FILE",
            RoutesSource::Parameter(_) => "MFA_ROUTES_PARAMETER",
        }
    }
}

impl fmt::Display for RoutesSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoutesSource::File(p) => write!(f, "MFA_ROUTES_FILE={}", p.display()),
            RoutesSource::Parameter(n) => write!(f, "MFA_ROUTES_PARAMETER={n}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub state: StateLocation,
    pub aws_iam_accounts: Vec<AwsAccount>,
    /// `AWS_IAM_EXCLUDE_ACCOUNTS`: never read, discovered or named.
    pub aws_excluded: std::collections::BTreeSet<String>,
    pub github: Option<GithubConfig>,
    pub snowflake: Option<SnowflakeConfig>,
    pub email: Option<EmailConfig>,
    pub slack: Option<SecretVar>,
    /// The routing file, when changes go to team channels too.
    pub routes: Option<RoutesSource>,
    /// `MFA_PEOPLE_FILE`: which person (by e-mail) holds which account.
    pub people_file: Option<PathBuf>,
    /// `MFA_EMAIL_TAG`: the IAM user tag whose value is the holder's
    /// e-mail address (default `email`).
    pub email_tag: values::TagKey,
    pub exemptions: Exemptions,
    /// Per-target collection bound (`MFA_TARGET_TIMEOUT_SECONDS`).
    pub target_timeout: Duration,
    /// Targets read at once, all sources together
    /// (`MFA_TARGET_CONCURRENCY`).
    pub target_concurrency: usize,
    /// Days a new account without MFA may enrol (`MFA_GRACE_DAYS`, 0: none).
    pub grace_days: u64,
    /// The furthest an exemption may reach (`MFA_EXEMPT_MAX_DAYS`).
    pub exempt_max_days: u64,
    /// The weekly report's "open for more than" bound (`MFA_REMIND_DAYS`).
    pub remind_days: u64,
    /// Failed passes in a row before a target's `source_failed` alert
    /// (`MFA_SOURCE_FAILURE_THRESHOLD`).
    pub source_failure_threshold: u32,
    /// Age past which a pending alert is marked delayed
    /// (`MFA_DELAYED_AFTER_MINUTES`).
    pub delayed_after: Duration,
    /// The CLI pass's whole time budget (`MFA_PASS_BUDGET_SECONDS`); in
    /// Lambda the invocation deadline rules instead.
    pub pass_budget: Option<Duration>,
    /// `MFA_REPORT_BUCKET`: where the weekly report's HTML page is stored.
    pub report_bucket: Option<String>,
    /// `MFA_SECURITYHUB=true`: findings kept in AWS Security Hub.
    pub securityhub: bool,
    /// `MFA_PLAN_BUCKET`: where a fanned-out pass's plan goes when it is
    /// too large to pass inline through Step Functions.
    pub plan_bucket: Option<String>,
    /// `MFA_BATCH_TARGETS`: targets per collect invocation of a fanned-out
    /// pass.
    pub batch_targets: usize,
    /// `MFA_PLAN_INLINE_KB`: the largest plan passed inline through Step
    /// Functions; a larger one goes to `MFA_PLAN_BUCKET`.
    pub plan_inline_bytes: usize,
    /// `MFA_NOTIFY_PEOPLE=true`: each account holder told of their own
    /// account losing MFA (off: `None`).
    pub notify_people: Option<NotifyPeopleConfig>,
}

/// An S3 bucket name as S3 allows it for new buckets (3–63 characters of
/// lowercase letters, digits, `-` and `.`, starting and ending with a
/// letter or digit), so a typo is a configuration error, not a failed put.
fn bucket_name(name: &str) -> Result<String, String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len())
        || !ok_chars
        || !ends(name.chars().next())
        || !ends(name.chars().last())
    {
        return Err(format!(
            "`{name}` is not an S3 bucket name (3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit)"
        ));
    }
    Ok(name.to_owned())
}

impl Config {
    pub fn from_env(lambda: bool) -> Result<Self, ConfigError> {
        Self::from_lookup(lambda, |k| std::env::var(k).ok())
    }

    pub fn from_lookup(
        lambda: bool,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let state = match (get("MFA_STATE_TABLE"), get("MFA_STATE_FILE")) {
            (Some(table), _) => StateLocation::Table(table),
            (None, _) if lambda => {
                return Err(ConfigError::new(
                    "MFA_STATE_TABLE",
                    "required in Lambda (the local file system does not survive invocations)",
                ))
            }
            (None, file) => StateLocation::File(PathBuf::from(
                file.unwrap_or_else(|| DEFAULT_STATE_FILE.into()),
            )),
        };

        let aws_iam_accounts = sources::aws_accounts(get("AWS_IAM_ACCOUNTS"))?;
        let aws_excluded = sources::aws_excluded(get("AWS_IAM_EXCLUDE_ACCOUNTS"))?;
        let github = sources::github(&get, &lookup)?;
        let snowflake = sources::snowflake(&get, &lookup)?;
        if aws_iam_accounts.is_empty() && github.is_none() && snowflake.is_none() {
            return Err(ConfigError::new(
                "AWS_IAM_ACCOUNTS",
                "no source configured: set AWS_IAM_ACCOUNTS (e.g. `self`), GITHUB_ORGS and/or SNOWFLAKE_ACCOUNT",
            ));
        }

        let email = channels::email(&get)?;
        let slack = channels::slack(&lookup)?;
        let notify_people = channels::notify_people(&get, &lookup, email.as_ref())?;
        if lambda && email.is_none() && slack.is_none() {
            return Err(ConfigError::new(
                "ALERT_EMAIL_TO",
                "no alert channel configured: in Lambda alerts would be lost; set ALERT_EMAIL_FROM and ALERT_EMAIL_TO, and/or SLACK_WEBHOOK_URL",
            ));
        }

        let routes = match (get("MFA_ROUTES_FILE"), get("MFA_ROUTES_PARAMETER")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "MFA_ROUTES_FILE",
                    "set either MFA_ROUTES_FILE or MFA_ROUTES_PARAMETER, not both",
                ))
            }
            (Some(path), None) => Some(RoutesSource::File(PathBuf::from(path))),
            (None, Some(name)) => Some(RoutesSource::Parameter(name)),
            (None, None) => None,
        };

        let exemptions = Exemptions::parse(&get("MFA_EXEMPT").unwrap_or_default())
            .map_err(|e| ConfigError::new("MFA_EXEMPT", e.to_string()))?;

        let target_timeout = Duration::from_secs(
            positive(&get, "MFA_TARGET_TIMEOUT_SECONDS", "number of seconds")?
                .unwrap_or(DEFAULT_TARGET_TIMEOUT_SECS),
        );

        let target_concurrency = positive(&get, "MFA_TARGET_CONCURRENCY", "number of targets")?
            .map_or(DEFAULT_TARGET_CONCURRENCY, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });

        let email_tag = get("MFA_EMAIL_TAG")
            .map(|t| values::TagKey::parse("MFA_EMAIL_TAG", &t))
            .transpose()?
            .unwrap_or_default();
        let grace_days = values::non_negative(&get, "MFA_GRACE_DAYS", "days")?.unwrap_or(0);
        let exempt_max_days = positive(&get, "MFA_EXEMPT_MAX_DAYS", "number of days")?
            .unwrap_or(crate::domain::exemption::DEFAULT_MAX_DAYS as u64);
        let remind_days = positive(&get, "MFA_REMIND_DAYS", "number of days")?.unwrap_or(14);

        let source_failure_threshold =
            positive(&get, "MFA_SOURCE_FAILURE_THRESHOLD", "number of passes")?
                .map_or(DEFAULT_SOURCE_FAILURE_THRESHOLD, |n| {
                    u32::try_from(n).unwrap_or(u32::MAX)
                });
        let delayed_after = Duration::from_secs(
            60 * positive(&get, "MFA_DELAYED_AFTER_MINUTES", "number of minutes")?
                .unwrap_or(DEFAULT_DELAYED_AFTER_MINUTES),
        );
        let pass_budget = positive(&get, "MFA_PASS_BUDGET_SECONDS", "number of seconds")?
            .map(Duration::from_secs);

        let report_bucket = match get("MFA_REPORT_BUCKET") {
            None => None,
            Some(b) => {
                Some(bucket_name(&b).map_err(|why| ConfigError::new("MFA_REPORT_BUCKET", why))?)
            }
        };

        let plan_bucket = match get("MFA_PLAN_BUCKET") {
            None => None,
            Some(b) => {
                Some(bucket_name(&b).map_err(|why| ConfigError::new("MFA_PLAN_BUCKET", why))?)
            }
        };
        let batch_targets = match positive(&get, "MFA_BATCH_TARGETS", "number of targets")? {
            None => DEFAULT_BATCH_TARGETS,
            Some(n) if n <= MAX_BATCH_TARGETS as u64 => n as usize,
            Some(n) => {
                return Err(ConfigError::new(
                    "MFA_BATCH_TARGETS",
                    format!("{n} targets in one collect invocation is more than the {MAX_BATCH_TARGETS} allowed"),
                ))
            }
        };

        // Step Functions passes at most 256 KiB between states, and the
        // plan's answer carries a few fields beside the batches.
        // 0 sends every plan to the bucket.
        let plan_inline_bytes = match values::non_negative(&get, "MFA_PLAN_INLINE_KB", "KB")? {
            None => DEFAULT_PLAN_INLINE_KB * 1024,
            Some(kb) if kb <= 250 => kb as usize * 1024,
            Some(kb) => {
                return Err(ConfigError::new(
                    "MFA_PLAN_INLINE_KB",
                    format!("{kb} KB is more than Step Functions passes between states (256 KiB, less the answer's other fields): at most 250"),
                ))
            }
        };

        let securityhub = match get("MFA_SECURITYHUB").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "MFA_SECURITYHUB",
                    format!("must be true or false, got `{other}`"),
                ))
            }
        };

        Ok(Config {
            plan_bucket,
            batch_targets,
            plan_inline_bytes,
            notify_people,
            securityhub,
            report_bucket,
            state,
            aws_iam_accounts,
            aws_excluded,
            github,
            snowflake,
            email,
            slack,
            routes,
            people_file: get("MFA_PEOPLE_FILE").map(PathBuf::from),
            email_tag,
            exemptions,
            target_timeout,
            target_concurrency,
            grace_days,
            exempt_max_days,
            remind_days,
            source_failure_threshold,
            delayed_after,
            pass_budget,
        })
    }

    /// Channel names alerts are kept pending for.
    pub fn channel_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.email.is_some() {
            names.push("email");
        }
        if self.slack.is_some() {
            names.push("slack");
        }
        if names.is_empty() {
            names.push("stdout");
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(lambda: bool, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(lambda, |k| map.get(k).cloned())
    }

    #[test]
    fn the_fan_out_settings_have_defaults_and_bounds_named_in_their_errors() {
        let ok = cfg(false, &[("AWS_IAM_ACCOUNTS", "self")]).unwrap();
        assert_eq!(ok.batch_targets, DEFAULT_BATCH_TARGETS);
        assert_eq!(ok.plan_inline_bytes, 200 * 1024);
        assert_eq!(ok.plan_bucket, None);
        for (var, bad) in [
            ("MFA_BATCH_TARGETS", "0"),
            ("MFA_BATCH_TARGETS", "1001"),
            ("MFA_PLAN_INLINE_KB", "251"),
            ("MFA_PLAN_BUCKET", "Plans"),
        ] {
            let e = cfg(false, &[("AWS_IAM_ACCOUNTS", "self"), (var, bad)]).unwrap_err();
            assert_eq!(e.variable, var, "{bad}: {e}");
        }
    }

    #[test]
    fn a_report_bucket_must_be_an_s3_bucket_name() {
        let ok = cfg(
            false,
            &[
                ("AWS_IAM_ACCOUNTS", "self"),
                ("MFA_REPORT_BUCKET", "mfa-reports.acme"),
            ],
        );
        assert_eq!(
            ok.unwrap().report_bucket.as_deref(),
            Some("mfa-reports.acme")
        );
        for bad in ["Reports", "ab", "-reports", "reports_2026", &"a".repeat(64)] {
            let e = cfg(
                false,
                &[("AWS_IAM_ACCOUNTS", "self"), ("MFA_REPORT_BUCKET", bad)],
            )
            .unwrap_err();
            assert_eq!(e.variable, "MFA_REPORT_BUCKET", "{bad}");
        }
    }

    #[test]
    fn a_minimal_cli_config_uses_the_local_state_file_and_stdout() {
        let c = cfg(false, &[("AWS_IAM_ACCOUNTS", "self")]).unwrap();
        assert_eq!(c.state, StateLocation::File(DEFAULT_STATE_FILE.into()));
        assert_eq!(c.aws_iam_accounts, [AwsAccount::SelfAccount]);
        assert_eq!(c.channel_names(), ["stdout"]);
    }

    #[test]
    fn an_org_entry_names_the_role_and_excluded_accounts_must_be_account_ids() {
        let c = cfg(
            false,
            &[
                ("AWS_IAM_ACCOUNTS", "org:MfaMonitorAudit, self"),
                ("AWS_IAM_EXCLUDE_ACCOUNTS", "111111111111, 222222222222"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.aws_iam_accounts[0],
            AwsAccount::Organization {
                role_name: "MfaMonitorAudit".into()
            }
        );
        assert_eq!(c.aws_excluded.len(), 2);
        for bad in ["org:", "org:has space", "org:a/b"] {
            let e = cfg(false, &[("AWS_IAM_ACCOUNTS", bad)]).unwrap_err();
            assert_eq!(e.variable, "AWS_IAM_ACCOUNTS", "{bad}");
        }
        let e = cfg(
            false,
            &[
                ("AWS_IAM_ACCOUNTS", "org:audit"),
                ("AWS_IAM_EXCLUDE_ACCOUNTS", "1111"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.variable, "AWS_IAM_EXCLUDE_ACCOUNTS");
        assert!(e.to_string().contains("`1111`"), "{e}");
    }

    #[test]
    fn role_arns_give_their_account_id_and_bad_entries_name_the_variable() {
        let c = cfg(
            false,
            &[(
                "AWS_IAM_ACCOUNTS",
                "self, arn:aws:iam::111111111111:role/audit ,self",
            )],
        )
        .unwrap();
        assert_eq!(c.aws_iam_accounts.len(), 2);
        assert!(
            matches!(&c.aws_iam_accounts[1], AwsAccount::Role { account_id, .. } if account_id == "111111111111")
        );
        let e = cfg(false, &[("AWS_IAM_ACCOUNTS", "arn:aws:iam::12:role/x")]).unwrap_err();
        assert_eq!(e.variable, "AWS_IAM_ACCOUNTS");
    }

    #[test]
    fn the_email_tag_defaults_to_email_and_a_bad_one_names_the_variable() {
        let c = cfg(false, &[("AWS_IAM_ACCOUNTS", "self")]).unwrap();
        assert_eq!(c.email_tag.as_str(), "email");
        let c = cfg(
            false,
            &[
                ("AWS_IAM_ACCOUNTS", "self"),
                ("MFA_EMAIL_TAG", " owner-email "),
            ],
        )
        .unwrap();
        assert_eq!(c.email_tag.as_str(), "owner-email");
        let e = cfg(
            false,
            &[("AWS_IAM_ACCOUNTS", "self"), ("MFA_EMAIL_TAG", "e#mail")],
        )
        .unwrap_err();
        assert_eq!(e.variable, "MFA_EMAIL_TAG");
        assert!(e.to_string().contains("`e#mail`"), "{e}");
    }

    #[test]
    fn no_source_at_all_is_a_configuration_error_not_an_all_clear() {
        assert_eq!(cfg(false, &[]).unwrap_err().variable, "AWS_IAM_ACCOUNTS");
    }

    #[test]
    fn lambda_requires_a_table_and_a_channel() {
        let e = cfg(true, &[("AWS_IAM_ACCOUNTS", "self")]).unwrap_err();
        assert_eq!(e.variable, "MFA_STATE_TABLE");
        let e = cfg(
            true,
            &[("AWS_IAM_ACCOUNTS", "self"), ("MFA_STATE_TABLE", "t")],
        )
        .unwrap_err();
        assert_eq!(e.variable, "ALERT_EMAIL_TO");
        let c = cfg(
            true,
            &[
                ("AWS_IAM_ACCOUNTS", "self"),
                ("MFA_STATE_TABLE", "t"),
                ("ALERT_EMAIL_FROM", "mfa@example.com"),
                ("ALERT_EMAIL_TO", "a@example.com, b@example.com"),
            ],
        )
        .unwrap();
        assert_eq!(c.email.as_ref().unwrap().to.len(), 2);
        assert_eq!(c.channel_names(), ["email"]);
    }

    #[test]
    fn half_an_email_config_names_the_missing_half() {
        let e = cfg(
            false,
            &[
                ("AWS_IAM_ACCOUNTS", "self"),
                ("ALERT_EMAIL_FROM", "a@example.com"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.variable, "ALERT_EMAIL_TO");
        let e = cfg(
            false,
            &[
                ("AWS_IAM_ACCOUNTS", "self"),
                ("ALERT_EMAIL_FROM", "nope"),
                ("ALERT_EMAIL_TO", "a@example.com"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.variable, "ALERT_EMAIL_FROM");
    }

    #[test]
    fn a_slack_webhook_is_a_channel_and_is_never_shown() {
        let c = cfg(
            true,
            &[
                ("AWS_IAM_ACCOUNTS", "self"),
                ("MFA_STATE_TABLE", "t"),
                (
                    "SLACK_WEBHOOK_URL",
                    "https://hooks.slack.com/services/T0/B0/s3cret",
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.channel_names(), ["slack"]);
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn telling_people_is_off_unless_asked_and_needs_a_way_to_tell_them() {
        let base = [("AWS_IAM_ACCOUNTS", "self")];
        // Off: a bot token alone changes nothing.
        let c = cfg(false, &[base[0], ("SLACK_BOT_TOKEN", "xoxb-1")]).unwrap();
        assert!(c.notify_people.is_none());
        let e = cfg(false, &[base[0], ("MFA_NOTIFY_PEOPLE", "yes")]).unwrap_err();
        assert_eq!(e.variable, "MFA_NOTIFY_PEOPLE");
        let e = cfg(false, &[base[0], ("MFA_NOTIFY_PEOPLE", "true")]).unwrap_err();
        assert_eq!(e.variable, "MFA_NOTIFY_PEOPLE");
        let c = cfg(
            false,
            &[
                base[0],
                ("MFA_NOTIFY_PEOPLE", "true"),
                ("SLACK_BOT_TOKEN", "xoxb-s3cret"),
            ],
        )
        .unwrap();
        let np = c.notify_people.as_ref().unwrap();
        assert!(np.email_from.is_none());
        assert_eq!(np.slack_api_url.as_str(), DEFAULT_SLACK_API_URL);
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = cfg(
            false,
            &[
                base[0],
                ("MFA_NOTIFY_PEOPLE", "true"),
                ("ALERT_EMAIL_FROM", "mfa@example.com"),
                ("ALERT_EMAIL_TO", "sec@example.com"),
                ("SLACK_BOT_TOKEN_SECRET_ID", "slack-bot"),
                ("SLACK_API_URL", "http://127.0.0.1:9/api/"),
            ],
        )
        .unwrap();
        let np = c.notify_people.unwrap();
        assert_eq!(np.email_from.unwrap().as_str(), "mfa@example.com");
        assert_eq!(
            np.slack_bot_token.unwrap().origin(),
            "SLACK_BOT_TOKEN_SECRET_ID"
        );
        assert_eq!(np.slack_api_url.as_str(), "http://127.0.0.1:9/api");
    }

    #[test]
    fn snowflake_needs_a_user_and_a_key_and_derives_its_api_url() {
        let e = cfg(false, &[("SNOWFLAKE_ACCOUNT", "myorg-acct")]).unwrap_err();
        assert_eq!(e.variable, "SNOWFLAKE_USER");
        let e = cfg(
            false,
            &[
                ("SNOWFLAKE_ACCOUNT", "myorg-acct"),
                ("SNOWFLAKE_USER", "MFA"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.variable, "SNOWFLAKE_PRIVATE_KEY");
        let c = cfg(
            false,
            &[
                ("SNOWFLAKE_ACCOUNT", "MyOrg-My_Acct"),
                ("SNOWFLAKE_USER", "MFA"),
                ("SNOWFLAKE_PRIVATE_KEY", "pem"),
                ("SNOWFLAKE_ROLE", "SECURITYADMIN"),
            ],
        )
        .unwrap();
        let sf = c.snowflake.unwrap();
        assert_eq!(
            sf.accounts[0].api_url,
            "https://myorg-my-acct.snowflakecomputing.com"
        );
        assert_eq!(sf.role.as_deref(), Some("SECURITYADMIN"));
        assert!(!format!("{:?}", sf.private_key).contains("pem"));
    }

    #[test]
    fn several_snowflake_accounts_each_get_their_url_and_a_shared_url_is_refused() {
        let base = [("SNOWFLAKE_USER", "MFA"), ("SNOWFLAKE_PRIVATE_KEY", "pem")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            cfg(false, &v)
        };
        let c = with(&[("SNOWFLAKE_ACCOUNT", "org-a, org-b,ORG-A")]).unwrap();
        let urls: Vec<String> = c
            .snowflake
            .unwrap()
            .accounts
            .iter()
            .map(|a| format!("{} {}", a.account, a.api_url))
            .collect();
        assert_eq!(
            urls,
            [
                "org-a https://org-a.snowflakecomputing.com",
                "org-b https://org-b.snowflakecomputing.com"
            ]
        );
        let c = with(&[
            ("SNOWFLAKE_ACCOUNT", "org-a,org-b"),
            (
                "SNOWFLAKE_API_URL",
                "https://{account}.privatelink.snowflakecomputing.com",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.snowflake.unwrap().accounts[1].api_url,
            "https://org-b.privatelink.snowflakecomputing.com"
        );
        let e = with(&[
            ("SNOWFLAKE_ACCOUNT", "org-a,org-b"),
            ("SNOWFLAKE_API_URL", "https://proxy.example.com"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "SNOWFLAKE_API_URL");
        assert!(e.reason.contains("{account}"), "{e}");
        let e = with(&[("SNOWFLAKE_ACCOUNT", "org-a,bad account")]).unwrap_err();
        assert!(e.reason.contains("`bad account`"), "{e}");
    }

    #[test]
    fn github_orgs_need_a_token_and_take_an_enterprise_api_url() {
        let e = cfg(false, &[("GITHUB_ORGS", "acme")]).unwrap_err();
        assert_eq!(e.variable, "GITHUB_TOKEN");
        let c = cfg(
            false,
            &[
                ("GITHUB_ORGS", "acme, widgets,ACME"),
                (
                    "GITHUB_TOKEN_SECRET_ID",
                    "arn:aws:secretsmanager:us-east-1:1:secret:gh",
                ),
                ("GITHUB_API_URL", "https://github.example.com/api/v3/"),
            ],
        )
        .unwrap();
        let gh = c.github.unwrap();
        assert_eq!(gh.orgs, ["acme", "widgets"]);
        assert_eq!(gh.api_url, "https://github.example.com/api/v3");
        assert!(c.aws_iam_accounts.is_empty(), "GitHub alone is a source");
        let e = cfg(false, &[("GITHUB_ORGS", "ac/me"), ("GITHUB_TOKEN", "x")]).unwrap_err();
        assert_eq!(e.variable, "GITHUB_ORGS");
        let e = cfg(
            false,
            &[
                ("GITHUB_ORGS", "acme"),
                ("GITHUB_TOKEN", "x"),
                ("GITHUB_API_URL", "github.com"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.variable, "GITHUB_API_URL");
    }

    #[test]
    fn a_github_app_is_a_credential_and_a_token_beside_it_is_a_configuration_error() {
        let app = [
            ("GITHUB_ORGS", "acme"),
            ("GITHUB_APP_ID", "424242"),
            (
                "GITHUB_APP_PRIVATE_KEY",
                "-----BEGIN RSA PRIVATE KEY-----\nx",
            ),
        ];
        let gh = cfg(false, &app).unwrap().github.unwrap();
        assert!(
            matches!(&gh.credential, GithubCredential::App { app_id, .. } if app_id == "424242")
        );
        assert!(
            !format!("{gh:?}").contains("BEGIN RSA"),
            "the key never shows"
        );
        let mut both = app.to_vec();
        both.push(("GITHUB_TOKEN", "ghp_x"));
        let e = cfg(false, &both).unwrap_err();
        assert_eq!(e.variable, "GITHUB_APP_ID");
        assert!(e.reason.contains("set one of them"), "{e}");
        let e = cfg(false, &app[..2]).unwrap_err();
        assert_eq!(e.variable, "GITHUB_APP_PRIVATE_KEY");
        let e = cfg(false, &[app[0], app[2]]).unwrap_err();
        assert_eq!(e.variable, "GITHUB_APP_ID");
        let e = cfg(false, &[app[0], ("GITHUB_APP_ID", "12 34"), app[2]]).unwrap_err();
        assert_eq!(e.variable, "GITHUB_APP_ID");
    }

    #[test]
    fn enterprises_alone_enable_github_derive_the_graphql_url_and_refuse_an_app() {
        let c = cfg(
            false,
            &[
                ("GITHUB_ENTERPRISES", "acme-corp"),
                ("GITHUB_TOKEN", "ghp_x"),
                ("GITHUB_API_URL", "https://github.example.com/api/v3"),
                ("GITHUB_EMU_ORGS", "acme, beta:fabrikam"),
            ],
        )
        .unwrap();
        let gh = c.github.unwrap();
        assert!(gh.orgs.is_empty());
        assert_eq!(gh.enterprises, ["acme-corp"]);
        assert_eq!(gh.graphql_url, "https://github.example.com/api/graphql");
        assert_eq!(
            gh.emu_orgs,
            [
                ("acme".into(), None),
                ("beta".into(), Some("fabrikam".into()))
            ]
        );
        let e = cfg(
            false,
            &[
                ("GITHUB_ENTERPRISES", "acme-corp"),
                ("GITHUB_APP_ID", "1"),
                ("GITHUB_APP_PRIVATE_KEY", "k"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.variable, "GITHUB_ENTERPRISES");
        let e = cfg(
            false,
            &[
                ("GITHUB_ORGS", "acme"),
                ("GITHUB_TOKEN", "x"),
                ("GITHUB_EMU_ORGS", "acme:fab_rikam"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.variable, "GITHUB_EMU_ORGS");
    }

    #[test]
    fn malformed_exemptions_and_timeouts_name_their_variable() {
        let e = cfg(
            false,
            &[("AWS_IAM_ACCOUNTS", "self"), ("MFA_EXEMPT", "bob")],
        )
        .unwrap_err();
        assert_eq!(e.variable, "MFA_EXEMPT");
        let e = cfg(
            false,
            &[
                ("AWS_IAM_ACCOUNTS", "self"),
                ("MFA_TARGET_TIMEOUT_SECONDS", "0"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.variable, "MFA_TARGET_TIMEOUT_SECONDS");
    }

    #[test]
    fn a_secret_given_directly_never_shows_in_debug_output() {
        let s = secret_var("GITHUB_TOKEN", "GITHUB_TOKEN_SECRET_ID", |k| {
            (k == "GITHUB_TOKEN").then(|| "ghp_supersecret".to_owned())
        })
        .unwrap()
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("GITHUB_TOKEN"));
        let both = secret_var("X", "X_SECRET_ID", |_| Some("hunter2".into())).unwrap_err();
        assert_eq!(both.variable, "X");
        assert!(!both.to_string().contains("hunter2"));
    }
}
