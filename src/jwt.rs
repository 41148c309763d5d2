//! RS256 JSON Web Tokens (RFC 7519 / RFC 7515 compact form), for every
//! source that authenticates with a key pair: Snowflake's key-pair JWT
//! (a PKCS#8 key) and a GitHub App's JWT (GitHub hands out PKCS#1 keys,
//! `-----BEGIN RSA PRIVATE KEY-----`).
//!
//! The RSA work is done by aws-lc-rs, which the build already links for
//! rustls. It replaces the `rsa` crate, whose RUSTSEC-2023-0071 (Marvin:
//! secret-dependent timing in its RSA arithmetic) has no fixed release.
//! `jsonwebtoken` was considered: without its default `use_pem` feature its
//! aws-lc-rs signer only takes a PKCS#1 key (and re-parses it for every
//! token), and the fingerprint Snowflake wants needs aws-lc-rs directly
//! anyway, so the two dozen lines of compact serialization are kept here.
//!
//! The PEM armour is read by rustls-pki-types (also already linked), whose
//! base64 decoder treats its input as secret (constant time), unlike the
//! `base64` crate's.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::error::{KeyRejected, Unspecified};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};
use serde::Serialize;

/// The JOSE header of every token made here.
const HEADER: &[u8] = br#"{"alg":"RS256","typ":"JWT"}"#;

/// Why a private key was not accepted. No variant carries any part of the
/// key: the PEM parser's own error is dropped on purpose, as it can quote a
/// line or character of its input.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the private key is encrypted; give the unencrypted PKCS#8 key (`openssl pkcs8 -topk8 -nocrypt`)"
    )]
    Encrypted,
    #[error("not a PKCS#8 PEM RSA private key (expected `-----BEGIN PRIVATE KEY-----`)")]
    NotPkcs8Pem,
    /// `KeyRejected` names only the kind of problem (`InvalidEncoding`,
    /// `WrongAlgorithm`, `TooSmall`...), never key material.
    #[error("not a PKCS#8 PEM RSA private key of 2048 to 8192 bits (rejected: {0})")]
    Rejected(#[source] KeyRejected),
    #[error("not a PEM RSA private key (expected `-----BEGIN RSA PRIVATE KEY-----` as GitHub issues it, or `-----BEGIN PRIVATE KEY-----`)")]
    NotRsaPem,
    #[error("not an RSA private key of 2048 to 8192 bits (rejected: {0})")]
    RejectedPkcs1(#[source] KeyRejected),
    #[error("the public key could not be encoded from the private key")]
    PublicKey(#[source] Unspecified),
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the JWT claims could not be serialized")]
    Claims(#[source] serde_json::Error),
    #[error("RS256 signing failed")]
    Sign(#[source] Unspecified),
}

/// An RSA private key that signs RS256 tokens, with its public key kept in
/// the DER `SubjectPublicKeyInfo` form services fingerprint.
pub struct Rs256Signer {
    key: KeyPair,
    public_key_der: Vec<u8>,
}

impl std::fmt::Debug for Rs256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rs256Signer").finish_non_exhaustive()
    }
}

impl Rs256Signer {
    /// From an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), what
    /// `openssl genrsa` and `openssl pkcs8 -topk8 -nocrypt` write.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        // Checked first so an encrypted key gets its own advice rather than
        // "no PKCS#8 key found".
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(KeyError::Encrypted);
        }
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| KeyError::NotPkcs8Pem)?;
        let key = KeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(KeyError::Rejected)?;
        Self::with_key(key)
    }

    /// From a PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`, what GitHub
    /// downloads for an App) or a PKCS#8 one: whichever armour the text has.
    pub fn from_rsa_pem(pem: &str) -> Result<Self, KeyError> {
        if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            let der = PrivatePkcs1KeyDer::from_pem_slice(pem.as_bytes())
                .map_err(|_| KeyError::NotRsaPem)?;
            let key = KeyPair::from_der(der.secret_pkcs1_der()).map_err(KeyError::RejectedPkcs1)?;
            return Self::with_key(key);
        }
        match Self::from_pkcs8_pem(pem) {
            Err(KeyError::NotPkcs8Pem) => Err(KeyError::NotRsaPem),
            other => other,
        }
    }

    fn with_key(key: KeyPair) -> Result<Self, KeyError> {
        let public_key_der = key
            .public_key()
            .as_der()
            .map_err(KeyError::PublicKey)?
            .as_ref()
            .to_vec();
        Ok(Self {
            key,
            public_key_der,
        })
    }

    /// The DER `SubjectPublicKeyInfo`, as `openssl pkey -pubout -outform DER`
    /// prints it.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// `header.claims.signature`, each part base64url without padding.
    pub fn encode(&self, claims: &impl Serialize) -> Result<String, SignError> {
        let claims = serde_json::to_vec(claims).map_err(SignError::Claims)?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        // PKCS#1 v1.5 signing is deterministic; aws-lc-rs ignores the RNG
        // and takes one only for ring's API.
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(SignError::Sign)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    use rustls_pki_types::SubjectPublicKeyInfoDer;

    const KEY: &str = include_str!("../tests/fixtures/snowflake-test-key.p8");
    /// `openssl pkey -in tests/fixtures/snowflake-test-key.p8 -pubout`
    const PUBLIC_KEY: &str = include_str!("../tests/fixtures/snowflake-test-key.pub.pem");

    fn openssl_public_key_der() -> Vec<u8> {
        SubjectPublicKeyInfoDer::from_pem_slice(PUBLIC_KEY.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn the_public_key_der_is_the_subject_public_key_info_openssl_prints() {
        let signer = Rs256Signer::from_pkcs8_pem(KEY).unwrap();
        assert_eq!(signer.public_key_der(), openssl_public_key_der());
    }

    #[test]
    fn a_token_has_the_rs256_header_the_claims_and_a_signature_the_public_key_verifies() {
        let signer = Rs256Signer::from_pkcs8_pem(KEY).unwrap();
        let token = signer
            .encode(&serde_json::json!({"iss": "me", "iat": 1}))
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims, serde_json::json!({"iss": "me", "iat": 1}));
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, openssl_public_key_der())
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies with the public key");
        // Tampered claims must not verify: the check above is not vacuous.
        let tampered = URL_SAFE_NO_PAD.encode(br#"{"iss":"you","iat":1}"#);
        assert!(
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, openssl_public_key_der())
                .verify(format!("{}.{tampered}", parts[0]).as_bytes(), &signature)
                .is_err()
        );
    }

    #[test]
    fn a_pkcs1_key_as_github_issues_it_signs_tokens_its_public_key_verifies() {
        let pkcs1 = include_str!("../tests/fixtures/github-app-test-key.pem");
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let public = SubjectPublicKeyInfoDer::from_pem_slice(
            include_bytes!("../tests/fixtures/github-app-test-key.pub.pem").as_slice(),
        )
        .unwrap()
        .to_vec();
        let signer = Rs256Signer::from_rsa_pem(pkcs1).unwrap();
        assert_eq!(signer.public_key_der(), public);
        let token = signer.encode(&serde_json::json!({"iss": "1"})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("verifies");
        // The PKCS#8 form is taken too; text that is neither is refused.
        assert!(Rs256Signer::from_rsa_pem(KEY).is_ok());
        let e = Rs256Signer::from_rsa_pem("c2VjcmV0").unwrap_err();
        assert!(matches!(e, KeyError::NotRsaPem), "{e}");
        let e = Rs256Signer::from_rsa_pem(
            "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END RSA PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(matches!(e, KeyError::RejectedPkcs1(_)), "{e}");
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
    }

    #[test]
    fn an_encrypted_key_is_refused_with_advice() {
        let encrypted = include_str!("../tests/fixtures/snowflake-test-key-encrypted.p8");
        let e = Rs256Signer::from_pkcs8_pem(encrypted).unwrap_err();
        assert!(matches!(e, KeyError::Encrypted), "{e}");
        assert!(e.to_string().contains("-nocrypt"), "{e}");
    }

    #[test]
    fn text_that_is_not_a_pkcs8_rsa_key_is_refused_without_quoting_it() {
        let not_pem = "c2VjcmV0LWJ1dC1ub3QtYS1rZXk=";
        let e = Rs256Signer::from_pkcs8_pem(not_pem).unwrap_err();
        assert!(matches!(e, KeyError::NotPkcs8Pem), "{e}");

        let not_a_key =
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END PRIVATE KEY-----";
        let e = Rs256Signer::from_pkcs8_pem(not_a_key).unwrap_err();
        assert!(matches!(e, KeyError::Rejected(_)), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");

        let bad_base64 = "-----BEGIN PRIVATE KEY-----\nc2Vj*cmV0\n-----END PRIVATE KEY-----";
        let e = Rs256Signer::from_pkcs8_pem(bad_base64).unwrap_err();
        assert!(matches!(e, KeyError::NotPkcs8Pem), "{e}");
        assert!(!e.to_string().contains("c2Vj"), "{e}");
    }
}
