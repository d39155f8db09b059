//! An allocation guard: the test binary's global allocator records the largest single
//! allocation made on the current thread while a measurement is running, so a decoder that
//! sizes a buffer from an untrusted count (`Vec::with_capacity(count)`) fails its target
//! instead of going unnoticed until a hostile peer sends 4 GiB of count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// A decoded value may be this many times larger than its input: the widest in-memory form
/// of a wire entry (an option pair: 12 wire bytes, 56 in memory) times two for a `Vec`'s
/// doubling, rounded up.
pub const FACTOR: usize = 32;
/// Allocations any decoder may make whatever its input (a `BTreeMap` node, small vectors).
pub const SLACK: usize = 64 * 1024;

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

struct Tracking;

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

fn record(size: usize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = MEASURING.try_with(|measuring| {
        if measuring.get() {
            let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        record(size);
        // SAFETY: as for `dealloc`; `size` is the caller's.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

/// Runs `work` and returns its result with the largest single allocation it made on this
/// thread, in bytes.
pub fn largest<T>(work: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|largest| largest.set(0));
    MEASURING.with(|measuring| measuring.set(true));
    let result = work();
    MEASURING.with(|measuring| measuring.set(false));
    (result, LARGEST.with(Cell::get))
}

/// Runs `work` on an input of `input_len` bytes and fails the case when one of its
/// allocations exceeds `FACTOR * input_len + SLACK`.
pub fn bounded<T>(input_len: usize, work: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let (result, largest) = largest(work);
    let bound = FACTOR * input_len + SLACK;
    prop_assert!(largest <= bound, "a {input_len}-byte input made a {largest}-byte allocation (bound {bound})");
    Ok(result)
}
