//! The IAM credential report: every user's console-password and MFA flags
//! in one CSV. AWS regenerates it at most every 4 hours, so it is the base
//! of the read, and the live reads correct what may have changed since.

use std::time::{Duration, Instant};

use aws_sdk_iam::types::ReportStateType;
use tracing::debug;

use super::paging::call;
use crate::monitors::MonitorError;

pub const REPORT_ROOT_USER: &str = "<root_account>";

/// How long to wait for `GenerateCredentialReport` to complete: the first
/// wait is `interval`, each next one twice as long up to 2 s, so a report
/// that is ready in a moment costs a moment, and a slow one few calls.
#[derive(Debug, Clone, Copy)]
pub struct ReportPolling {
    pub interval: Duration,
    pub max_wait: Duration,
}

const REPORT_POLL_CAP: Duration = Duration::from_secs(2);

impl Default for ReportPolling {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(250),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// One row of the credential report, read by column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub user: String,
    pub arn: String,
    /// `None` where the report says `not_supported` (always, for the root
    /// row) or `N/A`.
    pub password_enabled: Option<bool>,
    pub mfa_active: bool,
    /// `user_creation_time` in seconds, when the column is there and
    /// readable: a user deleted and created again under the same name
    /// since the report has another creation time, so its row is not theirs.
    pub created: Option<i64>,
    /// Any of `access_key_1_active`, `access_key_2_active`; `None` when the
    /// columns are absent.
    pub access_key_active: Option<bool>,
    /// Any of `cert_1_active`, `cert_2_active`; `None` when absent.
    pub certificate_active: Option<bool>,
}

/// The parsed report and when AWS generated it.
#[derive(Debug, Clone)]
pub struct CredentialReport {
    pub rows: Vec<ReportRow>,
    /// `GeneratedTime` in seconds since the epoch, when AWS gave one.
    pub generated: Option<i64>,
}

/// Parses the credential report CSV by column name: AWS has added columns
/// over the years and documents the names, not the positions.
pub fn parse_credential_report(csv_bytes: &[u8]) -> Result<Vec<ReportRow>, MonitorError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(csv_bytes);
    let headers = reader
        .headers()
        .map_err(|e| MonitorError::Malformed(format!("credential report header: {e}")))?
        .clone();
    let optional = |name: &str| headers.iter().position(|h| h == name);
    let column = |name: &str| {
        optional(name).ok_or_else(|| {
            MonitorError::Malformed(format!("credential report has no `{name}` column"))
        })
    };
    let (user_col, arn_col, password_col, mfa_col) = (
        column("user")?,
        column("arn")?,
        column("password_enabled")?,
        column("mfa_active")?,
    );
    let created_col = optional("user_creation_time");
    let key_cols: Vec<(usize, &str)> = ["access_key_1_active", "access_key_2_active"]
        .into_iter()
        .filter_map(|n| optional(n).map(|c| (c, n)))
        .collect();
    let cert_cols: Vec<(usize, &str)> = ["cert_1_active", "cert_2_active"]
        .into_iter()
        .filter_map(|n| optional(n).map(|c| (c, n)))
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record
            .map_err(|e| MonitorError::Malformed(format!("credential report row {line}: {e}")))?;
        let field = |col: usize, name: &str| {
            record.get(col).ok_or_else(|| {
                MonitorError::Malformed(format!("credential report row {line} lacks `{name}`"))
            })
        };
        let user = field(user_col, "user")?.to_owned();
        let flag = |col: usize, name: &str| -> Result<Option<bool>, MonitorError> {
            match field(col, name)? {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                "N/A" | "not_supported" | "no_information" => Ok(None),
                other => Err(MonitorError::Malformed(format!(
                    "credential report row {line} ({user}): `{name}` is `{other}`"
                ))),
            }
        };
        // Present if any column says so; absent only if every one says so.
        let any = |cols: &[(usize, &str)]| -> Result<Option<bool>, MonitorError> {
            if cols.is_empty() {
                return Ok(None);
            }
            let mut all_false = true;
            for (c, n) in cols {
                match flag(*c, n)? {
                    Some(true) => return Ok(Some(true)),
                    Some(false) => {}
                    None => all_false = false,
                }
            }
            Ok(all_false.then_some(false))
        };
        rows.push(ReportRow {
            arn: field(arn_col, "arn")?.to_owned(),
            password_enabled: flag(password_col, "password_enabled")?,
            mfa_active: flag(mfa_col, "mfa_active")?.unwrap_or(false),
            created: match created_col {
                Some(c) => chrono::DateTime::parse_from_rfc3339(field(c, "user_creation_time")?)
                    .ok()
                    .map(|t| t.timestamp()),
                None => None,
            },
            access_key_active: any(&key_cols)?,
            certificate_active: any(&cert_cols)?,
            user,
        });
    }
    Ok(rows)
}

/// Asks for a report and waits until it is complete, then reads it.
pub async fn fetch(
    iam: &aws_sdk_iam::Client,
    polling: ReportPolling,
) -> Result<CredentialReport, MonitorError> {
    let started = Instant::now();
    let mut wait = polling.interval;
    loop {
        let out = iam
            .generate_credential_report()
            .send()
            .await
            .map_err(|e| call("iam:GenerateCredentialReport", e))?;
        if out.state == Some(ReportStateType::Complete) {
            break;
        }
        if started.elapsed() >= polling.max_wait {
            return Err(MonitorError::Incomplete(format!(
                "the credential report was not ready within {:?}",
                polling.max_wait
            )));
        }
        debug!(state = ?out.state, "credential report not ready yet");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(REPORT_POLL_CAP.max(polling.interval));
    }
    let report = iam
        .get_credential_report()
        .send()
        .await
        .map_err(|e| call("iam:GetCredentialReport", e))?;
    let generated = report.generated_time.map(|t| t.secs());
    let content = report.content.ok_or_else(|| {
        MonitorError::Malformed("iam:GetCredentialReport returned no content".into())
    })?;
    Ok(CredentialReport {
        rows: parse_credential_report(content.as_ref())?,
        generated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = include_bytes!("../../../tests/fixtures/iam-credential-report.csv");

    #[test]
    fn the_credential_report_is_read_by_column_name_with_the_root_row() {
        let rows = parse_credential_report(FIXTURE).unwrap();
        assert_eq!(rows.len(), 4);
        let root = &rows[0];
        assert_eq!(root.user, REPORT_ROOT_USER);
        assert_eq!(root.password_enabled, None, "not_supported");
        assert!(root.mfa_active);
        let bob = rows.iter().find(|r| r.user == "bob").unwrap();
        assert_eq!((bob.password_enabled, bob.mfa_active), (Some(true), false));
        assert!(bob.created.is_some());
        let ci = rows.iter().find(|r| r.user == "ci-deployer").unwrap();
        assert_eq!(ci.password_enabled, Some(false));
        assert_eq!(
            ci.arn,
            "arn:aws:iam::123456789012:user/automation/ci-deployer"
        );
    }

    #[test]
    fn reordered_columns_are_still_read_by_name() {
        let csv = b"mfa_active,arn,password_enabled,user\nfalse,arn:aws:iam::1:user/x,true,x\n";
        let rows = parse_credential_report(csv).unwrap();
        assert_eq!(rows[0].user, "x");
        assert_eq!(
            (rows[0].password_enabled, rows[0].mfa_active),
            (Some(true), false)
        );
        assert_eq!(rows[0].access_key_active, None, "no key columns: unknown");
    }

    #[test]
    fn keys_and_certificates_are_present_if_any_column_says_so() {
        let head = "user,arn,password_enabled,mfa_active,access_key_1_active,access_key_2_active,cert_1_active,cert_2_active";
        let csv = format!(
            "{head}\n<root_account>,arn:aws:iam::1:root,not_supported,false,false,false,false,false\n\
             a,arn:aws:iam::1:user/a,true,false,false,true,false,N/A\n"
        );
        let rows = parse_credential_report(csv.as_bytes()).unwrap();
        assert_eq!(
            (rows[0].access_key_active, rows[0].certificate_active),
            (Some(false), Some(false))
        );
        assert_eq!(
            (rows[1].access_key_active, rows[1].certificate_active),
            (Some(true), None)
        );
    }

    #[test]
    fn a_missing_column_or_an_odd_value_is_malformed_and_named() {
        let e = parse_credential_report(b"user,arn,password_enabled\nx,a,true\n").unwrap_err();
        assert!(e.to_string().contains("mfa_active"), "{e}");
        let e = parse_credential_report(b"user,arn,password_enabled,mfa_active\nx,a,maybe,false\n")
            .unwrap_err();
        assert!(
            e.to_string().contains("password_enabled") && e.to_string().contains("maybe"),
            "{e}"
        );
        let ok = parse_credential_report(
            b"user,arn,password_enabled,mfa_active\nx,a,no_information,N/A\n",
        )
        .unwrap();
        assert_eq!((ok[0].password_enabled, ok[0].mfa_active), (None, false));
    }
}
