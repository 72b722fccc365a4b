//! A worker's hand-off lane: a unix stream socket pair carrying round-robin connections from
//! the accept thread to one worker, many per write, each fd paired with its listening key
//! (4 bytes, native order, in the same order as the fds).
//!
//! Nothing comes back per connection. The primary keeps a copy of the worker's end, so it can
//! count what the worker has not read yet (the scheduler's "pending") and, once the worker is
//! gone, read back every connection it never took and give it to another worker. A worker
//! that cannot serve a connection (server closed, maxConnections) writes it back on its end.
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::poll::{poll, PollFd, PollFlags};

use crate::ipc::scm;

const KEY: usize = std::mem::size_of::<u32>();

/// Connections per write. A worker takes one write per loop turn (./lane_js.rs), so this bounds
/// what a worker holds without having started on it: what is lost if it dies (the rest stays in
/// the lane and goes to another worker). One, as Node's round robin, which hands over one
/// connection per acknowledged message: with more, a worker takes a few more connections in
/// each turn before its first request blocks it (4 lost 12 of 24 requests in
/// __test__/cluster.test.js, where 1 loses 2).
pub const PER_WRITE: usize = 1;

pub struct Lane {
    /// The primary's end: hand-offs go out here, connections handed back come in.
    tx: OwnedFd,
    /// A copy of the worker's end, never read while the worker lives.
    peer: OwnedFd,
}

impl Lane {
    /// A new lane, and the worker's end to send it (a duplicate; the lane keeps its own).
    pub fn new() -> io::Result<(Lane, OwnedFd)> {
        let (tx, peer) = scm::socketpair()?;
        scm::set_nonblocking(&tx)?;
        scm::set_nonblocking(&peer)?;
        let give = scm::dup(&peer)?;
        Ok((Lane { tx, peer }, give))
    }

    pub fn tx_fd(&self) -> BorrowedFd<'_> {
        self.tx.as_fd()
    }

    /// Connections written to the worker and not read by it yet.
    pub fn queued(&self) -> usize {
        let mut n: std::ffi::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        if unsafe { libc::ioctl(self.peer.as_raw_fd(), libc::FIONREAD, &mut n) } < 0 {
            return 0;
        }
        n.max(0) as usize / KEY
    }

    /// Sends `items` (key, fd) and returns how many went (all of them, unless the worker's
    /// end is full); the kernel holds its own references, the caller may close its fds.
    pub fn send(&self, items: &[(u32, RawFd)]) -> usize {
        send_pairs(self.tx.as_fd(), items)
    }

    /// Connections the worker handed back.
    pub fn returned(&self, pairing: &mut Pairing) -> Vec<(u32, OwnedFd)> {
        let mut out = Vec::new();
        let _ = pairing.read(self.tx.as_raw_fd(), &mut out, usize::MAX);
        out
    }

    /// Every connection written to the worker that it never read (call once it is gone).
    pub fn take_back(&self) -> Vec<(u32, OwnedFd)> {
        let mut out = Vec::new();
        let _ = Pairing::default().read(self.peer.as_raw_fd(), &mut out, usize::MAX);
        out
    }
}

/// Writes (key, fd) pairs on `sock`, PER_WRITE per write; returns how many pairs went.
pub fn send_pairs(sock: BorrowedFd<'_>, items: &[(u32, RawFd)]) -> usize {
    let raw = sock.as_raw_fd();
    let mut sent = 0;
    for chunk in items.chunks(PER_WRITE.min(scm::MAX_FDS)) {
        let keys: Vec<u8> = chunk.iter().flat_map(|(k, _)| k.to_ne_bytes()).collect();
        let fds: Vec<RawFd> = chunk.iter().map(|(_, f)| *f).collect();
        let Ok(n) = scm::send_fds(raw, &keys, &fds) else { return sent };
        // The fds went with the first byte; the rest of their keys must follow. (A write this
        // small is taken whole by the kernel; this is only a safety net.)
        let mut off = n;
        while off < keys.len() {
            match scm::send(raw, &keys[off..], None) {
                Ok(m) => off += m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = poll(&mut [PollFd::new(sock, PollFlags::POLLOUT)], 100u16);
                }
                Err(_) => return sent + chunk.len(),
            }
        }
        sent += chunk.len();
    }
    sent
}

/// Reassembles (key, fd) pairs from a lane's byte stream and the fds that ride on it.
#[derive(Default)]
pub struct Pairing {
    bytes: Vec<u8>,
    fds: VecDeque<OwnedFd>,
}

impl Pairing {
    /// Reads what `sock` has now (at most `max_reads` reads), appending complete pairs to
    /// `out`. Ok(false) at end of stream.
    pub fn read(&mut self, sock: RawFd, out: &mut Vec<(u32, OwnedFd)>, max_reads: usize) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        let mut fds = Vec::new();
        let mut open = true;
        for _ in 0..max_reads {
            match scm::recv(sock, &mut buf, &mut fds) {
                Ok(0) => {
                    open = false;
                    break;
                }
                Ok(n) => self.bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
            self.fds.extend(fds.drain(..));
        }
        self.fds.extend(fds);
        let pairs = (self.bytes.len() / KEY).min(self.fds.len());
        for chunk in self.bytes.chunks_exact(KEY).take(pairs) {
            let key = u32::from_ne_bytes(chunk.try_into().expect("4 bytes"));
            out.push((key, self.fds.pop_front().expect("paired fd")));
        }
        self.bytes.drain(..pairs * KEY);
        Ok(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> (OwnedFd, OwnedFd) {
        scm::socketpair().unwrap()
    }

    #[test]
    fn pairs_arrive_in_order_one_per_write() {
        // (A lane holds a few hundred single-connection writes; what does not fit is parked by
        // the accept thread, see accept.rs.)
        let (lane, worker) = Lane::new().unwrap();
        let conns: Vec<_> = (0..100).map(|_| conn()).collect();
        let items: Vec<(u32, RawFd)> = conns.iter().enumerate().map(|(i, c)| (i as u32, c.0.as_raw_fd())).collect();
        assert_eq!(lane.send(&items), 100);
        assert_eq!(lane.queued(), 100);
        let mut out = Vec::new();
        let mut pairing = Pairing::default();
        while out.len() < 100 {
            assert!(pairing.read(worker.as_raw_fd(), &mut out, 16).unwrap());
        }
        assert_eq!(lane.queued(), 0);
        for (i, (key, fd)) in out.iter().enumerate() {
            assert_eq!(*key, i as u32);
            // The fd received is the socket sent: its peer hears what it writes.
            scm::send(fd.as_raw_fd(), b"x", None).unwrap();
            let mut b = [0u8; 1];
            let mut none = Vec::new();
            assert_eq!(scm::recv(conns[i].1.as_raw_fd(), &mut b, &mut none).unwrap(), 1);
        }
    }

    #[test]
    fn unread_connections_come_back_and_returns_are_read() {
        let (lane, worker) = Lane::new().unwrap();
        let (a, _a2) = conn();
        let (b, _b2) = conn();
        assert_eq!(lane.send(&[(7, a.as_raw_fd()), (9, b.as_raw_fd())]), 2);
        let back = lane.take_back();
        assert_eq!(back.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![7, 9]);
        assert_eq!(lane.queued(), 0);
        let (c, _c2) = conn();
        assert_eq!(send_pairs(worker.as_fd(), &[(3, c.as_raw_fd())]), 1);
        let returned = lane.returned(&mut Pairing::default());
        assert_eq!(returned.len(), 1);
        assert_eq!(returned[0].0, 3);
    }
}
