//! JS bindings of the control plane: one server per process (the supervisor's), whose requests
//! reach a JS function through a thread-safe function that does not hold the event loop.
use std::ffi::c_void;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use parking_lot::Mutex;

use super::procstat::CpuMeter;
use super::server::{Dispatch, Kind, Server};

static SERVER: Mutex<Option<Server>> = Mutex::new(None);
static METER: Mutex<Option<CpuMeter>> = Mutex::new(None);

struct Request {
    id: u64,
    kind: Kind,
    text: String,
}

/// The JS callback, shared with the control thread; None once Node has finalized it.
struct Callback(Mutex<Option<usize>>);

unsafe extern "C" fn deliver(env: sys::napi_env, callback: sys::napi_value, _ctx: *mut c_void, data: *mut c_void) {
    // SAFETY: data is the Box<Request> posted by Callback::post.
    let request = unsafe { Box::from_raw(data as *mut Request) };
    if env.is_null() || callback.is_null() {
        return;
    }
    // SAFETY: called by Node on the env's thread with a live handle scope.
    unsafe {
        let mut args = [std::ptr::null_mut(); 3];
        let mut recv = std::ptr::null_mut();
        let kind = request.kind.as_str();
        sys::napi_create_double(env, request.id as f64, &mut args[0]);
        sys::napi_create_string_utf8(env, kind.as_ptr().cast(), kind.len() as _, &mut args[1]);
        sys::napi_create_string_utf8(env, request.text.as_ptr().cast(), request.text.len() as _, &mut args[2]);
        sys::napi_get_undefined(env, &mut recv);
        sys::napi_call_function(env, recv, callback, 3, args.as_ptr(), std::ptr::null_mut());
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: data is the Arc<Callback> leaked in control_start.
    let callback = unsafe { Arc::from_raw(data as *const Callback) };
    *callback.0.lock() = None;
}

impl Callback {
    fn post(&self, request: Request) {
        let tsfn = self.0.lock();
        if let Some(t) = *tsfn {
            let data = Box::into_raw(Box::new(request)) as *mut c_void;
            // SAFETY: the tsfn is alive while it is in the cell (finalize clears it under the lock).
            let status = unsafe {
                sys::napi_call_threadsafe_function(t as sys::napi_threadsafe_function, data, sys::ThreadsafeFunctionCallMode::nonblocking)
            };
            if status != sys::Status::napi_ok {
                // SAFETY: not taken by Node.
                drop(unsafe { Box::from_raw(data as *mut Request) });
            }
        }
    }
}

fn thread_safe(env: &Env, function: &Unknown) -> Result<Arc<Callback>> {
    let callback = Arc::new(Callback(Mutex::new(None)));
    let raw = env.raw();
    let mut name = std::ptr::null_mut();
    let mut tsfn = std::ptr::null_mut();
    let finalize_data = Arc::into_raw(callback.clone()) as *mut c_void;
    // SAFETY: raw napi calls on the env's thread; the finalizer takes back finalize_data.
    let status = unsafe {
        sys::napi_create_string_utf8(raw, c"corral.control".as_ptr(), usize::MAX as _, &mut name);
        sys::napi_create_threadsafe_function(
            raw, function.raw(), std::ptr::null_mut(), name, 0, 1,
            finalize_data, Some(finalize), std::ptr::null_mut(), Some(deliver), &mut tsfn,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: not handed to Node.
        drop(unsafe { Arc::from_raw(finalize_data as *const Callback) });
        return Err(Error::new(Status::GenericFailure, "could not create the control callback"));
    }
    // SAFETY: the tsfn was just created on this thread. Unref'd: the control socket alone
    // does not keep the primary running.
    unsafe { sys::napi_unref_threadsafe_function(raw, tsfn) };
    *callback.0.lock() = Some(tsfn as usize);
    Ok(callback)
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
    match errno {
        libc::EACCES => "EACCES".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL".into(),
        libc::ENAMETOOLONG => "ENAMETOOLONG".into(),
        other => format!("errno {other}"),
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
