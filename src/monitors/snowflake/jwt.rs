//! Snowflake key-pair authentication: an RS256 JWT whose issuer names the
//! SHA-256 fingerprint of the public key registered for the user.
//! Pure (the clock is passed in), so the claims are unit-tested.

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::config::ConfigError;
use crate::jwt::{Rs256Signer, SignError};

/// Snowflake accepts tokens valid for at most an hour; a pass is far
/// shorter, and a fresh token is made for every statement anyway.
const LIFETIME_SECS: i64 = 59 * 60;

pub struct KeyPairAuth {
    qualified_user: String,
    fingerprint: String,
    signer: Rs256Signer,
}

/// The account part of the JWT claims: upper-cased, and for a legacy
/// locator with a region or cloud suffix (`xy12345.us-east-1.aws`) only
/// the locator, as Snowflake requires.
pub fn jwt_account(account: &str) -> String {
    account
        .split('.')
        .next()
        .unwrap_or(account)
        .to_ascii_uppercase()
}

impl KeyPairAuth {
    /// `variable` names where the key came from, for errors; the key itself
    /// never appears in one.
    pub fn new(
        account: &str,
        user: &str,
        pem: &SecretString,
        variable: &'static str,
    ) -> Result<Self, ConfigError> {
        // Keys pasted into one-line variables often carry literal `\n`.
        let text = pem.expose_secret().replace("\\n", "\n");
        // ConfigError holds text only (it is Clone and compared in tests),
        // so the cause goes into the reason; KeyError never shows the key.
        let signer = Rs256Signer::from_pkcs8_pem(text.trim())
            .map_err(|e| ConfigError::new(variable, e.to_string()))?;
        let fingerprint = STANDARD.encode(digest(&SHA256, signer.public_key_der()));
        Ok(Self {
            qualified_user: format!("{}.{}", jwt_account(account), user.to_ascii_uppercase()),
            fingerprint,
            signer,
        })
    }

    /// `SHA256:<base64 of SHA-256 of the public key DER>`, as
    /// `DESC USER` shows in `RSA_PUBLIC_KEY_FP`.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", self.fingerprint)
    }

    pub fn token(&self, now: DateTime<Utc>) -> Result<String, SignError> {
        self.signer.encode(&serde_json::json!({
            "iss": format!("{}.{}", self.qualified_user, self.fingerprint()),
            "sub": self.qualified_user,
            "iat": now.timestamp(),
            "exp": now.timestamp() + LIFETIME_SECS,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::SubjectPublicKeyInfoDer;

    const KEY: &str = include_str!("../../../tests/fixtures/snowflake-test-key.p8");
    /// `openssl pkey -in tests/fixtures/snowflake-test-key.p8 -pubout -outform DER | openssl dgst -sha256 -binary | base64`
    const OPENSSL_FINGERPRINT: &str = "dSzkqeT+BkVotjp1U0ImmHQBnZAPkaGzTfDtXuxxdac=";

    fn auth(account: &str) -> KeyPairAuth {
        KeyPairAuth::new(
            account,
            "mfa_monitor",
            &SecretString::from(KEY),
            "SNOWFLAKE_PRIVATE_KEY",
        )
        .unwrap()
    }

    #[test]
    fn the_fingerprint_matches_what_openssl_computes() {
        assert_eq!(
            auth("myorg-acct").fingerprint(),
            format!("SHA256:{OPENSSL_FINGERPRINT}")
        );
    }

    #[test]
    fn the_token_carries_upper_cased_claims_and_a_valid_rs256_signature() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let a = auth("xy12345.us-east-1.aws");
        let token = a.token(now).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], "XY12345.MFA_MONITOR");
        assert_eq!(
            claims["iss"],
            format!("XY12345.MFA_MONITOR.SHA256:{OPENSSL_FINGERPRINT}")
        );
        assert_eq!(claims["iat"], 1_700_000_000);
        assert!(claims["exp"].as_i64().unwrap() - 1_700_000_000 <= 3600);

        // The public key as openssl wrote it, not as the code under test
        // derives it.
        let public_key = SubjectPublicKeyInfoDer::from_pem_slice(include_bytes!(
            "../../../tests/fixtures/snowflake-test-key.pub.pem"
        ))
        .unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key.as_ref())
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .expect("signature verifies with the public key");
    }

    #[test]
    fn an_encrypted_or_malformed_key_is_a_clear_error_that_never_shows_the_key() {
        let encrypted = include_str!("../../../tests/fixtures/snowflake-test-key-encrypted.p8");
        let e = KeyPairAuth::new(
            "a",
            "u",
            &SecretString::from(encrypted),
            "SNOWFLAKE_PRIVATE_KEY",
        )
        .err()
        .unwrap();
        assert_eq!(e.variable, "SNOWFLAKE_PRIVATE_KEY");
        assert!(e.reason.contains("encrypted"), "{e}");
        let garbage =
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END PRIVATE KEY-----";
        let e = KeyPairAuth::new(
            "a",
            "u",
            &SecretString::from(garbage),
            "SNOWFLAKE_PRIVATE_KEY_SECRET_ID",
        )
        .err()
        .unwrap();
        assert_eq!(e.variable, "SNOWFLAKE_PRIVATE_KEY_SECRET_ID");
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
    }

    #[test]
    fn a_key_pasted_with_literal_newlines_is_accepted() {
        let one_line = KEY.trim().replace('\n', "\\n");
        assert!(KeyPairAuth::new(
            "a",
            "u",
            &SecretString::from(one_line),
            "SNOWFLAKE_PRIVATE_KEY"
        )
        .is_ok());
    }
}
