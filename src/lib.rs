//! corral: Node's `worker_threads`, `cluster` and `child_process.fork` on threads and processes
//! that Rust owns. This crate is the native addon; lib/ holds the JS facades.
#![allow(clippy::missing_safety_doc)]

pub mod port;
pub mod shared;
pub mod shim;
pub mod thread;

#[cfg(not(test))]
mod binding;
