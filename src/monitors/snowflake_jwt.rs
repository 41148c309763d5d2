//! Snowflake key-pair authentication: an RS256 JWT whose issuer names the
//! SHA-256 fingerprint of the public key registered for the user.
//! Pure (the clock is passed in), so the claims are unit-tested.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::ConfigError;

/// Snowflake accepts tokens valid for at most an hour; a pass is far
/// shorter, and a fresh token is made for every statement anyway.
const LIFETIME_SECS: i64 = 59 * 60;

pub struct KeyPairAuth {
    qualified_user: String,
    fingerprint: String,
    key: SigningKey<Sha256>,
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
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(ConfigError::new(
                variable,
                "the private key is encrypted; give the unencrypted PKCS#8 key (`openssl pkcs8 -topk8 -nocrypt`)",
            ));
        }
        let key = RsaPrivateKey::from_pkcs8_pem(text.trim()).map_err(|_| {
            ConfigError::new(
                variable,
                "not a PKCS#8 PEM RSA private key (expected `-----BEGIN PRIVATE KEY-----`)",
            )
        })?;
        let public_der = key.to_public_key().to_public_key_der().map_err(|_| {
            ConfigError::new(
                variable,
                "the public key could not be derived from the private key",
            )
        })?;
        let fingerprint = STANDARD.encode(Sha256::digest(public_der.as_bytes()));
        Ok(Self {
            qualified_user: format!("{}.{}", jwt_account(account), user.to_ascii_uppercase()),
            fingerprint,
            key: SigningKey::<Sha256>::new(key),
        })
    }

    /// `SHA256:<base64 of SHA-256 of the public key DER>`, as
    /// `DESC USER` shows in `RSA_PUBLIC_KEY_FP`.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", self.fingerprint)
    }

    pub fn token(&self, now: DateTime<Utc>) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iss": format!("{}.{}", self.qualified_user, self.fingerprint()),
            "sub": self.qualified_user,
            "iat": now.timestamp(),
            "exp": now.timestamp() + LIFETIME_SECS,
        });
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let signature = self.key.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    const KEY: &str = include_str!("../../tests/fixtures/snowflake-test-key.p8");
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
        let token = a.token(now);
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

        let key = RsaPrivateKey::from_pkcs8_pem(KEY).unwrap();
        let verifier = VerifyingKey::<Sha256>::new(key.to_public_key());
        let sig =
            Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
        verifier
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .expect("signature verifies with the public key");
    }

    #[test]
    fn an_encrypted_or_malformed_key_is_a_clear_error_that_never_shows_the_key() {
        let encrypted = include_str!("../../tests/fixtures/snowflake-test-key-encrypted.p8");
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
