//! Whether an IAM policy document makes its holder an administrator: pure,
//! no I/O, so every shape AWS accepts is a unit test.
//!
//! What counts (README "Who is an admin"): a statement with
//! `"Effect": "Allow"`, an `Action` that is `*`, `*:*` or `iam:*` (one of a
//! list is enough; case-insensitive, as IAM matches actions), and a
//! `Resource` that is `*` (one of a list is enough), with no `Condition`.
//! Not counted: `NotAction` / `NotResource` statements (an allow of "all
//! but X" is broad but named as a finding only when it is exactly `*`), and
//! any statement with a `Condition` (it may never match). A `Deny` in the
//! same or another policy is not subtracted: a deny of `*` beside an allow
//! of `*` is rare, and counting the holder as an admin is the safe side
//! (their missing MFA is then critical, not high).

use serde::Deserialize;
use serde_json::Value;

/// One statement, read leniently: IAM accepts a string or a list for
/// `Action` and `Resource`, and a single object or a list for `Statement`.
#[derive(Debug, Deserialize)]
struct Statement {
    #[serde(rename = "Effect", default)]
    effect: String,
    #[serde(rename = "Action", default)]
    action: Option<Value>,
    #[serde(rename = "Resource", default)]
    resource: Option<Value>,
    #[serde(rename = "Condition", default)]
    condition: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Document {
    #[serde(rename = "Statement", default)]
    statement: Option<Value>,
}

/// Why a document could not be judged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("not a JSON policy document: {0}")]
    NotJson(String),
}

fn strings(value: &Option<Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_admin_action(action: &str) -> bool {
    let a = action.trim();
    a == "*" || a == "*:*" || a.eq_ignore_ascii_case("iam:*")
}

fn grants_admin(statement: &Statement) -> bool {
    statement.effect == "Allow"
        && statement.condition.is_none()
        && strings(&statement.action).into_iter().any(is_admin_action)
        && strings(&statement.resource)
            .into_iter()
            .any(|r| r.trim() == "*")
}

/// Decodes a policy document as IAM returns it: URL-encoded (RFC 3986) from
/// `GetAccountAuthorizationDetails` and `GetPolicyVersion`, or plain JSON
/// (some emulators, inline policies written by hand).
pub fn decode_document(text: &str) -> Result<Value, PolicyError> {
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('{') {
        std::borrow::Cow::Borrowed(trimmed)
    } else {
        percent_encoding::percent_decode_str(trimmed)
            .decode_utf8()
            .map_err(|e| PolicyError::NotJson(format!("not UTF-8 once URL-decoded: {e}")))?
    };
    serde_json::from_str(&json).map_err(|e| PolicyError::NotJson(e.to_string()))
}

/// Whether the (decoded) document allows `*` or `iam:*` on `*`.
pub fn document_grants_admin(document: &Value) -> bool {
    let Ok(doc) = Document::deserialize(document) else {
        return false;
    };
    let statements: Vec<Value> = match doc.statement {
        Some(Value::Array(items)) => items,
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    };
    statements
        .into_iter()
        .filter_map(|s| Statement::deserialize(s).ok())
        .any(|s| grants_admin(&s))
}

/// [`decode_document`] then [`document_grants_admin`].
pub fn grants_admin_text(text: &str) -> Result<bool, PolicyError> {
    Ok(document_grants_admin(&decode_document(text)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn admin(doc: Value) -> bool {
        document_grants_admin(&doc)
    }

    #[test]
    fn allow_star_on_star_in_a_statement_list_is_admin() {
        assert!(admin(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Allow", "Action": "*", "Resource": "*"}
        ]})));
    }

    #[test]
    fn a_single_statement_object_and_action_lists_are_read() {
        assert!(admin(json!({"Statement":
            {"Effect": "Allow", "Action": ["ec2:*", "iam:*"], "Resource": ["*"]}})));
        assert!(admin(
            json!({"Statement": {"Effect": "Allow", "Action": "*:*", "Resource": "*"}})
        ));
        assert!(admin(
            json!({"Statement": {"Effect": "Allow", "Action": "IAM:*", "Resource": "*"}})
        ));
    }

    #[test]
    fn narrower_actions_or_resources_are_not_admin() {
        assert!(!admin(
            json!({"Statement": {"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}})
        ));
        assert!(!admin(
            json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}})
        ));
        assert!(!admin(
            json!({"Statement": {"Effect": "Allow", "Action": "*",
            "Resource": "arn:aws:s3:::bucket/*"}})
        ));
    }

    #[test]
    fn deny_not_action_and_conditions_do_not_count() {
        assert!(!admin(
            json!({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}})
        ));
        assert!(!admin(
            json!({"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}})
        ));
        assert!(!admin(
            json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}})
        ));
        assert!(!admin(
            json!({"Statement": {"Effect": "Allow", "Action": "*", "NotResource": "*"}})
        ));
    }

    #[test]
    fn a_deny_beside_the_allow_still_counts_as_admin() {
        assert!(admin(json!({"Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}
        ]})));
    }

    #[test]
    fn url_encoded_documents_as_iam_returns_them_are_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
        assert_eq!(grants_admin_text(encoded), Ok(true));
        assert_eq!(
            grants_admin_text(r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#),
            Ok(false)
        );
        assert!(matches!(
            grants_admin_text("%7Bnot json"),
            Err(PolicyError::NotJson(_))
        ));
    }

    #[test]
    fn odd_shapes_are_not_admin_rather_than_an_error() {
        assert!(!admin(json!({"Statement": "nonsense"})));
        assert!(!admin(json!({"Statement": [{"Effect": "Allow"}]})));
        assert!(!admin(json!([])));
    }
}
