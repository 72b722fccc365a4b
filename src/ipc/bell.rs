//! A channel's doorbell: a page both processes of a corral-to-corral IPC channel map (a sealed
//! memfd the parent makes and the child inherits), holding one counter per direction. A
//! writer bumps its peer's counter after each write that put bytes on the socket, so a peer
//! spinning before it sleeps (src/shim/spin.cc) sees the message with a memory read instead of
//! a poll(2) of its event loop every few checks: the reply to a ping is read sooner.
//!
//! Only a hint: the socket stays the channel, and a peer that never rings (Node's own end)
//! is still found by the spinner's poll.
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use nix::sys::stat::fstat;
use nix::unistd::ftruncate;

const PAGE: usize = 4096;
/// The counter the child rings (the parent listens to it), and the one the parent rings; a
/// cache line apart.
const TO_PARENT: usize = 0;
const TO_CHILD: usize = 64;

/// A new doorbell page, unmapped here: its fd goes to the child and to `Bell::map`.
pub fn create() -> io::Result<OwnedFd> {
    let fd = memfd_create(c"corral-ipc-bell", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    ftruncate(&fd, PAGE as i64)?;
    let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
    fcntl(&fd, FcntlArg::F_ADD_SEALS(seals))?;
    Ok(fd)
}

/// One end's view of the page.
pub struct Bell {
    page: NonNull<u8>,
    incoming: usize,
    outgoing: usize,
}

// SAFETY: the page is plain shared memory, reached only through the atomics below; it stays
// mapped until the Bell is dropped.
unsafe impl Send for Bell {}
unsafe impl Sync for Bell {}

impl Bell {
    /// Maps the page of `fd` (closed on return) for the parent's end or the child's. The fd
    /// must be a memfd of one page whose size is sealed (a file that could shrink would
    /// SIGBUS this process when touched): EINVAL otherwise.
    pub fn map(fd: OwnedFd, parent: bool) -> io::Result<Bell> {
        let st = fstat(&fd)?;
        let seals = fcntl(&fd, FcntlArg::F_GET_SEALS).map_err(|_| Errno::EINVAL)?;
        if st.st_size as usize != PAGE || !SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_SHRINK) {
            return Err(Errno::EINVAL.into());
        }
        let len = NonZeroUsize::new(PAGE).expect("page");
        // SAFETY: a new MAP_SHARED mapping of a file we hold, at an address the kernel picks,
        // so it aliases no Rust object; unmapped once, in Drop.
        let ptr = unsafe { mmap(None, len, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, &fd, 0) }?;
        let (incoming, outgoing) = if parent { (TO_PARENT, TO_CHILD) } else { (TO_CHILD, TO_PARENT) };
        Ok(Bell { page: ptr.cast(), incoming, outgoing })
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: in the page, 4-aligned (the page is page-aligned), mapped while self lives.
        unsafe { &*self.page.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    /// After a write that put bytes on the socket: the peer's spinner may stop spinning.
    pub fn ring(&self) {
        self.word(self.outgoing).fetch_add(1, Ordering::Release);
    }

    /// The counter this end's spinner watches.
    pub fn incoming(&self) -> *const AtomicU32 {
        self.word(self.incoming)
    }
}

impl Drop for Bell {
    fn drop(&mut self) {
        // SAFETY: we mapped exactly this page; the spinner stopped watching it (js.rs finish).
        let _ = unsafe { munmap(self.page.cast(), PAGE) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_hears_the_other() {
        let fd = create().unwrap();
        let child_fd = fd.try_clone().unwrap();
        let parent = Bell::map(fd, true).unwrap();
        let child = Bell::map(child_fd, false).unwrap();
        // SAFETY: both point into live mappings.
        let heard = |b: &Bell| unsafe { (*b.incoming()).load(Ordering::Acquire) };
        parent.ring();
        parent.ring();
        child.ring();
        assert_eq!(heard(&child), 2);
        assert_eq!(heard(&parent), 1);
    }

    #[test]
    fn refuses_what_is_not_a_sealed_page() {
        let fd = memfd_create(c"t", MFdFlags::MFD_CLOEXEC).unwrap();
        ftruncate(&fd, PAGE as i64).unwrap();
        assert!(Bell::map(fd, true).is_err());
        let fd = memfd_create(c"t", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING).unwrap();
        ftruncate(&fd, 2 * PAGE as i64).unwrap();
        fcntl(&fd, FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK)).unwrap();
        assert!(Bell::map(fd, true).is_err());
    }
}
