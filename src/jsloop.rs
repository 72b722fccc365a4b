//! libuv poll handles on the JS thread that owns them, and calls from their callbacks into
//! one JS dispatch function (per environment) with a proper callback scope, so nextTicks and
//! microtasks run after it as they do after any libuv callback in Node.
use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;

use napi::sys;

const UV_POLL: std::ffi::c_int = 8;
pub const UV_READABLE: i32 = 1;
pub const UV_WRITABLE: i32 = 2;

type PollCb = fn(id: u32, status: i32, events: i32);

extern "C" {
    fn uv_handle_size(kind: std::ffi::c_int) -> usize;
    fn uv_poll_init(lp: *mut c_void, h: *mut c_void, fd: std::ffi::c_int) -> std::ffi::c_int;
    fn uv_poll_start(h: *mut c_void, events: std::ffi::c_int, cb: extern "C" fn(*mut c_void, std::ffi::c_int, std::ffi::c_int)) -> std::ffi::c_int;
    fn uv_poll_stop(h: *mut c_void) -> std::ffi::c_int;
    fn uv_close(h: *mut c_void, cb: extern "C" fn(*mut c_void));
    fn uv_ref(h: *mut c_void);
    fn uv_unref(h: *mut c_void);
}

struct Ctx {
    env: sys::napi_env,
    dispatch: sys::napi_ref,
    async_ctx: sys::napi_async_context,
    uv_loop: *mut c_void,
}

thread_local! {
    static CTX: RefCell<Option<Ctx>> = const { RefCell::new(None) };
    /// What closes this thread's handles when its environment is torn down.
    static TEARDOWN: RefCell<Vec<fn()>> = const { RefCell::new(Vec::new()) };
}

/// `teardown` runs when this thread's environment goes away (a worker thread that ends): it
/// must drop the handles it keeps on the loop, which the thread drains and closes next. Left
/// open they would keep that drain waiting (a child's exit watch, a channel) and call into the
/// freed environment later.
pub fn on_teardown(teardown: fn()) {
    TEARDOWN.with(|t| {
        let mut t = t.borrow_mut();
        if !t.iter().any(|f| std::ptr::fn_addr_eq(*f, teardown)) {
            t.push(teardown);
        }
    });
}

unsafe extern "C" fn env_cleanup(_arg: *mut c_void) {
    // Nothing reaches JS any more; the references die with the environment.
    CTX.with(|c| c.borrow_mut().take());
    let hooks = TEARDOWN.with(|t| std::mem::take(&mut *t.borrow_mut()));
    for hook in hooks {
        hook();
    }
}

/// Registers this environment's dispatch function.
pub fn init(env: sys::napi_env, dispatch: sys::napi_value) -> napi::Result<()> {
    // SAFETY: napi calls on the env's own thread with valid values.
    unsafe {
        if CTX.with(|c| c.borrow().is_none()) {
            check(sys::napi_add_env_cleanup_hook(env, Some(env_cleanup), ptr::null_mut()))?;
        }
        let mut r = ptr::null_mut();
        check(sys::napi_create_reference(env, dispatch, 1, &mut r))?;
        let mut name = ptr::null_mut();
        check(sys::napi_create_string_utf8(env, c"corral:ipc".as_ptr(), 10, &mut name))?;
        let mut actx = ptr::null_mut();
        check(sys::napi_async_init(env, ptr::null_mut(), name, &mut actx))?;
        let mut lp = ptr::null_mut();
        check(sys::napi_get_uv_event_loop(env, &mut lp))?;
        CTX.with(|c| {
            *c.borrow_mut() = Some(Ctx { env, dispatch: r, async_ctx: actx, uv_loop: lp.cast() });
        });
    }
    Ok(())
}

pub fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!("napi status {status}")))
    }
}

/// Calls the dispatch function with the values `build` makes. An exception thrown by it
/// becomes an uncaught exception of the process, as in any event callback.
pub fn emit(build: impl FnOnce(sys::napi_env) -> Vec<sys::napi_value>) {
    let Some((env, dref, actx)) = CTX.with(|c| c.borrow().as_ref().map(|c| (c.env, c.dispatch, c.async_ctx))) else {
        return;
    };
    // SAFETY: we are on the env's thread, inside a libuv callback (no JS on the stack).
    unsafe {
        let mut scope = ptr::null_mut();
        if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
            return;
        }
        let args = build(env);
        let mut func = ptr::null_mut();
        let mut recv = ptr::null_mut();
        sys::napi_get_reference_value(env, dref, &mut func);
        sys::napi_get_global(env, &mut recv);
        let mut result = ptr::null_mut();
        let status = sys::napi_make_callback(env, actx, recv, func, args.len(), args.as_ptr(), &mut result);
        if status == sys::Status::napi_pending_exception {
            let mut exc = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut exc);
            sys::napi_fatal_exception(env, exc);
        }
        sys::napi_close_handle_scope(env, scope);
    }
}

pub fn int(env: sys::napi_env, v: i64) -> sys::napi_value {
    number(env, v as f64)
}

pub fn number(env: sys::napi_env, v: f64) -> sys::napi_value {
    let mut out = ptr::null_mut();
    // SAFETY: creating a number.
    unsafe { sys::napi_create_double(env, v, &mut out) };
    out
}

/// A JS string from UTF-8 `bytes` (V8 replaces invalid sequences).
pub fn string(env: sys::napi_env, bytes: &[u8]) -> sys::napi_value {
    let mut v = ptr::null_mut();
    // SAFETY: V8 copies `bytes.len()` bytes from a live slice.
    unsafe { sys::napi_create_string_utf8(env, bytes.as_ptr().cast(), bytes.len() as isize, &mut v) };
    v
}

#[repr(C)]
struct PollData {
    id: u32,
    cb: PollCb,
}

/// A uv_poll_t watching one fd on this thread's loop.
pub struct Poll {
    h: *mut c_void,
    events: i32,
}

extern "C" fn on_poll(h: *mut c_void, status: std::ffi::c_int, events: std::ffi::c_int) {
    // SAFETY: `data` (the handle's first field) holds our PollData until close.
    let (id, cb) = unsafe {
        let d = *(h as *mut *mut PollData);
        ((*d).id, (*d).cb)
    };
    cb(id, status, events);
}

extern "C" fn on_close(h: *mut c_void) {
    // SAFETY: both allocations were made in Poll::new and are freed once, here.
    unsafe {
        drop(Box::from_raw(*(h as *mut *mut PollData)));
        let size = uv_handle_size(UV_POLL);
        drop(Vec::from_raw_parts(h as *mut u64, 0, size.div_ceil(8)));
    }
}

impl Poll {
    pub fn new(fd: i32, id: u32, cb: PollCb) -> napi::Result<Poll> {
        let lp = CTX
            .with(|c| c.borrow().as_ref().map(|c| c.uv_loop))
            .ok_or_else(|| napi::Error::from_reason("corral: ipc not initialised"))?;
        // SAFETY: a zeroed buffer of uv_poll_t's size, initialised by libuv; `data` set after.
        unsafe {
            let size = uv_handle_size(UV_POLL);
            let mut mem = vec![0u64; size.div_ceil(8)];
            let h = mem.as_mut_ptr() as *mut c_void;
            std::mem::forget(mem);
            let r = uv_poll_init(lp, h, fd);
            if r != 0 {
                drop(Vec::from_raw_parts(h as *mut u64, 0, size.div_ceil(8)));
                return Err(napi::Error::from_reason(format!("uv_poll_init: {r}")));
            }
            *(h as *mut *mut PollData) = Box::into_raw(Box::new(PollData { id, cb }));
            Ok(Poll { h, events: 0 })
        }
    }

    pub fn set_events(&mut self, events: i32) {
        if events == self.events {
            return;
        }
        self.events = events;
        // SAFETY: live handle.
        unsafe {
            if events == 0 {
                uv_poll_stop(self.h);
            } else {
                uv_poll_start(self.h, events, on_poll);
            }
        }
    }

    pub fn set_ref(&self, on: bool) {
        // SAFETY: live handle.
        unsafe {
            if on {
                uv_ref(self.h)
            } else {
                uv_unref(self.h)
            }
        }
    }
}

impl Drop for Poll {
    fn drop(&mut self) {
        // SAFETY: live handle; memory is freed in on_close.
        unsafe {
            uv_poll_stop(self.h);
            uv_close(self.h, on_close);
        }
    }
}
