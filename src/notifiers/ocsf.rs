//! `report --format ocsf`: one OCSF finding per non-compliant principal, as
//! JSON lines, for a SIEM to ingest.
//!
//! The class is Compliance Finding (`class_uid` 2003, category Findings 2,
//! OCSF schema 1.8.0, https://schema.ocsf.io/1.8.0/classes/compliance_finding):
//! each line is the result of one check — "this account signs in with MFA" —
//! against one resource, which is what that class describes; a Detection
//! Finding would claim an observed attack. Every attribute the class and
//! its base event mark required is set (`activity_id`, `category_uid`,
//! `class_uid`, `type_uid`, `severity_id`, `time`, `metadata.product`,
//! `metadata.version`, `finding_info.uid`, `compliance`), and the
//! recommended ones that we know (`compliance.status_id`, `control`,
//! `standards`, `resources`, `remediation`, `status_id`).

use serde_json::{json, Value};

use super::csv::split_principal;
use super::digest::remediation;
use crate::domain::report::{Report, Row};
use crate::domain::{policy, ChangeKind, MfaStatus, Severity, Source};

/// The OCSF schema version the lines follow.
pub const SCHEMA_VERSION: &str = "1.8.0";
pub const CLASS_UID: u32 = 2003;
const CATEGORY_UID: u32 = 2;
/// Activity 1, Create: each report states the finding afresh.
const ACTIVITY_ID: u32 = 1;

fn resource_type(source: Source) -> &'static str {
    match source {
        Source::Github => "GitHub organization member",
        Source::Aws => "AWS IAM user",
        Source::Snowflake => "Snowflake user",
    }
}

/// OCSF `severity_id`: 5 Critical, 4 High (our two levels of a principal
/// lacking MFA).
fn severity(row: &Row) -> (u8, &'static str) {
    match policy::severity(ChangeKind::NewWithoutMfa, row.admin) {
        Severity::Critical => (5, "Critical"),
        Severity::High => (4, "High"),
        Severity::Info => (1, "Informational"),
    }
}

fn finding(row: &Row, time_ms: i64) -> Value {
    let (target, name) = split_principal(&row.principal, row.source.as_str());
    let (severity_id, severity_name) = severity(row);
    let (title, detail) = match row.status {
        MfaStatus::Insecure => (
            "Account with only a weak second factor (SMS)",
            "only SMS, which SIM swaps defeat",
        ),
        _ => ("Account without MFA", "no second factor"),
    };
    // An exempt principal is reported, as Suppressed: the SIEM sees the
    // whole picture and whoever reads it sees why nobody is acting.
    let (status_id, status) = if row.exempt {
        (3, "Suppressed")
    } else {
        (1, "New")
    };
    let exemption = match (row.exempt, row.exempt_until) {
        (false, _) => None,
        (true, Some(day)) => Some(format!("exempt until {day}")),
        (true, None) => Some("exempt, permanent".to_owned()),
    };
    json!({
        "activity_id": ACTIVITY_ID,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_ID,
        "type_name": "Compliance Finding: Create",
        "severity_id": severity_id,
        "severity": severity_name,
        "time": time_ms,
        "status_id": status_id,
        "status": status,
        "message": format!("{} has {detail}", row.principal),
        "metadata": {
            "version": SCHEMA_VERSION,
            "product": {
                "name": "mfa-monitor",
                "vendor_name": "mfa-monitor",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "finding_info": {
            // Stable: the same principal is the same finding in every report.
            "uid": format!("mfa-monitor:{}", row.principal),
            "title": title,
            "desc": format!("{} {} has {detail}{}.", resource_type(row.source), row.principal,
                if row.admin { "; it has administrative rights" } else { "" }),
            "types": ["MFA"],
            "first_seen_time": row.first_seen.timestamp_millis(),
        },
        "compliance": {
            "control": "Every account that can sign in interactively uses MFA",
            "standards": ["mfa-monitor"],
            "status_id": 3,
            "status": "Fail",
            "status_detail": exemption.unwrap_or_else(|| row.status_text()),
        },
        "resources": [{
            "uid": row.principal,
            "name": name,
            "type": resource_type(row.source),
            "group": { "name": target },
            "labels": if row.admin { vec!["admin"] } else { Vec::new() },
        }],
        "remediation": { "desc": remediation(row.source) },
        "unmapped": {
            "source": row.source.as_str(),
            "admin": row.admin,
            "login": row.login,
            "days_without_mfa": row.days_without_mfa,
        },
    })
}

/// The report's non-compliant rows as JSON lines.
pub fn render(report: &Report) -> String {
    let time = report.generated_at.timestamp_millis();
    let mut out = String::new();
    for row in report.rows.iter().filter(|r| r.status.is_non_compliant()) {
        out.push_str(&finding(row, time).to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{build, fixtures, Filter};
    use crate::domain::Exemptions;

    #[test]
    fn only_non_compliant_principals_become_findings_with_the_required_fields() {
        let targets = vec![fixtures::target(
            Source::Github,
            "acme",
            &[
                ("boss", MfaStatus::Disabled, true, 3),
                ("dev", MfaStatus::Insecure, false, 1),
                ("ok", MfaStatus::Enabled, false, 0),
            ],
        )];
        let report = build(
            &targets,
            &Exemptions::default(),
            Filter::All,
            chrono::Utc::now(),
        );
        let lines: Vec<Value> = render(&report)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        let boss = &lines[0];
        assert_eq!(boss["class_uid"], 2003);
        assert_eq!(boss["type_uid"], 200301);
        assert_eq!(boss["severity_id"], 5);
        assert_eq!(boss["finding_info"]["uid"], "mfa-monitor:github:acme/boss");
        assert_eq!(boss["resources"][0]["name"], "boss");
        assert_eq!(lines[1]["severity_id"], 4);
        assert_eq!(
            lines[1]["finding_info"]["title"],
            "Account with only a weak second factor (SMS)"
        );
    }
}
