//! The flush thread: writes deferred IPC sends their JS thread has not flushed within PERIOD.
//!
//! Sends made right behind one another in one tick are deferred (src/ipc/channel.rs) and go
//! out in one write when the tick ends. A JS thread that then stays busy (`send(a); send(b);
//! compute()`) would hold `b` until it is done, where Node writes every send at once: so a
//! channel with deferred bytes is armed here, and this thread flushes it once its bytes have
//! waited PERIOD. It wakes only while channels are armed (a busy channel re-arms at most once
//! per PERIOD), and starts with the first deferred send of the process.
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::channel::Channel;

/// The longest a deferred send waits for a busy JS thread.
pub const PERIOD: Duration = Duration::from_millis(1);

#[derive(Default)]
struct State {
    /// Armed channels, with when they were armed.
    armed: Vec<(Weak<Channel>, Instant)>,
    /// The thread waits with no deadline (an arm must wake it).
    idle: bool,
    started: bool,
}

#[derive(Default)]
struct Flusher {
    state: Mutex<State>,
    wake: Condvar,
}

fn flusher() -> &'static Flusher {
    static FLUSHER: OnceLock<Flusher> = OnceLock::new();
    FLUSHER.get_or_init(Flusher::default)
}

/// `chan` has deferred bytes: have them written within PERIOD unless its JS thread flushes
/// first. (Call after deferring: the flush that clears the mark sees what was deferred.)
pub fn arm(chan: &Arc<Channel>) {
    if chan.armed.swap(true, Ordering::SeqCst) {
        return;
    }
    let f = flusher();
    let mut state = f.state.lock();
    if !state.started {
        // Without the thread (none could be started) deferred sends wait for their JS thread's
        // flush, as before this thread existed.
        state.started = std::thread::Builder::new().name("corral-ipc-flush".into()).spawn(run).is_ok();
    }
    state.armed.push((Arc::downgrade(chan), Instant::now()));
    if state.idle {
        f.wake.notify_one();
    }
}

fn run() {
    let f = flusher();
    let mut state = f.state.lock();
    loop {
        let Some(oldest) = state.armed.iter().map(|&(_, at)| at).min() else {
            state.idle = true;
            f.wake.wait(&mut state);
            state.idle = false;
            continue;
        };
        let now = Instant::now();
        let due_at = oldest + PERIOD;
        if now < due_at {
            f.wake.wait_for(&mut state, due_at - now);
            continue;
        }
        let (due, later): (Vec<_>, Vec<_>) = state.armed.drain(..).partition(|&(_, at)| now - at >= PERIOD);
        state.armed = later;
        MutexGuard::unlocked(&mut state, || flush_all(due));
    }
}

fn flush_all(due: Vec<(Weak<Channel>, Instant)>) {
    for (chan, _) in due {
        if let Some(chan) = chan.upgrade() {
            chan.armed.store(false, Ordering::SeqCst);
            // What the socket cannot take stays queued: the JS thread's own flush, which
            // every deferral schedules, then waits for the socket to be writable.
            let _ = chan.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::frame::Mode;
    use crate::ipc::scm;
    use std::os::fd::AsRawFd;

    #[test]
    fn deferred_bytes_go_out_without_a_flush_from_their_thread() {
        let (a, b) = scm::socketpair().unwrap();
        let chan = Arc::new(Channel::new(a, Mode::Json).unwrap());
        chan.defer(b"a\n").unwrap();
        arm(&chan);
        chan.defer(b"b\n").unwrap();
        arm(&chan);
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let mut fds = Vec::new();
        let n = loop {
            match scm::recv(b.as_raw_fd(), &mut buf, &mut fds) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(started.elapsed() < Duration::from_secs(2), "never written");
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"a\nb\n");
        assert!(!chan.armed.load(Ordering::SeqCst));
        assert_eq!(chan.queued_bytes(), 0);
    }
}
