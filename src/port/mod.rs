//! Message queues behind MessagePort: two entangled endpoints, each with its own inbox.
//!
//! Sending pushes into the other side's inbox and wakes its owner only when no wake-up is
//! already pending, so a burst of messages costs one wake-up (the receiver drains the batch).
//! The waker is the C++ port object of the thread that owns the endpoint; it is set and
//! cleared under the inbox lock, so a wake never races with the port being freed.
pub mod broadcast;
mod endpoint;
mod ffi;
pub mod mailbox;

pub use endpoint::{Endpoint, Pop};
