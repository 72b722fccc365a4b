//! napi functions behind lib/shared: futex wait/notify on an Int32Array element, waitAsync
//! through the wait pool, and the directory/name calls. Region creation itself lives in the C++
//! shim (it needs V8 to make a SharedArrayBuffer) and calls ffi.rs.
use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::{sys, JsValue};
use napi_derive::napi;
use parking_lot::Mutex;

use super::futex::{self, Deadline};
use super::regions::{self, RegionError};
use super::waitpool::{self, Job, WordPtr};

/// The element `index` of an Int32Array. Fails (never crashes) on anything else; lib/shared
/// validates first and throws Node-style errors, this is the last line.
fn word_at(env: &Env, array: &Unknown, index: u32) -> Result<*const AtomicI32> {
    let mut kind = -1;
    let mut len = 0usize;
    let mut data = std::ptr::null_mut();
    let mut buffer = std::ptr::null_mut();
    let mut offset = 0usize;
    // SAFETY: raw napi call with valid out pointers, on the env's thread.
    let status = unsafe {
        sys::napi_get_typedarray_info(env.raw(), array.raw(), &mut kind, &mut len, &mut data, &mut buffer, &mut offset)
    };
    if status != sys::Status::napi_ok || kind != sys::TypedarrayType::int32_array || data.is_null() {
        return Err(Error::new(Status::InvalidArg, "expected an Int32Array"));
    }
    if index as usize >= len {
        return Err(Error::new(Status::InvalidArg, "index out of range"));
    }
    // SAFETY: in bounds of the array's live buffer; Int32Array elements are 4-aligned.
    Ok(unsafe { (data as *const AtomicI32).add(index as usize) })
}

/// Blocks the calling thread like `Atomics.wait`, but on a process-shared futex.
/// Returns 0 ("ok"), 1 ("not-equal") or 2 ("timed-out").
#[napi(js_name = "sharedWait")]
pub fn shared_wait(env: Env, array: Unknown, index: u32, value: i32, timeout_ms: f64) -> Result<i32> {
    let word = word_at(&env, &array, index)?;
    // SAFETY: the typed array (and its buffer) is alive for this synchronous call.
    Ok(futex::wait(unsafe { &*word }, value, Deadline::from_millis(timeout_ms)).code())
}

/// Wakes up to `count` futex waiters on the element (any process); returns how many woke.
#[napi(js_name = "sharedNotify")]
pub fn shared_notify(env: Env, array: Unknown, index: u32, count: f64) -> Result<u32> {
    let word = word_at(&env, &array, index)?;
    let count = if count.is_nan() || count >= u32::MAX as f64 { u32::MAX } else { count.max(0.0) as u32 };
    // SAFETY: as in shared_wait.
    Ok(futex::wake(unsafe { &*word }, count))
}

/// This environment's channel from pool threads back to JS.
struct Mailbox {
    tsfn: Mutex<Option<usize>>,
    cancelled: Arc<AtomicBool>,
}

thread_local! {
    static MAILBOX: RefCell<Option<Arc<Mailbox>>> = const { RefCell::new(None) };
}

struct Completion {
    id: u32,
    code: i32,
}

unsafe extern "C" fn deliver(env: sys::napi_env, callback: sys::napi_value, _ctx: *mut c_void, data: *mut c_void) {
    // SAFETY: data is the Box<Completion> posted by post().
    let done = unsafe { Box::from_raw(data as *mut Completion) };
    if env.is_null() || callback.is_null() {
        return;
    }
    // SAFETY: called by Node on the env's thread with a live handle scope.
    unsafe {
        let mut args = [std::ptr::null_mut(); 2];
        let mut recv = std::ptr::null_mut();
        sys::napi_create_uint32(env, done.id, &mut args[0]);
        sys::napi_create_int32(env, done.code, &mut args[1]);
        sys::napi_get_undefined(env, &mut recv);
        sys::napi_call_function(env, recv, callback, 2, args.as_ptr(), std::ptr::null_mut());
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: data is the Arc<Mailbox> leaked in shared_waiter_init.
    let mailbox = unsafe { Arc::from_raw(data as *const Mailbox) };
    mailbox.cancelled.store(true, Ordering::Release);
    *mailbox.tsfn.lock() = None;
    MAILBOX.with(|m| {
        let mut m = m.borrow_mut();
        if m.as_ref().is_some_and(|cur| Arc::ptr_eq(cur, &mailbox)) {
            *m = None;
        }
    });
}

impl Mailbox {
    fn post(&self, id: u32, code: i32) {
        let tsfn = self.tsfn.lock();
        if let Some(t) = *tsfn {
            let data = Box::into_raw(Box::new(Completion { id, code })) as *mut c_void;
            // SAFETY: the tsfn is alive while it is in the cell (finalize clears it under the lock).
            let status = unsafe {
                sys::napi_call_threadsafe_function(t as sys::napi_threadsafe_function, data, sys::ThreadsafeFunctionCallMode::nonblocking)
            };
            if status != sys::Status::napi_ok {
                // SAFETY: not taken by Node.
                drop(unsafe { Box::from_raw(data as *mut Completion) });
            }
        }
    }
}

/// Sets the JS function `(id, code)` that receives waitAsync outcomes in this environment.
#[napi(js_name = "sharedWaiterInit")]
pub fn shared_waiter_init(env: Env, callback: Unknown) -> Result<()> {
    if MAILBOX.with(|m| m.borrow().is_some()) {
        return Ok(());
    }
    let mailbox = Arc::new(Mailbox { tsfn: Mutex::new(None), cancelled: Arc::new(AtomicBool::new(false)) });
    let raw = env.raw();
    let mut name = std::ptr::null_mut();
    let mut tsfn = std::ptr::null_mut();
    let finalize_data = Arc::into_raw(mailbox.clone()) as *mut c_void;
    // SAFETY: raw napi calls on the env's thread; the finalizer takes back finalize_data.
    let status = unsafe {
        sys::napi_create_string_utf8(raw, c"corral.shared.waitAsync".as_ptr(), usize::MAX as _, &mut name);
        sys::napi_create_threadsafe_function(
            raw, callback.raw(), std::ptr::null_mut(), name, 0, 1,
            finalize_data, Some(finalize), std::ptr::null_mut(), Some(deliver), &mut tsfn,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: not handed to Node.
        drop(unsafe { Arc::from_raw(finalize_data as *const Mailbox) });
        return Err(Error::new(Status::GenericFailure, "could not create the waitAsync callback"));
    }
    // SAFETY: the tsfn was just created on this thread.
    unsafe { sys::napi_unref_threadsafe_function(raw, tsfn) };
    *mailbox.tsfn.lock() = Some(tsfn as usize);
    MAILBOX.with(|m| *m.borrow_mut() = Some(mailbox));
    Ok(())
}

/// Keeps the event loop alive (true) while waitAsync calls are pending, or lets it go (false).
#[napi(js_name = "sharedWaiterRef")]
pub fn shared_waiter_ref(env: Env, keep_alive: bool) {
    MAILBOX.with(|m| {
        if let Some(mailbox) = m.borrow().as_ref() {
            if let Some(t) = *mailbox.tsfn.lock() {
                // SAFETY: on the env's thread; the tsfn is alive.
                unsafe {
                    if keep_alive {
                        sys::napi_ref_threadsafe_function(env.raw(), t as _);
                    } else {
                        sys::napi_unref_threadsafe_function(env.raw(), t as _);
                    }
                }
            }
        }
    });
}

/// Starts an asynchronous wait; its outcome reaches the init callback as (id, code). The caller
/// keeps `array` alive until then.
#[napi(js_name = "sharedWaitAsync")]
pub fn shared_wait_async(env: Env, array: Unknown, index: u32, value: i32, timeout_ms: f64, id: u32) -> Result<()> {
    let word = word_at(&env, &array, index)?;
    let mailbox = MAILBOX
        .with(|m| m.borrow().clone())
        .ok_or_else(|| Error::new(Status::GenericFailure, "sharedWaiterInit was not called"))?;
    let cancelled = mailbox.cancelled.clone();
    waitpool::submit(Job {
        word: WordPtr(word),
        expected: value,
        deadline: Deadline::from_millis(timeout_ms),
        cancelled,
        done: Box::new(move |outcome| mailbox.post(id, outcome.code())),
    });
    Ok(())
}

fn region_error(e: RegionError) -> Error {
    Error::new(Status::GenericFailure, format!("{}", e.code()))
}

/// Joins (or creates) the program's name directory; returns the token for children.
#[napi(js_name = "sharedAttachDirectory")]
pub fn shared_attach_directory(token: Option<String>) -> Result<String> {
    regions::attach_directory(token.as_deref()).map_err(|e| region_error(RegionError::Io(e)))
}

/// Removes a name; returns a code: 0 removed, 1000 unknown name, other = error code.
#[napi(js_name = "sharedUnlink")]
pub fn shared_unlink(name: String, posix: bool) -> i32 {
    match regions::unlink(&name, posix) {
        Ok(true) => 0,
        Ok(false) => RegionError::NotFound.code(),
        Err(e) => e.code(),
    }
}

/// Names in the program directory.
#[napi(js_name = "sharedNames")]
pub fn shared_names() -> Result<Vec<String>> {
    regions::names().map_err(|e| region_error(RegionError::Io(e)))
}
