//! Listening sockets shared with cluster workers, and the round-robin accept thread.
pub mod accept;
pub mod lane;
pub mod listen;
pub mod sched;
#[cfg(not(test))]
pub(crate) mod js;
#[cfg(not(test))]
pub(crate) mod lane_js;
