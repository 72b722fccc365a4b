//! sendmsg/recvmsg on a unix stream socket, with file descriptors as SCM_RIGHTS (nix's
//! `ControlMessage::ScmRights`).
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr};

/// Most fds one message can carry (the kernel's SCM_MAX_FD).
pub const MAX_FDS: usize = 253;

/// Control buffer for MAX_FDS descriptors (CMSG_SPACE: a 16-byte header plus the fds, rounded
/// up to 8), aligned for cmsghdr as recvmsg needs.
#[repr(C, align(8))]
struct ControlBuf([u8; (16 + MAX_FDS * 4).div_ceil(8) * 8]);

/// Writes without blocking; `fd` rides along with the first byte.
pub fn send(sock: RawFd, data: &[u8], fd: Option<RawFd>) -> io::Result<usize> {
    send_fds(sock, data, fd.as_slice())
}

/// Writes without blocking, with up to MAX_FDS descriptors riding along with the first byte.
pub fn send_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    assert!(fds.len() <= MAX_FDS);
    let iov = [IoSlice::new(data)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
    loop {
        match socket::sendmsg::<UnixAddr>(sock, &iov, cmsgs, flags, None) {
            Err(Errno::EINTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Reads without blocking; received fds (close-on-exec) are appended to `fds`.
/// Ok(0) is end of stream.
pub fn recv(sock: RawFd, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut cbuf = ControlBuf([0; std::mem::size_of::<ControlBuf>()]);
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
    let msg = loop {
        match socket::recvmsg::<UnixAddr>(sock, &mut iov, Some(&mut cbuf.0), flags) {
            Err(Errno::EINTR) => continue,
            r => break r?,
        }
    };
    // The buffer holds MAX_FDS (SCM_MAX_FD) descriptors, so the control data is never
    // truncated and cmsgs() does not fail.
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            // SAFETY: the kernel just installed these descriptors in our table for this
            // message; nothing else knows their numbers, so each is owned exactly once here.
            fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    Ok(msg.bytes)
}

/// A close-on-exec duplicate of `fd` (numbered 3 or above).
pub fn dup(fd: impl AsFd) -> io::Result<OwnedFd> {
    fd.as_fd().try_clone_to_owned()
}

/// A close-on-exec duplicate of fd number `fd`, handed over from JS (which keeps it open for
/// the duration of this call).
pub fn dup_raw(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(Errno::EBADF.into());
    }
    // SAFETY: the borrow lives only for this call, during which the caller (JS, holding the
    // fd as a handle or a number it owns) keeps the descriptor open; an fd number that is not
    // open makes F_DUPFD_CLOEXEC fail with EBADF and nothing else.
    dup(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// A connected pair of close-on-exec unix stream sockets.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)?)
}

pub fn set_nonblocking(fd: &impl AsFd) -> io::Result<()> {
    let fl = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn passes_an_fd_with_bytes() {
        let (a, b) = socketpair().unwrap();
        let (x, _y) = socketpair().unwrap();
        assert_eq!(send(a.as_raw_fd(), b"hello", Some(x.as_raw_fd())).unwrap(), 5);
        send(a.as_raw_fd(), b"world", None).unwrap();
        let mut buf = [0u8; 64];
        let mut fds = Vec::new();
        let n = recv(b.as_raw_fd(), &mut buf, &mut fds).unwrap();
        // The kernel ends a read after the segment carrying fds.
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(fds.len(), 1);
        let n = recv(b.as_raw_fd(), &mut buf, &mut fds).unwrap();
        assert_eq!(&buf[..n], b"world");
        assert_eq!(fds.len(), 1);
        let err = recv(b.as_raw_fd(), &mut buf, &mut fds).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn passes_the_most_fds_one_message_can_carry() {
        let (a, b) = socketpair().unwrap();
        let (x, _y) = socketpair().unwrap();
        let many = vec![x.as_raw_fd(); MAX_FDS];
        assert_eq!(send_fds(a.as_raw_fd(), b"k", &many).unwrap(), 1);
        let mut buf = [0u8; 8];
        let mut fds = Vec::new();
        assert_eq!(recv(b.as_raw_fd(), &mut buf, &mut fds).unwrap(), 1);
        assert_eq!(fds.len(), MAX_FDS);
    }

    #[test]
    fn dup_is_close_on_exec_and_above_stdio() {
        let (a, _b) = socketpair().unwrap();
        let d = dup(&a).unwrap();
        assert!(d.as_raw_fd() >= 3);
        let fl = nix::fcntl::FdFlag::from_bits_retain(fcntl(&d, FcntlArg::F_GETFD).unwrap());
        assert!(fl.contains(nix::fcntl::FdFlag::FD_CLOEXEC));
        assert!(dup_raw(-1).is_err());
    }
}
