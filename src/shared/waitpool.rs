//! Threads that run futex waits for `waitAsync`, so the event loop never blocks.
//!
//! A job is one wait; a thread of the pool sleeps in the futex and hands the outcome to the
//! job's completion (which, in the addon, posts it to the JS thread). Idle threads are reused and
//! exit after a while. A cancelled job (its JS environment went away) leaves its futex at once
//! (interrupt.rs). Where no signal could be set up for that, waits are cut into slices so that a
//! cancelled job still frees its thread soon; a slice boundary never loses a notify that changed
//! the word, which ends the wait as woken.
use std::collections::VecDeque;
use std::sync::atomic::AtomicI32;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::futex::{self, Deadline, WaitOutcome};
use super::interrupt::WaitToken;

const SLICE: Duration = Duration::from_millis(200);
const IDLE_EXIT: Duration = Duration::from_secs(10);
const STACK: usize = 128 * 1024;

/// A word to wait on. The owner guarantees it stays mapped until the job completes or is
/// cancelled (the JS side holds the typed array until then).
#[derive(Clone, Copy)]
pub struct WordPtr(pub *const AtomicI32);
// SAFETY: a pointer to shared memory, used only for futex calls and atomic loads.
unsafe impl Send for WordPtr {}

pub struct Job {
    pub word: WordPtr,
    pub expected: i32,
    pub deadline: Option<Deadline>,
    /// Once interrupted, the job ends without calling `done` (its thread leaves the futex at
    /// once: see interrupt.rs).
    pub cancelled: Arc<WaitToken>,
    /// The caller found the word equal to `expected` before submitting (waitAsync does): a
    /// word changed by the time the thread waits was changed since, by someone who should
    /// notify, and the wait ends as woken, never as 'not-equal'.
    pub checked: bool,
    pub done: Box<dyn FnOnce(WaitOutcome) + Send>,
}

struct State {
    queue: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

struct Pool {
    state: Mutex<State>,
    ready: Condvar,
}

static POOL: Pool = Pool {
    state: Mutex::new(State { queue: VecDeque::new(), idle: 0, threads: 0 }),
    ready: Condvar::new(),
};

/// Queues a wait; a pool thread (new if none is idle) runs it.
pub fn submit(job: Job) {
    let mut st = POOL.state.lock();
    st.queue.push_back(job);
    if st.idle >= st.queue.len() {
        POOL.ready.notify_one();
        return;
    }
    st.threads += 1;
    drop(st);
    let spawned = std::thread::Builder::new().name("corral-wait".into()).stack_size(STACK).spawn(worker);
    if spawned.is_err() {
        // No thread: run what is queued on the threads that exist, or fail the job as timed out.
        let mut st = POOL.state.lock();
        st.threads -= 1;
        if st.threads == 0 {
            let jobs: Vec<Job> = st.queue.drain(..).collect();
            drop(st);
            for job in jobs {
                (job.done)(WaitOutcome::TimedOut);
            }
        }
    }
}

/// Threads alive in the pool (for tests and diagnostics).
pub fn thread_count() -> usize {
    POOL.state.lock().threads
}

fn worker() {
    loop {
        let job = {
            let mut st = POOL.state.lock();
            loop {
                if let Some(job) = st.queue.pop_front() {
                    break job;
                }
                st.idle += 1;
                let timed_out = POOL.ready.wait_for(&mut st, IDLE_EXIT).timed_out();
                st.idle -= 1;
                if timed_out && st.queue.is_empty() {
                    st.threads -= 1;
                    return;
                }
            }
        };
        run(job);
    }
}

fn run(job: Job) {
    // SAFETY: see WordPtr.
    let word = unsafe { &*job.word.0 };
    let mut first = true;
    loop {
        let slice = Deadline::after(SLICE);
        let until = job.deadline.map_or(slice, |d| d.min(slice));
        let cancelled = &job.cancelled;
        let outcome = cancelled
            .sleep(|| futex::wait_interruptible(word, job.expected, Some(until), !first || job.checked, &|| cancelled.is_interrupted()));
        first = false;
        let Some(outcome) = outcome else { return };
        if cancelled.is_interrupted() {
            return;
        }
        if outcome == WaitOutcome::TimedOut && job.deadline.is_none_or(|d| !d.passed()) {
            continue;
        }
        (job.done)(outcome);
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;

    fn job(word: &'static AtomicI32, expected: i32, ms: f64, tx: mpsc::Sender<WaitOutcome>) -> (Job, Arc<WaitToken>) {
        let cancelled = Arc::new(WaitToken::default());
        let j = Job {
            word: WordPtr(word),
            expected,
            deadline: Deadline::from_millis(ms),
            cancelled: cancelled.clone(),
            checked: false,
            done: Box::new(move |o| {
                let _ = tx.send(o);
            }),
        };
        (j, cancelled)
    }

    #[test]
    fn outcomes() {
        static W: AtomicI32 = AtomicI32::new(0);
        let (tx, rx) = mpsc::channel();
        submit(job(&W, 1, f64::INFINITY, tx.clone()).0);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), WaitOutcome::NotEqual);
        submit(job(&W, 0, 20.0, tx.clone()).0);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), WaitOutcome::TimedOut);
        // Longer than a slice, then woken.
        submit(job(&W, 0, f64::INFINITY, tx.clone()).0);
        std::thread::sleep(SLICE + Duration::from_millis(50));
        assert!(rx.try_recv().is_err());
        let start = std::time::Instant::now();
        while futex::wake(&W, 1) == 0 {
            assert!(start.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), WaitOutcome::Woken);
    }

    #[test]
    fn a_word_changed_after_the_callers_check_ends_the_wait_as_woken() {
        static W: AtomicI32 = AtomicI32::new(5);
        let (tx, rx) = mpsc::channel();
        let (mut j, _) = job(&W, 4, f64::INFINITY, tx);
        j.checked = true;
        submit(j);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), WaitOutcome::Woken);
    }

    #[test]
    fn many_waiters_all_woken_and_cancel() {
        static W: AtomicI32 = AtomicI32::new(0);
        let (tx, rx) = mpsc::channel();
        for _ in 0..8 {
            submit(job(&W, 0, f64::INFINITY, tx.clone()).0);
        }
        let (j, cancel) = job(&W, 0, f64::INFINITY, tx.clone());
        cancel.interrupt();
        submit(j);
        assert!(thread_count() >= 9);
        std::thread::sleep(Duration::from_millis(50));
        W.store(1, Ordering::SeqCst);
        futex::wake(&W, u32::MAX);
        for _ in 0..8 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), WaitOutcome::Woken);
        }
        // The cancelled job never reports.
        assert!(rx.recv_timeout(SLICE * 2).is_err());
    }
}
