//! A global allocator that counts allocations made after barco "seals" its
//! heap, just before `clone3`.
//!
//! From that moment neither the child (which runs on a forked copy of the
//! heap, where taking malloc's lock is a hazard) nor the supervising parent
//! may allocate: everything they need was built while planning. The count is
//! checked when `BARCO_HEAP_AUDIT=1` (see `crate::audit`), and the test suite
//! runs every scenario that way.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::alloc::{GlobalAlloc, Layout, System};

static SEALED: AtomicBool = AtomicBool::new(false);
static AFTER_SEAL: AtomicUsize = AtomicUsize::new(0);

/// The counting allocator: `System`, plus one relaxed load per allocation.
pub struct Counting;

impl Counting {
    #[inline]
    fn note(&self) {
        if SEALED.load(Relaxed) {
            AFTER_SEAL.fetch_add(1, Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the bookkeeping touches only atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.note();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.note();
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.note();
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// From now on every allocation is counted.
pub fn seal() {
    SEALED.store(true, Relaxed);
}

/// Allocations since [`seal`].
pub fn after_seal() -> usize {
    AFTER_SEAL.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_after_seal() {
        // The test harness allocates on other threads too, so only assert
        // that our own allocation after sealing is seen.
        let start = after_seal();
        seal();
        let v = vec![1u8; 16];
        assert!(after_seal() > start, "an allocation after seal() was not counted");
        drop(v);
    }
}
