//! Shared memory between threads and processes (`corral/shared`): regions (memfd or POSIX shm)
//! mapped MAP_SHARED, a per-program name directory, process-shared futex wait/notify and a
//! thread pool for waits that must not block the event loop. The SharedArrayBuffer that JS sees
//! is made by the C++ shim (src/shim/shared.cc) over a `Region` from here.
pub mod directory;
pub mod ffi;
pub mod futex;
pub mod interrupt;
pub mod region;
pub mod regions;
pub mod waitpool;

#[cfg(not(test))]
mod binding;
