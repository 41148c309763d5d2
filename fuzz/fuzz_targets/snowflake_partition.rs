//! One result partition (`GET /api/v2/statements/{handle}?partition=N`),
//! through `parse_partition` with the layout of the `SHOW USERS` fixture's
//! first response (30 columns, 8 wanted). The input's first byte is the
//! row count `partitionInfo` claims (below 128 that count, from 128 up
//! 2^(byte & 63): huge claims too); the rest is the body, decoded as
//! `resp.text()` does (lossy UTF-8).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mfa_monitor::monitors::snowflake::{
    judge, parse_partition, parse_result_set, PolicyForUser, USER_COLUMNS,
};
use mfa_monitor::monitors::snowflake::rows::Layout;
use mfa_monitor::monitors::MonitorError;
use mfa_monitor_fuzz::within_budget;

fn layout() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let first = include_str!("../../tests/fixtures/snowflake-show-users-200.json");
        parse_result_set(first, USER_COLUMNS, "fixture")
            .expect("the fixture parses")
            .layout
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let claimed: usize = if first < 128 {
        usize::from(first)
    } else {
        1 << (first & 63)
    };
    let layout = layout();
    let text = String::from_utf8_lossy(body);
    let what = "`SHOW USERS`";
    match within_budget(data.len(), || {
        parse_partition(&text, layout, 1, claimed, what)
    }) {
        Ok(rows) => {
            assert_eq!(rows.len(), claimed);
            for row in &rows {
                let _ = judge(row, false, PolicyForUser::default());
            }
        }
        Err(MonitorError::Malformed(m) | MonitorError::Incomplete(m)) => assert!(
            m.starts_with("`SHOW USERS`: partition 1 "),
            "unclear error: {m}"
        ),
        Err(e) => panic!("neither Malformed nor Incomplete: {e:?}"),
    }
});
