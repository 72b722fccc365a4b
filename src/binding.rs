//! The addon's entry: runs once in every environment that loads it (the main thread and each
//! worker), and gives JS the shim's natives.
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// The Node major this addon was built against (lib/binding.js refuses to load it on another).
#[napi]
pub const NODE_MAJOR: u32 = const_parse(env!("CORRAL_NODE_MAJOR"));

const fn const_parse(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

extern "C" {
    fn uv_default_loop() -> *mut std::ffi::c_void;
}

/// The main thread is the one whose environment runs on libuv's default loop.
fn is_main_thread(env: &Env) -> bool {
    let mut event_loop = std::ptr::null_mut();
    // SAFETY: a valid env on its own thread; uv_default_loop only returns a static.
    unsafe {
        napi::sys::napi_get_uv_event_loop(env.raw(), &mut event_loop);
        event_loop as *mut std::ffi::c_void == uv_default_loop()
    }
}

#[napi(module_exports)]
pub fn init(exports: Object, env: Env) -> Result<()> {
    let mut tid = crate::thread::current_thread_id();
    if tid == 0 && !is_main_thread(&env) {
        tid = crate::thread::adopt_foreign_thread();
    }
    // SAFETY: called on the thread that owns `env`, during module initialisation.
    unsafe { crate::shim::corral_shim_init(env.raw(), exports.raw(), tid) };
    Ok(())
}
