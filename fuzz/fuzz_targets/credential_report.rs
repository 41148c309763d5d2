//! The IAM credential report CSV (`GetCredentialReport`'s content, after
//! base64): any bytes parse to rows or to `Malformed`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_monitor::monitors::aws_iam::parse_credential_report;
use mfa_monitor::monitors::MonitorError;
use mfa_monitor_fuzz::within_budget;

fuzz_target!(|data: &[u8]| {
    match within_budget(data.len(), || parse_credential_report(data)) {
        Ok(_rows) => {}
        Err(MonitorError::Malformed(m)) => {
            assert!(m.starts_with("credential report"), "unclear error: {m}")
        }
        Err(e) => panic!("not a Malformed error: {e:?}"),
    }
});
