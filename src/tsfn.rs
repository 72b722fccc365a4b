//! A napi thread-safe function that any Rust thread posts values to, and that calls one JS
//! function with each value on its environment's thread, without holding the event loop open
//! (unless asked to). Used by the control plane (src/control/js.rs) and by corral/shared's
//! waitAsync (src/shared/binding.rs).
use std::ffi::{c_void, CStr};
use std::marker::PhantomData;
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use parking_lot::Mutex;

/// A value posted to JS: turned into the call's arguments on the environment's thread.
pub trait Post: Send + 'static {
    fn args(self, env: sys::napi_env) -> Vec<sys::napi_value>;
}

pub struct Tsfn<T: Post> {
    /// The napi handle; None once Node has finalized it.
    raw: Mutex<Option<usize>>,
    /// Run once, on the environment's thread, when Node finalizes the function.
    on_finalize: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    _post: PhantomData<fn(T)>,
}

unsafe extern "C" fn call_js<T: Post>(env: sys::napi_env, callback: sys::napi_value, _ctx: *mut c_void, data: *mut c_void) {
    // SAFETY: every `data` Node hands here is a Box<T> from Tsfn::<T>::post, given exactly once
    // (also while the environment tears down, then with a null env).
    let value = unsafe { Box::from_raw(data as *mut T) };
    if env.is_null() || callback.is_null() {
        return;
    }
    let args = value.args(env);
    // SAFETY: called by Node on the env's thread with a live handle scope; `args` were made in
    // it and the array outlives the call.
    unsafe {
        let mut recv = ptr::null_mut();
        sys::napi_get_undefined(env, &mut recv);
        sys::napi_call_function(env, recv, callback, args.len(), args.as_ptr(), ptr::null_mut());
    }
}

unsafe extern "C" fn finalize<T: Post>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the Arc<Tsfn<T>> leaked in Tsfn::new for this finalizer, which Node
    // calls once.
    let tsfn = unsafe { Arc::from_raw(data as *const Tsfn<T>) };
    let hook = tsfn.on_finalize.lock().take();
    if let Some(hook) = hook {
        hook();
    }
    *tsfn.raw.lock() = None;
}

impl<T: Post> Tsfn<T> {
    /// A thread-safe function calling `function`, not holding the event loop; `on_finalize`
    /// runs when Node finalizes it. On failure, the napi status.
    pub fn new(env: &Env, function: &Unknown, name: &CStr, on_finalize: impl FnOnce() + Send + 'static) -> std::result::Result<Arc<Tsfn<T>>, sys::napi_status> {
        let tsfn = Arc::new(Tsfn { raw: Mutex::new(None), on_finalize: Mutex::new(Some(Box::new(on_finalize))), _post: PhantomData });
        let raw_env = env.raw();
        let mut js_name = ptr::null_mut();
        let mut handle = ptr::null_mut();
        let finalize_data = Arc::into_raw(tsfn.clone()) as *mut c_void;
        // SAFETY: napi calls on the env's own thread with live values; `name` is NUL-terminated;
        // the finalizer takes back `finalize_data` (and only it).
        let status = unsafe {
            sys::napi_create_string_utf8(raw_env, name.as_ptr(), usize::MAX as _, &mut js_name);
            sys::napi_create_threadsafe_function(
                raw_env, function.raw(), ptr::null_mut(), js_name, 0, 1,
                finalize_data, Some(finalize::<T>), ptr::null_mut(), Some(call_js::<T>), &mut handle,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: Node did not take `finalize_data`: the Arc leaked above is ours again.
            drop(unsafe { Arc::from_raw(finalize_data as *const Tsfn<T>) });
            return Err(status);
        }
        *tsfn.raw.lock() = Some(handle as usize);
        tsfn.set_ref(env, false);
        Ok(tsfn)
    }

    /// Queues `value` for the JS function (dropped if Node has finalized it).
    pub fn post(&self, value: T) {
        let raw = self.raw.lock();
        if let Some(handle) = *raw {
            let data = Box::into_raw(Box::new(value)) as *mut c_void;
            // SAFETY: the handle is alive while it is in the cell (finalize clears it under the
            // lock we hold); a queued `data` reaches call_js, which frees it.
            let status = unsafe {
                sys::napi_call_threadsafe_function(handle as sys::napi_threadsafe_function, data, sys::ThreadsafeFunctionCallMode::nonblocking)
            };
            if status != sys::Status::napi_ok {
                // SAFETY: not queued, so not taken by Node: the box is ours again.
                drop(unsafe { Box::from_raw(data as *mut T) });
            }
        }
    }

    /// Holds the event loop open (true) or lets it go (false). On the env's thread.
    pub fn set_ref(&self, env: &Env, keep_alive: bool) {
        if let Some(handle) = *self.raw.lock() {
            let handle = handle as sys::napi_threadsafe_function;
            // SAFETY: on the env's thread (`env` is only given to JS calls there); the handle
            // is alive while it is in the cell, which finalize (on this thread too) clears.
            unsafe {
                if keep_alive {
                    sys::napi_ref_threadsafe_function(env.raw(), handle);
                } else {
                    sys::napi_unref_threadsafe_function(env.raw(), handle);
                }
            }
        }
    }
}
