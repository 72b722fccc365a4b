//! Process-shared futex wait/wake on a 32-bit word.
//!
//! The futex calls here never use `FUTEX_PRIVATE_FLAG`, so a waiter and a waker meet on the
//! word's *physical* location: two processes that map the same memfd page (at any address) wake
//! each other, and so do two threads of one process. V8's `Atomics.wait`/`Atomics.notify` keep
//! their own per-process waiter list and never reach these waiters (nor the other way round).
use std::sync::atomic::AtomicI32;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, ClockId};

/// How a wait ended, as `Atomics.wait` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Woken by a notify (or, rarely, spuriously: callers re-check their condition).
    Woken,
    /// The word did not hold the expected value when the wait began.
    NotEqual,
    /// The timeout passed first.
    TimedOut,
}

impl WaitOutcome {
    /// The string `Atomics.wait` returns for this outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitOutcome::Woken => "ok",
            WaitOutcome::NotEqual => "not-equal",
            WaitOutcome::TimedOut => "timed-out",
        }
    }

    pub fn code(self) -> i32 {
        match self {
            WaitOutcome::Woken => 0,
            WaitOutcome::NotEqual => 1,
            WaitOutcome::TimedOut => 2,
        }
    }
}

/// A point on CLOCK_MONOTONIC, the clock FUTEX_WAIT_BITSET measures absolute timeouts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Duration);

impl Deadline {
    pub fn now() -> Deadline {
        // CLOCK_MONOTONIC always exists on Linux.
        let ts = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC");
        Deadline(Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32))
    }

    pub fn after(d: Duration) -> Deadline {
        Deadline(Deadline::now().0.saturating_add(d))
    }

    /// A deadline from a JS timeout in milliseconds: NaN and +Infinity mean none (as in
    /// `Atomics.wait`); negative values mean "now".
    pub fn from_millis(ms: f64) -> Option<Deadline> {
        if ms.is_nan() || ms == f64::INFINITY {
            return None;
        }
        let ms = ms.max(0.0);
        // Beyond ~292 years Duration saturates; treat as no deadline.
        if ms > 1e15 {
            return None;
        }
        Some(Deadline::after(Duration::from_nanos((ms * 1e6) as u64)))
    }

    pub fn passed(&self) -> bool {
        Deadline::now() >= *self
    }

    pub fn min(self, other: Deadline) -> Deadline {
        std::cmp::min(self, other)
    }

    fn timespec(&self) -> TimeSpec {
        TimeSpec::from_duration(self.0)
    }
}

/// One FUTEX_WAIT_BITSET call (absolute CLOCK_MONOTONIC deadline). `Ok` when woken; the
/// errno otherwise (EAGAIN: value differed, ETIMEDOUT, EINTR, EFAULT...). A raw syscall: nix
/// has no futex wrapper.
fn futex_wait_once(word: &AtomicI32, expected: i32, deadline: Option<Deadline>) -> Result<(), Errno> {
    let ts = deadline.map(|d| d.timespec());
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| std::ptr::from_ref(t.as_ref()));
    // SAFETY: `word` is a live, aligned 4-byte location; the kernel only reads it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT_BITSET,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    Errno::result(r).map(drop)
}

/// Sleeps while `*word == expected`, until woken or `deadline`. Signals (EINTR) do not end the
/// wait early. Once the first check has passed, a later "value differs" counts as woken: the
/// word changed while we slept, which is what a notify announces.
pub fn wait(word: &AtomicI32, expected: i32, deadline: Option<Deadline>) -> WaitOutcome {
    wait_inner(word, expected, deadline, true, &|| false)
}

/// Like `wait`, for a wait that already passed its first check (see `wait`).
pub fn wait_continued(word: &AtomicI32, expected: i32, deadline: Option<Deadline>) -> WaitOutcome {
    wait_inner(word, expected, deadline, false, &|| false)
}

/// Like `wait` (`continued`: like `wait_continued`), but a signal ends it (as timed out) once
/// `interrupted` says so (see interrupt.rs).
pub fn wait_interruptible(
    word: &AtomicI32,
    expected: i32,
    deadline: Option<Deadline>,
    continued: bool,
    interrupted: &dyn Fn() -> bool,
) -> WaitOutcome {
    wait_inner(word, expected, deadline, !continued, interrupted)
}

fn wait_inner(
    word: &AtomicI32,
    expected: i32,
    deadline: Option<Deadline>,
    mut first: bool,
    interrupted: &dyn Fn() -> bool,
) -> WaitOutcome {
    loop {
        match futex_wait_once(word, expected, deadline) {
            Ok(()) => return WaitOutcome::Woken,
            Err(Errno::EAGAIN) if first => return WaitOutcome::NotEqual,
            Err(Errno::EAGAIN) => return WaitOutcome::Woken,
            Err(Errno::ETIMEDOUT) => return WaitOutcome::TimedOut,
            Err(Errno::EINTR) if interrupted() => return WaitOutcome::TimedOut,
            Err(Errno::EINTR) => first = false,
            // EFAULT and friends cannot happen on a live mapping; report a (spurious) wake
            // rather than spinning.
            Err(_) => return WaitOutcome::Woken,
        }
    }
}

/// Wakes up to `count` waiters (threads or processes) sleeping on `word`; returns how many woke.
pub fn wake(word: &AtomicI32, count: u32) -> u32 {
    let count = count.min(i32::MAX as u32) as i32;
    // SAFETY: see futex_wait_once; FUTEX_WAKE does not touch the word's memory.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, count) };
    if r < 0 { 0 } else { r as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn not_equal_and_timeout() {
        let w = AtomicI32::new(5);
        assert_eq!(wait(&w, 4, None), WaitOutcome::NotEqual);
        let t = Instant::now();
        assert_eq!(wait(&w, 5, Some(Deadline::after(Duration::from_millis(30)))), WaitOutcome::TimedOut);
        assert!(t.elapsed() >= Duration::from_millis(29));
        assert_eq!(wait(&w, 5, Deadline::from_millis(-1.0)), WaitOutcome::TimedOut);
        assert_eq!(Deadline::from_millis(f64::NAN), None);
        assert_eq!(Deadline::from_millis(f64::INFINITY), None);
    }

    #[test]
    fn wake_between_threads() {
        let w = Arc::new(AtomicI32::new(0));
        let w2 = w.clone();
        let t = std::thread::spawn(move || wait(&w2, 0, Some(Deadline::after(Duration::from_secs(10)))));
        // Wake until the waiter is counted (it may not be asleep yet).
        let start = Instant::now();
        let mut woke = 0;
        while woke == 0 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
            woke = wake(&w, 1);
        }
        assert_eq!(woke, 1);
        assert_eq!(t.join().unwrap(), WaitOutcome::Woken);
        assert_eq!(wake(&w, u32::MAX), 0);
        w.store(1, Ordering::SeqCst);
    }
}
