//! The one HTTP client of the HTTP sources and channels: timeouts on every
//! request, no redirects followed, bounded retries with jittered backoff,
//! and rate-limit headers honoured (`retry-after` in seconds or as an HTTP
//! date; `x-ratelimit-remaining: 0` with `x-ratelimit-reset`) when the wait
//! fits the budget. Which failures are retried is chosen per call
//! ([`Retry`]): a read is repeated on any failure, a post that may already
//! have taken effect is not. Other statuses go back to the caller, which
//! knows what a 401 or 422 means for its API.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{RequestBuilder, Response, StatusCode};
use tracing::warn;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest single wait a rate limit may impose; a longer one fails the
    /// call (the pass has a deadline; waiting past it helps nobody).
    pub max_rate_limit_wait: Duration,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_rate_limit_wait: Duration::from_secs(90),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Which failures of one call are retried: it depends on whether doing the
/// request twice could do twice what it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Repeating the request is harmless: a read, or a write the server
    /// recognises as a resubmission (Snowflake's `requestId` with
    /// `retry=true`). Retried on every transport error (a timeout included),
    /// on a 5xx and on a rate limit.
    Idempotent,
    /// Every request that reaches the server may take effect (a webhook
    /// post). Retried only when it cannot have: the connection was never
    /// made (refused, DNS, TLS handshake, connect timeout), or the server
    /// refused the request with a rate limit (429, or a 403 with rate-limit
    /// headers). A timeout or a broken connection after the request was
    /// sent, and a 5xx, end the call at once ([`HttpError::NotRepeated`]):
    /// the message may have been posted, and the caller keeps it for a
    /// later attempt rather than risk posting it twice now.
    UnlessSent,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No response after every attempt (connection refused, timeout, TLS).
    /// The text is reqwest's cause chain with the URL removed: URLs may
    /// carry secrets (a Slack webhook).
    #[error("no response after {attempts} attempt(s): {message}")]
    Transport {
        attempts: u32,
        message: String,
        #[source]
        source: reqwest::Error,
    },
    /// Still 5xx after every attempt.
    #[error("HTTP {status} after {attempts} attempt(s)")]
    Server { status: StatusCode, attempts: u32 },
    /// A [`Retry::UnlessSent`] call failed in a way that may have reached
    /// the server: not repeated.
    #[error("{reason}; not repeated, as the request may have taken effect")]
    NotRepeated {
        reason: String,
        /// The 5xx, when there was a response.
        status: Option<StatusCode>,
        #[source]
        source: Option<reqwest::Error>,
    },
    /// Rate limited for longer than the budget allows, or still limited
    /// after every attempt.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// A 3xx. Redirects are never followed: the token or the message would
    /// go to a place the configuration does not name. Only hosts are shown
    /// (a path may be a secret).
    #[error("HTTP {status} from {host}: a redirect{}, not followed; configure the URL it points to", .to.as_deref().map(|t| format!(" to {t}")).unwrap_or_default())]
    Redirect {
        status: StatusCode,
        host: String,
        to: Option<String>,
    },
}

#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl HttpClient {
    pub fn new(policy: RetryPolicy) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("mfa-monitor/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.request_timeout)
            .connect_timeout(policy.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("static HTTP client configuration");
        Self { client, policy }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The policy's bounds, for callers that meet a rate limit in a body
    /// rather than in headers (GraphQL's `rateLimit`).
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Sends an idempotent request (a read): [`Retry::Idempotent`].
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, HttpError> {
        self.send_with(Retry::Idempotent, |c, _| build(c)).await
    }

    /// Sends the request `build` makes, called again for each attempt with
    /// the attempt's number (1 for the first), retrying the failures
    /// `retry` allows. Returns the first response that is neither a 5xx, a
    /// rate limit nor a redirect.
    pub async fn send_with(
        &self,
        retry: Retry,
        build: impl Fn(&reqwest::Client, u32) -> RequestBuilder,
    ) -> Result<Response, HttpError> {
        let p = &self.policy;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= p.max_attempts;
            match build(&self.client, attempt).send().await {
                Err(e) => {
                    let e = e.without_url();
                    let message = crate::aws::error_text(&e);
                    // A connect error is raised before any byte of the
                    // request is written; anything else may come after.
                    let unsent = e.is_connect();
                    if retry == Retry::UnlessSent && !unsent {
                        return Err(HttpError::NotRepeated {
                            reason: format!("no response: {message}"),
                            status: None,
                            source: Some(e),
                        });
                    }
                    if last {
                        return Err(HttpError::Transport {
                            attempts: attempt,
                            message,
                            source: e,
                        });
                    }
                    warn!(attempt, error = %message, "HTTP request failed; retrying");
                    tokio::time::sleep(backoff(p, attempt, fastrand::f64())).await;
                }
                Ok(resp) => {
                    let status = resp.status();
                    if let Some(wait) = rate_limit_wait(status, resp.headers(), SystemTime::now()) {
                        if wait > p.max_rate_limit_wait {
                            return Err(HttpError::RateLimited(format!(
                                "HTTP {status}: the limit resets in {}s, beyond the {}s budget",
                                wait.as_secs(),
                                p.max_rate_limit_wait.as_secs()
                            )));
                        }
                        if last {
                            return Err(HttpError::RateLimited(format!(
                                "HTTP {status}: still limited after {attempt} attempts"
                            )));
                        }
                        warn!(
                            attempt,
                            status = status.as_u16(),
                            wait_ms = wait.as_millis() as u64,
                            "rate limited; waiting as told"
                        );
                        // Not jittered: the server named the moment, an
                        // earlier retry is refused again, and the wait is
                        // already bounded by the budget above.
                        tokio::time::sleep(wait).await;
                    } else if status.is_server_error() {
                        if retry == Retry::UnlessSent {
                            return Err(HttpError::NotRepeated {
                                reason: format!("HTTP {status}"),
                                status: Some(status),
                                source: None,
                            });
                        }
                        if last {
                            return Err(HttpError::Server {
                                status,
                                attempts: attempt,
                            });
                        }
                        warn!(attempt, status = status.as_u16(), "server error; retrying");
                        tokio::time::sleep(backoff(p, attempt, fastrand::f64())).await;
                    } else if is_redirect(status) {
                        return Err(redirect_error(&resp));
                    } else {
                        return Ok(resp);
                    }
                }
            }
        }
    }
}

/// A 3xx that asks the client to go elsewhere; 304 Not Modified answers a
/// conditional request and is the caller's.
fn is_redirect(status: StatusCode) -> bool {
    status.is_redirection() && status != StatusCode::NOT_MODIFIED
}

/// The redirect's hosts only: the request's and the `Location`'s.
fn redirect_error(resp: &Response) -> HttpError {
    let to = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| resp.url().join(l).ok())
        .and_then(|u| u.host_str().map(str::to_owned));
    HttpError::Redirect {
        status: resp.status(),
        host: resp.url().host_str().unwrap_or("(no host)").to_owned(),
        to,
    }
}

/// The wait before retry `attempt` (1 for the first retry): "equal jitter"
/// over the doubling, capped backoff `b`, i.e. `b/2 + b/2 * unit` with `unit`
/// uniform in [0, 1). Without jitter, requests that failed together (the
/// pages a monitor fetches at once, several sources behind one proxy) retry
/// together and collide again. Equal rather than full jitter keeps at least
/// half the backoff, so an overloaded server never gets an instant retry.
///
/// `unit` comes from `fastrand`: jitter needs no cryptographic randomness,
/// only different values in different processes and tasks, and fastrand is
/// already linked (the AWS SDK jitters its own retries with it).
fn backoff(p: &RetryPolicy, attempt: u32, unit: f64) -> Duration {
    let exp = p
        .first_backoff
        .saturating_mul(1 << (attempt - 1).min(16))
        .min(p.max_backoff);
    let half = exp / 2;
    // fastrand never draws a NaN, but mul_f64 would panic on one.
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    half + half.mul_f64(unit)
}

/// How long a response asks us to wait, if it is a rate limit: `retry-after`
/// on 403/429, or `x-ratelimit-remaining: 0` with the reset time. A 403
/// without these headers is a permission error, not a limit. `now` is a
/// parameter so the date arithmetic is tested without a clock.
pub fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(wait) = header("retry-after").and_then(|v| retry_after(v, now)) {
        return Some(wait);
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        // A 429 that says nothing: a short, fixed pause.
        return Some(Duration::from_secs(1));
    }
    None
}

/// `Retry-After` is delta-seconds or an HTTP date (RFC 9110 §10.2.3).
/// `httpdate` (already linked through hyper) reads every date form RFC 9110
/// says a recipient must accept: IMF-fixdate
/// (`Wed, 21 Oct 2015 07:28:00 GMT`) and the obsolete RFC 850 and asctime
/// forms, which chrono's RFC 2822 parser does not. A date already past
/// means "retry now"; the caller still bounds any wait by the policy.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// `Wed, 21 Oct 2015 07:28:00 GMT`, the example date of RFC 9110.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    #[test]
    fn retry_after_on_403_and_429_is_a_rate_limit_but_a_bare_403_is_not() {
        let h = headers(&[("retry-after", "7")]);
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &h, now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h, now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &HeaderMap::new(), now()),
            None
        );
        assert_eq!(rate_limit_wait(StatusCode::OK, &h, now()), None);
    }

    #[test]
    fn an_exhausted_primary_limit_waits_until_its_reset_time() {
        let reset = (1_445_412_480 + 30).to_string();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", reset.as_str()),
        ]);
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &h, now()),
            Some(Duration::from_secs(31))
        );
        let h = headers(&[
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", reset.as_str()),
        ]);
        assert_eq!(rate_limit_wait(StatusCode::FORBIDDEN, &h, now()), None);
    }

    #[test]
    fn retry_after_as_an_http_date_waits_until_that_date() {
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:42 GMT")]);
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h, now()),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &h, now()),
            Some(Duration::from_secs(42))
        );
    }

    #[test]
    fn retry_after_in_the_obsolete_date_forms_is_read_too() {
        for date in [
            "Wednesday, 21-Oct-15 07:28:42 GMT",
            "Wed Oct 21 07:28:42 2015",
        ] {
            let h = headers(&[("retry-after", date)]);
            assert_eq!(
                rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h, now()),
                Some(Duration::from_secs(42)),
                "{date}"
            );
        }
    }

    #[test]
    fn retry_after_as_a_date_already_past_means_retry_now() {
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]);
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h, now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn an_unreadable_retry_after_is_no_limit_on_a_403_and_a_short_pause_on_a_429() {
        for value in ["soon", "-5", "Wed, 21 Oct 2015 25:28:00 GMT"] {
            let h = headers(&[("retry-after", value)]);
            assert_eq!(
                rate_limit_wait(StatusCode::FORBIDDEN, &h, now()),
                None,
                "{value}"
            );
            assert_eq!(
                rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h, now()),
                Some(Duration::from_secs(1)),
                "{value}"
            );
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped_with_at_least_half_of_it_kept() {
        let p = RetryPolicy::default();
        // The extremes of the jitter: half the backoff, and all of it.
        assert_eq!(backoff(&p, 1, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(&p, 1, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(&p, 2, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&p, 2, 1.0), Duration::from_millis(1000));
        assert_eq!(backoff(&p, 10, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(&p, 10, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(&p, 40, 1.0), Duration::from_secs(8));
    }

    #[test]
    fn jittered_backoff_stays_in_its_bounds_and_varies() {
        let p = RetryPolicy::default();
        for attempt in 1..=6 {
            let cap = p
                .first_backoff
                .saturating_mul(1 << (attempt - 1))
                .min(p.max_backoff);
            let waits: Vec<Duration> = (0..200)
                .map(|_| backoff(&p, attempt, fastrand::f64()))
                .collect();
            for w in &waits {
                assert!(*w >= cap / 2 && *w <= cap, "attempt {attempt}: {w:?}");
            }
            // Two hundred draws all alike would mean no jitter at all.
            assert!(waits.iter().any(|w| *w != waits[0]), "attempt {attempt}");
        }
    }

    #[test]
    fn a_jitter_draw_outside_zero_to_one_cannot_escape_the_bounds_or_panic() {
        let p = RetryPolicy::default();
        assert_eq!(backoff(&p, 1, -3.0), Duration::from_millis(250));
        assert_eq!(backoff(&p, 1, 7.0), Duration::from_millis(500));
        assert_eq!(backoff(&p, 1, f64::NAN), Duration::from_millis(250));
    }
}
