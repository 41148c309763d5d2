//! Builds the adapters a configuration asks for, and runs the commands on
//! them. Shared by the CLI and the Lambda handler so both behave the same.
//! Two jobs live here, building (`try_build`, the secrets, the channels) and
//! running the commands; they share only the `App` fields, and building is
//! the part to move to its own file next (not done yet: see the issue note).

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde::Serialize;
use tracing::Instrument;

use crate::config::routes::{ChannelKind, Defaults as RoutesDefaults, RoutedChannel, RoutesConfig};
use crate::config::{Config, ConfigError, GithubCredential, StateLocation};
use crate::domain::report::{Filter, Report};
use crate::domain::route::Router;
use crate::domain::snapshot::StoredTarget;
use crate::domain::TargetKey;
use crate::error::CheckItem;
use crate::http::{HttpClient, RetryPolicy};
use crate::jwt::Rs256Signer;
use crate::monitors::aws_iam::AwsIamMonitor;
use crate::monitors::github::GithubMonitor;
use crate::monitors::snowflake::jwt::KeyPairAuth;
use crate::monitors::snowflake::{Account, SnowflakeMonitor, SqlApi};
use crate::monitors::{Discovery, Monitor};
use crate::notifiers::named::NamedChannel;
use crate::notifiers::ses::SesNotifier;
use crate::notifiers::slack::SlackNotifier;
use crate::notifiers::stdout::StdoutNotifier;
use crate::notifiers::Notifier;
use crate::run::{ChannelOutcome, ChannelResult, Deadline, Pass, RunSummary};
use crate::secrets::SecretError;
use crate::state::dynamodb::DynamoDbStore;
use crate::state::file::FileStore;
use crate::state::{OutboxEntry, StateError, StateStore};

pub struct App {
    pub config: Config,
    pub store: Box<dyn StateStore>,
    pub monitors: Vec<Box<dyn Monitor>>,
    pub notifiers: Vec<Box<dyn Notifier>>,
    /// Which channels each notice goes to: the routing file's routes, and
    /// the default channels for the rest.
    pub router: Router,
    /// The routing file as read, for `check`.
    pub routes: Option<RoutesConfig>,
    /// Principal id → the address of the person holding it
    /// (`MFA_PEOPLE_FILE`), for `report --by person`.
    pub people: std::collections::BTreeMap<String, String>,
    /// Where a sent report's HTML page is stored (`MFA_REPORT_BUCKET`).
    pub report_bucket: Option<crate::report_bucket::ReportBucket>,
    /// Findings in AWS Security Hub (`MFA_SECURITYHUB=true`).
    pub securityhub: Option<crate::securityhub::SecurityHub>,
    /// Account holders told of their own account (`MFA_NOTIFY_PEOPLE`).
    pub teller: Option<crate::notifiers::teller::PeopleTeller>,
    /// Where a fanned-out pass's large plan goes (`MFA_PLAN_BUCKET`).
    pub plan_bucket: Option<crate::fanout::PlanBucket>,
}

impl App {
    /// Builds every adapter and resolves secrets (once). Nothing else is
    /// called yet: reachability is what `check` is for, and a pass reports
    /// failures per target. A secret that cannot be read, or cannot be
    /// right (a GitHub token with a space inside, a webhook URL that is not
    /// Slack's, a PEM that is not a PKCS#8 private key), is a configuration
    /// error naming the variable to fix.
    pub async fn build(config: Config) -> Result<App, ConfigError> {
        Self::try_build(config).await.map_err(ConfigError::from)
    }

    /// [`App::build`], telling a failure that may pass by itself (a
    /// throttled or unreachable Secrets Manager) from a wrong
    /// configuration: the Lambda handler builds again on the next
    /// invocation after the first, never after the second.
    pub async fn try_build(config: Config) -> Result<App, BuildError> {
        let sdk = crate::aws::sdk_config().await;
        let store: Box<dyn StateStore> = match &config.state {
            StateLocation::Table(t) => Box::new(DynamoDbStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                t.clone(),
            )),
            StateLocation::File(p) => Box::new(FileStore::new(p.clone())),
        };
        let mut monitors: Vec<Box<dyn Monitor>> = Vec::new();
        if !config.aws_iam_accounts.is_empty() {
            monitors.push(Box::new(
                AwsIamMonitor::new(sdk.clone(), config.aws_iam_accounts.clone())
                    .excluding(config.aws_excluded.clone())
                    .with_email_tag(config.email_tag.clone()),
            ));
        }
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        // One client, one retry policy and one connection pool for every
        // HTTP source and channel.
        let http = HttpClient::new(RetryPolicy::default());
        if let Some(gh) = &config.github {
            let monitor = match &gh.credential {
                GithubCredential::Token(var) => {
                    let token = resolve_secret(var, &secrets).await?;
                    crate::config::check_github_token(token.expose_secret())
                        .map_err(|why| ConfigError::new(var.origin(), why))?;
                    GithubMonitor::new(http.clone(), gh.api_url.as_str(), token, gh.orgs.clone())?
                }
                GithubCredential::App {
                    app_id,
                    private_key,
                } => {
                    let pem = resolve_secret(private_key, &secrets).await?;
                    // A key pasted on one line keeps its newlines as `\n`.
                    let key = Rs256Signer::from_rsa_pem(&pem.expose_secret().replace("\\n", "\n"))
                        .map_err(|e| ConfigError::new(private_key.origin(), e.to_string()))?;
                    GithubMonitor::with_app(
                        http.clone(),
                        gh.api_url.as_str(),
                        app_id.clone(),
                        key,
                        gh.orgs.clone(),
                    )?
                }
            };
            let monitor = monitor
                .with_emu_orgs(gh.emu_orgs.clone())
                .with_enterprises(gh.graphql_url.as_str(), gh.enterprises.clone())?;
            monitors.push(Box::new(monitor));
        }
        if let Some(sf) = &config.snowflake {
            let key = resolve_secret(&sf.private_key, &secrets).await?;
            let mut accounts = Vec::with_capacity(sf.accounts.len());
            for a in &sf.accounts {
                // The JWT's claims name the account: one signer per account.
                let auth = KeyPairAuth::new(&a.account, &sf.user, &key, sf.private_key.origin())?;
                accounts.push(Account {
                    name: a.account.clone(),
                    api: SqlApi::new(
                        http.clone(),
                        a.api_url.as_str(),
                        auth,
                        sf.role.clone(),
                        sf.warehouse.clone(),
                    )?,
                });
            }
            monitors.push(Box::new(SnowflakeMonitor::new(accounts)));
        }
        let mut notifiers: Vec<Box<dyn Notifier>> = Vec::new();
        if let Some(email) = &config.email {
            notifiers.push(Box::new(SesNotifier::new(
                aws_sdk_ses::Client::new(&sdk),
                email.clone(),
            )));
        }
        if let Some(var) = &config.slack {
            let url = resolve_secret(var, &secrets).await?;
            crate::config::slack_webhook_url(url.expose_secret()).map_err(|why| {
                ConfigError::new(
                    var.origin(),
                    format!("not a Slack incoming-webhook URL: {why}"),
                )
            })?;
            notifiers.push(Box::new(SlackNotifier::new(http.clone(), url)));
        }
        if notifiers.is_empty() {
            notifiers.push(Box::new(StdoutNotifier));
        }
        let defaults: Vec<String> = notifiers.iter().map(|n| n.channel().to_owned()).collect();
        let routes = match &config.routes {
            None => None,
            Some(source) => {
                let routes = crate::routing::load(
                    source,
                    &sdk,
                    &RoutesDefaults {
                        channels: config.channel_names(),
                        email_from: config.email.as_ref().map(|e| e.from.clone()),
                    },
                )
                .await?;
                for channel in &routes.channels {
                    notifiers.push(routed_channel(channel, source, &sdk, &secrets, &http).await?);
                }
                Some(routes)
            }
        };
        let people = match &config.people_file {
            None => Default::default(),
            Some(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    ConfigError::new(
                        "MFA_PEOPLE_FILE",
                        format!("cannot read the people file {}: {e}", path.display()),
                    )
                })?;
                crate::config::people::parse(&text, &format!("MFA_PEOPLE_FILE={}", path.display()))
                    .map_err(|e| ConfigError::new("MFA_PEOPLE_FILE", e.to_string()))?
                    .into_iter()
                    .map(|(id, email)| (id.to_string(), email.to_string()))
                    .collect()
            }
        };
        let router = Router {
            routes: routes
                .as_ref()
                .map(|r| r.routes.clone())
                .unwrap_or_default(),
            defaults,
        };
        let teller = match &config.notify_people {
            None => None,
            Some(np) => {
                let slack = match &np.slack_bot_token {
                    None => None,
                    Some(var) => {
                        // Resolved once, like every secret; never logged.
                        let token = resolve_secret(var, &secrets).await?;
                        Some(crate::notifiers::slack_dm::SlackDm::new(
                            http.clone(),
                            np.slack_api_url.as_str(),
                            token,
                        ))
                    }
                };
                let email = np.email_from.clone().map(|from| {
                    crate::notifiers::ses::PersonEmailer::new(aws_sdk_ses::Client::new(&sdk), from)
                });
                Some(crate::notifiers::teller::PeopleTeller { email, slack })
            }
        };
        let report_bucket = config
            .report_bucket
            .as_deref()
            .map(|b| crate::report_bucket::ReportBucket::new(&sdk, b));
        let securityhub = config
            .securityhub
            .then(|| crate::securityhub::SecurityHub::new(sdk.clone()));
        let plan_bucket = config
            .plan_bucket
            .as_deref()
            .map(|b| crate::fanout::PlanBucket::new(&sdk, b));
        Ok(App {
            plan_bucket,
            teller,
            securityhub,
            config,
            store,
            monitors,
            notifiers,
            router,
            routes,
            people,
            report_bucket,
        })
    }

    /// One pass, to be done by `deadline`: the Lambda invocation's, or the
    /// CLI's budget. It also bounds how long an overlapping pass is kept out.
    pub async fn run(&self, dry_run: bool, deadline: Deadline) -> RunSummary {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("pass", run_id = %run_id);
        async {
            tracing::info!(dry_run, state = %self.store.location(), "pass started");
            let summary = self.pass(&run_id, deadline).run(dry_run).await;
            crate::metrics::log_run_summary(&summary);
            summary
        }
        .instrument(span)
        .await
    }

    /// A pass over this app's adapters under `run_id`, due by `deadline`.
    pub(crate) fn pass<'a>(&'a self, run_id: &'a str, deadline: Deadline) -> Pass<'a> {
        Pass {
            monitors: &self.monitors,
            store: self.store.as_ref(),
            notifiers: &self.notifiers,
            router: &self.router,
            people: &self.people,
            exemptions: &self.config.exemptions,
            grace: chrono::Duration::days(self.config.grace_days as i64),
            target_timeout: self.config.target_timeout,
            target_concurrency: self.config.target_concurrency,
            run_id,
            deadline,
            failure_threshold: self.config.source_failure_threshold,
            delayed_after: self.config.delayed_after,
            securityhub: self.securityhub.as_ref(),
            teller: self.teller.as_ref(),
        }
    }

    /// The status report from the stored state; with `send`, delivered to
    /// every channel. Returns the report and each channel's outcome.
    pub async fn report(
        &self,
        filter: Filter,
        send: bool,
    ) -> Result<(Report, Vec<ChannelOutcome>), StateError> {
        let targets = self.store.targets().await?;
        let now = chrono::Utc::now();
        let stored = self.store.exemptions().await?;
        let exemptions = self.config.exemptions.with_stored(&stored, now);
        let mut report = crate::domain::report::build(&targets, &exemptions, filter, now);
        report.set_exemption_ends(&stored, &self.config.exemptions, now.date_naive());
        report.set_trend(&self.store.trend().await?);
        report.remind_days = self.config.remind_days;
        report.open_beyond =
            crate::domain::report::open_beyond(&targets, &exemptions, self.config.remind_days, now);
        let today = now.date_naive();
        report.exemptions_no_longer_needed = crate::domain::report::no_longer_needed(
            &targets,
            stored
                .iter()
                .filter(|e| e.in_force(today))
                .map(|e| &e.principal),
        );
        let mut outcomes = Vec::new();
        if send {
            // The page first, so that every channel's message links it; a
            // page that cannot be stored still lets the report go out.
            if let Some(bucket) = &self.report_bucket {
                let stored = match crate::notifiers::html::render(&report) {
                    Ok(html) => bucket.store(html, now).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match stored {
                    Ok(link) => {
                        tracing::info!(object = %link.object, "HTML report stored");
                        report.html_report = Some(link);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "HTML report not stored; the report is sent without its link");
                        outcomes.push(ChannelOutcome {
                            channel: "report_bucket".to_owned(),
                            result: ChannelResult::Failed,
                            notices: 0,
                            error: Some(e),
                        });
                    }
                }
            }
            for n in &self.notifiers {
                let result = n.send_report(&report).await;
                if let Err(e) = &result {
                    tracing::error!(channel = n.channel(), error = %e, "report not delivered");
                }
                outcomes.push(ChannelOutcome {
                    channel: n.channel().to_owned(),
                    result: if result.is_ok() {
                        ChannelResult::Sent
                    } else {
                        ChannelResult::Failed
                    },
                    notices: report.rows.len(),
                    error: result.err().map(|e| e.to_string()),
                });
            }
        }
        Ok((report, outcomes))
    }

    pub async fn status(&self) -> Result<StatusReport, StateError> {
        let mut targets = self.store.targets().await?;
        targets.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(StatusReport {
            location: self.store.location(),
            targets,
            pending: self.store.pending().await?,
            failing: self.store.health().await?,
        })
    }

    /// A discovery scope: what it found, each found target checked (at
    /// most `MFA_TARGET_CONCURRENCY` at once), and one line naming those
    /// that cannot be read (an account without the audit role).
    async fn check_scope(&self, m: &dyn Monitor, scope: Discovery) -> Vec<CheckItem> {
        use futures::StreamExt;
        let component = scope.scope.to_string();
        let keys = match scope.found {
            Ok(keys) => keys,
            Err(e) => {
                return vec![CheckItem {
                    component,
                    ok: false,
                    detail: format!("discovery failed: {e}"),
                }]
            }
        };
        let configured: std::collections::BTreeSet<TargetKey> =
            m.targets().iter().map(|t| m.provisional_key(t)).collect();
        let found = keys.len();
        let results: Vec<CheckItem> =
            futures::stream::iter(keys.into_iter().filter(|k| !configured.contains(k)))
                .map(|k| async move { m.check(&m.label_for(&k)).await })
                .buffered(self.config.target_concurrency.max(1))
                .collect()
                .await;
        let failing: Vec<&str> = results
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.component.as_str())
            .collect();
        let summary = CheckItem {
            component,
            ok: failing.is_empty(),
            detail: if failing.is_empty() {
                format!("{found} target(s) found, each readable")
            } else {
                format!(
                    "{found} target(s) found; cannot be read: {} of {found}: {}",
                    failing.len(),
                    failing.join(", ")
                )
            },
        };
        std::iter::once(summary).chain(results).collect()
    }

    /// Configuration and reachability of the state store, every source
    /// target and every channel.
    pub async fn check(&self) -> Vec<CheckItem> {
        let mut items = vec![CheckItem {
            component: "config".into(),
            ok: true,
            detail: format!(
                "state in {}; {} AWS account(s); {} GitHub org(s); {} Snowflake account(s); channels: {}; {} exemption(s)",
                self.config.state,
                self.config.aws_iam_accounts.len(),
                self.config.github.as_ref().map_or(0, |g| g.orgs.len()),
                self.config.snowflake.as_ref().map_or(0, |s| s.accounts.len()),
                self.config.channel_names().join(", "),
                self.config.exemptions.len()
            ),
        }];
        items.push(match self.store.check().await {
            Ok(detail) => CheckItem {
                component: "state".into(),
                ok: true,
                detail,
            },
            Err(e) => CheckItem {
                component: "state".into(),
                ok: false,
                detail: e.to_string(),
            },
        });
        // Discovery first, as in a pass: it tells a monitor who it runs as.
        let discovered =
            futures::future::join_all(self.monitors.iter().map(|m| m.discover())).await;
        let checks = self
            .monitors
            .iter()
            .flat_map(|m| m.targets().into_iter().map(move |t| (m, t)))
            .map(|(m, t)| async move { m.check(&t).await });
        items.extend(futures::future::join_all(checks).await);
        for (m, scopes) in self.monitors.iter().zip(discovered) {
            for scope in scopes {
                items.extend(self.check_scope(m.as_ref(), scope).await);
            }
        }
        // The targets as their checks named them (an AWS `self` by its
        // account id, what discovery found): each one's routes.
        let keys: std::collections::BTreeSet<TargetKey> = items
            .iter()
            .filter_map(|i| i.component.parse::<TargetKey>().ok())
            .collect();
        items.extend(self.check_routes(keys));
        if let Some(slack) = self.teller.as_ref().and_then(|t| t.slack.as_ref()) {
            items.push(match slack.check().await {
                Ok(detail) => CheckItem {
                    component: "people slack".into(),
                    ok: true,
                    detail,
                },
                Err(e) => CheckItem {
                    component: "people slack".into(),
                    ok: false,
                    detail: e.to_string(),
                },
            });
        }
        for n in &self.notifiers {
            items.push(match n.check().await {
                Ok(detail) => CheckItem {
                    component: format!("channel {}", n.channel()),
                    ok: true,
                    detail,
                },
                Err(e) => CheckItem {
                    component: format!("channel {}", n.channel()),
                    ok: false,
                    detail: e.to_string(),
                },
            });
        }
        items
    }
}

impl App {
    /// The routing file, checked when the app was built: what it defines,
    /// and for each configured target the routes its principals fall into
    /// and whether the rest go to the default channels.
    fn check_routes(&self, keys: std::collections::BTreeSet<TargetKey>) -> Vec<CheckItem> {
        let Some(routes) = &self.routes else {
            return Vec::new();
        };
        let defaults = self.router.defaults.join(", ");
        let mut items = vec![CheckItem {
            component: "routes".into(),
            ok: true,
            detail: format!(
                "{}: {} route(s), {} channel(s) ({}); unmatched changes go to: {defaults}",
                routes.origin,
                routes.routes.len(),
                routes.channels.len(),
                routes
                    .channels
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }];
        for key in keys {
            let matched = self.router.routes_of(&key);
            let mut parts: Vec<String> = matched
                .iter()
                .map(|r| {
                    let named = r.name.as_ref().map_or(String::new(), |n| format!(" `{n}`"));
                    let min = r
                        .min_severity
                        .map_or(String::new(), |s| format!(", {s} and above"));
                    let patterns: Vec<String> = r.patterns.iter().map(|p| p.to_string()).collect();
                    format!(
                        "route{named} (line {}: {}{min}) → {}",
                        r.line,
                        patterns.join(" "),
                        r.channels.join(", ")
                    )
                })
                .collect();
            if !self.router.covers(&key) {
                parts.push(format!(
                    "{} → default channels: {defaults}",
                    if matched.is_empty() {
                        "every change"
                    } else {
                        "the rest"
                    }
                ));
            }
            items.push(CheckItem {
                component: format!("routes {key}"),
                ok: true,
                detail: parts.join("; "),
            });
        }
        items
    }
}

/// Why the adapters could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    /// The configuration is wrong (a malformed value, a secret that does
    /// not exist or may not be read): it stays wrong until someone fixes it.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A secret could not be read for a reason that may pass by itself
    /// (throttling, the network, a 5xx): building again later may work.
    #[error("{variable}: {source}")]
    Unavailable {
        variable: &'static str,
        #[source]
        source: Arc<SecretError>,
    },
    /// Configuration that is not a secret (the routing file's SSM
    /// parameter) could not be read, for a reason that may pass by itself.
    #[error("{variable}: {message}")]
    Unreadable {
        variable: &'static str,
        message: String,
    },
}

impl BuildError {
    /// Whether building again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BuildError::Unavailable { .. } | BuildError::Unreadable { .. }
        )
    }

    /// The variable named by the error.
    pub fn variable(&self) -> &'static str {
        match self {
            BuildError::Config(e) => e.variable,
            BuildError::Unavailable { variable, .. } | BuildError::Unreadable { variable, .. } => {
                variable
            }
        }
    }
}

/// For the CLI, which exits 2 either way (a later run starts afresh).
impl From<BuildError> for ConfigError {
    fn from(e: BuildError) -> ConfigError {
        match e {
            BuildError::Config(e) => e,
            BuildError::Unavailable { variable, source } => {
                ConfigError::new(variable, source.to_string())
            }
            BuildError::Unreadable { variable, message } => ConfigError::new(variable, message),
        }
    }
}

/// A team channel of the routing file. Its webhook secret is read like any
/// other (and checked to be a Slack webhook URL); an error names the
/// routing file's variable, the channel and its line.
async fn routed_channel(
    channel: &RoutedChannel,
    source: &crate::config::RoutesSource,
    sdk: &aws_config::SdkConfig,
    secrets: &aws_sdk_secretsmanager::Client,
    http: &HttpClient,
) -> Result<Box<dyn Notifier>, BuildError> {
    let variable = source.variable();
    let at = |why: String| {
        ConfigError::new(
            variable,
            format!(
                "{source}, line {}: channel `{}`: {why}",
                channel.line, channel.name
            ),
        )
    };
    let inner: Box<dyn Notifier> = match &channel.kind {
        ChannelKind::Email { from, to } => Box::new(SesNotifier::new(
            aws_sdk_ses::Client::new(sdk),
            crate::config::EmailConfig {
                from: from.clone(),
                to: to.clone(),
            },
        )),
        ChannelKind::Slack { secret_id } => {
            let var = crate::config::SecretVar {
                variable,
                id_variable: variable,
                source: crate::config::SecretSource::SecretsManager(secret_id.clone()),
            };
            let url = match resolve_secret(&var, secrets).await {
                Ok(url) => url,
                Err(BuildError::Config(e)) => return Err(at(e.reason).into()),
                Err(other) => return Err(other),
            };
            crate::config::slack_webhook_url(url.expose_secret())
                .map_err(|why| at(format!("not a Slack incoming-webhook URL: {why}")))?;
            Box::new(SlackNotifier::new(http.clone(), url))
        }
    };
    Ok(Box::new(NamedChannel::new(channel.name.clone(), inner)))
}

/// A secret that cannot be read names its variable: a configuration error
/// (exit code 2, or a `ConfigError` in Lambda), or, when the failure may
/// pass, [`BuildError::Unavailable`].
async fn resolve_secret(
    var: &crate::config::SecretVar,
    client: &aws_sdk_secretsmanager::Client,
) -> Result<secrecy::SecretString, BuildError> {
    crate::secrets::resolve(var, client).await.map_err(|e| {
        if e.is_transient() {
            BuildError::Unavailable {
                variable: e.variable(),
                source: Arc::new(e),
            }
        } else {
            BuildError::Config(ConfigError::new(e.variable(), e.to_string()))
        }
    })
}

/// What `mfa-monitor status` shows.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub location: String,
    pub targets: Vec<StoredTarget>,
    pub pending: Vec<OutboxEntry>,
    /// Targets whose last passes failed, keyed by `SOURCE:TARGET`.
    pub failing: std::collections::BTreeMap<String, crate::state::Health>,
}
