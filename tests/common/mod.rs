//! Shared helpers for integration tests against a real moto server.
//!
//! The moto server is started by `infra/dev/test.sh` (and `.ci/run`) and
//! found through `MOTO_URL` (default `http://127.0.0.1:5000`). Tests never
//! reset it: each test works in its own AWS account id (moto's STS
//! AssumeRole into any account id isolates IAM, SES and DynamoDB data) and
//! its own unique names, so tests run in parallel.
#![allow(dead_code)]

pub mod github_app_fake;
pub mod github_fake;
pub mod github_graphql_fake;
pub mod runtime_api;
pub mod sfn;
pub mod snowflake_fake;
pub mod webdriver;

use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;

/// The suites (or parts of them) that need the moto server.
pub const MOTO_SUITES: &str = "aws_iam, delivery, faults, lambda, pass, secrets, ses, sfn, slack (e-mail parts), github and state_store (DynamoDB parts)";

/// True when this test needs moto and none was announced: a plain
/// `cargo test` then runs the unit, pass and local-server tests and says,
/// once per suite on stderr, which suites need `bash infra/dev/test.sh`.
/// `infra/dev/test.sh` always sets `MOTO_URL`; under `CI=true` a missing
/// `MOTO_URL` is a failure, never a skip.
pub fn skip_without_moto() -> bool {
    if std::env::var_os("MOTO_URL").is_some() {
        return false;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "MOTO_URL is not set under CI: run the tests through infra/dev/test.sh"
    );
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write as _;
        // Straight to stderr: the test harness captures eprintln! output.
        let _ = writeln!(
            std::io::stderr(),
            "skipped the tests that need moto ({MOTO_SUITES}): run `bash infra/dev/test.sh` for every test"
        );
    });
    true
}

pub fn moto_url() -> String {
    std::env::var("MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

/// A second moto server for SES alone (`MOTO_SES_URL`, falling back to
/// `MOTO_URL`): reading sent mail back dumps the whole server's data, which
/// grows slow when it also holds every test's DynamoDB items. The binary
/// reaches it through the SDK's standard `AWS_ENDPOINT_URL_SES`.
pub fn ses_url() -> String {
    std::env::var("MOTO_SES_URL").unwrap_or_else(|_| moto_url())
}

/// An SES client of the test's account, on the SES server.
pub fn ses_client(cfg: &SdkConfig) -> aws_sdk_ses::Client {
    aws_sdk_ses::Client::from_conf(
        aws_sdk_ses::config::Builder::from(cfg)
            .endpoint_url(ses_url())
            .build(),
    )
}

/// A name no other test (nor an earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap()
    )
}

/// A fresh 12-digit account id for one test.
pub fn unique_account() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 900_000_000_000 + 100_000_000_000;
    n.to_string()
}

/// SDK config with dummy root credentials of moto's default account.
pub async fn base_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// Temporary credentials of `account` (through STS AssumeRole), so the test
/// sees only its own IAM users, SES identities and tables.
pub async fn account_config(account: &str) -> SdkConfig {
    let base = base_config().await;
    let sts = aws_sdk_sts::Client::new(&base);
    let out = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/test-admin"))
        .role_session_name("tests")
        .send()
        .await
        .expect("moto STS AssumeRole (is moto running? see infra/dev/test.sh)");
    let c = out.credentials.expect("credentials");
    base.into_builder()
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
            Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "assumed",
            ),
        ))
        .build()
}

/// An S3 client on `cfg` for moto, which has no per-bucket host names.
pub fn s3_client(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(true)
            .build(),
    )
}

/// Environment for running the binary as `account` against moto.
pub async fn account_env(account: &str) -> Vec<(String, String)> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let cfg = account_config(account).await;
    let creds = cfg
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    vec![
        ("AWS_ENDPOINT_URL".into(), moto_url()),
        ("AWS_ENDPOINT_URL_SES".into(), ses_url()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().into()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            creds.secret_access_key().into(),
        ),
        (
            "AWS_SESSION_TOKEN".into(),
            creds.session_token().unwrap().into(),
        ),
    ]
}

/// Every message moto's SES recorded as sent to `recipient`.
pub async fn sent_emails_to(recipient: &str) -> Vec<serde_json::Value> {
    let body = reqwest_get(&format!("{}/moto-api/data.json", ses_url())).await;
    let data: serde_json::Value = serde_json::from_str(&body).expect("moto data.json");
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|to| to.iter().any(|a| a == recipient))
        })
        .collect()
}

/// A minimal HTTP GET over a plain TCP socket: moto's admin API is local
/// plain HTTP and this keeps an HTTP client out of the dependencies.
async fn reqwest_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(host)
        .await
        .expect("connect to moto");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (_, body) = text.split_once("\r\n\r\n").expect("http response");
    body.to_owned()
}

/// Output of one run of the real binary.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the built `mfa-monitor` binary with exactly `env` (plus PATH/HOME),
/// so no variable of the developer's shell leaks into a test.
/// The binary with exactly `env` (plus PATH and HOME).
pub fn binary(args: &[&str], env: &[(String, String)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-monitor"));
    cmd.args(args).env_clear();
    for k in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd
}

pub async fn run_binary(args: &[&str], env: &[(String, String)]) -> Ran {
    let mut cmd = binary(args, env);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("mfa-monitor finished within 120 s")
        .expect("mfa-monitor started");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Seeds an IAM user with a console password and, optionally, an enabled
/// virtual MFA device.
pub async fn seed_user(iam: &aws_sdk_iam::Client, name: &str, with_mfa: bool) {
    iam.create_user().user_name(name).send().await.unwrap();
    iam.create_login_profile()
        .user_name(name)
        .password("Corr3ct-Horse-Battery!")
        .send()
        .await
        .unwrap();
    if with_mfa {
        let dev = iam
            .create_virtual_mfa_device()
            .virtual_mfa_device_name(name)
            .send()
            .await
            .unwrap();
        let serial = dev.virtual_mfa_device.unwrap().serial_number;
        iam.enable_mfa_device()
            .user_name(name)
            .serial_number(serial)
            .authentication_code1("123456")
            .authentication_code2("654321")
            .send()
            .await
            .unwrap();
    }
}

/// Removes a user's virtual MFA device, as an attacker or a careless admin
/// would.
pub async fn remove_mfa(iam: &aws_sdk_iam::Client, account: &str, name: &str) {
    let serial = format!("arn:aws:iam::{account}:mfa/{name}");
    iam.deactivate_mfa_device()
        .user_name(name)
        .serial_number(&serial)
        .send()
        .await
        .unwrap();
    iam.delete_virtual_mfa_device()
        .serial_number(&serial)
        .send()
        .await
        .unwrap();
}

/// Verifies a sender in the test's account and returns it with a unique
/// recipient.
pub async fn email_pair(cfg: &SdkConfig) -> (String, String) {
    let from = format!("{}@example.com", unique("mfa-monitor"));
    let to = format!("{}@example.com", unique("security"));
    ses_client(cfg)
        .verify_email_identity()
        .email_address(&from)
        .send()
        .await
        .unwrap();
    (from, to)
}

/// The product's HTTP client with the same retry rules but short waits, so
/// retry and rate-limit tests run in milliseconds.
pub fn fast_http() -> mfa_monitor::http::HttpClient {
    use std::time::Duration;
    mfa_monitor::http::HttpClient::new(mfa_monitor::http::RetryPolicy {
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_rate_limit_wait: Duration::from_secs(3),
        request_timeout: Duration::from_secs(5),
        ..mfa_monitor::http::RetryPolicy::default()
    })
}

/// One test's world: a fresh AWS account with a verified sender and a
/// unique recipient, a temporary directory for the state file, and the
/// environment that runs the binary as that account monitoring `self`.
pub struct Scenario {
    pub account: String,
    pub cfg: SdkConfig,
    pub iam: aws_sdk_iam::Client,
    pub from: String,
    pub to: String,
    pub dir: tempfile::TempDir,
}

impl Scenario {
    pub async fn new() -> Self {
        let account = unique_account();
        let cfg = account_config(&account).await;
        let (from, to) = email_pair(&cfg).await;
        Self {
            iam: aws_sdk_iam::Client::new(&cfg),
            account,
            cfg,
            from,
            to,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn state_file(&self) -> std::path::PathBuf {
        self.dir.path().join("state.json")
    }

    async fn env(&self, state_variable: &'static str, state: String) -> Vec<(String, String)> {
        let mut env = account_env(&self.account).await;
        env.extend([
            ("AWS_IAM_ACCOUNTS".to_owned(), "self".to_owned()),
            (state_variable.to_owned(), state),
            ("ALERT_EMAIL_FROM".to_owned(), self.from.clone()),
            ("ALERT_EMAIL_TO".to_owned(), self.to.clone()),
        ]);
        env
    }

    /// The binary's environment with the local state file and email.
    pub async fn file_env(&self) -> Vec<(String, String)> {
        self.env(
            "MFA_STATE_FILE",
            self.state_file().to_str().unwrap().to_owned(),
        )
        .await
    }

    /// The binary's environment with a new DynamoDB state table and email.
    pub async fn table_env(&self) -> Vec<(String, String)> {
        let table = unique("mfa-state");
        mfa_monitor::state::dynamodb::create_table(
            &aws_sdk_dynamodb::Client::new(&self.cfg),
            &table,
        )
        .await
        .unwrap();
        self.env("MFA_STATE_TABLE", table).await
    }
}

/// The stored state of the targets in a state file, without the outbox,
/// lease and source health beside it: what "state untouched" is about.
pub fn targets_in(state_file: &std::path::Path) -> serde_json::Value {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_file).expect("state file")).expect("json");
    doc["targets"].clone()
}

/// `tests/tools/fault_proxy.py` in front of `upstream` (moto), injecting
/// the faults `rules` describe; stopped when dropped.
pub struct FaultProxy {
    pub url: String,
    /// What the proxy has printed since it started: one line per fault.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _child: tokio::process::Child,
}

impl FaultProxy {
    pub async fn start(upstream: &str, rules: serde_json::Value) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/tools/fault_proxy.py"
            ))
            .arg(upstream)
            .arg(rules.to_string())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the fault proxy");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
            .await
            .expect("the fault proxy starts within 10 s")
            .unwrap()
            .expect("the fault proxy prints its port");
        let port = first.strip_prefix("listening ").expect("listening PORT");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        // Keep reading so the proxy never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            log,
            _child: child,
        }
    }

    /// Waits until the proxy printed a line starting with `prefix`.
    pub async fn wait_for(&self, prefix: &str) {
        for _ in 0..600 {
            if self
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.starts_with(prefix))
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the proxy never printed `{prefix}`: {:?}",
            self.log.lock().unwrap()
        );
    }
}
