//! C ABI over `Endpoint` for the shim (declared in src/shim/shim.h). Endpoints cross the
//! boundary as `Box<Endpoint>` raw pointers.
use std::ffi::c_void;

use super::{Endpoint, Pop};
use crate::shim::{MessagePtr, Waker};

unsafe fn ep<'a>(raw: *mut c_void) -> &'a Endpoint {
    &*(raw as *const Endpoint)
}

#[no_mangle]
pub extern "C" fn corral_ep_pair(a: *mut *mut c_void, b: *mut *mut c_void) {
    let (x, y) = Endpoint::pair();
    // SAFETY: the shim passes two out-pointers.
    unsafe {
        *a = Box::into_raw(Box::new(x)) as *mut c_void;
        *b = Box::into_raw(Box::new(y)) as *mut c_void;
    }
}

/// # Safety
/// `raw` is a live endpoint; `msg`, if not null, receives an owned `Message*`.
#[no_mangle]
pub unsafe extern "C" fn corral_ep_pop(raw: *mut c_void, msg: *mut *mut c_void) -> i32 {
    match ep(raw).pop(!msg.is_null()) {
        Pop::Message(m) => {
            *msg = m.into_raw();
            1
        }
        Pop::Empty => 0,
        Pop::Closed => 2,
    }
}

/// # Safety
/// `raw` is a live endpoint.
#[no_mangle]
pub unsafe extern "C" fn corral_ep_has_news(raw: *mut c_void) -> bool {
    ep(raw).has_news()
}

/// # Safety
/// `raw` is a live endpoint.
#[no_mangle]
pub unsafe extern "C" fn corral_ep_drained_and_closed(raw: *mut c_void) -> bool {
    ep(raw).drained_and_closed()
}

/// # Safety
/// `raw` is a live endpoint; `waker` is null or a live `PortData*`.
#[no_mangle]
pub unsafe extern "C" fn corral_ep_set_waker(raw: *mut c_void, waker: *mut c_void) {
    ep(raw).set_waker(Waker::from_raw(waker));
}

/// # Safety
/// `raw` is a live endpoint; `msg` an owned `Message*`.
#[no_mangle]
pub unsafe extern "C" fn corral_ep_send(raw: *mut c_void, msg: *mut c_void) -> bool {
    match MessagePtr::from_raw(msg) {
        Some(m) => ep(raw).send(m).is_ok(),
        None => false,
    }
}

/// # Safety
/// `raw` is an endpoint the caller owns; it is freed.
#[no_mangle]
pub unsafe extern "C" fn corral_ep_close(raw: *mut c_void) {
    drop(Box::from_raw(raw as *mut Endpoint));
}

/// # Safety
/// Both are live endpoints.
#[no_mangle]
pub unsafe extern "C" fn corral_ep_entangled(a: *mut c_void, b: *mut c_void) -> bool {
    ep(a).is_entangled_with(ep(b))
}

unsafe fn group_name<'a>(name: *const std::ffi::c_char) -> std::borrow::Cow<'a, str> {
    std::ffi::CStr::from_ptr(name).to_string_lossy()
}

/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn corral_bc_join(name: *const std::ffi::c_char) -> *mut c_void {
    Box::into_raw(super::broadcast::join(&group_name(name))) as *mut c_void
}

/// # Safety
/// `name` is a NUL-terminated string; `raw` a live endpoint made by corral_bc_join.
#[no_mangle]
pub unsafe extern "C" fn corral_bc_leave(name: *const std::ffi::c_char, raw: *mut c_void) {
    super::broadcast::leave(&group_name(name), ep(raw));
}

/// # Safety
/// As corral_bc_leave; `msg` an owned `Message*` with nothing transferred.
#[no_mangle]
pub unsafe extern "C" fn corral_bc_post(name: *const std::ffi::c_char, raw: *mut c_void, msg: *mut c_void) {
    if let Some(msg) = MessagePtr::from_raw(msg) {
        super::broadcast::post(&group_name(name), ep(raw), msg, |m| m.duplicate());
    }
}

#[no_mangle]
pub extern "C" fn corral_mailbox_open(thread_id: u64) -> *mut c_void {
    Box::into_raw(super::mailbox::open(thread_id)) as *mut c_void
}

/// # Safety
/// `msg` is an owned `Message*`; it is freed when the thread has no mailbox.
#[no_mangle]
pub unsafe extern "C" fn corral_mailbox_post(thread_id: u64, msg: *mut c_void) -> bool {
    match MessagePtr::from_raw(msg) {
        Some(m) => super::mailbox::post(thread_id, m).is_ok(),
        None => false,
    }
}

#[no_mangle]
pub extern "C" fn corral_mailbox_exists(thread_id: u64) -> bool {
    super::mailbox::is_open(thread_id)
}
