//! The `Link` header of a listing page, as `list` reads it: `links` over
//! every `Link` value (the input split at newlines, one header value per
//! line; bytes a header value cannot hold are dropped as hyper would
//! refuse them), then `page_param` of each URL and `with_page`, whose URL
//! must read back the page number it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_monitor::monitors::github::{links, page_param, with_page};
use mfa_monitor_fuzz::within_budget;
use reqwest::header::{HeaderMap, HeaderValue, LINK};

/// `list`'s bound on pages (`MAX_PAGES` in src/monitors/github/paging.rs).
const MAX_PAGES: usize = 2_000;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(LINK, v);
        }
    }
    within_budget(data.len(), || {
        let found = links(&headers);
        for url in found.values() {
            let page = page_param(url);
            // `list` numbers pages 2..=last from the `next` URL.
            for n in [2, page.unwrap_or(2).clamp(2, MAX_PAGES)] {
                let paged = with_page(url, n);
                assert_eq!(
                    page_param(&paged),
                    Some(n),
                    "with_page({url}, {n}) gave {paged}"
                );
                // Not `origin()`: a non-special scheme's origin is opaque
                // and unique per parse, so it never equals another.
                assert_eq!(
                    (paged.scheme(), paged.host_str(), paged.port()),
                    (url.scheme(), url.host_str(), url.port()),
                    "with_page moved {url}"
                );
            }
        }
    });
});
