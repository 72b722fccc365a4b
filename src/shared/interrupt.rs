//! Ending futex waits that would otherwise sleep on: a worker terminated (or its process
//! exiting) while it blocks in `shared.wait`, a `waitAsync` whose environment went away.
//!
//! V8 wakes its own `Atomics.wait` when the isolate is interrupted. A futex wait on shared memory
//! can only be ended by a wake on its word, which would take a notify meant for another waiter
//! (in any process), or by a signal: the sleeping thread gets one whose handler does nothing, its
//! futex call returns EINTR, and it finds its token interrupted. The signal is a real-time one
//! that nothing else in the process handles, chosen and set up on first use.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};
use std::time::Duration;

/// How often, and how many times, an interrupt signals a sleeper that has not left its wait yet
/// (the signal can land just before the thread enters the futex call).
const RETRY: Duration = Duration::from_micros(100);
const RETRIES: usize = 500;

#[derive(Default)]
pub struct WaitToken {
    interrupted: AtomicBool,
    /// The threads in a futex wait for this token now.
    sleepers: Mutex<Vec<libc::pthread_t>>,
}

impl WaitToken {
    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn sleepers(&self) -> MutexGuard<'_, Vec<libc::pthread_t>> {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `wait` (a futex wait that returns on EINTR when `is_interrupted`) with this thread
    /// counted as a sleeper; None, without running it, once the token is interrupted.
    pub fn sleep<R>(&self, wait: impl FnOnce() -> R) -> Option<R> {
        let Some(_) = signal() else { return Some(wait()) };
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        self.sleepers().push(me);
        // Checked after registering: an interrupt either sees this sleeper or is seen here.
        let result = if self.is_interrupted() { None } else { Some(wait()) };
        let mut sleepers = self.sleepers();
        if let Some(at) = sleepers.iter().position(|&t| t == me) {
            sleepers.swap_remove(at);
        }
        result
    }

    /// Marks the token interrupted and signals its sleepers until none is left.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        let Some(sig) = signal() else { return };
        for _ in 0..RETRIES {
            {
                // Held while signalling: a sleeper unregisters (under this lock) before it can end.
                let sleepers = self.sleepers();
                if sleepers.is_empty() {
                    return;
                }
                for &thread in sleepers.iter() {
                    // SAFETY: the thread is alive (see above); the signal's handler does nothing.
                    unsafe { libc::pthread_kill(thread, sig) };
                }
            }
            std::thread::sleep(RETRY);
        }
    }
}

/// Whether futex waits can be interrupted here (a real-time signal was free for it).
pub fn available() -> bool {
    signal().is_some()
}

/// The signal used, once installed; None if no real-time signal was free (waits then cannot be
/// interrupted, as before).
fn signal() -> Option<i32> {
    static SIGNAL: AtomicI32 = AtomicI32::new(0);
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| SIGNAL.store(install().unwrap_or(-1), Ordering::SeqCst));
    let sig = SIGNAL.load(Ordering::SeqCst);
    (sig > 0).then_some(sig)
}

extern "C" fn wake_only(_: libc::c_int) {}

/// Installs the do-nothing handler on the first real-time signal above glibc's own that has
/// none, without SA_RESTART (so that the futex call returns EINTR).
fn install() -> Option<i32> {
    for sig in (libc::SIGRTMIN() + 4)..libc::SIGRTMAX() {
        // SAFETY: sigaction with a zeroed struct reads the current disposition only.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut current) != 0 || current.sa_sigaction != libc::SIG_DFL {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = wake_only as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = 0;
            if libc::sigaction(sig, &action, std::ptr::null_mut()) == 0 {
                return Some(sig);
            }
        }
    }
    None
}

/// The tokens of corral's worker threads (by threadId) for their synchronous waits.
fn threads() -> MutexGuard<'static, HashMap<u64, Arc<WaitToken>>> {
    static THREADS: OnceLock<Mutex<HashMap<u64, Arc<WaitToken>>>> = OnceLock::new();
    THREADS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// The token of the thread `id` (made on first need).
pub fn thread_token(id: u64) -> Arc<WaitToken> {
    threads().entry(id).or_default().clone()
}

/// The worker `id` is being stopped: its synchronous wait, now or later, ends at once.
pub fn interrupt_thread(id: u64) {
    let token = thread_token(id);
    token.interrupt();
}

/// The worker `id` has ended.
pub fn forget_thread(id: u64) {
    threads().remove(&id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::futex::{self, WaitOutcome};
    use std::time::Instant;

    #[test]
    fn an_interrupt_ends_a_futex_wait_and_every_later_one() {
        static WORD: AtomicI32 = AtomicI32::new(0);
        let token = Arc::new(WaitToken::default());
        let sleeper = token.clone();
        let t = std::thread::spawn(move || {
            let start = Instant::now();
            let outcome = sleeper.sleep(|| futex::wait_interruptible(&WORD, 0, None, false, &|| sleeper.is_interrupted()));
            (outcome, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        token.interrupt();
        let (outcome, took) = t.join().unwrap();
        assert_eq!(outcome, Some(WaitOutcome::TimedOut));
        assert!(took < Duration::from_secs(2));
        assert_eq!(token.sleep(|| 1), None);
        // Nobody else's wait was woken: a notify still finds no waiter.
        assert_eq!(futex::wake(&WORD, 1), 0);
    }
}
