//! JS bindings of the control plane: one server per process (the supervisor's), whose requests
//! reach a JS function through a thread-safe function that does not hold the event loop.
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use nix::errno::Errno;
use parking_lot::Mutex;

use crate::jsloop;
use crate::tsfn::{Post, Tsfn};

use super::procstat::CpuMeter;
use super::server::{Dispatch, Kind, Server};

static SERVER: Mutex<Option<Server>> = Mutex::new(None);
static METER: Mutex<Option<CpuMeter>> = Mutex::new(None);

struct Request {
    id: u64,
    kind: Kind,
    text: String,
}

impl Post for Request {
    fn args(self, env: sys::napi_env) -> Vec<sys::napi_value> {
        vec![
            jsloop::number(env, self.id as f64),
            jsloop::string(env, self.kind.as_str().as_bytes()),
            jsloop::string(env, self.text.as_bytes()),
        ]
    }
}

/// The JS callback, reached from the control thread. Unref'd: the control socket alone does
/// not keep the primary running.
fn thread_safe(env: &Env, function: &Unknown) -> Result<Arc<Tsfn<Request>>> {
    Tsfn::new(env, function, c"corral.control", || {})
        .map_err(|_| Error::new(Status::GenericFailure, "could not create the control callback"))
}

/// Serves the control socket at `path` (and `GET /metrics` on host:port when given); requests
/// reach `callback(id, kind, text)`. Returns the metrics port bound, or null. Errors carry the
/// errno name (EADDRINUSE when an app of that name answers there) for JS to word.
#[napi(js_name = "controlStart")]
pub fn control_start(env: Env, path: String, metrics_host: Option<String>, metrics_port: Option<u32>, callback: Unknown) -> Result<Option<u32>> {
    let mut server = SERVER.lock();
    if server.is_some() {
        return Err(Error::new(Status::GenericFailure, "EALREADY"));
    }
    let metrics = match (metrics_host, metrics_port) {
        (Some(host), Some(port)) => {
            let ip: IpAddr = host.parse().map_err(|_| Error::new(Status::InvalidArg, "EINVAL"))?;
            Some(SocketAddr::new(ip, port as u16))
        }
        _ => None,
    };
    let callback = thread_safe(&env, &callback)?;
    let dispatch: Dispatch = Arc::new(move |id, kind, text| callback.post(Request { id, kind, text }));
    let started = Server::start(Path::new(&path), metrics, dispatch).map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::AddrInUse => "EADDRINUSE".to_owned(),
            _ => e.raw_os_error().map(errno_name).unwrap_or_else(|| e.to_string()),
        };
        Error::new(Status::GenericFailure, code)
    })?;
    let port = started.metrics_addr().map(|a| a.port() as u32);
    *server = Some(started);
    Ok(port)
}

fn errno_name(errno: i32) -> String {
    match Errno::from_raw(errno) {
        Errno::EACCES => "EACCES".into(),
        Errno::ENOENT => "ENOENT".into(),
        Errno::EADDRNOTAVAIL => "EADDRNOTAVAIL".into(),
        Errno::ENAMETOOLONG => "ENAMETOOLONG".into(),
        _ => format!("errno {errno}"),
    }
}

/// Answers control request `id`; false when its client is gone.
#[napi(js_name = "controlReply")]
pub fn control_reply(id: f64, text: String) -> bool {
    SERVER.lock().as_ref().is_some_and(|s| s.reply(id as u64, text))
}

/// Stops serving and removes the socket file.
#[napi(js_name = "controlStop")]
pub fn control_stop() {
    let server = SERVER.lock().take();
    if let Some(s) = server {
        s.stop();
    }
}

/// CPU % (since the previous call) and RSS bytes of each pid, as [cpu, rss, cpu, rss, ...];
/// -1, -1 for a pid that is gone.
#[napi(js_name = "processUsage")]
pub fn process_usage(pids: Vec<i32>) -> Vec<f64> {
    let mut meter = METER.lock();
    let usage = meter.get_or_insert_with(CpuMeter::default).sample(&pids);
    usage.into_iter().flat_map(|u| u.map_or([-1.0, -1.0], |u| [u.cpu_percent, u.rss_bytes])).collect()
}
