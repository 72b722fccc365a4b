//! napi functions behind lib/shared: futex wait/notify on an Int32Array element, waitAsync
//! through the wait pool, and the directory/name calls. Region creation itself lives in the C++
//! shim (it needs V8 to make a SharedArrayBuffer) and calls ffi.rs.
use std::cell::RefCell;
use std::sync::atomic::AtomicI32;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::{sys, JsValue};
use napi_derive::napi;

use crate::jsloop;
use crate::tsfn::{Post, Tsfn};

use super::futex::{self, Deadline, WaitOutcome};
use super::interrupt::{self, WaitToken};
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
    // In bounds of the array's live buffer (checked above); Int32Array elements are 4-aligned.
    Ok((data as *const AtomicI32).wrapping_add(index as usize))
}

/// Runs `f` on the element `index` of an Int32Array (see word_at), within this synchronous call.
fn with_word<R>(env: &Env, array: &Unknown, index: u32, f: impl FnOnce(&AtomicI32) -> R) -> Result<R> {
    let word = word_at(env, array, index)?;
    // SAFETY: the typed array (and its buffer) is alive for this synchronous call, and `f`
    // cannot keep the reference past it.
    Ok(f(unsafe { &*word }))
}

/// Blocks the calling thread like `Atomics.wait`, but on a process-shared futex.
/// Returns 0 ("ok"), 1 ("not-equal") or 2 ("timed-out").
#[napi(js_name = "sharedWait")]
pub fn shared_wait(env: Env, array: Unknown, index: u32, value: i32, timeout_ms: f64) -> Result<i32> {
    // Ended early (as timed out; the isolate is terminating) when the worker is stopped.
    let token = interrupt::thread_token(crate::thread::current_thread_id());
    with_word(&env, &array, index, |word| {
        let deadline = Deadline::from_millis(timeout_ms);
        let outcome = token.sleep(|| futex::wait_interruptible(word, value, deadline, false, &|| token.is_interrupted()));
        outcome.unwrap_or(WaitOutcome::TimedOut).code()
    })
}

/// Wakes up to `count` futex waiters on the element (any process); returns how many woke.
#[napi(js_name = "sharedNotify")]
pub fn shared_notify(env: Env, array: Unknown, index: u32, count: f64) -> Result<u32> {
    let count = if count.is_nan() || count >= u32::MAX as f64 { u32::MAX } else { count.max(0.0) as u32 };
    with_word(&env, &array, index, |word| {
        // This process's waitAsync jobs first (one made just now may not be in the futex yet).
        let near = waitpool::notify_registered(word as *const _ as usize, count);
        let rest = count - near;
        near + if rest > 0 { futex::wake(word, rest) } else { 0 }
    })
}

/// This environment's channel from pool threads back to JS.
struct Mailbox {
    tsfn: Arc<Tsfn<Completion>>,
    cancelled: Arc<WaitToken>,
}

thread_local! {
    static MAILBOX: RefCell<Option<Arc<Mailbox>>> = const { RefCell::new(None) };
}

struct Completion {
    id: u32,
    code: i32,
}

impl Post for Completion {
    fn args(self, env: sys::napi_env) -> Vec<sys::napi_value> {
        vec![jsloop::number(env, self.id as f64), jsloop::number(env, self.code as f64)]
    }
}

impl Mailbox {
    fn post(&self, id: u32, code: i32) {
        self.tsfn.post(Completion { id, code });
    }
}

/// Sets the JS function `(id, code)` that receives waitAsync outcomes in this environment.
#[napi(js_name = "sharedWaiterInit")]
pub fn shared_waiter_init(env: Env, callback: Unknown) -> Result<()> {
    if MAILBOX.with(|m| m.borrow().is_some()) {
        return Ok(());
    }
    let cancelled = Arc::new(WaitToken::default());
    let gone = cancelled.clone();
    // When Node finalizes the function (the environment ends), pending waits are cancelled: their
    // threads leave the futex at once (a wait left sleeping would take a notify meant for others).
    let finalized = move || {
        gone.interrupt();
        MAILBOX.with(|m| {
            let mut m = m.borrow_mut();
            if m.as_ref().is_some_and(|cur| Arc::ptr_eq(&cur.cancelled, &gone)) {
                *m = None;
            }
        });
    };
    let tsfn = Tsfn::new(&env, &callback, c"corral.shared.waitAsync", finalized)
        .map_err(|_| Error::new(Status::GenericFailure, "could not create the waitAsync callback"))?;
    MAILBOX.with(|m| *m.borrow_mut() = Some(Arc::new(Mailbox { tsfn, cancelled })));
    Ok(())
}

/// Keeps the event loop alive (true) while waitAsync calls are pending, or lets it go (false).
#[napi(js_name = "sharedWaiterRef")]
pub fn shared_waiter_ref(env: Env, keep_alive: bool) {
    MAILBOX.with(|m| {
        if let Some(mailbox) = m.borrow().as_ref() {
            mailbox.tsfn.set_ref(&env, keep_alive);
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
    waitpool::submit(Job::new(
        WordPtr(word),
        value,
        Deadline::from_millis(timeout_ms),
        cancelled,
        true,
        Box::new(move |outcome| mailbox.post(id, outcome.code())),
    ));
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
