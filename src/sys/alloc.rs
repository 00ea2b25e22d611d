//! barco's heap: a bump allocator over anonymous mappings, which counts the
//! allocations made after barco "seals" its heap, just before `clone3`.
//!
//! From the seal on, neither the child (which runs on a forked copy of the
//! heap) nor the supervising parent may allocate: everything they need was
//! built while planning. The count is checked when `BARCO_HEAP_AUDIT=1`,
//! and the test suite runs every scenario that way.
//!
//! So barco allocates only while planning: some hundreds of small blocks,
//! once. A general-purpose malloc's size classes, free lists and locking
//! are wasted on that: under callgrind, musl's mallocng took about half of
//! the supervisor's user-space instructions, and 8 KB of `just tiny`. Here
//! an allocation moves a pointer; memory is never reused, except that the
//! newest block can grow, shrink or be freed in place, which is what a
//! growing `Vec` or `String` does most.
//!
//! Memory comes from `mmap(2)` in chunks of [`CHUNK`] bytes (bigger for a
//! bigger block); the kernel provides pages only as they are touched.

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::alloc::{GlobalAlloc, Layout};

static SEALED: AtomicBool = AtomicBool::new(false);
static AFTER_SEAL: AtomicUsize = AtomicUsize::new(0);

/// The bytes each mapping holds at least.
const CHUNK: usize = 64 << 10;

/// The current chunk: `next..end` is free, and `last` is the newest block
/// (0 when it was freed or is unknown).
struct Arena {
    next: usize,
    end: usize,
    last: usize,
}

/// The allocator. Single-threaded in barco, but the unit tests' harness
/// runs threads, so a spin lock guards the arena.
pub struct Bump {
    locked: AtomicBool,
    arena: UnsafeCell<Arena>,
}

// SAFETY: `arena` is only touched between `lock` and `unlock`.
unsafe impl Sync for Bump {}

impl Bump {
    pub const fn new() -> Bump {
        Bump { locked: AtomicBool::new(false), arena: UnsafeCell::new(Arena { next: 0, end: 0, last: 0 }) }
    }

    /// Runs `f` on the arena under the lock.
    fn with<T>(&self, f: impl FnOnce(&mut Arena) -> T) -> T {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference.
        let out = f(unsafe { &mut *self.arena.get() });
        self.locked.store(false, Ordering::Release);
        out
    }

    fn note() {
        if SEALED.load(Ordering::Relaxed) {
            AFTER_SEAL.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Default for Bump {
    fn default() -> Bump {
        Bump::new()
    }
}

impl Arena {
    /// A block of `layout`, or null when the kernel has no memory. Not
    /// inlined, nor are the other entries: every `drop` would carry a copy.
    #[inline(never)]
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let size = layout.size();
        let mut at = self.next.next_multiple_of(layout.align());
        if self.next == 0 || at.checked_add(size).is_none_or(|end| end > self.end) {
            // A new chunk; what was left of the old one is not used again.
            let Some(len) = size.checked_add(layout.align()).map(|n| n.max(CHUNK).next_multiple_of(4096)) else {
                return ptr::null_mut();
            };
            // SAFETY: a fresh private anonymous mapping aliases nothing.
            let map = unsafe {
                rustix::mm::mmap_anonymous(
                    ptr::null_mut(),
                    len,
                    rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                    rustix::mm::MapFlags::PRIVATE,
                )
            };
            let Ok(map) = map else { return ptr::null_mut() };
            self.next = map as usize;
            self.end = self.next + len;
            at = self.next.next_multiple_of(layout.align());
        }
        self.next = at + size;
        self.last = at;
        at as *mut u8
    }

    /// Whether `block` of `size` bytes is the newest, with nothing after it.
    fn is_last(&self, block: *mut u8, size: usize) -> bool {
        block as usize == self.last && self.last + size == self.next
    }
}

// SAFETY: blocks come from private mappings that are never unmapped, are
// aligned as asked, and never overlap: `next` only moves back over the
// newest block, when it is freed or resized in place.
unsafe impl GlobalAlloc for Bump {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Bump::note();
        self.with(|a| a.alloc(layout))
    }

    #[inline(never)]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        self.with(|a| {
            if a.is_last(block, layout.size()) {
                a.next = a.last;
                a.last = 0;
            }
        })
    }

    #[inline(never)]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Bump::note();
        let old = layout.size();
        self.with(|a| {
            if a.is_last(block, old) && a.last.checked_add(new_size).is_some_and(|end| end <= a.end) {
                a.next = a.last + new_size;
                return block;
            }
            // SAFETY: the caller guarantees the size is valid for the
            // alignment (GlobalAlloc::realloc's contract).
            let layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            let moved = a.alloc(layout);
            if !moved.is_null() {
                // SAFETY: both blocks are live, distinct, and at least
                // min(old, new_size) bytes long.
                unsafe { ptr::copy_nonoverlapping(block, moved, old.min(new_size)) };
            }
            moved
        })
    }
}

/// From now on every allocation is counted.
pub fn seal() {
    SEALED.store(true, Ordering::Relaxed);
}

/// Allocations since [`seal`].
pub fn after_seal() -> usize {
    AFTER_SEAL.load(Ordering::Relaxed)
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

    #[test]
    fn bump_blocks_are_aligned_distinct_and_resize_in_place() {
        let b = Bump::new();
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        // SAFETY: the layouts are valid and every block is used within
        // its size, then freed with its layout.
        unsafe {
            let x = b.alloc(l(3, 1));
            let y = b.alloc(l(8, 8));
            assert_eq!(y as usize % 8, 0);
            assert!(y as usize >= x as usize + 3, "blocks overlap");
            x.write_bytes(0xaa, 3);
            y.write_bytes(0x55, 8);
            // The newest block grows in place; an older one moves, keeping
            // its bytes.
            assert_eq!(b.realloc(y, l(8, 8), 64), y);
            let x2 = b.realloc(x, l(3, 1), 100);
            assert_ne!(x2, x);
            assert_eq!(*x2.add(2), 0xaa);
            assert_eq!(*x2.add(8), 0, "only x's 3 bytes are copied, not what follows it");
            assert_eq!(*y.add(7), 0x55, "moving x must not touch y");
            // Freeing the newest block gives its space back.
            b.dealloc(x2, l(100, 1));
            assert_eq!(b.alloc(l(100, 1)), x2);
            // The newest block shrinks in place, and the next one follows it.
            let w = b.alloc(l(32, 1));
            assert_eq!(b.realloc(w, l(32, 1), 4), w);
            assert_eq!(b.alloc(l(4, 1)), w.add(4));
            // The newest block, grown past its chunk's end, moves to a new
            // chunk with its bytes.
            let v = b.alloc(l(16, 1));
            v.write_bytes(0x77, 16);
            let v2 = b.realloc(v, l(16, 1), CHUNK);
            assert_ne!(v2, v);
            assert_eq!((*v2, *v2.add(15)), (0x77, 0x77));
            // A block bigger than a chunk gets a mapping of its own.
            let big = b.alloc(l(CHUNK * 3, 4096));
            assert!(!big.is_null() && big as usize % 4096 == 0);
            big.add(CHUNK * 3 - 1).write(1);
            let z = b.alloc(l(16, 16));
            assert!(!z.is_null() && z as usize % 16 == 0);
        }
    }
}
