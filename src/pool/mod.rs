//! The task pool: queue, scheduler and statistics in Rust. The main thread submits tasks and
//! reads results; pool workers (corral worker threads) take tasks from the queue on their own
//! threads and are woken from Rust when work arrives, so no task waits on the main event loop
//! to be handed out.
mod ffi;
mod histogram;
mod queue;

pub use histogram::{Histogram, Summary};
pub use queue::{Cancel, Outcome, OutcomeKind, Pool, Stats, Submit, Task};
