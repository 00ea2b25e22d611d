//! barco's own definitions of the unwinder's entry points, which std calls:
//! none of them unwinds or walks a stack.
//!
//! barco is built with `panic = "abort"`, so nothing ever unwinds: a panic
//! prints its message and aborts. Yet std, built for unwinding, still
//! refers to the unwinder: its landing pads call `_Unwind_Resume`, its
//! personality routine reads the unwind context, and its panic hook
//! collects a backtrace with `_Unwind_Backtrace` and symbolizes it with a
//! DWARF reader (gimli, addr2line, miniz). On stable Rust those references
//! pulled in LLVM's libunwind with the C stdio, malloc and dladdr it uses,
//! and kept the symbolizer alive: about 290 KB of the 467 KB binary.
//!
//! Defined here instead, in the same LTO unit as std, they are seen through:
//! `_Unwind_Backtrace` reports the end of the stack before the first frame,
//! so the code that would have symbolized frames is unreachable and LTO
//! drops it, and no member of `libunwind.a` is linked. A panic still prints
//! its message and location; `RUST_BACKTRACE` then prints no frames (a
//! stripped binary without unwind tables had none to show anyway).
//!
//! If a later std refers to an entry point not defined here, the linker
//! pulls the libunwind member that defines it, which defines some of these
//! too: the link fails with a duplicate symbol rather than silently growing.
//! Unit tests (`cfg(test)`) unwind, and link the real unwinder.
//!
//! The signatures are those of the Itanium C++ ABI's base unwinding
//! interface (<https://itanium-cxx-abi.github.io/cxx-abi/abi-eh.html>,
//! section 1.6) and of the LSB's `_Unwind_Backtrace` and
//! `_Unwind_GetIPInfo`. None is ever given a real context: with nothing
//! unwinding and no backtrace walked, only std's panic hook calls
//! `_Unwind_Backtrace`, and the rest are never called at all.

#![allow(non_snake_case)] // the C names

use core::ffi::{c_int, c_void};

/// `_URC_END_OF_STACK` of `_Unwind_Reason_Code`.
const END_OF_STACK: c_int = 5;

/// `_Unwind_Reason_Code _Unwind_Backtrace(_Unwind_Trace_Fn, void *)`: calls
/// the trace function for no frame.
#[no_mangle]
extern "C" fn _Unwind_Backtrace(_trace: *mut c_void, _argument: *mut c_void) -> c_int {
    END_OF_STACK
}

/// `void _Unwind_Resume(struct _Unwind_Exception *)`: the end of a landing
/// pad, reached only while unwinding, which never starts.
#[no_mangle]
extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
    std::process::abort()
}

/// `uintptr_t _Unwind_GetIP(struct _Unwind_Context *)`.
#[no_mangle]
extern "C" fn _Unwind_GetIP(_context: *mut c_void) -> usize {
    0
}

/// `uintptr_t _Unwind_GetIPInfo(struct _Unwind_Context *, int *)`.
#[no_mangle]
extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, _before_instruction: *mut c_int) -> usize {
    0
}

/// `void *_Unwind_GetLanguageSpecificData(struct _Unwind_Context *)`.
#[no_mangle]
extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut c_void) -> *mut c_void {
    core::ptr::null_mut()
}

/// `uintptr_t _Unwind_GetRegionStart(struct _Unwind_Context *)`.
#[no_mangle]
extern "C" fn _Unwind_GetRegionStart(_context: *mut c_void) -> usize {
    0
}

/// `uintptr_t _Unwind_GetDataRelBase(struct _Unwind_Context *)`.
#[no_mangle]
extern "C" fn _Unwind_GetDataRelBase(_context: *mut c_void) -> usize {
    0
}

/// `uintptr_t _Unwind_GetTextRelBase(struct _Unwind_Context *)`.
#[no_mangle]
extern "C" fn _Unwind_GetTextRelBase(_context: *mut c_void) -> usize {
    0
}

/// `void _Unwind_SetGR(struct _Unwind_Context *, int, uintptr_t)`.
#[no_mangle]
extern "C" fn _Unwind_SetGR(_context: *mut c_void, _register: c_int, _value: usize) {}

/// `void _Unwind_SetIP(struct _Unwind_Context *, uintptr_t)`.
#[no_mangle]
extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {}
