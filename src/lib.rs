//! corral: Node's `worker_threads`, `cluster` and `child_process.fork` on threads and processes
//! that Rust owns. This crate is the native addon; lib/ holds the JS facades.
#![allow(clippy::missing_safety_doc)]

pub mod control;
pub mod ipc;
pub mod net;
pub mod pool;
pub mod port;
pub mod process;
pub mod shared;
pub mod shim;
pub mod thread;

#[cfg(test)]
mod queue_bench;

#[cfg(not(test))]
mod binding;
#[cfg(not(test))]
mod jsloop;
#[cfg(not(test))]
mod tsfn;
