//! Shared by the fuzz targets: an allocation oracle.
//!
//! libFuzzer's `-malloc_limit_mb` catches one huge allocation; it does not
//! catch a parser that trusts a claimed count (`Vec::with_capacity(n)` of a
//! few hundred MB, or many medium ones). Every target runs its parser under
//! [`within_budget`], which counts the bytes held at once through the
//! global allocator and panics (a libFuzzer crash) when the peak exceeds a
//! bound proportional to the input's length: memory may grow with what
//! arrived, never with what the input says will arrive.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes the parser may hold at once per input byte, above [`FLOOR`].
/// The worst legitimate ratio seen in the runs (README.md) is well below.
pub const PER_INPUT_BYTE: usize = 256;
/// Bytes any parse may hold whatever its input (tables, first buffers).
pub const FLOOR: usize = 1 << 20;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Highest peak/input ratio seen so far (in 1/100), to report a new record.
static RECORD: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters
// are updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted as held twice for the moment of the copy.
            grew(new_size);
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `parse` on an input of `input_len` bytes; panics if it held more
/// than `FLOOR + PER_INPUT_BYTE * input_len` bytes at once (the returned
/// value included, since it is alive when `parse` returns).
pub fn within_budget<R>(input_len: usize, parse: impl FnOnce() -> R) -> R {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let out = parse();
    let peak = PEAK.load(Relaxed).saturating_sub(base);
    let budget = FLOOR + PER_INPUT_BYTE * input_len;
    assert!(
        peak <= budget,
        "held {peak} bytes at once for a {input_len}-byte input (budget {budget})"
    );
    // Report the worst ratio seen, for README.md's figures; below 256
    // bytes fixed costs swamp it.
    if input_len >= 256 {
        let ratio = peak * 100 / input_len;
        if ratio > RECORD.load(Relaxed) * 5 / 4 {
            RECORD.store(ratio, Relaxed);
            eprintln!(
                "alloc-record: {peak} bytes held for {input_len} input bytes ({}.{:02}x)",
                ratio / 100,
                ratio % 100
            );
        }
    }
    out
}
