//! C ABI over the registry for the shim (declared in src/shim/shim.h).
use std::ffi::{c_void, CStr, CString};

use super::registry::{self, Spec};
use crate::shim::{MessagePtr, WorkerSpec};

unsafe fn strings(list: *const *const std::ffi::c_char, len: usize) -> Vec<CString> {
    (0..len).map(|i| CStr::from_ptr(*list.add(i)).to_owned()).collect()
}

/// # Safety
/// `spec` points at a valid CorralWorkerSpec whose payload the callee takes.
#[no_mangle]
pub unsafe extern "C" fn corral_thread_spawn(spec: *const WorkerSpec, parent: u64) -> u64 {
    let spec = &*spec;
    let reserved = (spec.thread_id != 0).then_some(spec.thread_id);
    registry::spawn(owned_spec(spec), MessagePtr::from_raw(spec.payload), parent, reserved).unwrap_or(0)
}

/// The threadId for a worker about to be spawned with it (its inspector handle names it).
#[no_mangle]
pub extern "C" fn corral_thread_reserve_id() -> u64 {
    registry::reserve_id()
}

unsafe fn owned_spec(spec: &WorkerSpec) -> Spec {
    Spec {
        argv: strings(spec.argv, spec.argc),
        exec_argv: strings(spec.exec_argv, spec.exec_argc),
        bootstrap: CStr::from_ptr(spec.bootstrap).to_owned(),
        name: CStr::from_ptr(spec.name).to_owned(),
        limits: spec.limits,
        flags: spec.flags,
    }
}

#[no_mangle]
pub extern "C" fn corral_thread_env_freed(id: u64) {
    registry::set_env_freed(id);
}

#[no_mangle]
pub extern "C" fn corral_thread_await_env_freed(id: u64, timeout_ms: u32) -> bool {
    registry::await_env_freed(id, std::time::Duration::from_millis(timeout_ms.into()))
}

#[no_mangle]
pub extern "C" fn corral_thread_stop(id: u64) {
    registry::stop(id);
}

#[no_mangle]
pub extern "C" fn corral_thread_exit_code(id: u64) -> i32 {
    registry::take_exit_code(id).unwrap_or(i32::MIN)
}

#[no_mangle]
pub extern "C" fn corral_thread_set_exit_code(id: u64, code: i32) {
    registry::set_exit_code(id, code);
}

#[no_mangle]
pub extern "C" fn corral_thread_stop_join(parent: u64, all: bool) {
    registry::stop_join(parent, all);
}

/// The boot payload of this thread's worker; a warm thread blocks until it is claimed (null:
/// stopped first).
#[no_mangle]
pub extern "C" fn corral_thread_take_payload() -> *mut c_void {
    registry::wait_payload().map_or(std::ptr::null_mut(), MessagePtr::into_raw)
}

/// # Safety
/// `payload` is a Message the caller gives up.
#[no_mangle]
pub unsafe extern "C" fn corral_thread_deliver(id: u64, payload: *mut c_void) -> bool {
    match MessagePtr::from_raw(payload) {
        Some(msg) => registry::deliver(id, msg),
        None => false,
    }
}

/// The threadId of the worker on this thread (0: the main thread).
#[no_mangle]
pub extern "C" fn corral_thread_mark_begun() {
    registry::mark_begun();
}

#[no_mangle]
pub extern "C" fn corral_thread_begun() -> bool {
    registry::begun()
}

#[no_mangle]
pub extern "C" fn corral_current_thread_id() -> u64 {
    registry::current_thread_id()
}

/// How many warm threads to start so that `count` wait to be claimed.
#[no_mangle]
pub extern "C" fn corral_thread_warm_missing(count: usize) -> usize {
    registry::warm_missing(count)
}

/// The (warm-range) id for a warm thread about to be spawned with it.
#[no_mangle]
pub extern "C" fn corral_thread_reserve_warm_id() -> u64 {
    registry::reserve_warm_id()
}

/// Gives `payload` to a warm thread and returns the new worker's id; 0 (payload not taken)
/// when none is waiting.
///
/// # Safety
/// `payload` is an owned `Message*`.
#[no_mangle]
pub unsafe extern "C" fn corral_thread_claim_warm(payload: *mut c_void) -> u64 {
    let Some(msg) = MessagePtr::from_raw(payload) else { return 0 };
    match registry::claim_warm(msg) {
        Ok(id) => id,
        Err(msg) => {
            msg.into_raw();
            0
        }
    }
}

#[no_mangle]
pub extern "C" fn corral_thread_set_out_of_memory(id: u64) {
    registry::set_out_of_memory(id);
}

#[no_mangle]
pub extern "C" fn corral_thread_take_out_of_memory(id: u64) -> bool {
    registry::take_out_of_memory(id)
}

/// # Safety
/// `detail` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn corral_thread_set_init_failed(id: u64, detail: *const std::ffi::c_char) {
    registry::set_init_failed(id, CStr::from_ptr(detail).to_string_lossy().into_owned());
}

/// Copies the failure text of a worker whose boot failed into `out` (NUL-terminated, cut to
/// `len` bytes); false if its boot did not fail.
///
/// # Safety
/// `out` holds `len` bytes, `len` > 0.
#[no_mangle]
pub unsafe extern "C" fn corral_thread_take_init_failed(id: u64, out: *mut std::ffi::c_char, len: usize) -> bool {
    let Some(detail) = registry::take_init_failed(id) else { return false };
    let bytes = detail.as_bytes();
    let n = bytes.len().min(len - 1);
    std::ptr::copy_nonoverlapping(bytes.as_ptr() as *const std::ffi::c_char, out, n);
    *out.add(n) = 0;
    true
}

/// Has worker `id` answer parent request `request` between its JS steps (false: not running).
#[no_mangle]
pub extern "C" fn corral_thread_ask(id: u64, request: u32, op: i32) -> bool {
    registry::ask(id, request, op)
}

/// # Safety
/// Both out-pointers are valid.
#[no_mangle]
pub unsafe extern "C" fn corral_thread_loop_times(id: u64, idle_ns: *mut u64, start_ns: *mut u64) -> bool {
    match registry::loop_times(id) {
        Some((idle, start)) => {
            *idle_ns = idle;
            *start_ns = start;
            true
        }
        None => false,
    }
}
