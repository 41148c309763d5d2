//! A local server playing Snowflake's SQL API v2 with real response shapes
//! (`resultSetMetaData.rowType`, `partitionInfo`, `data` as arrays of
//! strings, 202 + `statementStatusUrl`), checking every request's key-pair
//! JWT against the registered test key.

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::SubjectPublicKeyInfoDer;
use serde_json::{json, Value};
use wiremock::matchers::{
    body_partial_json, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

pub const KEY: &str = include_str!("../fixtures/snowflake-test-key.p8");
/// A key Snowflake does not know for the user: its fingerprint differs.
pub const OTHER_KEY: &str = include_str!("../fixtures/snowflake-other-test-key.p8");
/// The public key registered for the user (`ALTER USER ... SET
/// RSA_PUBLIC_KEY`), as `openssl pkey -pubout` wrote it: the fake checks
/// against openssl's output, not against what the code under test derives.
const PUBLIC_KEY: &str = include_str!("../fixtures/snowflake-test-key.pub.pem");
pub const ACCOUNT: &str = "myorg-acct";
pub const HANDLE: &str = "01b8a3c4-0000-1234-0000-0000000a1b2c";

/// Accepts only a JWT signed by the registered test key whose `iss` names
/// that key's fingerprint, as Snowflake checks.
pub struct ValidJwt;

fn registered_public_key() -> Vec<u8> {
    SubjectPublicKeyInfoDer::from_pem_slice(PUBLIC_KEY.as_bytes())
        .unwrap()
        .to_vec()
}

pub fn registered_fingerprint() -> String {
    use aws_lc_rs::digest::{digest, SHA256};
    use base64::engine::general_purpose::STANDARD;
    format!(
        "SHA256:{}",
        STANDARD.encode(digest(&SHA256, &registered_public_key()))
    )
}

impl Match for ValidJwt {
    fn matches(&self, req: &Request) -> bool {
        let Some(token) = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return false;
        }
        let signed = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, registered_public_key())
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default(),
            )
            .is_ok();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default())
                .unwrap_or_default();
        signed
            && claims["sub"] == "MYORG-ACCT.MFA_MONITOR"
            && claims["iss"] == format!("MYORG-ACCT.MFA_MONITOR.{}", registered_fingerprint())
    }
}

pub fn sql(m: wiremock::MockBuilder) -> wiremock::MockBuilder {
    m.and(ValidJwt).and(header(
        "x-snowflake-authorization-token-type",
        "KEYPAIR_JWT",
    ))
}

pub fn fixture(name: &str) -> Value {
    let text = match name {
        "200" => include_str!("../fixtures/snowflake-show-users-200.json"),
        "partition-1" => include_str!("../fixtures/snowflake-show-users-partition-1.json"),
        "202" => include_str!("../fixtures/snowflake-202.json"),
        "401" => include_str!("../fixtures/snowflake-401.json"),
        _ => unreachable!(),
    };
    serde_json::from_str(text).unwrap()
}

/// Sets `column` of user `name` in a result (or partition) body.
pub fn set(body: &mut Value, meta: &Value, name: &str, column: &str, value: Option<&str>) {
    let cols: Vec<&str> = meta["resultSetMetaData"]["rowType"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let idx = cols.iter().position(|c| *c == column).unwrap();
    for row in body["data"].as_array_mut().unwrap() {
        if row[0] == name {
            row[idx] = value.map_or(Value::Null, |v| json!(v));
        }
    }
}

pub fn grants(users: &[&str], roles: &[&str]) -> Value {
    let row_type: Vec<Value> = ["created_on", "role", "granted_to", "grantee_name", "granted_by"]
        .iter()
        .map(|n| json!({"name": n, "database": "", "schema": "", "table": "", "nullable": true, "type": "text"}))
        .collect();
    let data: Vec<Value> = users
        .iter()
        .map(|u| json!(["1699999999.0", "R", "USER", u, "SECURITYADMIN"]))
        .chain(
            roles
                .iter()
                .map(|r| json!(["1699999999.0", "R", "ROLE", r, "SECURITYADMIN"])),
        )
        .collect();
    json!({
        "resultSetMetaData": {"numRows": data.len(), "format": "jsonv2", "partitionInfo": [{"rowCount": data.len(), "uncompressedSize": 100}], "rowType": row_type},
        "data": data, "code": "090001", "statementStatusUrl": "/api/v2/statements/g", "requestId": "r",
        "sqlState": "00000", "statementHandle": "g", "message": "Statement executed successfully.", "createdOn": 1763840000000u64
    })
}

/// A complete account: SHOW USERS answered 202 first, then 200 with two
/// partitions; ACCOUNTADMIN held by ALICE and, through SECOPS, CAROL;
/// SECURITYADMIN by BOB.
pub async fn serve(server: &MockServer, first: Value, partition: Value) {
    sql(Mock::given(method("POST")).and(path("/api/v2/statements")))
        .and(body_partial_json(json!({"statement": "SHOW USERS"})))
        .respond_with(ResponseTemplate::new(202).set_body_json(fixture("202")))
        .mount(server)
        .await;
    sql(Mock::given(method("GET")).and(path(format!("/api/v2/statements/{HANDLE}"))))
        .and(query_param_is_missing("partition"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .mount(server)
        .await;
    sql(Mock::given(method("GET")).and(path(format!("/api/v2/statements/{HANDLE}"))))
        .and(query_param("partition", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(partition))
        .mount(server)
        .await;
    for (role, users, roles) in [
        ("\"ACCOUNTADMIN\"", vec!["ALICE"], vec!["SECOPS"]),
        ("\"SECURITYADMIN\"", vec!["BOB"], vec![]),
        ("\"SECOPS\"", vec!["CAROL"], vec![]),
    ] {
        sql(Mock::given(method("POST")).and(path("/api/v2/statements")))
            .and(body_partial_json(
                json!({"statement": format!("SHOW GRANTS OF ROLE {role}")}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(grants(&users, &roles)))
            .mount(server)
            .await;
    }
}
