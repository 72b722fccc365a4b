//! JS face of process spawning: `procSpawn` and `procWatch` (exit via pidfd on the JS loop).
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicU32, Ordering};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::spawn::{self, Exit, SpawnSpec, StdioSpec};
use crate::jsloop::{self, Poll, UV_READABLE};

pub const EV_EXIT: i64 = 5;

static NEXT_ID: AtomicU32 = AtomicU32::new(1 << 30);

struct Watch {
    pid: i32,
    /// The child's IPC channel: its end of stream is read before the exit is reported, so
    /// 'disconnect' comes before 'exit' as in Node.
    chan: u32,
    poll: Poll,
    _pidfd: OwnedFd,
}

thread_local! {
    static WATCHES: RefCell<HashMap<u32, Watch>> = RefCell::new(HashMap::new());
}

#[napi(object)]
pub struct SpawnOptions {
    pub file: String,
    /// argv[0], when not `file`.
    pub argv0: Option<String>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// Per fd 0 and up: -1 inherit, -2 ignore, -3 pipe, >= 0 that fd (the IPC slot: -2).
    pub stdio: Vec<i32>,
    /// The child's fd for the IPC channel, or -1.
    pub ipc_fd: i32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub detached: bool,
    pub death_signal: i32,
}

fn stdio_spec(v: i32) -> StdioSpec {
    match v {
        -1 => StdioSpec::Inherit,
        -2 => StdioSpec::Ignore,
        -3 => StdioSpec::Pipe,
        fd => StdioSpec::Fd(fd),
    }
}

/// Spawns; returns [pid, stdin, stdout, stderr, channel, fd 3, fd 4, ...] (parent ends of
/// pipes, -1 when absent; the caller owns them), or [-errno] when the process could not be
/// started.
#[napi]
pub fn proc_spawn(o: SpawnOptions) -> Vec<i32> {
    let extra = o.stdio.iter().skip(3).map(|&v| stdio_spec(v)).collect();
    let spec = SpawnSpec {
        extra,
        file: o.file.into(),
        argv0: o.argv0.map(OsString::from),
        args: o.args.into_iter().map(OsString::from).collect(),
        env: o.env.into_iter().map(|s| OsString::from_vec(s.into_bytes())).collect(),
        cwd: o.cwd.map(OsString::from),
        stdio: [0, 1, 2].map(|i| stdio_spec(o.stdio.get(i).copied().unwrap_or(-1))),
        ipc_fd: (o.ipc_fd >= 0).then_some(o.ipc_fd),
        uid: o.uid,
        gid: o.gid,
        detached: o.detached,
        death_signal: o.death_signal,
    };
    match spawn::spawn(spec) {
        Ok(s) => {
            let [a, b, c] = s.stdio;
            let raw = |f: Option<OwnedFd>| f.map_or(-1, IntoRawFd::into_raw_fd);
            let mut out = vec![s.pid, raw(a), raw(b), raw(c), raw(s.channel)];
            out.extend(s.extra.into_iter().map(raw));
            out
        }
        Err(e) => vec![-e.raw_os_error().unwrap_or(nix::errno::Errno::EINVAL as i32)],
    }
}

/// Watches `pid` for exit; emits [EXIT, id, code, signal] once, after reaping it.
#[napi]
pub fn proc_watch(pid: i32, chan: u32) -> Result<u32> {
    let pidfd = spawn::pidfd_open(pid).map_err(crate::ipc::js::to_napi)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut poll = Poll::new(pidfd.as_raw_fd(), id, on_exit)?;
    poll.set_events(UV_READABLE);
    WATCHES.with(|w| w.borrow_mut().insert(id, Watch { pid, chan, poll, _pidfd: pidfd }));
    // A thread that ends stops watching its children (they live on, as in Node).
    jsloop::on_teardown(|| WATCHES.with(|w| w.borrow_mut().clear()));
    Ok(id)
}

#[napi]
pub fn proc_ref(id: u32, on: bool) {
    WATCHES.with(|w| {
        if let Some(w) = w.borrow().get(&id) {
            w.poll.set_ref(on);
        }
    })
}

fn on_exit(id: u32, _status: i32, _events: i32) {
    let (pid, chan) = match WATCHES.with(|w| w.borrow().get(&id).map(|w| (w.pid, w.chan))) {
        Some(p) => p,
        None => return,
    };
    let exit = match spawn::try_wait(pid) {
        Ok(Some(e)) => e,
        Ok(None) => return,
        // Reaped by someone else: the status is lost.
        Err(_) => Exit::Code(0),
    };
    let watch = WATCHES.with(|w| w.borrow_mut().remove(&id));
    drop(watch);
    if chan != 0 {
        crate::ipc::js::poll_now(chan);
    }
    let (code, sig) = match exit {
        Exit::Code(c) => (c as i64, 0),
        Exit::Signal(s) => (-1, s as i64),
    };
    jsloop::emit(|env| vec![jsloop::int(env, EV_EXIT), jsloop::int(env, id as i64), jsloop::int(env, code), jsloop::int(env, sig)]);
}
