//! A statement's first response (`resultSetMetaData` with `rowType`,
//! `partitionInfo`, `numRows`, and partition 0 in `data`), decoded as
//! `resp.text()` does (lossy UTF-8), through `parse_result_set` with the
//! `SHOW USERS` columns, then every row through `judge`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_monitor::monitors::snowflake::{judge, parse_result_set, PolicyForUser, USER_COLUMNS};
use mfa_monitor::monitors::MonitorError;
use mfa_monitor_fuzz::within_budget;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let what = "`SHOW USERS`";
    match within_budget(data.len(), || parse_result_set(&text, USER_COLUMNS, what)) {
        Ok(set) => {
            for (n, (i, _)) in set.partitions.iter().enumerate() {
                assert_eq!(*i, n + 1, "partitions are numbered from 1 in order");
            }
            for row in &set.rows {
                let _ = judge(row, false, PolicyForUser::default());
            }
        }
        Err(MonitorError::Malformed(m) | MonitorError::Incomplete(m)) => {
            assert!(m.starts_with(what), "unclear error: {m}")
        }
        Err(e) => panic!("neither Malformed nor Incomplete: {e:?}"),
    }
});
