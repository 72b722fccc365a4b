use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

use crate::shim::{MessagePtr, StopCell};

/// Node's default stack for workers is 4 MiB.
const DEFAULT_STACK_MB: f64 = 4.0;

thread_local! {
    static CURRENT_ID: Cell<u64> = const { Cell::new(0) };
    /// This thread's worker has taken its payload (wait_payload gave it).
    static PAYLOAD_TAKEN: Cell<bool> = const { Cell::new(false) };
    /// The worker on this thread has begun (its boot is about to say 'online'), as far as its
    /// exit code goes: stopped before, it ends with 0, as a Node Worker stopped before its
    /// environment exists (a warm thread's environment exists long before its worker does).
    static BEGUN: Cell<bool> = const { Cell::new(false) };
}

/// The threadId of the worker running on this thread (0 on the main thread).
pub fn mark_begun() {
    BEGUN.with(|b| b.set(true));
}

pub fn begun() -> bool {
    BEGUN.with(Cell::get)
}

pub fn current_thread_id() -> u64 {
    CURRENT_ID.with(Cell::get)
}

struct Entry {
    parent: u64,
    /// Freed when the entry goes, which is only after the worker's env_run returned.
    stop: StopCell,
    join: Option<JoinHandle<()>>,
    payload: Option<MessagePtr>,
    /// Asked to stop: a warm thread waiting for its payload gives up.
    stopping: bool,
    /// A warm thread waits on its own condition: a claim wakes only the thread it hands work
    /// to (waking every waiting thread took the claiming thread's core for milliseconds).
    ready: Option<Arc<Condvar>>,
    /// Started by its own Worker's constructor ahead of the payload (not a warm thread: no
    /// other Worker may claim it).
    early: bool,
}

impl Entry {
    fn signal(&self) {
        if let Some(ready) = &self.ready {
            ready.notify_one();
        }
    }
}

#[derive(Default)]
struct Registry {
    running: HashMap<u64, Entry>,
    /// Exit codes of workers whose environment has ended, until their owner reads them.
    exit_codes: HashMap<u64, i32>,
    /// Workers stopped for exceeding their heap limit, until their owner reads it.
    out_of_memory: std::collections::HashSet<u64>,
    /// Workers whose boot failed before it could report anything, with the error's text.
    init_failed: HashMap<u64, String>,
    /// Warm threads: bootstrapped environments (started by the main thread) waiting for the
    /// payload of the next `new Worker()`, oldest first.
    warm: std::collections::VecDeque<u64>,
    /// A claimed warm thread's new id (its Worker's threadId), by its id while warm.
    renamed: HashMap<u64, u64>,
}

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();


static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Gives a thread that corral did not start (a node:worker_threads Worker loading the addon)
/// an id of its own, so that the workers it starts are its children, not the main thread's.
pub fn adopt_foreign_thread() -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    CURRENT_ID.with(|c| c.set(id));
    id
}

/// Everything a worker thread needs, owned (the caller's strings do not outlive spawn()).
#[derive(Clone)]
pub struct Spec {
    pub argv: Vec<CString>,
    pub exec_argv: Vec<CString>,
    pub bootstrap: CString,
    pub name: CString,
    pub limits: [f64; 4],
    pub flags: u32,
}

/// Warm threads wait under ids of their own range: a claimed one takes the next worker id, so
/// threadIds count `new Worker()` calls as in Node.
static NEXT_WARM_ID: AtomicU64 = AtomicU64::new(1 << 48);

pub fn reserve_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// `reserved`: a threadId from reserve_id (or a warm one) that the shim's inspector handle for
/// this worker names; otherwise the next id.
pub fn spawn(spec: Spec, payload: Option<MessagePtr>, parent: u64, reserved: Option<u64>) -> Option<u64> {
    let early = payload.is_none() && spec.flags & crate::shim::WORKER_AWAITS_PAYLOAD != 0;
    let next = if payload.is_some() || early { &NEXT_ID } else { &NEXT_WARM_ID };
    let id = reserved.unwrap_or_else(|| next.fetch_add(1, Ordering::Relaxed));
    let stop = StopCell::new();
    let cell = stop.as_ptr() as usize;
    let stack_mb = if spec.limits[3] > 0.0 { spec.limits[3] } else { DEFAULT_STACK_MB };
    // Some headroom above the JS stack limit for native frames, as Node does.
    let stack_bytes = ((stack_mb + 0.2) * 1024.0 * 1024.0) as usize;

    let mut reg = registry();
    // (No OS name here: the shim gives the one the line's Node gives, NameWorkerThread.)
    let thread = std::thread::Builder::new()
        .stack_size(stack_bytes)
        .spawn(move || run(id, spec, cell as *mut c_void));
    let join = match thread {
        Ok(join) => join,
        Err(_) => {
            // The cell was never shared (the thread did not start): freed here, and so is the
            // inspector handle the shim keeps for it.
            drop(stop);
            crate::shim::inspector_handle_drop(id);
            return None;
        }
    };
    let warm = payload.is_none() && !early;
    let ready = payload.is_none().then(|| Arc::new(Condvar::new()));
    reg.running.insert(id, Entry { parent, stop, join: Some(join), payload, stopping: false, ready, early });
    if warm {
        reg.warm.push_back(id);
    }
    Some(id)
}

/// How many warm threads (environments that wait for a payload) to start so that `count` wait.
pub fn warm_missing(count: usize) -> usize {
    count.saturating_sub(registry().warm.len())
}

pub fn reserve_warm_id() -> u64 {
    NEXT_WARM_ID.fetch_add(1, Ordering::Relaxed)
}

/// Hands `payload` to a warm thread, which becomes a new worker with a fresh id (so ids
/// follow the order of `new Worker()` calls, as in Node). Gives the payload back if no warm
/// thread is waiting.
pub fn claim_warm(payload: MessagePtr) -> Result<u64, MessagePtr> {
    let mut reg = registry();
    let Some(old) = reg.warm.pop_front() else { return Err(payload) };
    let Some(mut entry) = reg.running.remove(&old) else { return Err(payload) };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    entry.payload = Some(payload);
    entry.signal();
    reg.running.insert(id, entry);
    reg.renamed.insert(old, id);
    Ok(id)
}

/// How long a warm thread waits unclaimed before it leaves (its environment's memory and its
/// OS thread go back; the next `new Worker()` that could take one starts them again):
/// CORRAL_WARM_IDLE_MS, default 30 s.
fn warm_idle_limit() -> std::time::Duration {
    static LIMIT: OnceLock<std::time::Duration> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let ms = std::env::var("CORRAL_WARM_IDLE_MS").ok().and_then(|v| v.parse::<u64>().ok());
        std::time::Duration::from_millis(ms.unwrap_or(30_000))
    })
}

/// Hands its payload to a thread its Worker started ahead of it (false: that thread is gone,
/// or was not started so; the payload is freed).
pub fn deliver(id: u64, payload: MessagePtr) -> bool {
    let mut reg = registry();
    let Some(entry) = reg.running.get_mut(&id) else { return false };
    if !entry.early || entry.stopping || entry.payload.is_some() {
        return false;
    }
    entry.payload = Some(payload);
    entry.signal();
    true
}

/// The boot payload of the worker on this thread: at once for a worker started with one; a
/// warm thread waits until it is claimed (then takes its new id), asked to stop, or left
/// unclaimed for warm_idle_limit() (None).
pub fn wait_payload() -> Option<MessagePtr> {
    let deadline = std::time::Instant::now() + warm_idle_limit();
    let mut reg = registry();
    loop {
        let mut id = current_thread_id();
        if let Some(new) = reg.renamed.remove(&id) {
            CURRENT_ID.with(|c| c.set(new));
            id = new;
        }
        let entry = reg.running.get_mut(&id)?;
        if let Some(payload) = entry.payload.take() {
            PAYLOAD_TAKEN.with(|taken| taken.set(true));
            return Some(payload);
        }
        let (stopping, ready, early) = (entry.stopping, entry.ready.clone(), entry.early);
        let ready = ready.filter(|_| !stopping && (early || reg.warm.contains(&id)))?;
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            // Unclaimed (a claim takes the thread off the list under this same lock).
            reg.warm.retain(|&w| w != id);
            return None;
        }
        reg = ready.wait_timeout(reg, left).unwrap_or_else(|e| e.into_inner()).0;
    }
}

fn run(id: u64, spec: Spec, cell: *mut c_void) {
    CURRENT_ID.with(|c| c.set(id));
    let argv: Vec<*const std::ffi::c_char> = spec.argv.iter().map(|s| s.as_ptr()).collect();
    let exec_argv: Vec<*const std::ffi::c_char> = spec.exec_argv.iter().map(|s| s.as_ptr()).collect();
    let raw = crate::shim::WorkerSpec {
        argv: argv.as_ptr(),
        argc: argv.len(),
        exec_argv: exec_argv.as_ptr(),
        exec_argc: exec_argv.len(),
        bootstrap: spec.bootstrap.as_ptr(),
        payload: std::ptr::null_mut(),
        limits: spec.limits,
        name: spec.name.as_ptr(),
        flags: spec.flags,
        thread_id: id,
    };
    // SAFETY: raw's pointers borrow `spec` and the vectors above, alive for the call; the
    // registry keeps the cell until this thread frees it below.
    let code = unsafe { crate::shim::env_run(&raw, id, cell) };
    // A thread started ahead of its payload whose environment could not be made (no file
    // descriptors, no memory) still takes it, so that its Worker fails as one started with it
    // does: the payload is dropped with its ports, which tells the Worker its thread has ended.
    if spec.flags & crate::shim::WORKER_AWAITS_PAYLOAD != 0 && !PAYLOAD_TAKEN.with(Cell::get) {
        drop(wait_payload());
    }
    let mut reg = registry();
    // A claimed warm thread has its worker's id (taken in wait_payload, or here if it was
    // stopped before it got that far).
    let id = {
        let current = current_thread_id();
        reg.renamed.remove(&current).unwrap_or(current)
    };
    reg.warm.retain(|&w| w != id);
    reg.exit_codes.entry(id).or_insert(code);
    crate::shared::interrupt::forget_thread(id);
    if let Some(entry) = reg.running.remove(&id) {
        // Dropping our own JoinHandle detaches this (finishing) thread.
        drop(entry.payload);
        // The environment has ended and the entry (the cell's only other user) is gone: the
        // cell is freed.
        drop(entry.stop);
    }
}

pub fn stop(id: u64) {
    if let Some(entry) = registry().running.get_mut(&id) {
        entry.stopping = true;
        entry.stop.stop();
        entry.signal();
    } else {
        return;
    }
    // A worker blocked in shared.wait is woken as V8 wakes one blocked in Atomics.wait.
    crate::shared::interrupt::interrupt_thread(id);
}

pub fn ask(id: u64, request: u32, op: i32) -> bool {
    let reg = registry();
    reg.running.get(&id).is_some_and(|entry| entry.stop.ask(request, op))
}

pub fn loop_times(id: u64) -> Option<(u64, u64)> {
    let reg = registry();
    let entry = reg.running.get(&id)?;
    entry.stop.loop_times()
}

/// A warm thread stopped before it took its payload still goes by its warm id: its worker's.
fn resolve(reg: &Registry, id: u64) -> u64 {
    reg.renamed.get(&id).copied().unwrap_or(id)
}

pub fn set_exit_code(id: u64, code: i32) {
    let mut reg = registry();
    let id = resolve(&reg, id);
    reg.exit_codes.insert(id, code);
}

/// Environments freed since their owner last looked: the owner reports a worker's 'exit' only
/// once its environment is gone (the fds it tracked closed, as Node's workers have them).
fn freed() -> &'static (Mutex<std::collections::HashSet<u64>>, Condvar) {
    static FREED: OnceLock<(Mutex<std::collections::HashSet<u64>>, Condvar)> = OnceLock::new();
    FREED.get_or_init(Default::default)
}

pub fn set_env_freed(id: u64) {
    let id = resolve(&registry(), id);
    let (set, cond) = freed();
    set.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
    cond.notify_all();
}

/// Waits (at most `timeout`) until the environment of worker `id` has been freed; forgets it.
pub fn await_env_freed(id: u64, timeout: std::time::Duration) -> bool {
    let (set, cond) = freed();
    let guard = set.lock().unwrap_or_else(|e| e.into_inner());
    let (mut guard, _) = cond
        .wait_timeout_while(guard, timeout, |s| !s.contains(&id))
        .unwrap_or_else(|e| e.into_inner());
    guard.remove(&id)
}

/// Reads (and forgets) the exit code of a worker that has ended.
pub fn take_exit_code(id: u64) -> Option<i32> {
    registry().exit_codes.remove(&id)
}

pub fn set_out_of_memory(id: u64) {
    registry().out_of_memory.insert(id);
}

pub fn take_out_of_memory(id: u64) -> bool {
    registry().out_of_memory.remove(&id)
}

pub fn set_init_failed(id: u64, detail: String) {
    registry().init_failed.insert(id, detail);
}

pub fn take_init_failed(id: u64) -> Option<String> {
    registry().init_failed.remove(&id)
}

/// Stops the workers started by `parent` (or every worker), then waits for their threads.
pub fn stop_join(parent: u64, all: bool) {
    let mut stopped = Vec::new();
    let joins: Vec<JoinHandle<()>> = {
        let mut reg = registry();
        reg.running
            .iter_mut()
            .filter(|(_, e)| all || e.parent == parent)
            .filter_map(|(&id, e)| {
                e.stopping = true;
                e.stop.stop();
                e.signal();
                stopped.push(id);
                e.join.take()
            })
            .collect()
    };
    for id in stopped {
        crate::shared::interrupt::interrupt_thread(id);
    }
    for join in joins {
        // Never join ourselves (a worker tearing down from within its own thread).
        if join.thread().id() != std::thread::current().id() {
            let _ = join.join();
        }
    }
}
