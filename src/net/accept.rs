//! The round-robin schedule's accept loop, on its own Rust thread (never on the primary's JS
//! thread): it accepts on every round-robin listening socket and writes each connection,
//! as an SCM_RIGHTS fd in Node's handle message, straight into the chosen worker's IPC channel.
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::sched;
use crate::ipc::channel::{Channel, Origin};
use crate::ipc::frame;

/// Connections parked while a key has no live worker (as Node's round-robin handle does).
const MAX_PARKED: usize = 4096;
const WAKE: u64 = u64::MAX;

struct Group {
    listener: OwnedFd,
    workers: Vec<(u32, Arc<Channel>)>,
    next: usize,
    parked: VecDeque<OwnedFd>,
}

#[derive(Default)]
struct State {
    groups: HashMap<u32, Group>,
    thread: Option<JoinHandle<()>>,
    epfd: Option<Arc<OwnedFd>>,
    wake: Option<Arc<OwnedFd>>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock();
    f(g.get_or_insert_with(State::default))
}

fn epoll_ctl(epfd: RawFd, op: i32, fd: RawFd, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: data };
    // SAFETY: plain syscall with a valid event.
    if unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn ensure_thread(s: &mut State) -> io::Result<(RawFd, RawFd)> {
    if let (Some(ep), Some(wk)) = (&s.epfd, &s.wake) {
        return Ok((ep.as_raw_fd(), wk.as_raw_fd()));
    }
    // SAFETY: plain syscalls; results checked and owned.
    let (ep, wk) = unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        let ep = OwnedFd::from_raw_fd(ep);
        let wk = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
        if wk < 0 {
            return Err(io::Error::last_os_error());
        }
        (Arc::new(ep), Arc::new(OwnedFd::from_raw_fd(wk)))
    };
    epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, wk.as_raw_fd(), WAKE)?;
    let (ep2, wk2) = (ep.clone(), wk.clone());
    let handle = std::thread::Builder::new()
        .name("corral-accept".into())
        .spawn(move || run(ep2, wk2))?;
    let fds = (ep.as_raw_fd(), wk.as_raw_fd());
    s.thread = Some(handle);
    s.epfd = Some(ep);
    s.wake = Some(wk);
    Ok(fds)
}

fn run(ep: Arc<OwnedFd>, wake: Arc<OwnedFd>) {
    // SAFETY: zeroed epoll_event array.
    let mut events: [libc::epoll_event; 32] = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: events has room for 32.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), 32, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        for ev in &events[..n as usize] {
            let data = ev.u64;
            if data == WAKE {
                let mut v = 0u64;
                // SAFETY: 8-byte read from our eventfd.
                unsafe { libc::read(wake.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
                let mut g = STATE.lock();
                if g.as_ref().is_none_or(|s| s.groups.is_empty()) {
                    // Last listener gone: the thread ends (restarted on the next listen).
                    if let Some(s) = g.as_mut() {
                        s.thread = None;
                        s.epfd = None;
                        s.wake = None;
                    }
                    return;
                }
                continue;
            }
            accept_burst(data as u32);
        }
    }
}

fn accept_burst(key: u32) {
    let mut g = STATE.lock();
    let Some(group) = g.as_mut().and_then(|s| s.groups.get_mut(&key)) else { return };
    for _ in 0..64 {
        // SAFETY: accept4 on our listening fd; the result is a new fd we own.
        let fd = unsafe {
            libc::accept4(
                group.listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                // libuv does not make received fds non-blocking: they must arrive that way.
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return;
        }
        // SAFETY: just accepted.
        let conn = unsafe { OwnedFd::from_raw_fd(fd) };
        dispatch(key, group, conn);
    }
}

fn dispatch(key: u32, group: &mut Group, mut conn: OwnedFd) {
    loop {
        let pending: Vec<Option<u32>> = group
            .workers
            .iter()
            .map(|(_, c)| (!c.is_dead()).then(|| c.pending_rr.load(std::sync::atomic::Ordering::Acquire)))
            .collect();
        let Some(i) = sched::pick(&pending, group.next) else {
            if group.parked.len() < MAX_PARKED {
                group.parked.push_back(conn);
            }
            return;
        };
        group.next = i + 1;
        let chan = group.workers[i].1.clone();
        let bytes = frame::handoff_frame(chan.mode, key);
        match chan.send(bytes, Some((conn, Origin::Rr(key)))) {
            Ok(_) => return,
            Err(_) => {
                // The channel died under us: its unacknowledged fds come back, ours with them.
                let back = chan.take_unacked();
                let mut mine = None;
                for h in back {
                    if h.origin == Origin::Rr(key) && mine.is_none() {
                        mine = Some(h.fd);
                    } else if let Origin::Rr(k) = h.origin {
                        if k == key {
                            group.parked.push_back(h.fd);
                        }
                    }
                }
                match mine {
                    Some(fd) => conn = fd,
                    None => return,
                }
            }
        }
    }
}

fn drain_parked(key: u32, group: &mut Group) {
    let parked: Vec<OwnedFd> = group.parked.drain(..).collect();
    for fd in parked {
        dispatch(key, group, fd);
    }
}

/// Starts accepting on `listener` (listening, non-blocking) for `key`.
pub fn listen(key: u32, listener: OwnedFd) -> io::Result<()> {
    with(|s| {
        let (ep, _) = ensure_thread(s)?;
        epoll_ctl(ep, libc::EPOLL_CTL_ADD, listener.as_raw_fd(), key as u64)?;
        s.groups.insert(key, Group { listener, workers: Vec::new(), next: 0, parked: VecDeque::new() });
        Ok(())
    })
}

pub fn add_worker(key: u32, chan_id: u32, chan: Arc<Channel>) {
    with(|s| {
        if let Some(g) = s.groups.get_mut(&key) {
            if !g.workers.iter().any(|(id, _)| *id == chan_id) {
                g.workers.push((chan_id, chan));
            }
            drain_parked(key, g);
        }
    })
}

/// Removes a worker from `key`; true when no worker is left.
pub fn remove_worker(key: u32, chan_id: u32) -> bool {
    with(|s| match s.groups.get_mut(&key) {
        Some(g) => {
            g.workers.retain(|(id, _)| *id != chan_id);
            g.workers.is_empty()
        }
        None => true,
    })
}

/// Closes `key`'s listening socket; parked connections are dropped (closed).
pub fn close(key: u32) {
    with(|s| {
        if let Some(g) = s.groups.remove(&key) {
            if let Some(ep) = &s.epfd {
                let _ = epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_DEL, g.listener.as_raw_fd(), 0);
            }
        }
        if s.groups.is_empty() {
            if let Some(wk) = &s.wake {
                let one = 1u64;
                // SAFETY: 8-byte write to our eventfd.
                unsafe { libc::write(wk.as_raw_fd(), (&one as *const u64).cast(), 8) };
            }
        }
    })
}

/// Hands connections that a dead worker never acknowledged to the others.
pub fn redispatch(key: u32, conn: OwnedFd) {
    with(|s| {
        if let Some(g) = s.groups.get_mut(&key) {
            dispatch(key, g, conn);
        }
    })
}

/// True while the accept thread runs (for tests of thread hygiene).
pub fn running() -> bool {
    with(|s| s.thread.is_some())
}
