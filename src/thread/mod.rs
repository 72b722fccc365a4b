//! Worker threads: Rust starts each OS thread, the shim hosts a Node environment on it.
//!
//! The registry keeps, per running worker, its stop cell (to stop it from any thread), its join
//! handle and the parent that started it, so that an environment that ends (or the process,
//! on exit) can stop and join the workers it started: a worker still running while its parent
//! environment is torn down crashes the process.
mod ffi;
mod registry;

pub use registry::{adopt_foreign_thread, current_thread_id};
