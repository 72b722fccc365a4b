//! IPC channels speaking Node's child wire formats, with fds passed as SCM_RIGHTS.
pub mod bell;
pub mod channel;
pub mod flusher;
pub mod frame;
pub mod scm;
#[cfg(not(test))]
pub(crate) mod js;
