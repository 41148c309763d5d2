//! One page of `GET /orgs/{org}/members` (a JSON array of simple-user
//! objects), as `list` reads it: the body decoded as `resp.text()` does
//! (lossy UTF-8), then `parse_page`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_monitor::monitors::github::{parse_page, SimpleUser};
use mfa_monitor::monitors::MonitorError;
use mfa_monitor_fuzz::within_budget;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data).into_owned();
    match within_budget(data.len(), || {
        parse_page::<SimpleUser>(body, "GET /orgs/acme/members?filter=all", 3)
    }) {
        Ok(_users) => {}
        Err(MonitorError::Malformed(m)) => assert!(
            m.starts_with("GET /orgs/acme/members?filter=all: page 3 is not a list of users"),
            "unclear error: {m}"
        ),
        Err(e) => panic!("not a Malformed error: {e:?}"),
    }
});
