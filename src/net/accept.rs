//! The round-robin schedule's accept loop, on its own Rust thread (never on the primary's JS
//! thread): it accepts on every round-robin listening socket and writes the connections of
//! each burst, many per write, into the chosen workers' hand-off lanes (./lane.rs), choosing
//! the worker with the fewest connections waiting in its lane.
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::lane::{Lane, Pairing};
use super::sched;

/// Connections parked while a key has no live worker (as Node's round-robin handle does).
const MAX_PARKED: usize = 4096;
const WAKE: u64 = u64::MAX;
/// Epoll data of a lane (its primary end, where workers hand connections back): this bit
/// plus the worker's channel id. Listening sockets use their key alone.
const LANE: u64 = 1 << 32;
/// While connections are parked for a key that has workers (their lanes were full), retry
/// this often.
const RETRY_MS: i32 = 10;

struct Group {
    listener: OwnedFd,
    /// Channel ids of the workers taking connections for this key.
    workers: Vec<u32>,
    next: usize,
    parked: VecDeque<OwnedFd>,
}

struct LaneEntry {
    lane: Lane,
    returns: Pairing,
}

#[derive(Default)]
struct State {
    groups: HashMap<u32, Group>,
    /// One lane per worker (by channel id), made on its first round-robin listen.
    lanes: HashMap<u32, LaneEntry>,
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
    // Lanes outlive a thread that ended with its last listener.
    for (id, entry) in &s.lanes {
        epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, entry.lane.tx_fd(), LANE | *id as u64)?;
    }
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
    let mut timeout = -1;
    loop {
        // SAFETY: events has room for 32.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), 32, timeout) };
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
            if data & LANE != 0 {
                returned(data as u32);
            } else {
                accept_burst(data as u32);
            }
        }
        timeout = with(|s| {
            let mut waiting = false;
            let State { groups, lanes, .. } = s;
            for (key, g) in groups.iter_mut() {
                if !g.parked.is_empty() && !g.workers.is_empty() {
                    let parked: Vec<OwnedFd> = g.parked.drain(..).collect();
                    dispatch(*key, g, lanes, parked, None);
                    waiting |= !g.parked.is_empty();
                }
            }
            if waiting { RETRY_MS } else { -1 }
        });
    }
}

fn accept_burst(key: u32) {
    let mut g = STATE.lock();
    let Some(s) = g.as_mut() else { return };
    let State { groups, lanes, .. } = s;
    let Some(group) = groups.get_mut(&key) else { return };
    let mut conns = Vec::new();
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
            break;
        }
        // SAFETY: just accepted.
        conns.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    if !conns.is_empty() {
        dispatch(key, group, lanes, conns, None);
    }
}

/// A worker handed connections back (it could not serve them): another worker gets them, or
/// they are closed when there is no other.
fn returned(chan_id: u32) {
    with(|s| {
        let State { groups, lanes, .. } = s;
        let Some(entry) = lanes.get_mut(&chan_id) else { return };
        for (key, fd) in entry.lane.returned(&mut entry.returns) {
            if let Some(group) = groups.get_mut(&key) {
                dispatch(key, group, lanes, vec![fd], Some(chan_id));
            }
        }
    })
}

/// Spreads `conns` over the group's workers (fewest waiting in their lane first, ties in
/// turn), one write per worker. What no lane takes now is parked for a retry.
fn dispatch(key: u32, group: &mut Group, lanes: &HashMap<u32, LaneEntry>, conns: Vec<OwnedFd>, exclude: Option<u32>) {
    let ids: Vec<u32> = group.workers.iter().copied().filter(|id| Some(*id) != exclude && lanes.contains_key(id)).collect();
    if ids.is_empty() {
        // A connection handed back by the only worker is closed, as a lone server over its
        // maxConnections does; others wait for a worker.
        if exclude.is_none() {
            let room = MAX_PARKED.saturating_sub(group.parked.len());
            group.parked.extend(conns.into_iter().take(room));
        }
        return;
    }
    let mut pending: Vec<Option<u32>> = ids.iter().map(|id| Some(lanes[id].lane.queued() as u32)).collect();
    let mut plan: Vec<Vec<OwnedFd>> = ids.iter().map(|_| Vec::new()).collect();
    for conn in conns {
        let i = sched::pick(&pending, group.next).expect("a worker");
        group.next = i + 1;
        pending[i] = pending[i].map(|p| p + 1);
        plan[i].push(conn);
    }
    for (i, fds) in plan.into_iter().enumerate() {
        if fds.is_empty() {
            continue;
        }
        let items: Vec<(u32, RawFd)> = fds.iter().map(|f| (key, f.as_raw_fd())).collect();
        let sent = lanes[&ids[i]].lane.send(&items);
        // Sent fds are closed here (the worker's copies are in flight); the rest wait.
        let room = MAX_PARKED.saturating_sub(group.parked.len());
        group.parked.extend(fds.into_iter().skip(sent).take(room));
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

/// Lets the worker on channel `chan_id` take connections for `key`. Returns the worker's
/// end of its lane when the lane is new (the caller sends it to the worker), else None.
pub fn add_worker(key: u32, chan_id: u32) -> io::Result<Option<OwnedFd>> {
    with(|s| {
        if !s.groups.contains_key(&key) {
            return Ok(None);
        }
        let mut give = None;
        if !s.lanes.contains_key(&chan_id) {
            let (lane, worker_end) = Lane::new()?;
            let (ep, _) = ensure_thread(s)?;
            epoll_ctl(ep, libc::EPOLL_CTL_ADD, lane.tx_fd(), LANE | chan_id as u64)?;
            s.lanes.insert(chan_id, LaneEntry { lane, returns: Pairing::default() });
            give = Some(worker_end);
        }
        let State { groups, lanes, .. } = s;
        let g = groups.get_mut(&key).expect("group");
        if !g.workers.contains(&chan_id) {
            g.workers.push(chan_id);
        }
        let parked: Vec<OwnedFd> = g.parked.drain(..).collect();
        if !parked.is_empty() {
            dispatch(key, g, lanes, parked, None);
        }
        Ok(give)
    })
}

/// Removes a worker from `key`; true when no worker is left. (What is already in its lane
/// for `key` comes back from the worker.)
pub fn remove_worker(key: u32, chan_id: u32) -> bool {
    with(|s| match s.groups.get_mut(&key) {
        Some(g) => {
            g.workers.retain(|id| *id != chan_id);
            g.workers.is_empty()
        }
        None => true,
    })
}

/// The worker on `chan_id` is gone (its channel closed): it takes no more connections, and
/// those it never read from its lane go to the others.
pub fn worker_gone(chan_id: u32) {
    with(|s| {
        for g in s.groups.values_mut() {
            g.workers.retain(|id| *id != chan_id);
        }
        let Some(mut entry) = s.lanes.remove(&chan_id) else { return };
        if let Some(ep) = &s.epfd {
            let _ = epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_DEL, entry.lane.tx_fd(), 0);
        }
        let mut back = entry.lane.take_back();
        back.extend(entry.lane.returned(&mut entry.returns));
        let State { groups, lanes, .. } = s;
        for (key, fd) in back {
            if let Some(group) = groups.get_mut(&key) {
                dispatch(key, group, lanes, vec![fd], None);
            }
        }
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

/// True while the accept thread runs (for tests of thread hygiene).
pub fn running() -> bool {
    with(|s| s.thread.is_some())
}
