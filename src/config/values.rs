//! Values parsed once at the boundary into types of their own, so code past
//! the configuration never re-checks a string: an e-mail address, an
//! http(s) service URL, a positive number.

use std::fmt;

use reqwest::Url;

use super::ConfigError;

/// An e-mail address as SES takes it: `local@domain.tld`, no whitespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(variable: &'static str, text: &str) -> Result<Self, ConfigError> {
        let ok = matches!(text.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ConfigError::new(
                variable,
                format!("`{text}` is not an email address"),
            ))
        }
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
/// a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    /// `example` completes the error message, e.g. what an Enterprise
    /// Server URL looks like.
    pub fn parse(variable: &'static str, text: &str, example: &str) -> Result<Self, ConfigError> {
        http_url(text).map_err(|why| {
            ConfigError::new(
                variable,
                format!("`{text}` is not an http(s) URL ({why}){example}"),
            )
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

/// Checks that `text` is an absolute http(s) URL with a host. The reason
/// never repeats `text`: a webhook URL is a secret.
pub fn http_url(text: &str) -> Result<Url, &'static str> {
    let url = Url::parse(text).map_err(|_| "not a URL")?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("the scheme must be http or https");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host");
    }
    Ok(url)
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
    fn a_service_url_is_absolute_http_with_a_host_and_loses_its_trailing_slash() {
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
    fn the_reason_a_url_is_refused_does_not_repeat_it() {
        let why = http_url("ftp://hooks.example.com/s3cret").unwrap_err();
        assert!(!why.contains("s3cret"));
    }
}
