//! The supervisor's control plane (`corral start`, then `corral status|reload|stop`): a Unix
//! socket per app and an optional Prometheus endpoint, served by a tokio runtime on a thread of
//! its own, off the primary's JS thread. A request reaches JS as (id, kind, text); its answer
//! comes back by id. `procstat` reads what the kernel knows of each worker (CPU, RSS).
pub mod procstat;
pub mod server;

#[cfg(not(test))]
mod js;
