//! C ABI over `Pool` for the shim (declared in src/shim/pool.cc). A pool crosses the boundary
//! as an `Arc<Pool>` raw pointer: the main thread's handle holds one reference and each
//! attached worker another. Pools are found by id (a worker gets its pool's id in workerData).
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::queue::{Cancel, Pool, Submit};
use crate::shim::{MessagePtr, Waker};

fn pools() -> std::sync::MutexGuard<'static, HashMap<u64, Arc<Pool>>> {
    static POOLS: OnceLock<Mutex<HashMap<u64, Arc<Pool>>>> = OnceLock::new();
    POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

unsafe fn pool<'a>(raw: *const c_void) -> &'a Pool {
    &*(raw as *const Pool)
}

unsafe fn waker(raw: *mut c_void) -> Option<Waker> {
    Waker::with_fn(raw, crate::shim::pool_wake)
}

/// Creates a pool; `*id` receives the id workers find it by. Returns an owned reference.
///
/// # Safety
/// `id` is a valid out-pointer.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_new(
    concurrency: u32,
    max_queue: f64,
    min_threads: u32,
    id: *mut u64,
) -> *const c_void {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let max_queue = if max_queue.is_finite() && max_queue >= 0.0 { max_queue as usize } else { usize::MAX };
    let pool = Arc::new(Pool::new(concurrency as usize, max_queue, min_threads as usize));
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    pools().insert(n, pool.clone());
    *id = n;
    Arc::into_raw(pool) as *const c_void
}

/// Another reference to pool `id`, or null.
#[no_mangle]
pub extern "C" fn corral_pool_find(id: u64) -> *const c_void {
    pools().get(&id).map_or(std::ptr::null(), |p| Arc::into_raw(p.clone()) as *const c_void)
}

/// Forgets pool `id` (workers can no longer find it; references stay valid).
#[no_mangle]
pub extern "C" fn corral_pool_unregister(id: u64) {
    let removed = pools().remove(&id);
    drop(removed);
}

/// # Safety
/// `raw` is a reference from corral_pool_new/find, released once.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_release(raw: *const c_void) {
    drop(Arc::from_raw(raw as *const Pool));
}

/// 0: queued and an idle worker woken; n > 0: queued, n tasks in the queue, no worker idle;
/// -1: the queue is full; -2: the pool is closed. Takes `msg` (and `name`, copied).
///
/// # Safety
/// `raw` is a live pool; `msg` an owned `Message*`; `name` null or `name_len` valid bytes.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_submit(
    raw: *const c_void,
    id: u64,
    name: *const u8,
    name_len: usize,
    msg: *mut c_void,
    exclusive: bool,
    workers_up_to: u32,
) -> i64 {
    let Some(msg) = MessagePtr::from_raw(msg) else { return -2 };
    let name = (!name.is_null()).then(|| {
        String::from_utf8_lossy(std::slice::from_raw_parts(name, name_len)).into_owned().into_boxed_str()
    });
    match pool(raw).submit_with(id, name, msg, exclusive, workers_up_to as usize) {
        Submit::Woke => 0,
        Submit::Queued { queued } => queued as i64,
        Submit::Full => -1,
        Submit::Closed => -2,
    }
}

/// A task taken by a worker: its message, and its name (freed with corral_pool_name_free).
#[repr(C)]
pub struct Taken {
    pub id: u64,
    pub msg: *mut c_void,
    pub name: *mut u8,
    pub name_len: usize,
}

/// # Safety
/// `raw` is a live pool; `out` a valid out-pointer.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_take(raw: *const c_void, worker: u64, out: *mut Taken) -> bool {
    let Some(task) = pool(raw).take(worker) else { return false };
    let (name, name_len) = match task.name {
        Some(name) => {
            let len = name.len();
            (Box::into_raw(name) as *mut u8, len)
        }
        None => (std::ptr::null_mut(), 0),
    };
    *out = Taken { id: task.id, msg: task.msg.into_raw(), name, name_len };
    true
}

/// # Safety
/// `name`/`len` come from one corral_pool_take.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_name_free(name: *mut u8, len: usize) {
    if !name.is_null() {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(name, len) as *mut str));
    }
}

/// # Safety
/// `raw` is a live pool; `msg` an owned `Message*`.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_complete(raw: *const c_void, worker: u64, id: u64, kind: u8, msg: *mut c_void) {
    if let Some(msg) = MessagePtr::from_raw(msg) {
        pool(raw).complete(worker, id, kind, msg);
    }
}

/// Moves up to `cap` results into the arrays; returns how many.
///
/// # Safety
/// `raw` is a live pool; the arrays hold `cap` entries.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_results(
    raw: *const c_void,
    cap: usize,
    ids: *mut u64,
    kinds: *mut u8,
    msgs: *mut *mut c_void,
) -> usize {
    let results = pool(raw).results(cap);
    let n = results.len();
    for (i, r) in results.into_iter().enumerate() {
        *ids.add(i) = r.id;
        *kinds.add(i) = r.kind;
        *msgs.add(i) = r.msg.into_raw();
    }
    n
}

/// # Safety
/// `raw` is a live pool; `waker` null or a live `uv_async_t*` until replaced.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_set_result_waker(raw: *const c_void, async_handle: *mut c_void) {
    pool(raw).set_result_waker(waker(async_handle));
}

/// # Safety
/// As corral_pool_set_result_waker.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_attach(raw: *const c_void, worker: u64, async_handle: *mut c_void) {
    pool(raw).attach(worker, waker(async_handle));
}

/// # Safety
/// `raw` is a live pool.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_clear_waker(raw: *const c_void, worker: u64) {
    pool(raw).clear_waker(worker);
}

/// How many tasks `worker` is running (a worker that is gone takes no more, so this bounds what
/// corral_pool_detach then reports).
///
/// # Safety
/// `raw` is a live pool.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_running_on(raw: *const c_void, worker: u64) -> usize {
    pool(raw).running_on(worker)
}

/// Forgets a worker whose thread ended; writes up to `cap` ids of its unfinished tasks and
/// returns how many it had.
///
/// # Safety
/// `raw` is a live pool; `lost` holds `cap` entries.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_detach(raw: *const c_void, worker: u64, lost: *mut u64, cap: usize) -> usize {
    let ids = pool(raw).detach(worker);
    for (i, id) in ids.iter().take(cap).enumerate() {
        *lost.add(i) = *id;
    }
    ids.len()
}

/// -1: removed from the queue; 0: unknown (finished); n > 0: running on worker n.
///
/// # Safety
/// `raw` is a live pool.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_cancel(raw: *const c_void, id: u64) -> i64 {
    match pool(raw).cancel(id) {
        Cancel::Dequeued => -1,
        Cancel::Gone => 0,
        Cancel::Running(worker) => worker as i64,
    }
}

/// # Safety
/// `raw` is a live pool.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_retire(raw: *const c_void, worker: u64) -> bool {
    pool(raw).retire(worker)
}

/// Refuses new tasks.
///
/// # Safety
/// `raw` is a live pool.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_close(raw: *const c_void) {
    pool(raw).close();
}

/// Drops queued tasks, writing up to `cap` of their ids at a time: call again until it
/// returns 0.
///
/// # Safety
/// `raw` is a live pool; `ids` holds `cap` entries.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_drop_queued(raw: *const c_void, ids: *mut u64, cap: usize) -> usize {
    let dropped = pool(raw).drop_queued(cap);
    for (i, id) in dropped.iter().enumerate() {
        *ids.add(i) = *id;
    }
    dropped.len()
}

/// # Safety
/// `raw` is a live pool.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_queued(raw: *const c_void) -> usize {
    pool(raw).queued()
}

/// Mirrors `CorralPoolStats` in pool.cc (durations in nanoseconds).
#[repr(C)]
pub struct StatsOut {
    pub completed: f64,
    pub queued: f64,
    pub busy_ns: f64,
    pub elapsed_ns: f64,
    /// count, mean, min, max, p50, p90, p99 of run time, then of wait time.
    pub summaries: [f64; 14],
}

/// # Safety
/// `raw` is a live pool; `out` a valid out-pointer.
#[no_mangle]
pub unsafe extern "C" fn corral_pool_stats(raw: *const c_void, out: *mut StatsOut) {
    let s = pool(raw).stats();
    let flat = |h: &super::Summary| {
        [h.count as f64, h.mean, h.min as f64, h.max as f64, h.p50 as f64, h.p90 as f64, h.p99 as f64]
    };
    let mut summaries = [0.0; 14];
    summaries[..7].copy_from_slice(&flat(&s.run_time));
    summaries[7..].copy_from_slice(&flat(&s.wait_time));
    *out = StatsOut {
        completed: s.completed as f64,
        queued: s.queued as f64,
        busy_ns: s.busy_ns as f64,
        elapsed_ns: s.elapsed_ns as f64,
        summaries,
    };
}
