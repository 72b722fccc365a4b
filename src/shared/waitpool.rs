//! Threads that run futex waits for `waitAsync`, so the event loop never blocks.
//!
//! A job is one wait; a thread of the pool sleeps in the futex and hands the outcome to the
//! job's completion (which, in the addon, posts it to the JS thread). Idle threads are reused and
//! exit after a while. A cancelled job (its JS environment went away) leaves its futex at once
//! (interrupt.rs). Where no signal could be set up for that, waits are cut into slices so that a
//! cancelled job still frees its thread soon; a slice boundary never loses a notify that changed
//! the word, which ends the wait as woken.
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::futex::{self, Deadline, WaitOutcome};
use super::interrupt::{self, WaitToken};

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
    /// Set by `submit` for a checked job: how this process's notify reaches it (see below).
    registration: Option<Arc<Registration>>,
}

impl Job {
    pub fn new(word: WordPtr, expected: i32, deadline: Option<Deadline>, cancelled: Arc<WaitToken>, checked: bool,
               done: Box<dyn FnOnce(WaitOutcome) + Send>) -> Job {
        Job { word, expected, deadline, cancelled, checked, done, registration: None }
    }
}

// A notify from this process must reach a waitAsync made just before it, whose pool thread may
// not be in the futex yet (V8 queues its waiters at the call; a futex only counts those already
// asleep). So the jobs of this process are listed by word from the moment they are submitted;
// a notify takes them first (oldest first), signals their threads out of the futex or before
// they enter it, and wakes others (other processes, synchronous waits) through the futex.
const WAITING: u8 = 0;
const NOTIFIED: u8 = 1;
const DONE: u8 = 2;

struct Registration {
    state: AtomicU8,
    token: WaitToken,
}

type Registered = HashMap<usize, VecDeque<Arc<Registration>>>;
static REGISTERED: Mutex<Option<Registered>> = Mutex::new(None);

fn register(addr: usize) -> Arc<Registration> {
    let reg = Arc::new(Registration { state: AtomicU8::new(WAITING), token: WaitToken::default() });
    REGISTERED.lock().get_or_insert_with(HashMap::new).entry(addr).or_default().push_back(reg.clone());
    reg
}

fn unregister(addr: usize, reg: &Arc<Registration>) {
    let mut map = REGISTERED.lock();
    let Some(map) = map.as_mut() else { return };
    if let Some(list) = map.get_mut(&addr) {
        list.retain(|r| !Arc::ptr_eq(r, reg));
        if list.is_empty() {
            map.remove(&addr);
        }
    }
}

/// Wakes up to `count` of this process's waitAsync jobs on the word at `addr`, oldest first;
/// returns how many. (The caller wakes the rest of `count` through the futex.)
pub fn notify_registered(addr: usize, count: u32) -> u32 {
    let taken: Vec<Arc<Registration>> = {
        let mut map = REGISTERED.lock();
        let Some(list) = map.as_mut().and_then(|m| m.get_mut(&addr)) else { return 0 };
        let mut taken = Vec::new();
        while taken.len() < count as usize {
            let Some(reg) = list.pop_front() else { break };
            // One that has just ended (woken from elsewhere, timed out) is passed over.
            if reg.state.compare_exchange(WAITING, NOTIFIED, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                taken.push(reg);
            }
        }
        if list.is_empty() {
            map.as_mut().map(|m| m.remove(&addr));
        }
        taken
    };
    for reg in &taken {
        reg.token.interrupt();
    }
    taken.len() as u32
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
pub fn submit(mut job: Job) {
    if job.checked && interrupt::available() {
        job.registration = Some(register(job.word.0 as usize));
    }
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
    let outcome = wait(&job);
    if let Some(reg) = &job.registration {
        // Ended by the futex or its deadline: no notify of this process may count it now;
        // unless one already has, which makes it woken.
        let notified = reg.state.compare_exchange(WAITING, DONE, Ordering::SeqCst, Ordering::SeqCst).is_err();
        unregister(job.word.0 as usize, reg);
        if notified && !job.cancelled.is_interrupted() {
            (job.done)(WaitOutcome::Woken);
            return;
        }
    }
    if let Some(outcome) = outcome {
        (job.done)(outcome);
    }
}

/// The job's wait: its outcome, or None when it was cancelled (or notified by this process,
/// which `run` tells apart).
fn wait(job: &Job) -> Option<WaitOutcome> {
    // SAFETY: see WordPtr.
    let word = unsafe { &*job.word.0 };
    let cancelled = &job.cancelled;
    let notified = || job.registration.as_ref().is_some_and(|r| r.token.is_interrupted());
    let mut first = true;
    loop {
        let slice = Deadline::after(SLICE);
        let until = job.deadline.map_or(slice, |d| d.min(slice));
        let futex_wait = || {
            futex::wait_interruptible(word, job.expected, Some(until), !first || job.checked, &|| {
                cancelled.is_interrupted() || notified()
            })
        };
        let outcome = cancelled.sleep(|| match &job.registration {
            Some(reg) => reg.token.sleep(futex_wait),
            None => Some(futex_wait()),
        });
        first = false;
        let outcome = outcome.flatten()?;
        if cancelled.is_interrupted() || notified() {
            return None;
        }
        if outcome == WaitOutcome::TimedOut && job.deadline.is_none_or(|d| !d.passed()) {
            continue;
        }
        return Some(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;

    fn job(word: &'static AtomicI32, expected: i32, ms: f64, tx: mpsc::Sender<WaitOutcome>) -> (Job, Arc<WaitToken>) {
        let cancelled = Arc::new(WaitToken::default());
        let j = Job::new(
            WordPtr(word),
            expected,
            Deadline::from_millis(ms),
            cancelled.clone(),
            false,
            Box::new(move |o| {
                let _ = tx.send(o);
            }),
        );
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
    fn a_notify_of_this_process_reaches_a_job_before_its_thread_waits() {
        // No store: only this process's record of the job can wake it (the futex has no one).
        static W: AtomicI32 = AtomicI32::new(0);
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            let (mut j, _) = job(&W, 0, f64::INFINITY, tx.clone());
            j.checked = true;
            submit(j);
        }
        assert_eq!(notify_registered(&W as *const AtomicI32 as usize, 2), 2);
        for _ in 0..2 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), WaitOutcome::Woken);
        }
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "the third still waits");
        assert_eq!(notify_registered(&W as *const AtomicI32 as usize, 5), 1);
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
