//! Shared memory regions: a memfd (or, when asked, a POSIX shm object) mapped MAP_SHARED.
//!
//! A memfd has no name in any filesystem: it lives exactly as long as some process holds an fd
//! or a mapping of it, so nothing is left behind even after `kill -9`. Other processes reach it
//! through an inherited fd or by opening `/proc/<pid>/fd/<fd>` of a process that holds it
//! (see `directory`), which reopens the same memory.
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::mman::{mmap, munmap, shm_open, shm_unlink, MapFlags, ProtFlags};
use nix::sys::stat::{fchmod, fstat, FileStat, Mode, SFlag};
use nix::unistd::ftruncate;

/// Largest region (bytes): what a SharedArrayBuffer may hold in Node 20 (buffer.constants.MAX_LENGTH).
pub const MAX_SIZE: u64 = 1 << 32;
/// Longest name in bytes (a POSIX shm name adds the "/corral." prefix and must fit NAME_MAX).
pub const MAX_NAME: usize = 200;
/// Prefix of POSIX shm objects made by corral (`/dev/shm/corral.<name>`).
pub const POSIX_PREFIX: &str = "/corral.";

/// Why a name is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    Slash,
    Nul,
}

pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        Err(NameError::Empty)
    } else if name.len() > MAX_NAME {
        Err(NameError::TooLong)
    } else if name.contains('/') {
        Err(NameError::Slash)
    } else if name.contains('\0') {
        Err(NameError::Nul)
    } else {
        Ok(())
    }
}

/// Where a region's memory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A memfd (anonymous, or named in the program's directory).
    Memfd,
    /// A POSIX shm object (`/dev/shm/corral.<name>`), visible to other programs until unlinked.
    Posix,
}

/// A mapping of a region into this process. Unmapped and closed on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// The memfd / shm file (a `File` so that the directory can flock it).
    file: File,
    dev: u64,
    ino: u64,
    kind: Kind,
}

// SAFETY: the mapping is plain shared memory; access goes through JS (atomics) or atomics here.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

fn stat_of(fd: impl AsFd) -> io::Result<FileStat> {
    Ok(fstat(fd)?)
}

/// `size` as a file length (off_t).
fn file_len<T: TryFrom<u64>>(size: u64) -> Result<T, Errno> {
    T::try_from(size).map_err(|_| Errno::EINVAL)
}

fn check_size(size: u64) -> io::Result<()> {
    if size == 0 || size > MAX_SIZE {
        return Err(Errno::EINVAL.into());
    }
    Ok(())
}

impl Mapping {
    /// A new zero-filled memfd region of `size` bytes. Its size is sealed: nobody can shrink it
    /// under another process's mapping (which would SIGBUS that process).
    pub fn create_memfd(size: u64, label: &str) -> io::Result<Mapping> {
        check_size(size)?;
        let label = CString::new(format!("corral-shared:{}", label.replace('\0', ""))).map_err(|_| Errno::EINVAL)?;
        let fd = memfd_create(label.as_c_str(), MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
        ftruncate(&fd, file_len(size)?)?;
        let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
        fcntl(&fd, FcntlArg::F_ADD_SEALS(seals))?;
        Mapping::map(fd, size as usize, Kind::Memfd)
    }

    /// Maps the whole of an open memfd / shm file (the fd is taken over). A memfd must be one
    /// whose size is sealed (as `create` makes them): any other file could shrink under the
    /// mapping, and touching the lost pages would kill the process (SIGBUS). EINVAL otherwise.
    pub fn from_fd(fd: OwnedFd, kind: Kind) -> io::Result<Mapping> {
        let st = stat_of(&fd)?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(Errno::EINVAL.into());
        }
        if kind == Kind::Memfd {
            let seals = fcntl(&fd, FcntlArg::F_GET_SEALS).map_err(|_| Errno::EINVAL)?;
            if !SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_SHRINK) {
                return Err(Errno::EINVAL.into());
            }
        }
        let size = st.st_size as u64;
        check_size(size)?;
        Mapping::map(fd, size as usize, kind)
    }

    /// Maps a duplicate of fd number `fd` (which stays the caller's, open during the call).
    pub fn from_borrowed_fd(fd: RawFd) -> io::Result<Mapping> {
        Mapping::from_fd(crate::ipc::scm::dup_raw(fd)?, Kind::Memfd)
    }

    /// Reopens a region held by process `pid` as its fd `fd`, checking that it is still the
    /// same file (inode `ino`): pids and fd numbers are reused.
    pub fn open_proc(pid: i32, fd: i32, ino: u64) -> io::Result<Mapping> {
        let file = open_proc_fd(pid, fd, ino)?;
        Mapping::from_fd(file, Kind::Memfd)
    }

    /// Creates the POSIX shm object `/corral.<name>` (mode 0600, fails if it exists).
    pub fn create_posix(name: &str, size: u64) -> io::Result<Mapping> {
        check_size(size)?;
        let path = posix_path(name)?;
        let owner_rw = Mode::S_IRUSR | Mode::S_IWUSR;
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC;
        let fd = shm_open(path.as_c_str(), flags, owner_rw)?;
        let made = fchmod(&fd, owner_rw).and_then(|()| ftruncate(&fd, file_len(size)?));
        if let Err(e) = made {
            let _ = shm_unlink(path.as_c_str());
            return Err(e.into());
        }
        Mapping::map(fd, size as usize, Kind::Posix)
    }

    /// Opens the existing POSIX shm object `/corral.<name>`.
    pub fn open_posix(name: &str) -> io::Result<Mapping> {
        let path = posix_path(name)?;
        let fd = shm_open(path.as_c_str(), OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())?;
        Mapping::from_fd(fd, Kind::Posix)
    }

    fn map(fd: OwnedFd, len: usize, kind: Kind) -> io::Result<Mapping> {
        let st = stat_of(&fd)?;
        let (dev, ino) = (st.st_dev, st.st_ino);
        // Callers refuse size 0 (check_size).
        let length = NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
        // SAFETY: a new MAP_SHARED mapping of a file we hold open, at an address the kernel
        // picks, so it aliases no Rust object; the memory is only reached through raw pointers
        // and atomics (as_ptr), and unmapped once, in Drop.
        let ptr = unsafe { mmap(None, length, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, &fd, 0) }?;
        Ok(Mapping { ptr: ptr.cast(), len, file: File::from(fd), dev, ino, kind })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// The region's file (its fd).
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Device of the file: with the inode, identifies the region across mappings.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we mapped exactly this range; nobody may use it after the last holder dropped.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

/// Opens `/proc/<pid>/fd/<fd>` read-write and checks its inode.
pub fn open_proc_fd(pid: i32, fd: i32, ino: u64) -> io::Result<OwnedFd> {
    if pid <= 0 || fd < 0 {
        return Err(Errno::ENOENT.into());
    }
    let path = format!("/proc/{pid}/fd/{fd}");
    let file = nix::fcntl::open(path.as_str(), OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())?;
    if stat_of(&file)?.st_ino != ino {
        return Err(Errno::ENOENT.into());
    }
    Ok(file)
}

fn posix_path(name: &str) -> io::Result<CString> {
    check_name(name).map_err(|_| Errno::EINVAL)?;
    Ok(CString::new(format!("{POSIX_PREFIX}{name}")).map_err(|_| Errno::EINVAL)?)
}

/// Removes the POSIX shm object `/corral.<name>` (mappings stay valid).
pub fn unlink_posix(name: &str) -> io::Result<()> {
    shm_unlink(posix_path(name)?.as_c_str())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI32, Ordering};

    fn word(m: &Mapping, i: usize) -> &AtomicI32 {
        assert!(i * 4 + 4 <= m.len());
        // SAFETY: in range, 4-aligned (mmap is page-aligned), lives as long as m.
        unsafe { &*(m.as_ptr().add(i * 4) as *const AtomicI32) }
    }

    #[test]
    fn names() {
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("a/b"), Err(NameError::Slash));
        assert_eq!(check_name("a\0b"), Err(NameError::Nul));
        assert_eq!(check_name(&"x".repeat(MAX_NAME + 1)), Err(NameError::TooLong));
        assert_eq!(check_name(&"x".repeat(MAX_NAME)), Ok(()));
        assert_eq!(check_name("counter.v1"), Ok(()));
    }

    #[test]
    fn sizes() {
        assert!(Mapping::create_memfd(0, "t").is_err());
        assert!(Mapping::create_memfd(MAX_SIZE + 1, "t").is_err());
        let m = Mapping::create_memfd(10, "t").unwrap();
        assert_eq!(m.len(), 10);
    }

    #[test]
    fn two_mappings_of_one_memfd_share_memory() {
        let a = Mapping::create_memfd(4096, "t").unwrap();
        let b = Mapping::from_borrowed_fd(a.fd()).unwrap();
        assert_ne!(a.as_ptr(), b.as_ptr());
        assert_eq!(a.ino(), b.ino());
        word(&a, 3).store(42, Ordering::SeqCst);
        assert_eq!(word(&b, 3).load(Ordering::SeqCst), 42);
        // Reopening through /proc gives the same memory too.
        let c = Mapping::open_proc(std::process::id() as i32, a.fd(), a.ino()).unwrap();
        assert_eq!(word(&c, 3).load(Ordering::SeqCst), 42);
        assert!(Mapping::open_proc(std::process::id() as i32, a.fd(), a.ino() + 1).is_err());
    }

    #[test]
    fn only_size_sealed_memfds_are_mapped_from_an_fd() {
        // A plain file (or an unsealed memfd) could shrink under the mapping: SIGBUS.
        let path = std::env::temp_dir().join(format!("corral-unit-file-{}", std::process::id()));
        std::fs::write(&path, [0u8; 8192]).unwrap();
        let file = std::fs::File::options().read(true).write(true).open(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let err = Mapping::from_borrowed_fd(file.as_raw_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::EINVAL as i32));
        let unsealed = memfd_create(c"corral-unit", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING).unwrap();
        ftruncate(&unsealed, 4096).unwrap();
        assert!(Mapping::from_borrowed_fd(unsealed.as_raw_fd()).is_err());
    }

    #[test]
    fn sealed_against_resizing() {
        let a = Mapping::create_memfd(4096, "t").unwrap();
        assert_eq!(ftruncate(a.file(), 0), Err(Errno::EPERM));
        assert_eq!(ftruncate(a.file(), 8192), Err(Errno::EPERM));
    }

    #[test]
    fn posix_lifecycle() {
        let name = format!("unit-{}", std::process::id());
        let a = Mapping::create_posix(&name, 64).unwrap();
        assert!(Mapping::create_posix(&name, 64).is_err(), "exclusive");
        let st = stat_of(a.file()).unwrap();
        assert_eq!(st.st_mode & 0o777, 0o600);
        let b = Mapping::open_posix(&name).unwrap();
        word(&a, 0).store(7, Ordering::SeqCst);
        assert_eq!(word(&b, 0).load(Ordering::SeqCst), 7);
        unlink_posix(&name).unwrap();
        assert!(Mapping::open_posix(&name).is_err());
        assert!(unlink_posix(&name).is_err());
        assert_eq!(word(&b, 0).load(Ordering::SeqCst), 7);
    }

    #[test]
    fn cross_process_futex_wake() {
        use crate::shared::futex::{wait, wake, Deadline, WaitOutcome};
        use std::time::Duration;
        let m = Mapping::create_memfd(4096, "t").unwrap();
        // SAFETY: the child only does async-signal-safe work (mmap, futex, _exit).
        let pid = match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Parent { child } => child,
            nix::unistd::ForkResult::Child => {
                // Child: a fresh mapping (different address) of the same memfd.
                let code = match Mapping::from_borrowed_fd(m.fd()) {
                    Ok(c) => {
                        word(&c, 1).store(1, Ordering::SeqCst);
                        match wait(word(&c, 0), 0, Some(Deadline::after(Duration::from_secs(10)))) {
                            WaitOutcome::Woken => 0,
                            _ => 1,
                        }
                    }
                    Err(_) => 2,
                };
                // SAFETY: leave the forked child without running the parent's destructors.
                unsafe { libc::_exit(code) };
            }
        };
        while word(&m, 1).load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The word never changes: only a cross-process FUTEX_WAKE can end the child's wait.
        let mut woke = 0;
        for _ in 0..5000 {
            woke += wake(word(&m, 0), 1);
            if woke > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(woke, 1, "the child was never seen asleep");
        let status = nix::sys::wait::waitpid(pid, None).unwrap();
        assert!(matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)), "child status {status:?}");
    }
}
