//! The C ABI the C++ shim (src/shim/shared.cc) calls to get and release regions. Declared in
//! src/shim/shim.h. Codes: 0 = ok, negative = -errno, 1000+ = RegionError (regions.rs).
use std::ffi::c_void;

use super::regions::{self, Region, RegionError};

/// Mirrors `CorralRegionOut` in shim.h.
#[repr(C)]
pub struct RegionOut {
    /// Owned `Region` (release with corral_region_release).
    pub region: *mut c_void,
    pub data: *mut u8,
    pub len: usize,
    pub dev: u64,
    pub ino: u64,
}

fn text<'a>(ptr: *const u8, len: usize) -> Result<&'a str, RegionError> {
    if ptr.is_null() {
        return Err(RegionError::InvalidName);
    }
    // SAFETY: the shim passes a live buffer of `len` bytes for the duration of the call.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    std::str::from_utf8(bytes).map_err(|_| RegionError::InvalidName)
}

fn finish(result: Result<Box<Region>, RegionError>, out: *mut RegionOut) -> i32 {
    match result {
        Ok(region) => {
            let filled = RegionOut { data: region.as_ptr(), len: region.len(), dev: region.dev(), ino: region.ino(), region: std::ptr::null_mut() };
            let raw = Box::into_raw(region) as *mut c_void;
            // SAFETY: `out` points at the caller's RegionOut.
            unsafe { *out = RegionOut { region: raw, ..filled } };
            0
        }
        Err(e) => e.code(),
    }
}

/// Creates a region. `name` may be null (anonymous); with `posix`, a POSIX shm object.
///
/// # Safety
/// `name` is null or `name_len` readable bytes; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn corral_region_create(
    size: u64,
    name: *const u8,
    name_len: usize,
    posix: bool,
    out: *mut RegionOut,
) -> i32 {
    let result = if name.is_null() {
        regions::create(size, None, posix)
    } else {
        text(name, name_len).and_then(|n| regions::create(size, Some(n), posix))
    };
    finish(result, out)
}

/// Opens a region. mode 1: by name in the program directory, 2: POSIX shm name,
/// 3: handle string, 4: from `fd`.
///
/// # Safety
/// `arg` is null or `arg_len` readable bytes; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn corral_region_open(
    mode: i32,
    arg: *const u8,
    arg_len: usize,
    fd: i32,
    out: *mut RegionOut,
) -> i32 {
    let result = match mode {
        1 => text(arg, arg_len).and_then(|n| regions::open_name(n, false)),
        2 => text(arg, arg_len).and_then(|n| regions::open_name(n, true)),
        3 => text(arg, arg_len).and_then(regions::open_handle),
        4 => regions::open_fd(fd),
        _ => Err(RegionError::InvalidName),
    };
    finish(result, out)
}

/// Releases a region handed out above: unmaps it and closes its fd. Runs on whatever thread
/// V8 frees the last backing store holder.
///
/// # Safety
/// `region` came from corral_region_create/open and is released once.
#[no_mangle]
pub unsafe extern "C" fn corral_region_release(region: *mut c_void) {
    if !region.is_null() {
        // SAFETY: per the contract above.
        drop(unsafe { Box::from_raw(region as *mut Region) });
    }
}

/// Writes the description of the region mapped at `addr` into `buf` (not NUL-terminated).
/// Returns its full length (which may exceed `cap`: call again with more room), or -1 if no
/// region is mapped there.
///
/// # Safety
/// `buf` has `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn corral_region_describe(addr: *const u8, buf: *mut u8, cap: usize) -> isize {
    let Some(text) = regions::describe(addr as usize) else { return -1 };
    let n = text.len().min(cap);
    // SAFETY: per the contract above.
    unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf, n) };
    text.len() as isize
}
