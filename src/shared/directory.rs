//! The program's name directory: which process holds each named region.
//!
//! The directory is itself a small memfd. The first process of a corral program creates it and
//! publishes a token (`<pid>:<fd>:<inode>`, through the `CORRAL_SHARED_DIR` environment variable
//! that children inherit); every descendant maps the same directory by reopening
//! `/proc/<pid>/fd/<fd>`, and republishes the token under its own pid so that its children can
//! still find it if the root dies first. Nothing has a filesystem name, so nothing outlives the
//! program, even after `kill -9`.
//!
//! An entry maps a name to the region's inode and up to `HOLDERS` (pid, fd) pairs of processes
//! holding it. Opening a name reopens any live holder's fd; holders are pruned when their process
//! is gone (checked against the inode, since pids and fds are reused). Updates take a process
//! lock plus `flock` on the directory, which the kernel releases if a holder is killed.
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use parking_lot::Mutex;

use super::region::{check_name, open_proc_fd, Mapping, MAX_NAME};

const MAGIC: u32 = 0x4352_5244; // "CRRD"
const VERSION: u32 = 1;
const HEADER: usize = 64;
pub const ENTRIES: usize = 256;
/// (Enough for a cluster of a large machine's cores, each worker opening the name.)
pub const HOLDERS: usize = 64;
const ENTRY_SIZE: usize = 768;
const SIZE: usize = HEADER + ENTRIES * ENTRY_SIZE;

// Entry layout (bytes): state u32 @0, name_len u32 @4, size u64 @8, ino u64 @16,
// holders [(pid i32, fd i32); HOLDERS] @24, name [u8; MAX_NAME] @536.
const E_STATE: usize = 0;
const E_NAME_LEN: usize = 4;
const E_SIZE: usize = 8;
const E_INO: usize = 16;
const E_HOLDERS: usize = 24;
const E_NAME: usize = 536;
const _: () = assert!(E_HOLDERS + HOLDERS * 8 <= E_NAME && E_NAME + MAX_NAME <= ENTRY_SIZE);

/// A process holding a region: reopen it as `/proc/<pid>/fd/<fd>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub fd: i32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum DirError {
    /// A live region already has this name.
    Exists,
    /// No live region has this name.
    NotFound,
    /// Every entry is in use.
    Full,
}

/// What the directory knows about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub size: u64,
    pub ino: u64,
    pub holders: Vec<Holder>,
}

/// Checks whether a holder still has the file open (its /proc fd link resolves to `ino`).
pub type LiveCheck = fn(Holder, u64) -> bool;

pub fn holder_alive(h: Holder, ino: u64) -> bool {
    let path = format!("/proc/{}/fd/{}", h.pid, h.fd);
    nix::sys::stat::stat(path.as_str()).is_ok_and(|st| st.st_ino == ino)
}

pub struct Directory {
    map: Mapping,
    lock: Mutex<()>,
    alive: LiveCheck,
}

struct Locked<'a> {
    dir: &'a Directory,
    _guard: parking_lot::MutexGuard<'a, ()>,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.dir.map.file().unlock();
    }
}

impl Directory {
    /// A new, empty directory.
    pub fn create() -> io::Result<Directory> {
        let map = Mapping::create_memfd(SIZE as u64, "directory")?;
        let dir = Directory { map, lock: Mutex::new(()), alive: holder_alive };
        dir.u32_at(4).store(VERSION, Ordering::SeqCst);
        dir.u32_at(8).store(ENTRIES as u32, Ordering::SeqCst);
        dir.u32_at(0).store(MAGIC, Ordering::SeqCst);
        Ok(dir)
    }

    /// Opens the directory named by `token` (see `token`).
    pub fn open(token: &str) -> io::Result<Directory> {
        let (pid, fd, ino) = parse_token(token).ok_or_else(|| io::Error::from(Errno::EINVAL))?;
        let file = open_proc_fd(pid, fd, ino)?;
        let map = Mapping::from_fd(file, super::region::Kind::Memfd)?;
        if map.len() != SIZE {
            return Err(io::Error::from(Errno::EINVAL));
        }
        let dir = Directory { map, lock: Mutex::new(()), alive: holder_alive };
        if dir.u32_at(0).load(Ordering::SeqCst) != MAGIC || dir.u32_at(4).load(Ordering::SeqCst) != VERSION {
            return Err(io::Error::from(Errno::EINVAL));
        }
        Ok(dir)
    }

    #[cfg(test)]
    fn with_live_check(mut self, alive: LiveCheck) -> Directory {
        self.alive = alive;
        self
    }

    /// How children reach this directory through this process.
    pub fn token(&self) -> String {
        format!("{}:{}:{}", std::process::id(), self.map.fd(), self.map.ino())
    }

    pub fn fd(&self) -> RawFd {
        self.map.fd()
    }

    fn u32_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off.is_multiple_of(4) && off + 4 <= SIZE);
        // SAFETY: in range, aligned, and lives as long as self.
        unsafe { &*(self.map.as_ptr().add(off) as *const AtomicU32) }
    }

    fn lock(&self) -> Locked<'_> {
        let guard = self.lock.lock();
        // flock(LOCK_EX) through std (nix's Flock would take the fd over).
        while let Err(e) = self.map.file().lock() {
            if e.kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
        Locked { dir: self, _guard: guard }
    }

    // Field access, only under the lock (the lock orders it between processes).
    fn base(&self, i: usize) -> usize {
        HEADER + i * ENTRY_SIZE
    }
    fn get32(&self, off: usize) -> u32 {
        self.u32_at(off).load(Ordering::Relaxed)
    }
    fn set32(&self, off: usize, v: u32) {
        self.u32_at(off).store(v, Ordering::Relaxed)
    }
    fn get64(&self, off: usize) -> u64 {
        self.get32(off) as u64 | (self.get32(off + 4) as u64) << 32
    }
    fn set64(&self, off: usize, v: u64) {
        self.set32(off, v as u32);
        self.set32(off + 4, (v >> 32) as u32);
    }
    fn name_matches(&self, i: usize, name: &str) -> bool {
        let b = self.base(i);
        if self.get32(b + E_STATE) != 1 || self.get32(b + E_NAME_LEN) as usize != name.len() {
            return false;
        }
        self.name_bytes(i, name.len()) == name.as_bytes()
    }
    /// The first `len` bytes (at most MAX_NAME) of entry `i`'s name field, under the lock.
    fn name_bytes(&self, i: usize, len: usize) -> &[u8] {
        assert!(i < ENTRIES);
        let len = len.min(MAX_NAME);
        // SAFETY: entry i's name field (MAX_NAME bytes) lies inside the mapping (i and len
        // bounded above), which lives as long as self; the lock orders the read after writes.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(self.base(i) + E_NAME), len) }
    }

    fn holders(&self, i: usize) -> Vec<Holder> {
        let b = self.base(i) + E_HOLDERS;
        (0..HOLDERS)
            .map(|k| Holder { pid: self.get32(b + k * 8) as i32, fd: self.get32(b + k * 8 + 4) as i32 })
            .filter(|h| h.pid > 0)
            .collect()
    }
    fn set_holder(&self, i: usize, k: usize, h: Holder) {
        let b = self.base(i) + E_HOLDERS + k * 8;
        self.set32(b, h.pid as u32);
        self.set32(b + 4, h.fd as u32);
    }
    fn free(&self, i: usize) {
        let b = self.base(i);
        for k in 0..HOLDERS {
            self.set_holder(i, k, Holder { pid: 0, fd: 0 });
        }
        self.set32(b + E_NAME_LEN, 0);
        self.set32(b + E_STATE, 0);
    }

    /// Drops holders that are gone; frees the entry (returning false) when none is left.
    fn prune(&self, i: usize) -> bool {
        let ino = self.get64(self.base(i) + E_INO);
        let mut live = 0;
        for k in 0..HOLDERS {
            let b = self.base(i) + E_HOLDERS + k * 8;
            let h = Holder { pid: self.get32(b) as i32, fd: self.get32(b + 4) as i32 };
            if h.pid <= 0 {
                continue;
            }
            if (self.alive)(h, ino) {
                live += 1;
            } else {
                self.set_holder(i, k, Holder { pid: 0, fd: 0 });
            }
        }
        if live == 0 {
            self.free(i);
        }
        live > 0
    }

    fn find(&self, name: &str) -> Option<usize> {
        (0..ENTRIES).find(|&i| self.name_matches(i, name))
    }

    /// Names a region held by `holder`. Fails if a live region already has the name.
    pub fn register(&self, name: &str, size: u64, ino: u64, holder: Holder) -> Result<(), DirError> {
        if check_name(name).is_err() {
            return Err(DirError::NotFound);
        }
        let _l = self.lock();
        if let Some(i) = self.find(name) {
            if self.prune(i) {
                return Err(DirError::Exists);
            }
        }
        let is_free = |i: usize| self.get32(self.base(i) + E_STATE) == 0;
        // Full: first free the entries whose holders are all gone (killed processes never
        // unregistered theirs).
        let free = (0..ENTRIES).find(|&i| is_free(i)).or_else(|| (0..ENTRIES).find(|&i| !self.prune(i)));
        let i = free.ok_or(DirError::Full)?;
        let b = self.base(i);
        // SAFETY: name fits the entry's name field (check_name); written under the lock.
        unsafe {
            std::ptr::copy_nonoverlapping(name.as_ptr(), self.map.as_ptr().add(b + E_NAME), name.len());
        }
        self.set32(b + E_NAME_LEN, name.len() as u32);
        self.set64(b + E_SIZE, size);
        self.set64(b + E_INO, ino);
        for k in 0..HOLDERS {
            self.set_holder(i, k, Holder { pid: 0, fd: 0 });
        }
        self.set_holder(i, 0, holder);
        self.set32(b + E_STATE, 1);
        Ok(())
    }

    /// Looks a name up, runs `open` on its live holders until one succeeds, and records
    /// `holder_of(&opened)` as a new holder. Holds the directory lock throughout, so the
    /// region cannot be released by name in between.
    pub fn open_with<T>(
        &self,
        name: &str,
        mut open: impl FnMut(&Entry, Holder) -> Option<T>,
        holder_of: impl Fn(&T) -> Holder,
    ) -> Result<T, DirError> {
        let _l = self.lock();
        let i = self.find(name).ok_or(DirError::NotFound)?;
        if !self.prune(i) {
            return Err(DirError::NotFound);
        }
        let b = self.base(i);
        let entry = Entry { size: self.get64(b + E_SIZE), ino: self.get64(b + E_INO), holders: self.holders(i) };
        for h in &entry.holders {
            if let Some(opened) = open(&entry, *h) {
                let me = holder_of(&opened);
                let hb = b + E_HOLDERS;
                // A full holder list is fine: the name stays reachable through the others.
                if let Some(k) = (0..HOLDERS).find(|&k| self.get32(hb + k * 8) == 0) {
                    self.set_holder(i, k, me);
                }
                return Ok(opened);
            }
        }
        Err(DirError::NotFound)
    }

    /// The entry for `name`, if a live holder has it.
    pub fn lookup(&self, name: &str) -> Option<Entry> {
        let _l = self.lock();
        let i = self.find(name)?;
        if !self.prune(i) {
            return None;
        }
        let b = self.base(i);
        Some(Entry { size: self.get64(b + E_SIZE), ino: self.get64(b + E_INO), holders: self.holders(i) })
    }

    /// Forgets one holder of `name` (the region with inode `ino`); frees the entry with the last.
    pub fn remove_holder(&self, name: &str, ino: u64, holder: Holder) {
        let _l = self.lock();
        let Some(i) = self.find(name) else { return };
        let b = self.base(i);
        if self.get64(b + E_INO) != ino {
            return;
        }
        let hb = b + E_HOLDERS;
        for k in 0..HOLDERS {
            if self.get32(hb + k * 8) as i32 == holder.pid && self.get32(hb + k * 8 + 4) as i32 == holder.fd {
                self.set_holder(i, k, Holder { pid: 0, fd: 0 });
            }
        }
        if self.holders(i).is_empty() {
            self.free(i);
        }
    }

    /// Removes a name (processes that opened it keep their memory). False if it did not exist.
    pub fn unlink(&self, name: &str) -> bool {
        let _l = self.lock();
        match self.find(name) {
            Some(i) => {
                let live = self.prune(i);
                if live {
                    self.free(i);
                }
                live
            }
            None => false,
        }
    }

    /// Names currently registered (live or not yet pruned).
    pub fn names(&self) -> Vec<String> {
        let _l = self.lock();
        (0..ENTRIES)
            .filter(|&i| self.get32(self.base(i) + E_STATE) == 1 && self.prune(i))
            .map(|i| {
                let b = self.base(i);
                let len = (self.get32(b + E_NAME_LEN) as usize).min(MAX_NAME);
                String::from_utf8_lossy(self.name_bytes(i, len)).into_owned()
            })
            .collect()
    }
}

impl AsRawFd for Directory {
    fn as_raw_fd(&self) -> RawFd {
        self.map.fd()
    }
}

/// Parses `<pid>:<fd>:<ino>`.
pub fn parse_token(token: &str) -> Option<(i32, i32, u64)> {
    let mut parts = token.trim().split(':');
    let pid = parts.next()?.parse().ok()?;
    let fd = parts.next()?.parse().ok()?;
    let ino = parts.next()?.parse().ok()?;
    if parts.next().is_some() || pid <= 0 || fd < 0 {
        return None;
    }
    Some((pid, fd, ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(fd: i32) -> Holder {
        Holder { pid: std::process::id() as i32, fd }
    }

    #[test]
    fn tokens() {
        assert_eq!(parse_token("12:5:99"), Some((12, 5, 99)));
        for bad in ["", "1:2", "1:2:3:4", "x:1:2", "0:1:2", "1:-1:2", "1:2:-3"] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn register_open_remove() {
        let dir = Directory::create().unwrap();
        let region = Mapping::create_memfd(100, "t").unwrap();
        dir.register("a", 100, region.ino(), me(region.fd())).unwrap();
        assert_eq!(dir.register("a", 100, region.ino(), me(region.fd())), Err(DirError::Exists));
        assert_eq!(dir.names(), vec!["a".to_string()]);

        // A second view of the directory (as another process would have) sees the entry.
        let other = Directory::open(&dir.token()).unwrap();
        let opened = other
            .open_with("a", |e, h| Mapping::open_proc(h.pid, h.fd, e.ino).ok(), |m| me(m.fd()))
            .unwrap();
        assert_eq!(opened.ino(), region.ino());
        assert_eq!(other.lookup("a").unwrap().holders.len(), 2);
        assert_eq!(
            other.open_with("b", |_, _| Some(()), |_| me(0)).unwrap_err(),
            DirError::NotFound
        );

        other.remove_holder("a", region.ino(), me(opened.fd()));
        assert_eq!(dir.lookup("a").unwrap().holders, vec![me(region.fd())]);
        dir.remove_holder("a", region.ino(), me(region.fd()));
        assert_eq!(dir.lookup("a"), None);
        // The name is free again.
        dir.register("a", 100, region.ino(), me(region.fd())).unwrap();
        assert!(dir.unlink("a"));
        assert!(!dir.unlink("a"));
    }

    #[test]
    fn dead_holders_are_pruned() {
        fn only_fd_7_alive(h: Holder, _: u64) -> bool {
            h.fd == 7
        }
        let dir = Directory::create().unwrap().with_live_check(only_fd_7_alive);
        dir.register("x", 1, 1, Holder { pid: 999_999, fd: 3 }).unwrap();
        // Its only holder is dead: the name can be taken again, and a lookup misses.
        assert_eq!(dir.lookup("x"), None);
        dir.register("x", 1, 2, Holder { pid: 1, fd: 7 }).unwrap();
        assert_eq!(dir.register("x", 1, 2, Holder { pid: 1, fd: 7 }), Err(DirError::Exists));
    }

    #[test]
    fn full_directory() {
        fn all_alive(_: Holder, _: u64) -> bool {
            true
        }
        let dir = Directory::create().unwrap().with_live_check(all_alive);
        for i in 0..ENTRIES {
            dir.register(&format!("n{i}"), 1, 1, Holder { pid: 1, fd: 1 }).unwrap();
        }
        assert_eq!(dir.register("more", 1, 1, Holder { pid: 1, fd: 1 }), Err(DirError::Full));
        assert!(dir.unlink("n3"));
        dir.register("more", 1, 1, Holder { pid: 1, fd: 1 }).unwrap();
    }

    #[test]
    fn a_full_directory_reclaims_the_names_of_dead_holders() {
        fn fd_1_alive(h: Holder, _: u64) -> bool {
            h.fd == 1
        }
        let dir = Directory::create().unwrap().with_live_check(fd_1_alive);
        for i in 0..ENTRIES {
            // Every second name's holder has gone (a process killed before it unregistered).
            let fd = if i % 2 == 0 { 1 } else { 2 };
            dir.register(&format!("n{i}"), 1, 1, Holder { pid: 1, fd }).unwrap();
        }
        for i in 0..ENTRIES / 2 {
            dir.register(&format!("new{i}"), 1, 1, Holder { pid: 1, fd: 1 }).unwrap();
        }
        assert_eq!(dir.register("more", 1, 1, Holder { pid: 1, fd: 1 }), Err(DirError::Full));
    }

    #[test]
    fn bad_tokens_do_not_open() {
        assert!(Directory::open("1:2").is_err());
        let region = Mapping::create_memfd(100, "t").unwrap();
        // Right process and fd but not a directory.
        assert!(Directory::open(&format!("{}:{}:{}", std::process::id(), region.fd(), region.ino())).is_err());
    }
}
