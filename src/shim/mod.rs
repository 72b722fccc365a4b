//! The Rust view of the C++ shim (src/shim/*.cc): owned pointers to its objects, and the
//! functions it implements.
use std::ffi::c_void;
use std::ptr::NonNull;

/// A structured-clone message made by the shim (`corral::Message`); freed on drop.
#[derive(Debug, PartialEq, Eq)]
pub struct MessagePtr(NonNull<c_void>);

// SAFETY: a Message is plain data (bytes, shared_ptrs to backing stores, endpoints), made on
// one thread and read on another; only one holder at a time.
unsafe impl Send for MessagePtr {}

impl MessagePtr {
    /// # Safety
    /// `raw` must be a `corral::Message*` that the caller owns.
    pub unsafe fn from_raw(raw: *mut c_void) -> Option<MessagePtr> {
        NonNull::new(raw).map(MessagePtr)
    }

    pub fn into_raw(self) -> *mut c_void {
        let raw = self.0.as_ptr();
        std::mem::forget(self);
        raw
    }

    /// A copy for another receiver (messages without transferred objects only).
    pub fn duplicate(&self) -> MessagePtr {
        #[cfg(not(test))]
        // SAFETY: we own a live message; the copy is a new one we own.
        return unsafe { MessagePtr::from_raw(corral_message_clone(self.0.as_ptr())) }
            .expect("message copy");
        #[cfg(test)]
        MessagePtr(self.0)
    }

    #[cfg(test)]
    pub fn test_value(n: usize) -> MessagePtr {
        MessagePtr(NonNull::new(((n + 1) * 8) as *mut c_void).unwrap())
    }
}

impl Drop for MessagePtr {
    fn drop(&mut self) {
        #[cfg(not(test))]
        // SAFETY: we own the message (see from_raw).
        unsafe {
            corral_message_free(self.0.as_ptr())
        }
    }
}

/// Wakes the thread owning a port or a pool endpoint: a shim object whose uv_async_t is sent
/// by the wake function it was registered with.
pub struct Waker {
    target: *mut c_void,
    wake: unsafe extern "C" fn(*mut c_void),
}

// SAFETY: uv_async_send is thread-safe; the pointer is only used while registered, and the
// owner unregisters it under the queue's lock before freeing it.
unsafe impl Send for Waker {}

impl Waker {
    /// A port's waker.
    ///
    /// # Safety
    /// `raw` must be a live `PortData*` until it is unregistered.
    pub unsafe fn from_raw(raw: *mut c_void) -> Option<Waker> {
        Self::with_fn(raw, port_wake)
    }

    /// A waker calling `wake(raw)`.
    ///
    /// # Safety
    /// `raw` must stay valid for `wake` until the waker is unregistered.
    pub unsafe fn with_fn(raw: *mut c_void, wake: unsafe extern "C" fn(*mut c_void)) -> Option<Waker> {
        (!raw.is_null()).then_some(Waker { target: raw, wake })
    }

    pub fn wake(&self) {
        // SAFETY: see from_raw / with_fn.
        unsafe { (self.wake)(self.target) }
    }

    #[cfg(test)]
    pub fn test_counter(counter: &'static std::sync::atomic::AtomicUsize) -> Waker {
        unsafe extern "C" fn count(target: *mut c_void) {
            (*(target as *const std::sync::atomic::AtomicUsize))
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Waker { target: counter as *const _ as *mut c_void, wake: count }
    }
}

unsafe extern "C" fn port_wake(target: *mut c_void) {
    #[cfg(not(test))]
    corral_port_wake(target);
    #[cfg(test)]
    let _ = target;
}

/// Wakes a pool endpoint: `target` is its `uv_async_t*`.
///
/// # Safety
/// `target` is a live `uv_async_t*`.
pub unsafe extern "C" fn pool_wake(target: *mut c_void) {
    #[cfg(not(test))]
    uv_async_send(target);
    #[cfg(test)]
    let _ = target;
}

#[cfg(not(test))]
extern "C" {
    fn uv_async_send(handle: *mut c_void) -> i32;
}

/// Mirrors `CorralWorkerSpec` in shim.h.
#[repr(C)]
pub struct WorkerSpec {
    pub argv: *const *const std::ffi::c_char,
    pub argc: usize,
    pub exec_argv: *const *const std::ffi::c_char,
    pub exec_argc: usize,
    pub bootstrap: *const std::ffi::c_char,
    pub payload: *mut c_void,
    pub limits: [f64; 4],
    pub name: *const std::ffi::c_char,
    /// WORKER_TRACK_UNMANAGED_FDS, ...
    pub flags: u32,
    /// The worker's threadId (its inspector handle, if any, waits in the shim under it).
    pub thread_id: u64,
}

/// The worker closes the fds it opened and left open when it ends (Node's trackUnmanagedFds).
pub const WORKER_TRACK_UNMANAGED_FDS: u32 = 1;
/// Started by its Worker's constructor before the payload exists (registry::deliver).
pub const WORKER_AWAITS_PAYLOAD: u32 = 4;

#[cfg(not(test))]
extern "C" {
    pub fn corral_shim_init(
        env: napi::sys::napi_env,
        exports: napi::sys::napi_value,
        thread_id: u64,
    ) -> napi::sys::napi_value;
    pub fn corral_message_free(msg: *mut c_void);
    pub fn corral_message_clone(msg: *mut c_void) -> *mut c_void;
    pub fn corral_port_wake(waker: *mut c_void);
    pub fn corral_env_run(spec: *const WorkerSpec, thread_id: u64, stop_cell: *mut c_void) -> i32;
    pub fn corral_stop_cell_new() -> *mut c_void;
    pub fn corral_stop_cell_free(cell: *mut c_void);
    pub fn corral_inspector_handle_drop(thread_id: u64);
    pub fn corral_stop_cell_stop(cell: *mut c_void);
    pub fn corral_stop_cell_loop_times(cell: *mut c_void, idle_ns: *mut u64, start_ns: *mut u64) -> bool;
    pub fn corral_stop_cell_ask(cell: *mut c_void, id: u32, op: i32) -> bool;
    pub fn corral_spin_note_delivery();
    fn corral_spin_watch(word: *const c_void, on: bool);
    fn corral_ipc_decode(data: *const u8, length: usize, stop: *mut f64) -> napi::sys::napi_value;
}

/// Decodes the plain 'advanced' IPC frames of `bytes` (complete frames only) with V8's
/// deserializer (src/shim/ipc_codec.cc), in the caller's handle scope: a JS array
/// `[...values, stop]` and `stop`, the offset of the first frame JS must read (-1: none).
/// None when the thread has no JS to make them in (or under `cargo test`, without the shim).
pub fn ipc_decode(bytes: &[u8]) -> Option<(napi::sys::napi_value, i64)> {
    #[cfg(not(test))]
    {
        let mut stop = -1.0;
        // SAFETY: `bytes` is live for the call; called on a JS thread inside a handle scope.
        let values = unsafe { corral_ipc_decode(bytes.as_ptr(), bytes.len(), &mut stop) };
        (!values.is_null()).then_some((values, stop as i64))
    }
    #[cfg(test)]
    {
        let _ = bytes;
        None
    }
}

/// Tells this thread's spinner (src/shim/spin.cc) that messages were delivered in this loop
/// turn, so it spins before the loop sleeps: a reply that comes soon is read without a wake-up.
pub fn spin_note_delivery() {
    #[cfg(not(test))]
    // SAFETY: only touches the calling thread's own state.
    unsafe {
        corral_spin_note_delivery()
    }
}

/// This thread's spinner watches (or stops watching) an IPC doorbell's counter, which must stay
/// mapped until it has stopped (src/ipc/bell.rs).
pub fn spin_watch(word: *const std::sync::atomic::AtomicU32, on: bool) {
    #[cfg(not(test))]
    // SAFETY: only touches the calling thread's own state; the pointer is kept, not read, here.
    unsafe {
        corral_spin_watch(word.cast(), on)
    }
    #[cfg(test)]
    let _ = (word, on);
}

/// A C++ stop cell (a mutex-guarded `Environment*` through which a worker is stopped from any
/// thread), owned here: made by `new`, freed on drop. The worker's own thread passes
/// `as_ptr()` to `env_run`; its owner drops the cell only once `env_run` has returned (see
/// src/thread/registry.rs). In unit tests (no Node to link against) it is inert.
pub struct StopCell(*mut c_void);

// SAFETY: the cell is a mutex-guarded object made to be stopped from any thread.
unsafe impl Send for StopCell {}

impl StopCell {
    pub fn new() -> StopCell {
        #[cfg(not(test))]
        // SAFETY: allocates a fresh cell, owned by the StopCell from here on.
        return StopCell(unsafe { corral_stop_cell_new() });
        #[cfg(test)]
        StopCell(std::ptr::null_mut())
    }

    /// The cell for `env_run` on the worker's thread.
    pub fn as_ptr(&self) -> *mut c_void {
        self.0
    }

    /// Stops the environment running with this cell, if any (later: at its start).
    pub fn stop(&self) {
        #[cfg(not(test))]
        // SAFETY: `self.0` came from corral_stop_cell_new and is live until our Drop; the cell
        // locks its own mutex, so any thread may call this.
        unsafe {
            corral_stop_cell_stop(self.0)
        }
    }

    /// Has the worker answer request `id` between its JS steps (src/shim/questions.cc); false
    /// when it has no environment.
    pub fn ask(&self, id: u32, op: i32) -> bool {
        #[cfg(not(test))]
        // SAFETY: as in `stop`.
        return unsafe { corral_stop_cell_ask(self.0, id, op) };
        #[cfg(test)]
        {
            let _ = (id, op);
            false
        }
    }

    /// A running worker's event-loop (idle ns, start time ns).
    pub fn loop_times(&self) -> Option<(u64, u64)> {
        #[cfg(not(test))]
        {
            let (mut idle, mut start) = (0, 0);
            // SAFETY: as in `stop`; the two out pointers are live locals.
            unsafe { corral_stop_cell_loop_times(self.0, &mut idle, &mut start) }.then_some((idle, start))
        }
        #[cfg(test)]
        None
    }
}

impl Default for StopCell {
    fn default() -> StopCell {
        StopCell::new()
    }
}

impl Drop for StopCell {
    fn drop(&mut self) {
        #[cfg(not(test))]
        // SAFETY: we own the cell and free it once, here; its owner drops it only after the
        // worker's env_run returned (or when the thread never started).
        unsafe {
            corral_stop_cell_free(self.0)
        }
    }
}

/// # Safety
/// `spec`'s pointers are valid for the call; `cell` is a live cell.
pub unsafe fn env_run(spec: &WorkerSpec, thread_id: u64, cell: *mut c_void) -> i32 {
    #[cfg(not(test))]
    return corral_env_run(spec, thread_id, cell);
    #[cfg(test)]
    {
        let _ = (spec, thread_id, cell);
        0
    }
}

/// Frees the inspector handle the shim keeps for a worker whose thread never started.
pub fn inspector_handle_drop(thread_id: u64) {
    #[cfg(not(test))]
    // SAFETY: the shim looks the id up under its own lock; an unknown id is a no-op.
    unsafe {
        corral_inspector_handle_drop(thread_id)
    }
    #[cfg(test)]
    let _ = thread_id;
}
