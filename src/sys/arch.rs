//! Raw `syscall` instructions for x86_64, after origin's `src/arch/x86_64.rs`.
//!
//! The x86_64 Linux convention: the number goes in `rax`, arguments in `rdi`,
//! `rsi`, `rdx`, `r10`, `r8`, `r9`; the result comes back in `rax`, and the
//! instruction clobbers `rcx` (return address) and `r11` (saved rflags).

#[cfg(not(target_arch = "x86_64"))]
compile_error!("barco's raw syscalls are written for x86_64 only");

use core::arch::asm;

/// # Safety
/// The caller upholds the syscall's own contract for `nr` and `a0`.
#[inline]
pub unsafe fn syscall1(nr: usize, a0: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; the asm follows the ABI above.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    ret
}

/// # Safety
/// As for [`syscall1`].
#[inline]
pub unsafe fn syscall2(nr: usize, a0: usize, a1: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; the asm follows the ABI above.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0, in("rsi") a1,
             lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    ret
}

/// # Safety
/// As for [`syscall1`].
#[inline]
pub unsafe fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; the asm follows the ABI above.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0, in("rsi") a1,
             in("rdx") a2, lateout("rcx") _, lateout("r11") _, options(nostack, preserves_flags));
    }
    ret
}

/// # Safety
/// As for [`syscall1`].
#[inline]
pub unsafe fn syscall4(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret;
    // SAFETY: the caller vouches for the syscall; the asm follows the ABI above.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0, in("rsi") a1,
             in("rdx") a2, in("r10") a3, lateout("rcx") _, lateout("r11") _,
             options(nostack, preserves_flags));
    }
    ret
}
