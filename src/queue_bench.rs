//! Micro-benchmarks of the hand-made inter-thread queues against crossbeam-channel in the same
//! access pattern (issue 16). Ignored by default; run with
//!   cargo test --release --lib queue_bench -- --ignored --nocapture --test-threads 1
//! Each case runs both implementations alternately and prints the median of 5 runs of each.
//! Consumers sleep between wake-ups (a waker that counts), as a port's or the pool's loop does,
//! so a lost wake-up hangs the bench instead of flattering it. The results (kept hand-made
//! everywhere) are quoted where the queues are: port/endpoint.rs, pool/queue.rs.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::port::Pop;
use crate::shim::{MessagePtr, Waker};

const RUNS: usize = 5;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// Runs `hand` and `cb` alternately (RUNS times each) and prints both medians per operation.
fn compare(name: &str, ops: usize, hand: impl Fn() -> Duration, cb: impl Fn() -> Duration) {
    let (mut h, mut c) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        if run % 2 == 0 {
            h.push(hand());
            c.push(cb());
        } else {
            c.push(cb());
            h.push(hand());
        }
    }
    let per = |runs: Vec<Duration>| median(runs).as_nanos() as f64 / ops as f64;
    let (h, c) = (per(h), per(c));
    println!("{name:<26} hand-made {h:>7.1} ns/op   crossbeam {c:>7.1} ns/op   crossbeam/hand {:.2}", c / h);
}

/// Waits (spinning politely) until `counter` has moved past `seen`: the consumer sleeps until
/// woken, as a port's loop does, so a lost wake-up hangs the bench instead of hiding.
fn wait_wake(counter: &AtomicUsize, seen: &mut usize) {
    loop {
        let now = counter.load(Ordering::SeqCst);
        if now != *seen {
            *seen = now;
            return;
        }
        std::thread::yield_now();
    }
}

/// The endpoint API both implementations offer.
pub trait Ep: Send + Sized + 'static {
    fn pair() -> (Self, Self);
    fn send(&self, msg: MessagePtr) -> Result<(), MessagePtr>;
    fn pop(&self, want: bool) -> Pop;
    fn set_waker(&self, waker: Option<Waker>);
}

impl Ep for crate::port::Endpoint {
    fn pair() -> (Self, Self) {
        Self::pair()
    }
    fn send(&self, msg: MessagePtr) -> Result<(), MessagePtr> {
        self.send(msg)
    }
    fn pop(&self, want: bool) -> Pop {
        self.pop(want)
    }
    fn set_waker(&self, waker: Option<Waker>) {
        self.set_waker(waker)
    }
}

/// `producers` threads send `per` messages each through one sender end shared under a mutex
/// (the mailbox and BroadcastChannel pattern; plain with one producer); one consumer drains,
/// sleeping between wake-ups.
fn stream<E: Ep>(producers: usize, per: usize, wakes: &'static AtomicUsize) -> Duration {
    let (tx, rx) = E::pair();
    rx.set_waker(Some(Waker::test_counter(wakes)));
    let tx = Arc::new(Mutex::new(tx));
    let start = Instant::now();
    let senders: Vec<_> = (0..producers)
        .map(|_| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    tx.lock().unwrap().send(MessagePtr::test_value(i)).unwrap();
                }
            })
        })
        .collect();
    let mut seen = wakes.load(Ordering::SeqCst);
    let mut got = 0;
    while got < producers * per {
        match rx.pop(true) {
            Pop::Message(_) => got += 1,
            Pop::Empty => wait_wake(wakes, &mut seen),
            Pop::Closed => unreachable!(),
        }
    }
    let took = start.elapsed();
    senders.into_iter().for_each(|s| s.join().unwrap());
    took
}

/// A message goes back and forth `n` times; each side sleeps until woken.
fn ping_pong<E: Ep>(n: usize, wakes: [&'static AtomicUsize; 2]) -> Duration {
    let (a, b) = E::pair();
    a.set_waker(Some(Waker::test_counter(wakes[0])));
    b.set_waker(Some(Waker::test_counter(wakes[1])));
    let echo = std::thread::spawn(move || {
        let mut seen = wakes[1].load(Ordering::SeqCst);
        for _ in 0..n {
            loop {
                match b.pop(true) {
                    Pop::Message(m) => {
                        b.send(m).unwrap();
                        break;
                    }
                    _ => wait_wake(wakes[1], &mut seen),
                }
            }
        }
        b
    });
    let start = Instant::now();
    let mut seen = wakes[0].load(Ordering::SeqCst);
    a.send(MessagePtr::test_value(1)).unwrap();
    for i in 0..n {
        loop {
            match a.pop(true) {
                Pop::Message(m) => {
                    if i + 1 < n {
                        a.send(m).unwrap();
                    }
                    break;
                }
                _ => wait_wake(wakes[0], &mut seen),
            }
        }
    }
    let took = start.elapsed();
    drop(echo.join().unwrap());
    took
}

#[test]
#[ignore]
fn queue_bench_ports() {
    use crate::port::Endpoint as Hand;
    static W: [AtomicUsize; 3] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];
    let per = 1_000_000;
    compare("port stream 1P/1C", per, || stream::<Hand>(1, per, &W[0]), || stream::<cb::Endpoint>(1, per, &W[0]));
    compare("port stream 2P/1C", 2 * per, || stream::<Hand>(2, per, &W[0]), || stream::<cb::Endpoint>(2, per, &W[0]));
    let n = 100_000;
    let w = [&W[1], &W[2]];
    compare("port ping-pong", n, || ping_pong::<Hand>(n, w), || ping_pong::<cb::Endpoint>(n, w));
}

/// The crossbeam-channel candidate for port::Endpoint, same API and semantics.
mod cb {
    use std::sync::atomic::{fence, AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use crossbeam_channel::{Receiver, Sender, TryRecvError};

    use crate::port::Pop;
    use crate::shim::{MessagePtr, Waker};

    #[derive(Default)]
    struct Inbox {
        waker: Mutex<Option<Waker>>,
        notified: AtomicBool,
        closed: AtomicBool,
        peer_closed: AtomicBool,
    }

    impl Inbox {
        fn wake_if_idle(&self) {
            fence(Ordering::SeqCst);
            if self.notified.load(Ordering::SeqCst) {
                return;
            }
            let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(waker) = &*waker {
                if !self.notified.swap(true, Ordering::SeqCst) {
                    waker.wake();
                }
            }
        }
    }

    /// Tells the peer's inbox this end has gone; dropped after `rx` and `tx`.
    struct CloseGuard(Arc<Inbox>);

    impl Drop for CloseGuard {
        fn drop(&mut self) {
            self.0.peer_closed.store(true, Ordering::SeqCst);
            self.0.wake_if_idle();
        }
    }

    pub struct Endpoint {
        rx: Receiver<MessagePtr>,
        tx: Sender<MessagePtr>,
        own: Arc<Inbox>,
        peer: CloseGuard,
    }

    impl Endpoint {
        pub fn pair() -> (Endpoint, Endpoint) {
            let (a_tx, a_rx) = crossbeam_channel::unbounded();
            let (b_tx, b_rx) = crossbeam_channel::unbounded();
            let a = Arc::new(Inbox::default());
            let b = Arc::new(Inbox::default());
            (
                Endpoint { rx: a_rx, tx: b_tx, own: a.clone(), peer: CloseGuard(b.clone()) },
                Endpoint { rx: b_rx, tx: a_tx, own: b, peer: CloseGuard(a) },
            )
        }

        pub fn send(&self, msg: MessagePtr) -> Result<(), MessagePtr> {
            self.tx.send(msg).map_err(|e| e.0)?;
            self.peer.0.wake_if_idle();
            Ok(())
        }

        fn take(&self) -> Option<Pop> {
            match self.rx.try_recv() {
                Ok(msg) => Some(Pop::Message(msg)),
                Err(TryRecvError::Disconnected) => Some(Pop::Closed),
                Err(TryRecvError::Empty) => None,
            }
        }

        pub fn pop(&self, want_messages: bool) -> Pop {
            let check = || match want_messages {
                true => self.take(),
                false => self.own.peer_closed.load(Ordering::SeqCst).then_some(Pop::Closed),
            };
            if let Some(pop) = check() {
                return pop;
            }
            self.own.notified.store(false, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            check().unwrap_or(Pop::Empty)
        }

        pub fn set_waker(&self, waker: Option<Waker>) {
            let mut slot = self.own.waker.lock().unwrap_or_else(|e| e.into_inner());
            *slot = waker;
            self.own.notified.store(false, Ordering::SeqCst);
            let news = !self.rx.is_empty() || self.own.peer_closed.load(Ordering::SeqCst);
            if let Some(waker) = slot.as_ref().filter(|_| news) {
                self.own.notified.store(true, Ordering::SeqCst);
                waker.wake();
            }
        }
    }

    impl Drop for Endpoint {
        fn drop(&mut self) {
            *self.own.waker.lock().unwrap_or_else(|e| e.into_inner()) = None;
            self.own.closed.store(true, Ordering::SeqCst);
        }
    }

    impl super::Ep for Endpoint {
        fn pair() -> (Self, Self) {
            Self::pair()
        }
        fn send(&self, msg: MessagePtr) -> Result<(), MessagePtr> {
            self.send(msg)
        }
        fn pop(&self, want: bool) -> Pop {
            self.pop(want)
        }
        fn set_waker(&self, waker: Option<Waker>) {
            self.set_waker(waker)
        }
    }
}

/// The pool's results inbox (pool/queue.rs `complete` and `results`): workers push a result
/// and update the pool's counters under its lock, waking the main thread once per batch; the
/// main thread takes up to 256 at a time (kResultsPerBatch). The crossbeam model keeps the
/// counters and the wake-up under the lock and moves only the queue into the channel.
mod results {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use crossbeam_channel::{Receiver, Sender};

    use crate::shim::{MessagePtr, Waker};

    pub const BATCH: usize = 256;

    pub trait Inbox: Send + Sync + 'static {
        fn new(waker: Waker) -> Self;
        fn complete(&self, id: u64, msg: MessagePtr);
        fn results(&self, max: usize) -> Vec<(u64, MessagePtr)>;
    }

    struct HandState {
        completed: u64,
        results: VecDeque<(u64, MessagePtr)>,
        notified: bool,
        waker: Waker,
    }

    pub struct Hand(Mutex<HandState>);

    impl Inbox for Hand {
        fn new(waker: Waker) -> Self {
            Hand(Mutex::new(HandState { completed: 0, results: VecDeque::new(), notified: false, waker }))
        }
        fn complete(&self, id: u64, msg: MessagePtr) {
            let mut st = self.0.lock().unwrap();
            st.completed += 1;
            st.results.push_back((id, msg));
            if !st.notified {
                st.notified = true;
                st.waker.wake();
            }
        }
        fn results(&self, max: usize) -> Vec<(u64, MessagePtr)> {
            let mut st = self.0.lock().unwrap();
            let n = st.results.len().min(max);
            let out: Vec<_> = st.results.drain(..n).collect();
            if out.is_empty() {
                st.notified = false;
            }
            out
        }
    }

    struct CbState {
        completed: u64,
        notified: bool,
        waker: Waker,
    }

    pub struct Cb {
        st: Mutex<CbState>,
        tx: Sender<(u64, MessagePtr)>,
        rx: Receiver<(u64, MessagePtr)>,
    }

    impl Inbox for Cb {
        fn new(waker: Waker) -> Self {
            let (tx, rx) = crossbeam_channel::unbounded();
            Cb { st: Mutex::new(CbState { completed: 0, notified: false, waker }), tx, rx }
        }
        fn complete(&self, id: u64, msg: MessagePtr) {
            let mut st = self.st.lock().unwrap();
            st.completed += 1;
            self.tx.send((id, msg)).unwrap();
            if !st.notified {
                st.notified = true;
                st.waker.wake();
            }
        }
        fn results(&self, max: usize) -> Vec<(u64, MessagePtr)> {
            loop {
                let out: Vec<_> = self.rx.try_iter().take(max).collect();
                if !out.is_empty() {
                    return out;
                }
                let mut st = self.st.lock().unwrap();
                if self.rx.is_empty() {
                    st.notified = false;
                    return out;
                }
                // try_recv can miss a message whose sender (holding the lock) is mid-write.
            }
        }
    }

    /// `workers` threads complete `per` tasks each; the main thread drains in batches,
    /// sleeping between wake-ups.
    pub fn run<I: Inbox>(workers: usize, per: usize, wakes: &'static AtomicUsize) -> Duration {
        let inbox = Arc::new(I::new(Waker::test_counter(wakes)));
        let start = Instant::now();
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                let inbox = inbox.clone();
                std::thread::spawn(move || (0..per).for_each(|i| inbox.complete(i as u64, MessagePtr::test_value(i))))
            })
            .collect();
        let mut seen = wakes.load(Ordering::SeqCst);
        let mut got = 0;
        while got < workers * per {
            let n = inbox.results(BATCH).len();
            got += n;
            if n == 0 {
                super::wait_wake(wakes, &mut seen);
            }
        }
        let took = start.elapsed();
        threads.into_iter().for_each(|t| t.join().unwrap());
        took
    }
}

#[test]
#[ignore]
fn queue_bench_pool_results() {
    static W: AtomicUsize = AtomicUsize::new(0);
    let per = 1_000_000;
    for workers in [1, 2] {
        compare(
            &format!("pool results {workers}P/1C"),
            workers * per,
            || results::run::<results::Hand>(workers, per, &W),
            || results::run::<results::Cb>(workers, per, &W),
        );
    }
}
