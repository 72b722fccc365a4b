use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::shim::{MessagePtr, Waker};

#[derive(Default)]
struct InboxState {
    queue: VecDeque<MessagePtr>,
    /// A wake-up has been sent and not yet answered by a pop that found the queue empty.
    notified: bool,
    /// The endpoint owning this inbox has been closed: messages sent to it are dropped.
    closed: bool,
    /// The other endpoint has been closed.
    peer_closed: bool,
    waker: Option<Waker>,
}

impl InboxState {
    fn has_news(&self) -> bool {
        !self.queue.is_empty() || self.peer_closed
    }

    fn wake_if_idle(&mut self) {
        if !self.notified {
            if let Some(waker) = &self.waker {
                self.notified = true;
                waker.wake();
            }
        }
    }
}

/// Hand-made (Mutex<VecDeque> + one wake-up per batch, the receiver swapping out the whole
/// batch under one lock) rather than crossbeam-channel: a crossbeam version with the same
/// semantics (src/queue_bench.rs, `cb::Endpoint`) measured slower when streaming, 1P/1C
/// 84-160 vs 32-107 ns/message (slower in 6 of 6 runs, 1.15-3.1x), 2P/1C 46-80 vs 27-66
/// (slower in 5 of 6, 0.82-1.86x), and the same in ping-pong (0.97-1.08x); medians of 5 on a
/// shared 2-core machine. End to end (benchmark/worker_threads.js, two builds, busy machine)
/// oneway 1.75-2.03M vs 2.01-2.22M msg/s, channel and roundtrip within noise. Kept.
#[derive(Default)]
struct Inbox {
    state: Mutex<InboxState>,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One end of a channel. Owned by exactly one holder at a time: a port object, or a message
/// (or worker spec) carrying it to another thread.
pub struct Endpoint {
    own: Arc<Inbox>,
    peer: Arc<Inbox>,
    /// Messages already taken out of `own` in one batch, still to be popped. Only the holder
    /// touches it (pop and queued are called by the thread holding the endpoint), so a
    /// streaming receiver takes the inbox lock once per batch instead of once per message.
    /// It moves with the endpoint and is dropped with it, as the inbox's queue is.
    taken: UnsafeCell<VecDeque<MessagePtr>>,
}

/// What `pop` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop {
    Message(MessagePtr),
    Empty,
    /// Nothing (more) to deliver and the other side has closed.
    Closed,
}

impl Endpoint {
    pub fn pair() -> (Endpoint, Endpoint) {
        let a = Arc::new(Inbox::default());
        let b = Arc::new(Inbox::default());
        (
            Endpoint { own: a.clone(), peer: b.clone(), taken: Default::default() },
            Endpoint { own: b, peer: a, taken: Default::default() },
        )
    }

    pub fn is_entangled_with(&self, other: &Endpoint) -> bool {
        Arc::ptr_eq(&self.peer, &other.own)
    }

    /// Queues a message for the other side. Returns it back if that side is closed.
    pub fn send(&self, msg: MessagePtr) -> Result<(), MessagePtr> {
        let mut peer = self.peer.lock();
        if peer.closed {
            return Err(msg);
        }
        peer.queue.push_back(msg);
        peer.wake_if_idle();
        Ok(())
    }

    /// Whether the other side has been closed (sending to it would fail).
    pub fn is_peer_closed(&self) -> bool {
        self.peer.lock().closed
    }

    /// Takes the next message (`want_messages`), or only reports whether the other side closed
    /// (a port that is not receiving). The close comes after the messages sent before it, as in
    /// Node: a port that is not receiving and still holds messages is not told (it closes once
    /// it has delivered them). An empty answer re-arms the wake-up. Called only by the
    /// endpoint's holder.
    pub fn pop(&self, want_messages: bool) -> Pop {
        // SAFETY: `taken` is touched only by the holder (see the field), never concurrently.
        let taken = unsafe { &mut *self.taken.get() };
        if want_messages {
            if let Some(msg) = taken.pop_front() {
                return Pop::Message(msg);
            }
        }
        let mut own = self.own.lock();
        if want_messages && !own.queue.is_empty() {
            std::mem::swap(taken, &mut own.queue);
            drop(own);
            return Pop::Message(taken.pop_front().expect("a batch just taken"));
        }
        if own.peer_closed && own.queue.is_empty() && taken.is_empty() {
            return Pop::Closed;
        }
        own.notified = false;
        Pop::Empty
    }

    /// The other side has closed and nothing is left to take: the next pop says Closed. (No
    /// side effect on the wake-up, unlike an empty pop.) Called by the holder.
    pub fn drained_and_closed(&self) -> bool {
        // SAFETY: as in pop.
        let batch_pending = unsafe { !(*self.taken.get()).is_empty() };
        if batch_pending {
            return false;
        }
        let own = self.own.lock();
        own.peer_closed && own.queue.is_empty()
    }

    /// Called by the holder (a port attaching or detaching the endpoint).
    pub fn set_waker(&self, waker: Option<Waker>) {
        // SAFETY: as in pop.
        let batch_pending = unsafe { !(*self.taken.get()).is_empty() };
        let mut own = self.own.lock();
        own.waker = waker;
        own.notified = false;
        if batch_pending || own.has_news() {
            own.wake_if_idle();
        }
    }

    /// Whether a message or the other side's close waits for the holder (called by the holder).
    pub fn has_news(&self) -> bool {
        // SAFETY: as in pop.
        let batch_pending = unsafe { !(*self.taken.get()).is_empty() };
        batch_pending || self.own.lock().has_news()
    }

    /// Messages waiting for the holder (called by the holder).
    pub fn queued(&self) -> usize {
        // SAFETY: as in pop.
        let taken = unsafe { &*self.taken.get() };
        taken.len() + self.own.lock().queue.len()
    }
}

impl Drop for Endpoint {
    /// Closing one end closes the pair: queued messages are dropped, the other side is told.
    fn drop(&mut self) {
        let dropped = {
            let mut own = self.own.lock();
            own.closed = true;
            own.waker = None;
            std::mem::take(&mut own.queue)
        };
        {
            let mut peer = self.peer.lock();
            peer.peer_closed = true;
            peer.wake_if_idle();
        }
        // Freed outside the locks: a message may own endpoints whose drop locks other inboxes.
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: usize) -> MessagePtr {
        MessagePtr::test_value(n)
    }

    #[test]
    fn messages_arrive_in_order_on_the_other_side() {
        let (a, b) = Endpoint::pair();
        for i in 1..=100 {
            a.send(msg(i)).unwrap();
        }
        assert_eq!(a.queued(), 0);
        for i in 1..=100 {
            assert_eq!(b.pop(true), Pop::Message(msg(i)));
        }
        assert_eq!(b.pop(true), Pop::Empty);
    }

    #[test]
    fn closing_one_end_is_seen_by_the_other_after_its_messages() {
        let (a, b) = Endpoint::pair();
        a.send(msg(1)).unwrap();
        drop(a);
        assert_eq!(b.pop(true), Pop::Message(msg(1)));
        assert_eq!(b.pop(true), Pop::Closed);
    }

    #[test]
    fn a_port_that_is_not_receiving_hears_the_close_only_after_its_messages() {
        let (a, b) = Endpoint::pair();
        a.send(msg(7)).unwrap();
        assert_eq!(b.pop(false), Pop::Empty);
        assert_eq!(b.queued(), 1);
        drop(a);
        assert_eq!(b.pop(false), Pop::Empty);
        assert_eq!(b.pop(true), Pop::Message(msg(7)));
        assert_eq!(b.pop(false), Pop::Closed);
        let (c, d) = Endpoint::pair();
        drop(c);
        assert_eq!(d.pop(false), Pop::Closed);
    }

    #[test]
    fn the_last_message_taken_behind_a_close_leaves_the_endpoint_drained_and_closed() {
        let (a, b) = Endpoint::pair();
        a.send(msg(1)).unwrap();
        a.send(msg(2)).unwrap();
        assert!(!b.drained_and_closed());
        drop(a);
        assert!(!b.drained_and_closed());
        assert_eq!(b.pop(true), Pop::Message(msg(1)));
        assert!(!b.drained_and_closed());
        assert_eq!(b.pop(true), Pop::Message(msg(2)));
        assert!(b.drained_and_closed());
        assert_eq!(b.pop(false), Pop::Closed);
    }

    #[test]
    fn a_batch_taken_but_not_delivered_moves_with_the_endpoint() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static WAKES: AtomicUsize = AtomicUsize::new(0);
        let (a, b) = Endpoint::pair();
        for i in 1..=3 {
            a.send(msg(i)).unwrap();
        }
        assert_eq!(b.pop(true), Pop::Message(msg(1)));
        assert_eq!(b.queued(), 2);
        // b changes holder (a transfer): the new holder is woken for what is left.
        let moved = std::thread::spawn(move || b).join().unwrap();
        moved.set_waker(Some(Waker::test_counter(&WAKES)));
        assert_eq!(WAKES.load(Ordering::SeqCst), 1);
        a.send(msg(4)).unwrap();
        for i in 2..=4 {
            assert_eq!(moved.pop(true), Pop::Message(msg(i)));
        }
        assert_eq!(moved.pop(true), Pop::Empty);
    }

    #[test]
    fn news_is_a_waiting_message_a_taken_batch_or_the_close() {
        let (a, b) = Endpoint::pair();
        assert!(!b.has_news());
        a.send(msg(1)).unwrap();
        a.send(msg(2)).unwrap();
        assert!(b.has_news());
        assert_eq!(b.pop(true), Pop::Message(msg(1)));
        assert!(b.has_news(), "the rest of the taken batch");
        assert_eq!(b.pop(true), Pop::Message(msg(2)));
        assert!(!b.has_news());
        drop(a);
        assert!(b.has_news());
    }

    #[test]
    fn sending_to_a_closed_end_gives_the_message_back() {
        let (a, b) = Endpoint::pair();
        drop(b);
        assert_eq!(a.send(msg(3)), Err(msg(3)));
    }

    #[test]
    fn entanglement_is_symmetric_and_exclusive() {
        let (a, b) = Endpoint::pair();
        let (c, _d) = Endpoint::pair();
        assert!(a.is_entangled_with(&b) && b.is_entangled_with(&a));
        assert!(!a.is_entangled_with(&c) && !a.is_entangled_with(&a));
    }

    #[test]
    fn one_wake_per_batch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static WAKES: AtomicUsize = AtomicUsize::new(0);
        let (a, b) = Endpoint::pair();
        b.set_waker(Some(Waker::test_counter(&WAKES)));
        for i in 0..50 {
            a.send(msg(i)).unwrap();
        }
        assert_eq!(WAKES.load(Ordering::SeqCst), 1);
        while let Pop::Message(_) = b.pop(true) {}
        a.send(msg(99)).unwrap();
        assert_eq!(WAKES.load(Ordering::SeqCst), 2);
    }
}
