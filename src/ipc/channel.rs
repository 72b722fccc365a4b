//! The primary end of one IPC channel. Writes go straight from the JS thread with a
//! non-blocking sendmsg; what the socket cannot take now is queued in order and flushed when
//! writable.
//!
//! A send gathered with others of the same tick is deferred: queued without a write, for the
//! JS thread's flush at the end of its tick or, if that thread stays busy, the flush thread's
//! (src/ipc/flusher.rs).
//!
//! Every fd sent stays owned here until the peer acknowledges it (NODE_HANDLE_ACK, in send
//! order), so a NACK can send it again. (Round-robin connections do not ride here: they go
//! through the worker's hand-off lane, src/net/lane.rs.)
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::bell::Bell;
use super::frame::Mode;
use super::scm;

/// Who sent a handle, so its acknowledgement can be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `send(msg, handle)` from JS; the token is reported back on ACK.
    Js(u32),
}

struct Out {
    bytes: Vec<u8>,
    off: usize,
    fd: Option<(OwnedFd, Origin)>,
}

/// A handle written but not yet acknowledged.
pub struct Held {
    pub bytes: Vec<u8>,
    pub fd: OwnedFd,
    pub origin: Origin,
}

#[derive(Default)]
struct Writer {
    queue: VecDeque<Out>,
    inflight: VecDeque<Held>,
    queued_bytes: usize,
}

/// Deferred sends are appended to the queue's last entry (one write for them all) up to this
/// many bytes in it.
const COALESCE_MAX: usize = 256 * 1024;

pub struct Channel {
    fd: OwnedFd,
    pub mode: Mode,
    w: Mutex<Writer>,
    dead: AtomicBool,
    /// Deferred bytes wait, and the flush thread knows (src/ipc/flusher.rs).
    pub(crate) armed: AtomicBool,
    /// Rung after each write, when the peer is corral's too (src/ipc/bell.rs).
    bell: Option<Bell>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Written to the socket.
    Done,
    /// Queued behind earlier data; flushed once the socket is writable.
    Queued,
}

impl Channel {
    pub fn new(fd: OwnedFd, mode: Mode) -> io::Result<Channel> {
        scm::set_nonblocking(&fd)?;
        Ok(Channel {
            fd,
            mode,
            w: Mutex::new(Writer::default()),
            dead: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            bell: None,
        })
    }

    /// A doorbell shared with the peer (before the channel is shared).
    pub fn with_bell(mut self, bell: Bell) -> Channel {
        self.bell = Some(bell);
        self
    }

    pub fn bell(&self) -> Option<&Bell> {
        self.bell.as_ref()
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    pub fn mark_dead(&self) {
        self.dead.store(true, Ordering::Release);
    }

    pub fn queued_bytes(&self) -> usize {
        self.w.lock().queued_bytes
    }

    pub fn has_queue(&self) -> bool {
        !self.w.lock().queue.is_empty()
    }

    /// Sends one complete frame, with an optional fd that this channel now owns.
    pub fn send(&self, bytes: Vec<u8>, fd: Option<(OwnedFd, Origin)>) -> io::Result<Sent> {
        if self.is_dead() {
            return Err(io::Error::from(nix::errno::Errno::EPIPE));
        }
        let mut w = self.w.lock();
        w.queued_bytes += bytes.len();
        w.queue.push_back(Out { bytes, off: 0, fd });
        // Flushing here also moves data another thread queued earlier.
        self.flush_locked(&mut w)
    }

    /// Queues one complete frame behind everything before it without writing it (the next
    /// flush does). Returns the bytes now queued.
    pub fn defer(&self, bytes: &[u8]) -> io::Result<usize> {
        if self.is_dead() {
            return Err(io::Error::from(nix::errno::Errno::EPIPE));
        }
        let mut w = self.w.lock();
        w.queued_bytes += bytes.len();
        match w.queue.back_mut() {
            // (An entry whose fd went out already has its bytes copied for a resend.)
            Some(back) if back.fd.is_none() && back.bytes.len() - back.off + bytes.len() <= COALESCE_MAX => {
                back.bytes.extend_from_slice(bytes)
            }
            _ => w.queue.push_back(Out { bytes: bytes.to_vec(), off: 0, fd: None }),
        }
        Ok(w.queued_bytes)
    }

    /// Writes what the socket takes now.
    pub fn flush(&self) -> io::Result<Sent> {
        let mut w = self.w.lock();
        self.flush_locked(&mut w)
    }

    fn flush_locked(&self, w: &mut Writer) -> io::Result<Sent> {
        let mut wrote = false;
        let result = self.write_queue(w, &mut wrote);
        if wrote {
            if let Some(bell) = &self.bell {
                bell.ring();
            }
        }
        result
    }

    fn write_queue(&self, w: &mut Writer, wrote: &mut bool) -> io::Result<Sent> {
        while let Some(front) = w.queue.front_mut() {
            let fd = if front.off == 0 { front.fd.as_ref().map(|(f, _)| f.as_raw_fd()) } else { None };
            match scm::send(self.fd.as_raw_fd(), &front.bytes[front.off..], fd) {
                Ok(n) => {
                    *wrote = true;
                    front.off += n;
                    w.queued_bytes -= n;
                    let front = w.queue.front_mut().expect("front");
                    if front.off < front.bytes.len() {
                        // The fd went with the first part.
                        if let Some((f, origin)) = front.fd.take() {
                            w.inflight.push_back(Held { bytes: front.bytes.clone(), fd: f, origin });
                        }
                        continue;
                    }
                    let out = w.queue.pop_front().expect("front");
                    if let Some((f, origin)) = out.fd {
                        w.inflight.push_back(Held { bytes: out.bytes, fd: f, origin });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Sent::Queued),
                Err(e) => {
                    self.mark_dead();
                    return Err(e);
                }
            }
        }
        Ok(Sent::Done)
    }

    /// The peer acknowledged the oldest handle in flight: its fd is closed here. Returns the
    /// origin, so a JS sender can be told.
    pub fn ack(&self) -> Option<Origin> {
        let held = self.w.lock().inflight.pop_front()?;
        Some(held.origin)
    }

    /// The peer got the oldest handle's message without its fd: send it again.
    pub fn nack(&self) -> io::Result<()> {
        let held = self.w.lock().inflight.pop_front();
        if let Some(h) = held {
            self.send(h.bytes, Some((h.fd, h.origin)))?;
        }
        Ok(())
    }

    /// On close: every handle not acknowledged, queued ones included.
    pub fn take_unacked(&self) -> Vec<Held> {
        let mut w = self.w.lock();
        let mut all: Vec<Held> = w.inflight.drain(..).collect();
        for out in w.queue.drain(..) {
            if let Some((fd, origin)) = out.fd {
                all.push(Held { bytes: out.bytes, fd, origin });
            }
        }
        w.queued_bytes = 0;
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_stay_until_acknowledged() {
        let (a, b) = scm::socketpair().unwrap();
        let ch = Channel::new(a, Mode::Json).unwrap();
        let (x, _y) = scm::socketpair().unwrap();
        let (p, _q) = scm::socketpair().unwrap();
        assert_eq!(ch.send(b"1\n".to_vec(), Some((x, Origin::Js(4)))).unwrap(), Sent::Done);
        assert_eq!(ch.send(b"2\n".to_vec(), Some((p, Origin::Js(9)))).unwrap(), Sent::Done);
        let mut buf = [0u8; 16];
        let mut fds = Vec::new();
        scm::recv(b.as_raw_fd(), &mut buf, &mut fds).unwrap();
        scm::recv(b.as_raw_fd(), &mut buf, &mut fds).unwrap();
        assert_eq!(fds.len(), 2);
        assert_eq!(ch.ack(), Some(Origin::Js(4)));
        let left = ch.take_unacked();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].origin, Origin::Js(9));
    }

    #[test]
    fn deferred_sends_go_out_in_one_write_at_the_flush() {
        let (a, b) = scm::socketpair().unwrap();
        let ch = Channel::new(a, Mode::Json).unwrap();
        assert_eq!(ch.defer(b"1\n").unwrap(), 2);
        assert_eq!(ch.defer(b"22\n").unwrap(), 5);
        scm::set_nonblocking(&b).unwrap();
        let mut buf = [0u8; 16];
        let mut fds = Vec::new();
        assert!(scm::recv(b.as_raw_fd(), &mut buf, &mut fds).is_err(), "nothing written before the flush");
        assert_eq!(ch.flush().unwrap(), Sent::Done);
        assert_eq!(scm::recv(b.as_raw_fd(), &mut buf, &mut fds).unwrap(), 5);
        assert_eq!(&buf[..5], b"1\n22\n");
        // A send with an fd is not merged into: what follows it is an entry of its own.
        let (x, _y) = scm::socketpair().unwrap();
        ch.defer(b"3\n").unwrap();
        assert_eq!(ch.send(b"4\n".to_vec(), Some((x, Origin::Js(1)))).unwrap(), Sent::Done);
        ch.defer(b"5\n").unwrap();
        assert_eq!(ch.flush().unwrap(), Sent::Done);
        let mut got = Vec::new();
        while let Ok(n) = scm::recv(b.as_raw_fd(), &mut buf, &mut fds) {
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"3\n4\n5\n");
        assert_eq!(fds.len(), 1);
        ch.mark_dead();
        assert!(ch.defer(b"6\n").is_err());
    }

    #[test]
    fn queues_when_full_and_keeps_order() {
        let (a, b) = scm::socketpair().unwrap();
        let ch = Channel::new(a, Mode::Json).unwrap();
        let big = vec![b'x'; 1 << 20];
        assert_eq!(ch.send(big.clone(), None).unwrap(), Sent::Queued);
        assert_eq!(ch.send(b"tail\n".to_vec(), None).unwrap(), Sent::Queued);
        scm::set_nonblocking(&b).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        let mut fds = Vec::new();
        while got.len() < big.len() + 5 {
            let _ = ch.flush();
            if let Ok(n) = scm::recv(b.as_raw_fd(), &mut buf, &mut fds) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert!(got.ends_with(b"xtail\n"));
        assert_eq!(ch.queued_bytes(), 0);
    }
}
