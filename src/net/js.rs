//! JS face of shared listening sockets: `netOpen` (a bound or listening socket for SCHED_NONE,
//! reuseport, or a holder reserving a port), `rrListen`/`rrAdopt`/`rrAdd`/`rrRemove`/`rrClose`
//! for the round-robin accept thread.
use std::net::IpAddr;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use napi_derive::napi;
use nix::errno::Errno;

use super::accept;
use super::listen::{self, Addr, Opts};

static NEXT_KEY: AtomicU32 = AtomicU32::new(1);

#[napi(object)]
pub struct ListenSpec {
    /// IP literal, or empty for "any"; with `port` < 0, `path` is used.
    pub host: Option<String>,
    pub port: i32,
    pub path: Option<String>,
    pub backlog: Option<i32>,
    pub reuseport: bool,
    pub ipv6_only: bool,
    pub udp: bool,
    pub reuseaddr: bool,
}

fn open(spec: &ListenSpec) -> std::io::Result<OwnedFd> {
    let addr = if spec.port < 0 {
        Addr::Unix(spec.path.clone().unwrap_or_default())
    } else {
        let host = match spec.host.as_deref() {
            None | Some("") => None,
            Some(h) => Some(h.parse::<IpAddr>().map_err(|_| std::io::Error::from(Errno::EINVAL))?),
        };
        Addr::Tcp { host, port: spec.port as u16 }
    };
    let opts = Opts {
        reuseport: spec.reuseport,
        ipv6_only: spec.ipv6_only,
        backlog: spec.backlog,
        udp: spec.udp,
        reuseaddr: spec.reuseaddr,
    };
    listen::open(&addr, opts)
}

/// Opens a socket; returns [fd, port, family] (the caller owns fd) or [-errno].
#[napi]
pub fn net_open(spec: ListenSpec) -> Vec<i32> {
    match open(&spec) {
        Ok(fd) => {
            let port = listen::local_port(fd.as_raw_fd()) as i32;
            let family = listen::local_family(fd.as_raw_fd());
            vec![fd.into_raw_fd(), port, family]
        }
        Err(e) => vec![-e.raw_os_error().unwrap_or(Errno::EINVAL as i32)],
    }
}

#[napi]
pub fn net_close(fd: i32) {
    if fd >= 0 {
        // The caller gives back an fd that net_open handed out.
        let _ = nix::unistd::close(fd);
    }
}

/// Opens a listening socket owned by the accept thread; returns [key, port, family] or
/// [-errno].
#[napi]
pub fn rr_listen(spec: ListenSpec) -> Vec<i32> {
    let spec = ListenSpec { backlog: Some(spec.backlog.unwrap_or(511)), ..spec };
    match open(&spec) {
        Ok(fd) => serve_round_robin(fd),
        Err(e) => vec![-e.raw_os_error().unwrap_or(Errno::EINVAL as i32)],
    }
}

/// Hands the accept thread a duplicate of `fd`, a socket the primary's JS has made listen
/// (with Node's `net.Server`, then closes its own handle); returns [key, port, family] or
/// [-errno].
#[napi]
pub fn rr_adopt(fd: i32) -> Vec<i32> {
    match crate::ipc::scm::dup_raw(fd) {
        Ok(fd) => serve_round_robin(fd),
        Err(e) => vec![-e.raw_os_error().unwrap_or(Errno::EBADF as i32)],
    }
}

fn serve_round_robin(fd: OwnedFd) -> Vec<i32> {
    let port = listen::local_port(fd.as_raw_fd()) as i32;
    let family = listen::local_family(fd.as_raw_fd());
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    match accept::listen(key, fd) {
        Ok(()) => vec![key as i32, port, family],
        Err(e) => vec![-e.raw_os_error().unwrap_or(Errno::EINVAL as i32)],
    }
}

/// Lets the worker on IPC channel `chan` take connections for `key`. Returns [fd], the
/// worker's end of its new hand-off lane (the caller sends it to the worker, then closes it),
/// [] when the worker has its lane already, or [-errno].
#[napi]
pub fn rr_add(key: u32, chan: u32) -> Vec<i32> {
    if crate::ipc::js::channel(chan).is_none() {
        return vec![-(Errno::EPIPE as i32)];
    }
    match accept::add_worker(key, chan) {
        Ok(Some(fd)) => vec![fd.into_raw_fd()],
        Ok(None) => vec![],
        Err(e) => vec![-e.raw_os_error().unwrap_or(Errno::EINVAL as i32)],
    }
}

/// Returns true when `key` has no worker left.
#[napi]
pub fn rr_remove(key: u32, chan: u32) -> bool {
    accept::remove_worker(key, chan)
}

#[napi]
pub fn rr_close(key: u32) {
    accept::close(key);
}

#[napi]
pub fn rr_running() -> bool {
    accept::running()
}
