//! Listening sockets shared with cluster workers, and the round-robin accept thread.
pub mod accept;
pub mod listen;
pub mod sched;
#[cfg(not(test))]
pub(crate) mod js;
