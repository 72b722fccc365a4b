//! The round-robin schedule's accept loop, on its own Rust thread (never on the primary's JS
//! thread): it accepts on every round-robin listening socket and writes the connections of
//! each burst, many per write, into the chosen workers' hand-off lanes (./lane.rs), choosing
//! the worker with the fewest connections waiting in its lane.
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{accept4, SockFlag};
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
const RETRY_MS: u16 = 10;

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
    epfd: Option<Arc<Epoll>>,
    wake: Option<Arc<EventFd>>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock();
    f(g.get_or_insert_with(State::default))
}

/// Watches `fd` for reading, reported with `data`.
fn watch(ep: &Epoll, fd: impl AsFd, data: u64) -> io::Result<()> {
    Ok(ep.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, data))?)
}

fn ensure_thread(s: &mut State) -> io::Result<Arc<Epoll>> {
    if let (Some(ep), Some(_)) = (&s.epfd, &s.wake) {
        return Ok(ep.clone());
    }
    let ep = Arc::new(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?);
    let wk = Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?);
    watch(&ep, &*wk, WAKE)?;
    // Lanes outlive a thread that ended with its last listener.
    for (id, entry) in &s.lanes {
        watch(&ep, entry.lane.tx_fd(), LANE | *id as u64)?;
    }
    let (ep2, wk2) = (ep.clone(), wk.clone());
    let handle = std::thread::Builder::new()
        .name("corral-accept".into())
        .spawn(move || run(ep2, wk2))?;
    s.thread = Some(handle);
    s.epfd = Some(ep.clone());
    s.wake = Some(wk);
    Ok(ep)
}

fn run(ep: Arc<Epoll>, wake: Arc<EventFd>) {
    let mut events = [EpollEvent::empty(); 32];
    let mut timeout = EpollTimeout::NONE;
    loop {
        let n = match ep.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        };
        for ev in &events[..n] {
            let data = ev.data();
            if data == WAKE {
                let _ = wake.read();
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
            if waiting { EpollTimeout::from(RETRY_MS) } else { EpollTimeout::NONE }
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
        // libuv does not make received fds non-blocking: they must arrive that way.
        match accept4(&group.listener, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC) {
            Ok(fd) => conns.push(fd),
            Err(_) => break,
        }
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
        let ep = ensure_thread(s)?;
        watch(&ep, &listener, key as u64)?;
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
            let ep = ensure_thread(s)?;
            watch(&ep, lane.tx_fd(), LANE | chan_id as u64)?;
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
            let _ = ep.delete(entry.lane.tx_fd());
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
                let _ = ep.delete(&g.listener);
            }
        }
        if s.groups.is_empty() {
            if let Some(wk) = &s.wake {
                let _ = wk.write(1);
            }
        }
    })
}

/// True while the accept thread runs (for tests of thread hygiene).
pub fn running() -> bool {
    with(|s| s.thread.is_some())
}
