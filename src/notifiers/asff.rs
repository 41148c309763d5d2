//! The ASFF of a Security Hub finding (`domain::securityhub` decides which
//! to import). Every top-level attribute ASFF requires is set
//! (https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html):
//! AwsAccountId, CreatedAt, Description, GeneratorId, Id, ProductArn,
//! Resources, SchemaVersion, Severity, Title, Types, UpdatedAt. A finding
//! that is no longer wanted is re-imported with `RecordState: ARCHIVED` and
//! `Compliance.Status: PASSED`, the fields a finding provider may update
//! (the workflow status is the customer's, through BatchUpdateFindings).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::domain::report::Row;
use crate::domain::securityhub::{Hub, Import};
use crate::domain::{MfaStatus, Source};

/// The finding's `Id`: stable per principal, so a re-import updates it.
pub fn finding_id(principal: &str) -> String {
    format!("mfa-monitor/{principal}")
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The resource a finding is about: the IAM user (or the account, for its
/// root) where AWS has an ARN for it, else an `Other` resource named by
/// the principal id.
fn resource(principal: &str, partition: &str) -> Value {
    if let Some(rest) = principal.strip_prefix("aws:") {
        if let Some((account, name)) = rest.split_once('/') {
            return if name == "<root>" {
                json!({"Type": "AwsAccount", "Id": format!("AWS::::Account:{account}"), "Partition": partition})
            } else {
                json!({"Type": "AwsIamUser", "Id": format!("arn:{partition}:iam::{account}:user/{name}"), "Partition": partition})
            };
        }
    }
    json!({"Type": "Other", "Id": principal, "Partition": partition})
}

fn doc_url(source: Source) -> &'static str {
    match source {
        Source::Aws => "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable.html",
        Source::Github => "https://docs.github.com/en/authentication/securing-your-account-with-two-factor-authentication-2fa/configuring-two-factor-authentication",
        Source::Snowflake => "https://docs.snowflake.com/en/user-guide/security-mfa",
    }
}

fn source_of(principal: &str) -> Option<Source> {
    principal.split(':').next()?.parse().ok()
}

/// The finding of a principal lacking MFA (`row`), or the archived one of
/// a principal that no longer does.
pub fn finding(
    hub: &Hub,
    principal: &str,
    row: Option<&Row>,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Value {
    let source = row.map(|r| r.source).or_else(|| source_of(principal));
    let (title, description, severity, record, compliance) = match row {
        Some(r) => {
            let weak = r.status == MfaStatus::Insecure;
            let what = if weak {
                "signs in with only a weak second factor (SMS)"
            } else {
                "signs in without MFA"
            };
            (
                if weak {
                    "Account with only a weak second factor"
                } else {
                    "Account without MFA"
                },
                format!(
                    "{principal} {what}{}. Reported by mfa-monitor.",
                    if r.admin {
                        " and has administrative rights"
                    } else {
                        ""
                    }
                ),
                if r.admin { "CRITICAL" } else { "HIGH" },
                "ACTIVE",
                "FAILED",
            )
        }
        None => (
            "Account without MFA (resolved)",
            format!(
                "{principal} has MFA again, was removed, or is exempt. Reported by mfa-monitor."
            ),
            "INFORMATIONAL",
            "ARCHIVED",
            "PASSED",
        ),
    };
    let mut f = json!({
        "SchemaVersion": "2018-10-08",
        "Id": finding_id(principal),
        "ProductArn": hub.product_arn(),
        "GeneratorId": format!("mfa-monitor/mfa-required/{}", source.map_or("unknown", |s| s.as_str())),
        "AwsAccountId": hub.account,
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        "CreatedAt": ts(created_at),
        "UpdatedAt": ts(now),
        "Severity": {"Label": severity},
        "Title": title,
        "Description": description,
        "Resources": [resource(principal, &hub.partition)],
        "RecordState": record,
        "Compliance": {"Status": compliance},
        "ProductFields": {"mfa-monitor/principal": principal},
    });
    if let Some(s) = source {
        f["Remediation"] = json!({"Recommendation": {
            "Text": crate::notifiers::digest::remediation(s),
            "Url": doc_url(s),
        }});
    }
    f
}

/// The finding of one import.
pub fn of(hub: &Hub, import: &Import<'_>, now: DateTime<Utc>) -> Value {
    finding(hub, &import.principal, import.row, import.created_at, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{build, fixtures, Filter};
    use crate::domain::Exemptions;

    fn hub() -> Hub {
        Hub {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn an_iam_user_and_a_root_get_their_aws_resource_and_our_severity() {
        let t = vec![fixtures::target(
            Source::Aws,
            "111122223333",
            &[
                ("bob", MfaStatus::Disabled, false, 3),
                ("<root>", MfaStatus::Disabled, true, 1),
            ],
        )];
        let rows = build(&t, &Exemptions::default(), Filter::All, Utc::now()).rows;
        let now = Utc::now();
        let f = |name: &str| {
            let r = rows.iter().find(|r| r.principal.ends_with(name)).unwrap();
            finding(&hub(), &r.principal, Some(r), now, now)
        };
        let root = f("<root>");
        assert_eq!(root["Severity"]["Label"], "CRITICAL");
        assert_eq!(root["Resources"][0]["Type"], "AwsAccount");
        assert_eq!(
            root["ProductArn"],
            "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
        );
        let bob = f("bob");
        assert_eq!(bob["Severity"]["Label"], "HIGH");
        assert_eq!(
            bob["Resources"][0]["Id"],
            "arn:aws:iam::111122223333:user/bob"
        );
        assert_eq!(bob["Id"], "mfa-monitor/aws:111122223333/bob");
        for required in [
            "AwsAccountId",
            "CreatedAt",
            "Description",
            "GeneratorId",
            "Id",
            "ProductArn",
            "Resources",
            "SchemaVersion",
            "Severity",
            "Title",
            "Types",
            "UpdatedAt",
        ] {
            assert!(!bob[required].is_null(), "{required}");
        }
        let gone = finding(&hub(), "github:acme/octocat", None, now, now);
        assert_eq!(gone["RecordState"], "ARCHIVED");
        assert_eq!(gone["Resources"][0]["Type"], "Other");
    }
}
