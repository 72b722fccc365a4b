//! Child processes that Rust spawns and reaps (pidfd + waitpid: no SIGCHLD handler competing
//! with libuv's).
pub mod spawn;
#[cfg(not(test))]
pub(crate) mod js;
