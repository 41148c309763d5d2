//! Values parsed once at the boundary into types of their own, so code past
//! the configuration never re-checks a string: an e-mail address, a
//! service URL (https, or plain http only to this machine), a positive
//! number.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

use super::ConfigError;

/// An e-mail address as SES takes it: `local@domain.tld`, no whitespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(variable: &'static str, text: &str) -> Result<Self, ConfigError> {
        Self::checked(text)
            .ok_or_else(|| ConfigError::new(variable, format!("`{text}` is not an email address")))
    }

    /// The same check for an address a source gives (Snowflake's `EMAIL`,
    /// an IAM tag): `None` when it is not one, for the caller to drop
    /// rather than fail on.
    pub fn checked(text: &str) -> Option<Self> {
        let ok = matches!(text.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace));
        ok.then(|| Self(text.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The base URL of a service the monitor calls (a source's API), without
/// a trailing slash: https, or plain http to this machine ([`http_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    /// `example` completes the error message, e.g. what an Enterprise
    /// Server URL looks like.
    pub fn parse(variable: &'static str, text: &str, example: &str) -> Result<Self, ConfigError> {
        http_url(text).map_err(|why| {
            // A URL with credentials in it is not repeated either.
            let shown = if text.contains('@') {
                "the URL (not shown: it holds an `@`)".to_owned()
            } else {
                format!("`{text}`")
            };
            ConfigError::new(variable, format!("{shown} is refused: {why}{example}"))
        })?;
        Ok(Self(text.trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<&str> for ServiceUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Checks that `text` is an absolute `https` URL with a host, or a plain
/// `http` one to this machine ([`is_loopback`]: tests and local
/// emulators), without credentials in it. Anywhere else plain http would
/// carry a token, or what the monitor reads, past anyone on the path. The
/// reason never repeats `text`: a webhook URL is a secret.
pub fn http_url(text: &str) -> Result<Url, &'static str> {
    let url = Url::parse(text).map_err(|_| "not a URL")?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host");
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(
            "plain http is allowed only to this machine (127.0.0.0/8, ::1, localhost); use https",
        ),
        _ => return Err("the scheme must be https"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in a URL are refused");
    }
    Ok(url)
}

/// Whether `url` names this machine: an address in 127.0.0.0/8, `::1`, or
/// `localhost` itself (not a name under it, which a resolver may send
/// anywhere).
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // The URL parser has already normalised the host: IPv4 in dotted
    // decimal, IPv6 in brackets, names in lower case.
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost",
    }
}

/// The key of the IAM user tag that holds the user's e-mail address
/// (`MFA_EMAIL_TAG`, default `email`), checked against IAM's rules for a
/// key (1 to 128 letters, digits, spaces and `_.:/=+-@`) so that a typo
/// is a configuration error rather than addresses never found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKey(String);

/// IAM's longest tag key.
const TAG_KEY_MAX: usize = 128;

impl TagKey {
    pub const DEFAULT: &'static str = "email";

    pub fn parse(variable: &'static str, text: &str) -> Result<Self, ConfigError> {
        let allowed = |c: char| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c);
        let why = if text.is_empty() {
            Some("is empty")
        } else if text.chars().count() > TAG_KEY_MAX {
            Some("is longer than IAM's 128 characters for a tag key")
        } else if text.to_ascii_lowercase().starts_with("aws:") {
            Some("uses the `aws:` prefix, which IAM keeps for itself")
        } else if !text.chars().all(allowed) {
            Some("holds a character IAM does not allow in a tag key (letters, digits, spaces and _.:/=+-@)")
        } else {
            None
        };
        match why {
            Some(why) => Err(ConfigError::new(variable, format!("`{text}` {why}"))),
            None => Ok(Self(text.to_owned())),
        }
    }

    /// Whether `key` names this tag. A user's tag keys are not case
    /// sensitive in IAM (IAM User Guide, "Tagging IAM resources": one
    /// user cannot hold both `Email` and `email`), so neither is it here.
    pub fn matches(&self, key: &str) -> bool {
        self.0.eq_ignore_ascii_case(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TagKey {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

/// An optional positive whole number.
pub fn positive(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    what: &str,
) -> Result<Option<u64>, ConfigError> {
    match get(variable) {
        None => Ok(None),
        Some(s) => match s.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(ConfigError::new(
                variable,
                format!("`{s}` is not a positive {what}"),
            )),
        },
    }
}

/// A whole number of at least 0 (`MFA_GRACE_DAYS=0` is "no grace").
pub fn non_negative(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    what: &str,
) -> Result<Option<u64>, ConfigError> {
    match get(variable) {
        None => Ok(None),
        Some(s) => s.trim().parse::<u64>().map(Some).map_err(|_| {
            ConfigError::new(variable, format!("`{s}` is not a whole number of {what}"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_address_needs_a_local_part_and_a_dotted_domain() {
        assert!(EmailAddress::parse("X", "a@example.com").is_ok());
        for bad in ["nope", "@example.com", "a@localhost", "a b@example.com"] {
            let e = EmailAddress::parse("X", bad).unwrap_err();
            assert_eq!(e.variable, "X", "{bad}");
        }
    }

    #[test]
    fn an_address_a_source_gives_is_checked_like_a_configured_one() {
        assert_eq!(
            EmailAddress::checked("a@example.com").map(EmailAddress::into_string),
            Some("a@example.com".to_owned())
        );
        for bad in ["", "nope", "@example.com", "a@localhost", "a b@example.com"] {
            assert!(EmailAddress::checked(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_tag_key_follows_iams_rules_and_is_matched_without_case() {
        let k = TagKey::parse("MFA_EMAIL_TAG", "work-email").unwrap();
        assert!(k.matches("Work-Email") && !k.matches("email"));
        assert!(TagKey::default().matches("email"));
        for bad in ["", "e#mail", "aws:email", &"x".repeat(129)] {
            let e = TagKey::parse("MFA_EMAIL_TAG", bad).unwrap_err();
            assert_eq!(e.variable, "MFA_EMAIL_TAG", "{bad}");
        }
    }

    #[test]
    fn a_service_url_is_absolute_https_with_a_host_and_loses_its_trailing_slash() {
        let u = ServiceUrl::parse("X", "https://ghe.example.com/api/v3/", "").unwrap();
        assert_eq!(u, "https://ghe.example.com/api/v3");
        for bad in [
            "github.com",
            "ftp://example.com",
            "https://",
            "file:///etc/passwd",
        ] {
            assert!(ServiceUrl::parse("X", bad, "").is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_is_refused_unless_it_stays_on_this_machine() {
        for local in [
            "http://127.0.0.1:8080",
            "http://127.10.20.30/api",
            "http://[::1]:9000/",
            "http://localhost:4566",
            "http://LOCALHOST",
        ] {
            assert!(http_url(local).is_ok(), "{local}");
        }
        for remote in [
            "http://github.example.com/api/v3",
            "http://10.0.0.1",
            "http://192.168.1.10:8080",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://[::ffff:7f00:1]",
            "http://0.0.0.0:8080",
        ] {
            let why = http_url(remote).unwrap_err();
            assert!(why.contains("https"), "{remote}: {why}");
        }
        let e = ServiceUrl::parse("GITHUB_API_URL", "http://github.example.com/api/v3", "")
            .unwrap_err();
        assert_eq!(e.variable, "GITHUB_API_URL");
        assert!(e.reason.contains("plain http"), "{e}");
    }

    #[test]
    fn a_url_with_credentials_is_refused_without_repeating_them() {
        assert!(http_url("https://user:hunter2@ghe.example.com").is_err());
        assert!(http_url("https://token@ghe.example.com").is_err());
        let e = ServiceUrl::parse("X", "https://user:hunter2@ghe.example.com", "").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn the_reason_a_url_is_refused_does_not_repeat_it() {
        for bad in [
            "ftp://hooks.example.com/s3cret",
            "http://hooks.example.com/s3cret",
            "https://u:s3cret@hooks.example.com/x",
        ] {
            let why = http_url(bad).unwrap_err();
            assert!(!why.contains("s3cret"), "{why}");
        }
    }
}
