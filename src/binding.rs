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

#[napi(module_exports)]
pub fn init(exports: Object, env: Env) -> Result<()> {
    let tid = crate::thread::current_thread_id();
    // SAFETY: called on the thread that owns `env`, during module initialisation.
    unsafe { crate::shim::corral_shim_init(env.raw(), exports.raw(), tid) };
    Ok(())
}
