//! Regions as the addon hands them out: create or open one (anonymous, by name in the program's
//! directory, as a POSIX shm object, from a handle string or an inherited fd), look one up by
//! address, release it when its SharedArrayBuffer's last holder drops it.
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, LazyLock};

use nix::errno::Errno;
use parking_lot::Mutex;

use super::directory::{parse_token, DirError, Directory, Holder};
use super::region::{self, check_name, Kind, Mapping};

const E_EEXIST: i32 = Errno::EEXIST as i32;
const E_ENOENT: i32 = Errno::ENOENT as i32;
const E_ESRCH: i32 = Errno::ESRCH as i32;

#[derive(Debug)]
pub enum RegionError {
    Io(io::Error),
    NotFound,
    Exists,
    Full,
    InvalidName,
}

impl From<io::Error> for RegionError {
    fn from(e: io::Error) -> Self {
        RegionError::Io(e)
    }
}

impl From<DirError> for RegionError {
    fn from(e: DirError) -> Self {
        match e {
            DirError::Exists => RegionError::Exists,
            DirError::NotFound => RegionError::NotFound,
            DirError::Full => RegionError::Full,
        }
    }
}

impl RegionError {
    /// The number the C++ shim passes to JS: a negative errno, or one of ours.
    pub fn code(&self) -> i32 {
        match self {
            RegionError::Io(e) => -e.raw_os_error().unwrap_or(Errno::EIO as i32),
            RegionError::NotFound => 1000,
            RegionError::Exists => 1001,
            RegionError::Full => 1002,
            RegionError::InvalidName => 1003,
        }
    }
}

/// One mapping of a region, owned by a SharedArrayBuffer backing store.
#[derive(Debug)]
pub struct Region {
    map: Mapping,
    /// Name in the program directory this mapping is registered under as a holder.
    dir_name: Option<String>,
    /// POSIX shm name (without prefix), for describe().
    posix_name: Option<String>,
}

impl Region {
    fn new(map: Mapping, dir_name: Option<String>, posix_name: Option<String>) -> Box<Region> {
        let region = Box::new(Region { map, dir_name, posix_name });
        LIVE.lock().insert(region.map.as_ptr() as usize, region.describe_text());
        region
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn ino(&self) -> u64 {
        self.map.ino()
    }
    pub fn dev(&self) -> u64 {
        self.map.dev()
    }

    /// `kind \n fd \n handle \n name`, read by lib/shared (kind: memfd | posix).
    fn describe_text(&self) -> String {
        let kind = match self.map.kind() {
            Kind::Memfd => "memfd",
            Kind::Posix => "posix",
        };
        let name = self.dir_name.as_deref().or(self.posix_name.as_deref()).unwrap_or("");
        format!("{kind}\n{}\n{}\n{name}", self.map.fd(), handle_of(&self.map))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        LIVE.lock().remove(&(self.map.as_ptr() as usize));
        if let Some(name) = &self.dir_name {
            let dir = DIR.lock().clone();
            if let Some(dir) = dir {
                dir.remove_holder(name, self.map.ino(), me(self.map.fd()));
            }
        }
    }
}

static DIR: Mutex<Option<Arc<Directory>>> = Mutex::new(None);
static LIVE: LazyLock<Mutex<HashMap<usize, String>>> = LazyLock::new(Default::default);

fn me(fd: i32) -> Holder {
    Holder { pid: std::process::id() as i32, fd }
}

fn handle_of(map: &Mapping) -> String {
    format!("corral:{}:{}:{}", std::process::id(), map.fd(), map.ino())
}

/// Joins the program's directory named by `token` (from the parent), or creates one if there is
/// none or it cannot be reached. Idempotent; returns this process's token for its children.
pub fn attach_directory(token: Option<&str>) -> io::Result<String> {
    Ok(directory(token)?.token())
}

fn directory(token: Option<&str>) -> io::Result<Arc<Directory>> {
    let mut slot = DIR.lock();
    if let Some(dir) = slot.as_ref() {
        return Ok(dir.clone());
    }
    let dir = match token.map(Directory::open) {
        Some(Ok(dir)) => dir,
        _ => Directory::create()?,
    };
    let dir = Arc::new(dir);
    *slot = Some(dir.clone());
    Ok(dir)
}

/// A new region: anonymous, named in the program directory, or (`posix`) a POSIX shm object.
pub fn create(size: u64, name: Option<&str>, posix: bool) -> Result<Box<Region>, RegionError> {
    if let Some(n) = name {
        check_name(n).map_err(|_| RegionError::InvalidName)?;
    }
    match (name, posix) {
        (Some(n), true) => match Mapping::create_posix(n, size) {
            Ok(map) => Ok(Region::new(map, None, Some(n.to_string()))),
            Err(e) if e.raw_os_error() == Some(E_EEXIST) => Err(RegionError::Exists),
            Err(e) => Err(e.into()),
        },
        (Some(n), false) => {
            let map = Mapping::create_memfd(size, n)?;
            directory(None)?.register(n, size, map.ino(), me(map.fd()))?;
            Ok(Region::new(map, Some(n.to_string()), None))
        }
        (None, _) => Ok(Region::new(Mapping::create_memfd(size, "anonymous")?, None, None)),
    }
}

/// Opens a region by name (in the program directory, or a POSIX shm object).
pub fn open_name(name: &str, posix: bool) -> Result<Box<Region>, RegionError> {
    check_name(name).map_err(|_| RegionError::InvalidName)?;
    if posix {
        return match Mapping::open_posix(name) {
            Ok(map) => Ok(Region::new(map, None, Some(name.to_string()))),
            Err(e) if e.raw_os_error() == Some(E_ENOENT) => Err(RegionError::NotFound),
            Err(e) => Err(e.into()),
        };
    }
    let dir = directory(None)?;
    let map = dir.open_with(name, |e, h| Mapping::open_proc(h.pid, h.fd, e.ino).ok(), |m| me(m.fd()))?;
    Ok(Region::new(map, Some(name.to_string()), None))
}

/// Opens a region from a handle string (`corral:<pid>:<fd>:<ino>`, see describe).
pub fn open_handle(handle: &str) -> Result<Box<Region>, RegionError> {
    let token = handle.strip_prefix("corral:").ok_or(RegionError::InvalidName)?;
    let (pid, fd, ino) = parse_token(token).ok_or(RegionError::InvalidName)?;
    match Mapping::open_proc(pid, fd, ino) {
        Ok(map) => Ok(Region::new(map, None, None)),
        Err(e) if matches!(e.raw_os_error(), Some(E_ENOENT) | Some(E_ESRCH)) => Err(RegionError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// Maps a region from an fd this process holds (e.g. inherited through spawn's stdio).
pub fn open_fd(fd: i32) -> Result<Box<Region>, RegionError> {
    Ok(Region::new(Mapping::from_borrowed_fd(fd)?, None, None))
}

/// Describes the live region mapped at `addr` (see Region::describe_text).
pub fn describe(addr: usize) -> Option<String> {
    LIVE.lock().get(&addr).cloned()
}

/// Removes a name. Memory stays mapped wherever it is open; returns false if the name was unknown.
pub fn unlink(name: &str, posix: bool) -> Result<bool, RegionError> {
    check_name(name).map_err(|_| RegionError::InvalidName)?;
    if posix {
        return match region::unlink_posix(name) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(E_ENOENT) => Ok(false),
            Err(e) => Err(e.into()),
        };
    }
    Ok(directory(None)?.unlink(name))
}

/// Names in the program directory that have a live holder.
pub fn names() -> io::Result<Vec<String>> {
    Ok(directory(None)?.names())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_lifecycle_in_one_process() {
        let a = create(64, Some("regions-test"), false).unwrap();
        assert!(matches!(create(64, Some("regions-test"), false), Err(RegionError::Exists)));
        let b = open_name("regions-test", false).unwrap();
        assert_eq!(a.ino(), b.ino());
        assert_eq!(b.len(), 64);
        let text = describe(b.as_ptr() as usize).unwrap();
        assert!(text.starts_with("memfd\n") && text.ends_with("\nregions-test"), "{text}");
        drop(a);
        drop(b);
        // Last holder gone: the name is free.
        assert!(matches!(open_name("regions-test", false), Err(RegionError::NotFound)));
        assert!(!names().unwrap().contains(&"regions-test".to_string()));
    }

    #[test]
    fn handles_and_errors() {
        let a = create(10, None, false).unwrap();
        let text = describe(a.as_ptr() as usize).unwrap();
        let handle = text.lines().nth(2).unwrap();
        let b = open_handle(handle).unwrap();
        assert_eq!(b.ino(), a.ino());
        assert!(matches!(open_handle("nope"), Err(RegionError::InvalidName)));
        assert!(matches!(open_handle("corral:999999999:3:1"), Err(RegionError::NotFound)));
        assert!(matches!(create(0, None, false), Err(RegionError::Io(_))));
        assert!(matches!(create(8, Some("a/b"), false), Err(RegionError::InvalidName)));
        assert!(matches!(open_name("missing-name", false), Err(RegionError::NotFound)));
        assert!(matches!(open_name("missing-name", true), Err(RegionError::NotFound)));
        assert!(matches!(open_fd(-1), Err(RegionError::Io(_))));
        let ptr = a.as_ptr() as usize;
        drop(a);
        assert_eq!(describe(ptr), None);
    }
}
