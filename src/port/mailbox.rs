//! Thread mailboxes behind `postMessageToThread`: any thread of the process can post to a
//! thread by its id, straight into a port that thread listens on (no hop through the main
//! thread).
//!
//! A mailbox is an endpoint pair: the thread's port holds one end, the registry keeps the other
//! and sends through it. A thread that has ended closed its port, so its entry can only refuse
//! messages; such entries are dropped when found.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::Endpoint;
use crate::shim::MessagePtr;

fn boxes() -> MutexGuard<'static, HashMap<u64, Endpoint>> {
    static BOXES: OnceLock<Mutex<HashMap<u64, Endpoint>>> = OnceLock::new();
    BOXES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens the mailbox of `thread_id` (replacing an older one); returns the end its port holds.
pub fn open(thread_id: u64) -> Box<Endpoint> {
    let (port_end, registry_end) = Endpoint::pair();
    let mut boxes = boxes();
    boxes.retain(|_, sender| !sender.is_peer_closed());
    boxes.insert(thread_id, registry_end);
    Box::new(port_end)
}

/// Whether `thread_id` has a mailbox that can still receive.
pub fn is_open(thread_id: u64) -> bool {
    boxes().get(&thread_id).is_some_and(|sender| !sender.is_peer_closed())
}

/// Posts `msg` to `thread_id`; gives it back if that thread has no open mailbox.
pub fn post(thread_id: u64, msg: MessagePtr) -> Result<(), MessagePtr> {
    let mut boxes = boxes();
    let Some(sender) = boxes.get(&thread_id) else { return Err(msg) };
    let result = sender.send(msg);
    if result.is_err() {
        boxes.remove(&thread_id);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::Pop;

    #[test]
    fn a_post_reaches_the_open_mailbox_of_that_thread_only() {
        let a = open(9001);
        let b = open(9002);
        assert!(post(9001, MessagePtr::test_value(7)).is_ok());
        assert_eq!(a.pop(true), Pop::Message(MessagePtr::test_value(7)));
        assert_eq!(b.pop(true), Pop::Empty);
        assert_eq!(post(9003, MessagePtr::test_value(1)), Err(MessagePtr::test_value(1)));
    }

    #[test]
    fn a_closed_mailbox_refuses_and_is_forgotten() {
        let a = open(9011);
        drop(a);
        assert_eq!(post(9011, MessagePtr::test_value(2)), Err(MessagePtr::test_value(2)));
        assert!(!boxes().contains_key(&9011));
    }
}
