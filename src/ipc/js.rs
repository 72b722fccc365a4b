//! JS face of IPC channels: `ipcOpen`, `ipcWrite`, `ipcClose`, `ipcRef`; reads happen in a
//! libuv poll callback on the JS thread (no thread hop), acknowledgements are handled here.
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use nix::errno::Errno;

use super::bell::{self, Bell};
use super::channel::{Channel, Origin, Sent};
use super::flusher;
use super::frame::{Control, Decoder, Mode};
use super::scm;
use crate::jsloop::{self, Poll, UV_READABLE, UV_WRITABLE};

pub const EV_MESSAGE: i64 = 1;
pub const EV_ACK: i64 = 2;
pub const EV_CLOSE: i64 = 3;
pub const EV_DRAIN: i64 = 4;
/// [BAD_FRAME, id, size]: the peer announced a message beyond the bound; the channel closes.
pub const EV_BAD_FRAME: i64 = 7;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

struct Entry {
    poll: Poll,
    chan: Arc<Channel>,
    dec: Decoder,
    /// The hold on the event loop JS asked for (ref/unref of the channel).
    js_ref: bool,
    /// Bytes wait to be written: as Node's pending pipe writes, they keep the event loop
    /// alive whatever JS asked (a child that sends and ends delivers everything).
    writing: bool,
}

impl Entry {
    fn apply_ref(&self) {
        self.poll.set_ref(self.js_ref || self.writing);
    }

    fn set_writing(&mut self, writing: bool) {
        self.writing = writing;
        self.poll.set_events(if writing { UV_READABLE | UV_WRITABLE } else { UV_READABLE });
        self.apply_ref();
    }
}

thread_local! {
    static CHANS: RefCell<HashMap<u32, Entry>> = RefCell::new(HashMap::new());
    /// The buffer every channel of this thread reads into: a fresh zeroed 64 KiB per wake-up
    /// cost more than the read itself (a message round trip does two).
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 65536]);
}

pub fn channel(id: u32) -> Option<Arc<Channel>> {
    CHANS.with(|c| c.borrow().get(&id).map(|e| e.chan.clone()))
}

/// A fresh id for a native object the dispatch function routes events to.
pub fn next_id() -> u32 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

#[napi]
pub fn ipc_init(env: Env, dispatch: Unknown) -> Result<()> {
    jsloop::init(env.raw(), dispatch.raw())
}

/// Takes ownership of `fd` (an end of a channel) and starts reading it. `bell_fd` >= 0: the
/// channel's doorbell page (src/ipc/bell.rs), also taken over (closed once mapped), for the
/// parent's end or the child's (`parent`); a page that cannot be mapped is done without.
#[napi]
pub fn ipc_open(fd: i32, advanced: bool, bell_fd: Option<i32>, parent: Option<bool>) -> Result<u32> {
    // SAFETY: the caller hands over an fd it owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let bell = bell_fd.filter(|&b| b >= 0).and_then(|b| {
        // SAFETY: as `fd`.
        let page = unsafe { OwnedFd::from_raw_fd(b) };
        Bell::map(page, parent.unwrap_or(true)).ok()
    });
    let mode = if advanced { Mode::Advanced } else { Mode::Json };
    let mut chan = Channel::new(owned, mode).map_err(to_napi)?;
    if let Some(bell) = bell {
        crate::shim::spin_watch(bell.incoming(), true);
        chan = chan.with_bell(bell);
    }
    let chan = Arc::new(chan);
    let id = next_id();
    let mut poll = Poll::new(chan.raw_fd(), id, on_event)?;
    poll.set_events(UV_READABLE);
    let entry = Entry { poll, chan, dec: Decoder::new(mode), js_ref: true, writing: false };
    CHANS.with(|c| c.borrow_mut().insert(id, entry));
    // A thread that ends closes its channels (the child sees 'disconnect', as in Node).
    jsloop::on_teardown(|| {
        CHANS.with(|c| {
            for e in c.borrow().values() {
                if let Some(bell) = e.chan.bell() {
                    crate::shim::spin_watch(bell.incoming(), false);
                }
            }
            c.borrow_mut().clear();
        })
    });
    Ok(id)
}

/// A new doorbell page for a channel to a child of corral's (its fd, owned by the caller:
/// one copy goes to the child, the other to ipcOpen), or -1.
#[napi]
pub fn ipc_bell_create() -> i32 {
    use std::os::fd::IntoRawFd;
    bell::create().map_or(-1, IntoRawFd::into_raw_fd)
}

/// A connected socket pair [a, b], both owned by the caller.
#[napi]
pub fn ipc_pair() -> Result<Vec<i32>> {
    use std::os::fd::IntoRawFd;
    let (a, b) = scm::socketpair().map_err(to_napi)?;
    Ok(vec![a.into_raw_fd(), b.into_raw_fd()])
}

/// Writes one framed message (json text). `handle_fd` >= 0 is duplicated and sent with it;
/// `token` comes back in an ACK event once the peer has it. Returns 0 (written), 1 (queued)
/// or -errno.
#[napi]
pub fn ipc_write(id: u32, data: String, handle_fd: i32, token: u32) -> i32 {
    write(id, data.into_bytes(), handle_fd, token)
}

/// As ipc_write, for a Buffer (advanced serialization).
#[napi]
pub fn ipc_write_buf(id: u32, data: BufferSlice, handle_fd: i32, token: u32) -> i32 {
    write(id, data.to_vec(), handle_fd, token)
}

fn write(id: u32, bytes: Vec<u8>, handle_fd: i32, token: u32) -> i32 {
    let Some(chan) = channel(id) else { return -(Errno::EPIPE as i32) };
    let fd = if handle_fd >= 0 {
        match scm::dup_raw(handle_fd) {
            Ok(f) => Some((f, Origin::Js(token))),
            Err(e) => return -e.raw_os_error().unwrap_or(Errno::EBADF as i32),
        }
    } else {
        None
    };
    match chan.send(bytes, fd) {
        Ok(Sent::Done) => 0,
        Ok(Sent::Queued) => {
            want_write(id);
            1
        }
        Err(e) => -e.raw_os_error().unwrap_or(Errno::EPIPE as i32),
    }
}

/// Queues one framed message (json text) behind what is queued, without writing it: the
/// channel's next flush (ipc_flush, a later write, or the flush thread after
/// flusher::PERIOD) does. Returns the bytes now queued, or -errno.
#[napi]
pub fn ipc_defer(id: u32, data: String) -> i64 {
    defer(id, data.as_bytes())
}

/// As ipc_defer, for a Buffer (advanced serialization).
#[napi]
pub fn ipc_defer_buf(id: u32, data: BufferSlice) -> i64 {
    defer(id, &data)
}

fn defer(id: u32, bytes: &[u8]) -> i64 {
    let Some(chan) = channel(id) else { return -(Errno::EPIPE as i64) };
    match chan.defer(bytes) {
        Ok(queued) => {
            flusher::arm(&chan);
            queued as i64
        }
        Err(e) => -(e.raw_os_error().unwrap_or(Errno::EPIPE as i32) as i64),
    }
}

/// Writes what the channel has queued. Returns 0 (all written), 1 (some still queued, written
/// once the socket is writable) or -errno.
#[napi]
pub fn ipc_flush(id: u32) -> i32 {
    let Some(chan) = channel(id) else { return -(Errno::EPIPE as i32) };
    match chan.flush() {
        Ok(Sent::Done) => 0,
        Ok(Sent::Queued) => {
            want_write(id);
            1
        }
        Err(e) => -e.raw_os_error().unwrap_or(Errno::EPIPE as i32),
    }
}

fn want_write(id: u32) {
    CHANS.with(|c| {
        if let Some(e) = c.borrow_mut().get_mut(&id) {
            e.set_writing(true);
        }
    })
}

/// Bytes waiting to be written (Node's `channel.writeQueueSize`).
#[napi]
pub fn ipc_queued(id: u32) -> u32 {
    channel(id).map_or(0, |c| c.queued_bytes() as u32)
}

#[napi]
pub fn ipc_ref(id: u32, on: bool) {
    CHANS.with(|c| {
        if let Some(e) = c.borrow_mut().get_mut(&id) {
            e.js_ref = on;
            e.apply_ref();
        }
    })
}

/// Closes our end. Connections handed off but never acknowledged go to other workers.
#[napi]
pub fn ipc_close(id: u32) {
    let entry = CHANS.with(|c| c.borrow_mut().remove(&id));
    if let Some(e) = entry {
        finish(id, e);
    }
}

fn finish(id: u32, e: Entry) {
    let Entry { poll, chan, .. } = e;
    drop(poll);
    if let Some(bell) = chan.bell() {
        crate::shim::spin_watch(bell.incoming(), false);
    }
    chan.mark_dead();
    // Handles sent from JS and never acknowledged are closed with `chan`.
    drop(chan.take_unacked());
    crate::net::accept::worker_gone(id);
}

/// Reads whatever the channel has now (used when its process exits).
pub fn poll_now(id: u32) {
    read_event(id, 0, UV_READABLE, true);
}

fn on_event(id: u32, status: i32, events: i32) {
    read_event(id, status, events, false);
}

/// `to_end`: read until the socket has nothing more (end of stream included). Otherwise a
/// read shorter than the buffer ends the wake-up, as libuv's reads do: the socket was empty
/// then, and the poll, level-triggered, comes back for what arrives after (one recvmsg per
/// message in a ping-pong, not two).
fn read_event(id: u32, status: i32, events: i32, to_end: bool) {
    let mut out = Vec::new();
    let mut controls = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    let mut eof = status < 0;
    let mut bad_frame: Option<usize> = None;
    let mut drained = false;
    let (chan, mode) = match channel(id) {
        Some(c) => {
            let m = c.mode;
            (c, m)
        }
        None => return,
    };
    let had_queue = chan.has_queue();
    if events & UV_WRITABLE != 0 || had_queue {
        match chan.flush() {
            Ok(Sent::Done) => drained = had_queue || events & UV_WRITABLE != 0,
            Ok(Sent::Queued) => want_write(id),
            Err(_) => eof = true,
        }
    }
    if events & UV_READABLE != 0 || status < 0 {
        READ_BUF.with_borrow_mut(|buf| CHANS.with(|c| {
            let mut c = c.borrow_mut();
            let Some(e) = c.get_mut(&id) else { return };
            // A bounded number of reads per wake-up keeps other handles served.
            for _ in 0..16 {
                match scm::recv(chan.raw_fd(), buf, &mut fds) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        if let Err(too_large) = e.dec.feed(&buf[..n], &mut out, &mut controls) {
                            bad_frame = Some(too_large.0);
                            eof = true;
                            break;
                        }
                        if n < buf.len() && !to_end {
                            break;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
            if drained && !chan.has_queue() {
                e.set_writing(false);
            }
        }));
    } else if drained {
        CHANS.with(|c| {
            if let Some(e) = c.borrow_mut().get_mut(&id) {
                e.set_writing(false);
            }
        });
    }
    let mut acked_tokens = Vec::new();
    for ctl in controls {
        match ctl {
            Control::Ack => {
                if let Some(Origin::Js(token)) = chan.ack() {
                    acked_tokens.push(token);
                }
            }
            Control::Nack => {
                let _ = chan.nack();
            }
        }
    }
    if !out.is_empty() || !fds.is_empty() {
        let fd_list: Vec<i32> = fds.into_iter().map(std::os::fd::IntoRawFd::into_raw_fd).collect();
        jsloop::emit(|env| {
            let fds = int_array(env, &fd_list);
            let head = [jsloop::int(env, EV_MESSAGE), jsloop::int(env, id as i64)];
            match mode {
                Mode::Json => vec![head[0], head[1], jsloop::string(env, &out), fds],
                // Plain frames become values here, with no Buffer in between; JS gets the bytes
                // from the first frame it must read itself (typed arrays and the like) on.
                Mode::Advanced => match crate::shim::ipc_decode(&out) {
                    Some((values, stop)) if stop >= 0 => {
                        vec![head[0], head[1], values, fds, buffer(env, &out[stop as usize..])]
                    }
                    Some((values, _)) => vec![head[0], head[1], values, fds],
                    None => vec![head[0], head[1], buffer(env, &out), fds],
                },
            }
        });
        crate::shim::spin_note_delivery();
    }
    for token in acked_tokens {
        jsloop::emit(|env| vec![jsloop::int(env, EV_ACK), jsloop::int(env, id as i64), jsloop::int(env, token as i64)]);
    }
    if drained {
        jsloop::emit(|env| vec![jsloop::int(env, EV_DRAIN), jsloop::int(env, id as i64)]);
    }
    if let Some(size) = bad_frame {
        jsloop::emit(|env| vec![jsloop::int(env, EV_BAD_FRAME), jsloop::int(env, id as i64), jsloop::int(env, size as i64)]);
    }
    if eof {
        let entry = CHANS.with(|c| c.borrow_mut().remove(&id));
        if let Some(e) = entry {
            finish(id, e);
            jsloop::emit(|env| vec![jsloop::int(env, EV_CLOSE), jsloop::int(env, id as i64)]);
        }
    }
}

fn buffer(env: sys::napi_env, bytes: &[u8]) -> sys::napi_value {
    let mut v = ptr::null_mut();
    let mut data = ptr::null_mut();
    // SAFETY: copies `bytes` into a new Buffer.
    unsafe { sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut v) };
    v
}

pub fn int_array(env: sys::napi_env, vals: &[i32]) -> sys::napi_value {
    let mut arr = ptr::null_mut();
    // SAFETY: building a small JS array.
    unsafe {
        sys::napi_create_array_with_length(env, vals.len(), &mut arr);
        for (i, v) in vals.iter().enumerate() {
            sys::napi_set_element(env, arr, i as u32, jsloop::int(env, *v as i64));
        }
    }
    arr
}

pub fn to_napi(e: io::Error) -> napi::Error {
    napi::Error::from_reason(format!("errno {}: {e}", e.raw_os_error().unwrap_or(0)))
}
