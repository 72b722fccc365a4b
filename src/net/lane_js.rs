//! The worker's end of its hand-off lane (./lane.rs), read in a libuv poll callback on the
//! worker's JS thread: one write's connections (one, ./lane.rs) per loop turn, reaching JS as
//! [key, fd]; what else waits stays in the lane, where the primary can take it back for another
//! worker if this one dies.
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use super::lane::{send_pairs, Pairing};
use crate::ipc::js::{int_array, next_id, to_napi, EV_CLOSE};
use crate::ipc::scm;
use crate::jsloop::{self, Poll, UV_READABLE};

/// Connections arrived on a lane: [key, fd, ...].
pub const EV_CONNECTIONS: i64 = 6;

struct Entry {
    _poll: Poll,
    fd: OwnedFd,
    pairing: Pairing,
}

thread_local! {
    static LANES: RefCell<HashMap<u32, Entry>> = RefCell::new(HashMap::new());
}

/// Starts reading a lane from a duplicate of `fd` (the caller closes its own). The lane does
/// not keep the loop alive.
#[napi]
pub fn lane_open(fd: i32) -> Result<u32> {
    let own = scm::dup_raw(fd).map_err(to_napi)?;
    scm::set_nonblocking(&own).map_err(to_napi)?;
    let id = next_id();
    let mut poll = Poll::new(own.as_raw_fd(), id, on_event)?;
    poll.set_events(UV_READABLE);
    poll.set_ref(false);
    LANES.with(|l| l.borrow_mut().insert(id, Entry { _poll: poll, fd: own, pairing: Pairing::default() }));
    jsloop::on_teardown(|| LANES.with(|l| l.borrow_mut().clear()));
    Ok(id)
}

/// Hands connection `fd` (now ours) back to the primary for another worker.
#[napi]
pub fn lane_return(id: u32, key: u32, fd: i32) -> bool {
    // The caller gives up an fd the lane handed out: it goes back with its key (the kernel
    // holds its own reference) and is closed here either way.
    let sent = LANES.with(|l| match l.borrow().get(&id) {
        Some(e) => send_pairs(e.fd.as_fd(), &[(key, fd)]) == 1,
        None => false,
    });
    let _ = nix::unistd::close(fd);
    sent
}

#[napi]
pub fn lane_close(id: u32) {
    LANES.with(|l| l.borrow_mut().remove(&id));
}

/// An unconnected TCP socket, for JS to learn the TCP handle class from (then close); -1 if
/// none could be made.
#[napi]
pub fn tcp_probe_fd() -> i32 {
    socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).map_or(-1, IntoRawFd::into_raw_fd)
}

fn on_event(id: u32, status: i32, _events: i32) {
    let mut got = Vec::new();
    let open = LANES.with(|l| {
        let mut l = l.borrow_mut();
        let Some(e) = l.get_mut(&id) else { return true };
        status >= 0 && e.pairing.read(e.fd.as_raw_fd(), &mut got, 1).unwrap_or(false)
    });
    if !got.is_empty() {
        let flat: Vec<i32> = got.into_iter().flat_map(|(k, fd)| [k as i32, fd.into_raw_fd()]).collect();
        jsloop::emit(|env| vec![jsloop::int(env, EV_CONNECTIONS), jsloop::int(env, id as i64), int_array(env, &flat)]);
    }
    if !open {
        LANES.with(|l| l.borrow_mut().remove(&id));
        jsloop::emit(|env| vec![jsloop::int(env, EV_CLOSE), jsloop::int(env, id as i64)]);
    }
}
