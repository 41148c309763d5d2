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

/// A second account with the same user and key registered.
pub const OTHER_ACCOUNT: &str = "myorg-other";

/// Accepts only a JWT signed by the registered test key whose `sub` and
/// `iss` name the account and that key's fingerprint, as Snowflake checks.
pub struct ValidJwt {
    account: String,
}

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
        let user = format!("{}.MFA_MONITOR", self.account);
        signed
            && claims["sub"] == user.as_str()
            && claims["iss"] == format!("{user}.{}", registered_fingerprint())
    }
}

pub fn sql(m: wiremock::MockBuilder) -> wiremock::MockBuilder {
    sql_for(m, ACCOUNT)
}

/// A mock that answers only requests signed for `account`.
pub fn sql_for(m: wiremock::MockBuilder, account: &str) -> wiremock::MockBuilder {
    m.and(ValidJwt {
        account: account.to_ascii_uppercase(),
    })
    .and(header(
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
        "2026" => include_str!("../fixtures/snowflake-show-users-2026.json"),
        "enforced" => include_str!("../fixtures/snowflake-show-users-enforced.json"),
        "describe-policy" => {
            include_str!("../fixtures/snowflake-describe-authentication-policy.json")
        }
        "mfa-methods" => include_str!("../fixtures/snowflake-show-mfa-methods.json"),
        "422-privileges" => include_str!("../fixtures/snowflake-422-insufficient-privileges.json"),
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

/// A one-partition result set of text columns, as the SQL API sends a
/// SHOW or DESCRIBE result.
pub fn result_set(columns: &[&str], data: Vec<Value>) -> Value {
    let row_type: Vec<Value> = columns
        .iter()
        .map(|n| json!({"name": n, "database": "", "schema": "", "table": "", "nullable": true, "type": "text"}))
        .collect();
    json!({
        "resultSetMetaData": {"numRows": data.len(), "format": "jsonv2", "partitionInfo": [{"rowCount": data.len(), "uncompressedSize": 100}], "rowType": row_type},
        "data": data, "code": "090001", "statementStatusUrl": "/api/v2/statements/g", "requestId": "r",
        "sqlState": "00000", "statementHandle": "g", "message": "Statement executed successfully.", "createdOn": 1763840000000u64
    })
}

pub fn grants(users: &[&str], roles: &[&str]) -> Value {
    let data: Vec<Value> = users
        .iter()
        .map(|u| json!(["1699999999.0", "R", "USER", u, "SECURITYADMIN"]))
        .chain(
            roles
                .iter()
                .map(|r| json!(["1699999999.0", "R", "ROLE", r, "SECURITYADMIN"])),
        )
        .collect();
    result_set(
        &[
            "created_on",
            "role",
            "granted_to",
            "grantee_name",
            "granted_by",
        ],
        data,
    )
}

/// `SHOW AUTHENTICATION POLICIES` naming `policies` (in SECURITY.POLICIES).
pub fn policies(names: &[&str]) -> Value {
    result_set(
        &[
            "created_on",
            "name",
            "comment",
            "database_name",
            "schema_name",
            "owner",
            "owner_role_type",
            "options",
        ],
        names
            .iter()
            .map(|n| {
                json!([
                    "1699999999.0",
                    n,
                    "",
                    "SECURITY",
                    "POLICIES",
                    "SECURITYADMIN",
                    "ROLE",
                    ""
                ])
            })
            .collect(),
    )
}

/// `DESCRIBE AUTHENTICATION POLICY` of the fixture, with
/// `ENFORCE_MFA_ON_EXTERNAL_AUTHENTICATION` set to `on_sso` (`ALL`/`NONE`)
/// and `MFA_ENROLLMENT` to `enrollment`.
pub fn describe_policy(enrollment: &str, on_sso: &str) -> Value {
    let mut v = fixture("describe-policy");
    for row in v["data"].as_array_mut().unwrap() {
        match row[0].as_str().unwrap() {
            "MFA_ENROLLMENT" => row[1] = json!(enrollment),
            "MFA_POLICY" => {
                row[1] = json!(format!(
                    "{{ALLOWED_METHODS=[PASSKEY, TOTP], ENFORCE_MFA_ON_EXTERNAL_AUTHENTICATION={on_sso}}}"
                ))
            }
            _ => {}
        }
    }
    v
}

/// Answers `statement` for `account` under `prefix` with `status` and `body`.
pub async fn answer(
    server: &MockServer,
    account: &str,
    prefix: &str,
    statement: &str,
    status: u16,
    body: Value,
) {
    sql_for(
        Mock::given(method("POST")).and(path(format!("{prefix}/api/v2/statements"))),
        account,
    )
    .and(body_partial_json(json!({ "statement": statement })))
    .respond_with(ResponseTemplate::new(status).set_body_json(body))
    .with_priority(2)
    .mount(server)
    .await;
}

/// The account's policy statements: `REQUIRE_MFA` attached to the account
/// with `describe`, assigned to no user.
pub async fn serve_policy(server: &MockServer, account: &str, prefix: &str, describe: Value) {
    answer(
        server,
        account,
        prefix,
        "SHOW AUTHENTICATION POLICIES ON ACCOUNT",
        200,
        policies(&["REQUIRE_MFA"]),
    )
    .await;
    answer(
        server,
        account,
        prefix,
        "SHOW AUTHENTICATION POLICIES IN ACCOUNT",
        200,
        policies(&["REQUIRE_MFA"]),
    )
    .await;
    answer(
        server,
        account,
        prefix,
        "DESCRIBE AUTHENTICATION POLICY \"SECURITY\".\"POLICIES\".\"REQUIRE_MFA\"",
        200,
        describe,
    )
    .await;
    answer(
        server,
        account,
        prefix,
        "SELECT ref_entity_name, ref_entity_domain FROM TABLE(\"SECURITY\".INFORMATION_SCHEMA.POLICY_REFERENCES(POLICY_NAME => 'SECURITY.POLICIES.REQUIRE_MFA'))",
        200,
        result_set(
            &["POLICY_DB", "POLICY_SCHEMA", "POLICY_NAME", "POLICY_KIND", "REF_DATABASE_NAME", "REF_SCHEMA_NAME", "REF_ENTITY_NAME", "REF_ENTITY_DOMAIN"],
            vec![json!(["SECURITY", "POLICIES", "REQUIRE_MFA", "AUTHENTICATION_POLICY", null, null, account.to_ascii_uppercase(), "ACCOUNT"])],
        ),
    )
    .await;
}

/// `SHOW MFA METHODS FOR USER "NAME"` answered with the fixture's rows of
/// `kinds` (PASSKEY, TOTP, DUO).
pub async fn serve_methods(
    server: &MockServer,
    account: &str,
    prefix: &str,
    user: &str,
    kinds: &[&str],
) {
    let mut v = fixture("mfa-methods");
    let rows: Vec<Value> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| kinds.contains(&r[1].as_str().unwrap()))
        .cloned()
        .collect();
    v["resultSetMetaData"]["numRows"] = json!(rows.len());
    v["resultSetMetaData"]["partitionInfo"] =
        json!([{"rowCount": rows.len(), "uncompressedSize": 100}]);
    v["data"] = Value::Array(rows);
    answer(
        server,
        account,
        prefix,
        &format!("SHOW MFA METHODS FOR USER \"{user}\""),
        200,
        v,
    )
    .await;
}

/// An account of today's shapes under `prefix`: `users` (a one-partition
/// `SHOW USERS` result) answered at once, ACCOUNTADMIN held by ALICE and
/// SECURITYADMIN by ADMIN_SSO, the policy `describe`, the admins' methods.
pub async fn serve_account(
    server: &MockServer,
    account: &str,
    prefix: &str,
    users: Value,
    describe: Value,
) {
    answer(server, account, prefix, "SHOW USERS", 200, users).await;
    for (role, users) in [
        ("\"ACCOUNTADMIN\"", vec!["ALICE"]),
        ("\"SECURITYADMIN\"", vec!["ADMIN_SSO"]),
    ] {
        answer(
            server,
            account,
            prefix,
            &format!("SHOW GRANTS OF ROLE {role}"),
            200,
            grants(&users, &[]),
        )
        .await;
    }
    serve_policy(server, account, prefix, describe).await;
    serve_methods(server, account, prefix, "ALICE", &["PASSKEY", "TOTP"]).await;
    serve_methods(server, account, prefix, "ADMIN_SSO", &["DUO"]).await;
}

/// A complete account: SHOW USERS answered 202 first, then 200 with two
/// partitions; ACCOUNTADMIN held by ALICE and, through SECOPS, CAROL;
/// SECURITYADMIN by BOB; an account policy requiring MFA of password
/// users; each admin's TOTP.
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
    serve_policy(
        server,
        ACCOUNT,
        "",
        describe_policy("REQUIRED_PASSWORD_ONLY", "NONE"),
    )
    .await;
    for admin in ["ALICE", "BOB", "CAROL"] {
        serve_methods(server, ACCOUNT, "", admin, &["TOTP"]).await;
    }
}
