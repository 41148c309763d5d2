//! A local server playing a GitHub App's side of GitHub's REST API:
//! `GET /orgs/{org}/installation` and `POST
//! /app/installations/{id}/access_tokens`, each answering only to a JWT
//! the App's public key verifies, with the claims GitHub requires (`iss`
//! the App, `iat` not in the future, `exp` at most 10 minutes ahead).
//! Minted installation tokens are accepted by `github_fake`'s listings.
//!
//! The key pair is test-only, made with `openssl genrsa -traditional 2048`
//! (PKCS#1, as GitHub issues App keys) and `openssl rsa -pubout`:
//! tests/fixtures/github-app-test-key.pem and .pub.pem.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::SubjectPublicKeyInfoDer;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::github_fake::accept;

pub const APP_ID: &str = "424242";
pub const APP_KEY: &str = include_str!("../fixtures/github-app-test-key.pem");
const APP_PUBLIC_KEY: &[u8] = include_bytes!("../fixtures/github-app-test-key.pub.pem");
pub const INSTALLATION_ID: u64 = 7_000_001;

static MINTED: AtomicU64 = AtomicU64::new(1);

/// What the App endpoints saw and did, for the tests to assert on.
#[derive(Default)]
pub struct AppLog {
    /// Installation tokens minted, in order.
    pub minted: Vec<String>,
    /// JWTs refused, with why.
    pub refused: Vec<String>,
}

/// Why a JWT is not one GitHub would take from this App, if it is not.
pub fn jwt_fault(authorization: Option<&str>, now: SystemTime) -> Option<String> {
    let jwt = authorization.and_then(|a| a.strip_prefix("Bearer "))?;
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Some("not a compact JWT".into());
    }
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).ok();
    let header: Value = decode(parts[0]).and_then(|b| serde_json::from_slice(&b).ok())?;
    if header["alg"] != "RS256" {
        return Some(format!("alg {}", header["alg"]));
    }
    let Some(signature) = decode(parts[2]) else {
        return Some("signature not base64url".into());
    };
    let public = SubjectPublicKeyInfoDer::from_pem_slice(APP_PUBLIC_KEY).unwrap();
    if UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public.as_ref())
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .is_err()
    {
        return Some("signature does not verify with the App's public key".into());
    }
    let claims: Value = decode(parts[1]).and_then(|b| serde_json::from_slice(&b).ok())?;
    let now = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Some("iat or exp missing".into());
    };
    let iss_ok = claims["iss"].as_u64().map(|n| n.to_string()).as_deref() == Some(APP_ID)
        || claims["iss"].as_str() == Some(APP_ID);
    if !iss_ok {
        return Some(format!("iss {}", claims["iss"]));
    }
    if iat > now {
        return Some("iat in the future".into());
    }
    if exp <= now || exp > now + 600 {
        return Some(format!("exp {} s from now", exp as i64 - now as i64));
    }
    None
}

struct Endpoint {
    log: Arc<Mutex<AppLog>>,
    ttl: Arc<Mutex<Duration>>,
    mint: bool,
}

impl Respond for Endpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if let Some(fault) = jwt_fault(auth, SystemTime::now())
            .or_else(|| auth.is_none().then(|| "no Authorization header".to_owned()))
        {
            self.log.lock().unwrap().refused.push(fault);
            return ResponseTemplate::new(401).set_body_json(json!({
                "message": "A JSON web token could not be decoded",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401"
            }));
        }
        if !self.mint {
            return ResponseTemplate::new(200).set_body_json(json!({
                "id": INSTALLATION_ID,
                "account": {"login": "acme", "id": 1000, "type": "Organization"},
                "app_id": APP_ID.parse::<u64>().unwrap(),
                "app_slug": "mfa-monitor",
                "target_id": 1000, "target_type": "Organization",
                "repository_selection": "all",
                "permissions": {"members": "read", "organization_administration": "read"},
                "events": [], "created_at": "2026-11-01T10:00:00.000Z",
                "updated_at": "2026-11-01T10:00:00.000Z",
                "single_file_name": null, "suspended_at": null, "suspended_by": null
            }));
        }
        let token = format!(
            "ghs_{:036}",
            MINTED.fetch_add(1, Ordering::Relaxed) + std::process::id() as u64 * 1_000_000
        );
        accept(&token);
        self.log.lock().unwrap().minted.push(token.clone());
        let expires_at =
            chrono::DateTime::<chrono::Utc>::from(SystemTime::now() + *self.ttl.lock().unwrap());
        ResponseTemplate::new(201).set_body_json(json!({
            "token": token,
            "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "permissions": {"members": "read", "organization_administration": "read"},
            "repository_selection": "all"
        }))
    }
}

/// The App's endpoints for `org`, minting tokens that live `ttl` (GitHub:
/// one hour); the handle changes `ttl` later and reads the log.
pub struct AppFake {
    pub log: Arc<Mutex<AppLog>>,
    pub ttl: Arc<Mutex<Duration>>,
}

pub async fn serve_app(server: &MockServer, org: &str, ttl: Duration) -> AppFake {
    let log = Arc::new(Mutex::new(AppLog::default()));
    let ttl = Arc::new(Mutex::new(ttl));
    Mock::given(method("GET"))
        .and(path(format!("/orgs/{org}/installation")))
        .respond_with(Endpoint {
            log: log.clone(),
            ttl: ttl.clone(),
            mint: false,
        })
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION_ID}/access_tokens"
        )))
        .respond_with(Endpoint {
            log: log.clone(),
            ttl: ttl.clone(),
            mint: true,
        })
        .mount(server)
        .await;
    AppFake { log, ttl }
}
