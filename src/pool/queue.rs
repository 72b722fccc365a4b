//! The pool's scheduler: the task queue, the workers' capacity and the results inbox, under one
//! lock. Workers pull tasks themselves (a worker that finishes a task takes the next one on its
//! own thread, without a round trip through the main thread); a worker with spare capacity and
//! nothing to do parks in `idle` and is woken by the next submit. Results go to the main
//! thread's inbox, one wake-up per batch.
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::histogram::{Histogram, Summary};
use crate::shim::{MessagePtr, Waker};

pub struct Task {
    pub id: u64,
    pub name: Option<Box<str>>,
    pub msg: MessagePtr,
    queued_at: Instant,
    /// Abortable (it has a signal): it runs alone on its worker, since aborting it terminates
    /// that worker, which must not take other tasks down with it (as piscina schedules them).
    exclusive: bool,
}

/// How a task ended, as the worker reported it (the shim and the facade read the same values).
pub type OutcomeKind = u8;

pub struct Outcome {
    pub id: u64,
    pub kind: OutcomeKind,
    pub msg: MessagePtr,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Submit {
    /// Queued; an idle worker was woken for it.
    Woke,
    /// Queued behind `queued - 1` others; no worker was idle.
    Queued { queued: usize },
    /// The queue is at its limit (the task is dropped).
    Full,
    /// The pool is closed.
    Closed,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Cancel {
    /// Taken out of the queue before any worker saw it.
    Dequeued,
    /// Running on this worker.
    Running(u64),
    /// Unknown: finished already (or never submitted).
    Gone,
}

struct WorkerState {
    waker: Option<Waker>,
    running: usize,
    /// A wake-up is outstanding (cleared when the worker finds nothing to take).
    notified: bool,
    idle: bool,
    retiring: bool,
    /// Running an exclusive task: it takes nothing else meanwhile.
    exclusive: bool,
}

struct Running {
    worker: u64,
    started: Instant,
    exclusive: bool,
}

/// Hand-made queues, kept. The task queue is not a plain FIFO (cancel takes a task out of the
/// middle, the limit counts idle capacity, a take that finds nothing parks the worker in the
/// same step), so a channel cannot replace it without changing behaviour. For the results
/// inbox a crossbeam-channel model (counters and wake-up still under this lock) measured
/// 42-110 vs 16-44 ns/result with 1 or 2 workers, 1.7-3.1x slower in 3 of 3 runs
/// (src/queue_bench.rs, medians of 5).
struct State {
    queue: VecDeque<Task>,
    idle: VecDeque<u64>,
    workers: HashMap<u64, WorkerState>,
    running: HashMap<u64, Running>,
    results: VecDeque<Outcome>,
    result_waker: Option<Waker>,
    result_notified: bool,
    closed: bool,
    completed: u64,
    run_time: Histogram,
    wait_time: Histogram,
}

impl State {
    /// Wakes the main thread for new results unless a wake-up is already pending.
    fn wake_main(&mut self) {
        if !self.result_notified {
            if let Some(waker) = &self.result_waker {
                self.result_notified = true;
                waker.wake();
            }
        }
    }
}

pub struct Pool {
    state: Mutex<State>,
    concurrency: usize,
    max_queue: usize,
    min_threads: usize,
    created: Instant,
}

/// Counters and summaries for `pool.completed`, `runTime`, `waitTime`, `utilization`.
pub struct Stats {
    pub completed: u64,
    pub queued: usize,
    pub run_time: Summary,
    pub wait_time: Summary,
    /// Total run time of completed tasks, nanoseconds.
    pub busy_ns: u128,
    pub elapsed_ns: u128,
}

impl Pool {
    pub fn new(concurrency: usize, max_queue: usize, min_threads: usize) -> Pool {
        Pool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                idle: VecDeque::new(),
                workers: HashMap::new(),
                running: HashMap::new(),
                results: VecDeque::new(),
                result_waker: None,
                result_notified: false,
                closed: false,
                completed: 0,
                run_time: Histogram::default(),
                wait_time: Histogram::default(),
            }),
            concurrency: concurrency.max(1),
            max_queue,
            min_threads,
            created: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a task and wakes one idle worker for it, if any.
    pub fn submit(&self, id: u64, name: Option<Box<str>>, msg: MessagePtr) -> Submit {
        self.submit_with(id, name, msg, false, 0)
    }

    /// `submit`, for a task that runs alone on its worker when `exclusive` (see Task).
    /// `workers_up_to`: how many workers the pool has or may still start (its maxThreads, as
    /// the caller knows it): those not attached yet will take tasks as they come up.
    pub fn submit_with(
        &self,
        id: u64,
        name: Option<Box<str>>,
        msg: MessagePtr,
        exclusive: bool,
        workers_up_to: usize,
    ) -> Submit {
        let mut st = self.lock();
        if st.closed {
            return Submit::Closed;
        }
        // The limit counts tasks waiting for a worker: those that idle (or already woken)
        // workers, or workers still to attach, will take at once do not wait. (Attached ones
        // are counted here, not by the caller, whose view of which have started lags: a worker
        // can attach and take a task while the caller's thread is still submitting.)
        let unattached = workers_up_to.saturating_sub(st.workers.len());
        let spare: usize = unattached.saturating_mul(self.concurrency)
            + st
            .workers
            .values()
            .filter(|w| (w.idle || w.notified) && !w.retiring && !w.exclusive)
            .map(|w| self.concurrency.saturating_sub(w.running))
            .sum::<usize>();
        if (st.queue.len() + 1).saturating_sub(spare) > self.max_queue {
            return Submit::Full;
        }
        st.queue.push_back(Task { id, name, msg, queued_at: Instant::now(), exclusive });
        while let Some(worker) = st.idle.pop_front() {
            let Some(w) = st.workers.get_mut(&worker) else { continue };
            w.idle = false;
            if !w.notified {
                w.notified = true;
                if let Some(waker) = &w.waker {
                    waker.wake();
                }
            }
            return Submit::Woke;
        }
        Submit::Queued { queued: st.queue.len() }
    }

    /// A worker's thread registers itself (with the waker that calls it back when work arrives).
    pub fn attach(&self, worker: u64, waker: Option<Waker>) {
        let mut st = self.lock();
        st.workers.insert(
            worker,
            WorkerState { waker, running: 0, notified: false, idle: false, retiring: false, exclusive: false },
        );
    }

    /// The next task for `worker`, or None: then, if it has spare capacity, it is parked idle
    /// until a submit wakes it.
    pub fn take(&self, worker: u64) -> Option<Task> {
        let mut st = self.lock();
        let st = &mut *st;
        let w = st.workers.get_mut(&worker)?;
        if w.running >= self.concurrency || w.retiring || w.exclusive {
            return None;
        }
        // An exclusive task waits for a worker with nothing running (this one once its tasks are
        // done: it asks again after each, so nothing parks it).
        if w.running > 0 && st.queue.front().is_some_and(|t| t.exclusive) {
            w.notified = false;
            return None;
        }
        match st.queue.pop_front() {
            Some(task) => {
                w.running += 1;
                w.exclusive = task.exclusive;
                let now = Instant::now();
                st.wait_time.record(now.duration_since(task.queued_at).as_nanos() as u64);
                st.running.insert(task.id, Running { worker, started: now, exclusive: task.exclusive });
                Some(task)
            }
            None => {
                w.notified = false;
                if !w.idle {
                    w.idle = true;
                    st.idle.push_back(worker);
                }
                None
            }
        }
    }

    /// A worker finished a task: its result goes to the main thread's inbox.
    pub fn complete(&self, worker: u64, id: u64, kind: OutcomeKind, msg: MessagePtr) {
        let mut st = self.lock();
        let mut was_exclusive = false;
        if let Some(run) = st.running.remove(&id) {
            st.run_time.record(run.started.elapsed().as_nanos() as u64);
            st.completed += 1;
            was_exclusive = run.exclusive;
        }
        if let Some(w) = st.workers.get_mut(&worker) {
            w.running = w.running.saturating_sub(1);
            if was_exclusive {
                w.exclusive = false;
            }
        }
        st.results.push_back(Outcome { id, kind, msg });
        st.wake_main();
    }

    /// Up to `max` results; an empty answer re-arms the main thread's wake-up.
    pub fn results(&self, max: usize) -> Vec<Outcome> {
        let mut st = self.lock();
        let n = st.results.len().min(max);
        let out: Vec<Outcome> = st.results.drain(..n).collect();
        if out.is_empty() {
            st.result_notified = false;
        }
        out
    }

    pub fn set_result_waker(&self, waker: Option<Waker>) {
        let mut st = self.lock();
        st.result_waker = waker;
        st.result_notified = false;
        if !st.results.is_empty() {
            st.wake_main();
        }
    }

    pub fn cancel(&self, id: u64) -> Cancel {
        let mut st = self.lock();
        if let Some(i) = st.queue.iter().position(|t| t.id == id) {
            drop(st.queue.remove(i));
            return Cancel::Dequeued;
        }
        match st.running.get(&id) {
            Some(run) => Cancel::Running(run.worker),
            None => Cancel::Gone,
        }
    }

    /// A worker's thread has ended: the ids of the tasks it was running, which will never
    /// complete. The waker is dropped (its owner is gone).
    /// How many tasks `worker` is running.
    pub fn running_on(&self, worker: u64) -> usize {
        self.lock().running.values().filter(|r| r.worker == worker).count()
    }

    pub fn detach(&self, worker: u64) -> Vec<u64> {
        let mut st = self.lock();
        st.workers.remove(&worker);
        st.idle.retain(|&w| w != worker);
        let lost: Vec<u64> =
            st.running.iter().filter(|(_, r)| r.worker == worker).map(|(&id, _)| id).collect();
        for id in &lost {
            st.running.remove(id);
        }
        lost
    }

    /// Drops a worker's waker (its thread is tearing down) but keeps its bookkeeping.
    pub fn clear_waker(&self, worker: u64) {
        if let Some(w) = self.lock().workers.get_mut(&worker) {
            w.waker = None;
        }
    }

    /// An idle worker asks to leave (idle timeout): allowed while more than `min_threads`
    /// workers stay and nothing is queued.
    pub fn retire(&self, worker: u64) -> bool {
        let mut st = self.lock();
        let staying = st.workers.values().filter(|w| !w.retiring).count();
        if staying <= self.min_threads || !st.queue.is_empty() {
            return false;
        }
        let Some(w) = st.workers.get_mut(&worker) else { return false };
        if !w.idle || w.running > 0 {
            return false;
        }
        w.retiring = true;
        w.idle = false;
        st.idle.retain(|&x| x != worker);
        true
    }

    /// Refuses new tasks (queued and running ones still complete).
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Drops up to `max` queued tasks and returns their ids (call again until none are left).
    pub fn drop_queued(&self, max: usize) -> Vec<u64> {
        let mut st = self.lock();
        let n = st.queue.len().min(max);
        let dropped: Vec<Task> = st.queue.drain(..n).collect();
        drop(st);
        dropped.into_iter().map(|t| t.id).collect()
    }

    pub fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn stats(&self) -> Stats {
        let st = self.lock();
        Stats {
            completed: st.completed,
            queued: st.queue.len(),
            run_time: st.run_time.summary(),
            wait_time: st.wait_time.summary(),
            busy_ns: st.run_time.sum(),
            elapsed_ns: self.created.elapsed().as_nanos(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn msg(n: usize) -> MessagePtr {
        MessagePtr::test_value(n)
    }

    #[test]
    fn tasks_are_taken_in_order_and_results_reach_the_inbox() {
        let pool = Pool::new(1, usize::MAX, 0);
        pool.attach(7, None);
        for i in 0..3 {
            assert_eq!(pool.submit(i, None, msg(i as usize)), Submit::Queued { queued: i as usize + 1 });
        }
        let t = pool.take(7).unwrap();
        assert_eq!(t.id, 0);
        assert!(pool.take(7).is_none(), "capacity 1: a busy worker takes nothing more");
        pool.complete(7, 0, 1, msg(100));
        assert_eq!(pool.take(7).unwrap().id, 1);
        let results = pool.results(10);
        assert_eq!(results.len(), 1);
        assert!(results[0].kind == 1 && results[0].id == 0);
        assert_eq!(pool.stats().completed, 1);
    }

    #[test]
    fn an_idle_worker_is_woken_once_per_submit_burst() {
        static WAKES: AtomicUsize = AtomicUsize::new(0);
        let pool = Pool::new(4, usize::MAX, 0);
        pool.attach(1, Some(Waker::test_counter(&WAKES)));
        assert!(pool.take(1).is_none());
        assert_eq!(pool.submit(1, None, msg(1)), Submit::Woke);
        assert_eq!(pool.submit(2, None, msg(2)), Submit::Queued { queued: 2 });
        assert_eq!(WAKES.load(Ordering::SeqCst), 1);
        assert!(pool.take(1).is_some() && pool.take(1).is_some());
        assert!(pool.take(1).is_none());
        assert_eq!(pool.submit(3, None, msg(3)), Submit::Woke);
        assert_eq!(WAKES.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn results_wake_the_main_thread_once_per_batch() {
        static WAKES: AtomicUsize = AtomicUsize::new(0);
        let pool = Pool::new(8, usize::MAX, 0);
        pool.set_result_waker(Some(Waker::test_counter(&WAKES)));
        pool.attach(1, None);
        for i in 0..5 {
            pool.submit(i, None, msg(i as usize));
            pool.take(1).unwrap();
        }
        for i in 0..5 {
            pool.complete(1, i, 1, msg(0));
        }
        assert_eq!(WAKES.load(Ordering::SeqCst), 1);
        assert_eq!(pool.results(3).len(), 3);
        assert_eq!(pool.results(3).len(), 2);
        assert!(pool.results(3).is_empty());
        pool.submit(9, None, msg(9));
        pool.take(1).unwrap();
        pool.complete(1, 9, 0, msg(0));
        assert_eq!(WAKES.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_queue_limit_counts_waiting_tasks() {
        let pool = Pool::new(1, 2, 0);
        pool.attach(1, None);
        assert!(pool.take(1).is_none()); // idle: the first task does not wait
        assert_eq!(pool.submit(1, None, msg(1)), Submit::Woke);
        assert_eq!(pool.submit(2, None, msg(2)), Submit::Queued { queued: 2 });
        assert_eq!(pool.submit(3, None, msg(3)), Submit::Queued { queued: 3 });
        assert_eq!(pool.submit(4, None, msg(4)), Submit::Full);
    }

    #[test]
    fn workers_still_to_start_make_room_under_the_queue_limit() {
        // maxQueue 0, no worker attached yet, two that will start: two tasks go, the third waits.
        let pool = Pool::new(1, 0, 0);
        assert_eq!(pool.submit_with(1, None, msg(1), false, 2), Submit::Queued { queued: 1 });
        assert_eq!(pool.submit_with(2, None, msg(2), false, 2), Submit::Queued { queued: 2 });
        assert_eq!(pool.submit_with(3, None, msg(3), false, 2), Submit::Full);
    }

    #[test]
    fn a_worker_attached_before_its_caller_knows_is_counted_once() {
        // maxQueue 0, maxThreads 3: one worker attached (idle), two still to start. Three tasks
        // go (one to the idle worker, one for each worker to come), the fourth would wait.
        let pool = Pool::new(1, 0, 0);
        pool.attach(1, None);
        assert!(pool.take(1).is_none());
        assert_eq!(pool.submit_with(1, None, msg(1), false, 3), Submit::Woke);
        assert_eq!(pool.submit_with(2, None, msg(2), false, 3), Submit::Queued { queued: 2 });
        assert_eq!(pool.submit_with(3, None, msg(3), false, 3), Submit::Queued { queued: 3 });
        assert_eq!(pool.submit_with(4, None, msg(4), false, 3), Submit::Full);
    }

    #[test]
    fn cancel_dequeues_or_names_the_worker() {
        let pool = Pool::new(1, usize::MAX, 0);
        pool.attach(3, None);
        pool.submit(1, None, msg(1));
        pool.submit(2, None, msg(2));
        assert_eq!(pool.take(3).unwrap().id, 1);
        assert_eq!(pool.cancel(2), Cancel::Dequeued);
        assert_eq!(pool.cancel(1), Cancel::Running(3));
        assert_eq!(pool.cancel(2), Cancel::Gone);
        assert_eq!(pool.queued(), 0);
    }

    #[test]
    fn a_worker_that_ends_gives_back_its_running_tasks_only() {
        let pool = Pool::new(2, usize::MAX, 0);
        pool.attach(1, None);
        pool.attach(2, None);
        for i in 0..4 {
            pool.submit(i, None, msg(i as usize));
        }
        pool.take(1).unwrap();
        pool.take(1).unwrap();
        pool.take(2).unwrap();
        let mut lost = pool.detach(1);
        lost.sort();
        assert_eq!(lost, vec![0, 1]);
        assert_eq!(pool.cancel(2), Cancel::Running(2));
        assert_eq!(pool.take(2).unwrap().id, 3);
    }

    #[test]
    fn idle_workers_retire_down_to_min_threads() {
        let pool = Pool::new(1, usize::MAX, 1);
        for w in 1..=3 {
            pool.attach(w, None);
            assert!(pool.take(w).is_none());
        }
        assert!(pool.retire(1));
        assert!(!pool.retire(1), "already retiring");
        assert!(pool.retire(2));
        assert!(!pool.retire(3), "the last one stays (minThreads 1)");
        // A retired worker is never woken for new work.
        assert_eq!(pool.submit(1, None, msg(1)), Submit::Woke);
        assert_eq!(pool.take(3).unwrap().id, 1);
    }

    #[test]
    fn close_refuses_new_tasks_and_can_drop_the_queue() {
        let pool = Pool::new(1, usize::MAX, 0);
        pool.submit(1, None, msg(1));
        pool.submit(2, None, msg(2));
        assert_eq!(pool.drop_queued(1), vec![1]);
        pool.close();
        assert_eq!(pool.drop_queued(10), vec![2]);
        assert!(pool.drop_queued(10).is_empty());
        assert_eq!(pool.submit(3, None, msg(3)), Submit::Closed);
    }

    #[test]
    fn an_exclusive_task_runs_alone_on_its_worker() {
        let pool = Pool::new(4, usize::MAX, 0);
        pool.attach(1, None);
        pool.submit(1, None, msg(1));
        assert_eq!(pool.take(1).map(|t| t.id), Some(1));
        // Queued behind a running task: not given to the busy worker.
        assert_eq!(pool.submit_with(2, None, msg(2), true, 0), Submit::Queued { queued: 1 });
        pool.submit(3, None, msg(3));
        assert!(pool.take(1).is_none());
        pool.complete(1, 1, 0, msg(10));
        assert_eq!(pool.take(1).map(|t| t.id), Some(2));
        // While it runs, the worker takes nothing else.
        assert!(pool.take(1).is_none());
        pool.complete(1, 2, 0, msg(20));
        assert_eq!(pool.take(1).map(|t| t.id), Some(3));
    }
}
