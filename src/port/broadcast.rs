//! BroadcastChannel groups: every member of a name (in any thread of the process) receives a
//! copy of what another member posts.
//!
//! A member is an ordinary endpoint pair: the member's port holds one end; the group keeps the
//! other, and sends through it to reach that member's inbox.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::Endpoint;
use crate::shim::MessagePtr;

struct Member {
    /// Identifies the member by the address of the endpoint its port holds.
    key: usize,
    sender: Endpoint,
}

fn groups() -> MutexGuard<'static, HashMap<String, Vec<Member>>> {
    static GROUPS: OnceLock<Mutex<HashMap<String, Vec<Member>>>> = OnceLock::new();
    GROUPS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// Joins `name`; returns the endpoint the member's port holds (boxed, so its address is stable).
pub fn join(name: &str) -> Box<Endpoint> {
    let (port_end, group_end) = Endpoint::pair();
    let port_end = Box::new(port_end);
    let key = &*port_end as *const Endpoint as usize;
    groups().entry(name.to_string()).or_default().push(Member { key, sender: group_end });
    port_end
}

pub fn leave(name: &str, member: &Endpoint) {
    let key = member as *const Endpoint as usize;
    let mut groups = groups();
    if let Some(members) = groups.get_mut(name) {
        members.retain(|m| m.key != key);
        if members.is_empty() {
            groups.remove(name);
        }
    }
}

/// Sends a copy of `msg` (made by `clone`) to every other member of `name`. Members whose port
/// is gone are dropped from the group.
pub fn post(name: &str, from: &Endpoint, msg: MessagePtr, clone: impl Fn(&MessagePtr) -> MessagePtr) {
    let key = from as *const Endpoint as usize;
    let mut groups = groups();
    let Some(members) = groups.get_mut(name) else { return };
    members.retain(|m| m.key == key || m.sender.send(clone(&msg)).is_ok());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::Pop;

    #[test]
    fn a_post_reaches_every_other_member_once() {
        let a = join("t1");
        let b = join("t1");
        let c = join("t1");
        let other = join("t2");
        post("t1", &a, MessagePtr::test_value(5), |_| MessagePtr::test_value(5));
        assert_eq!(b.pop(true), Pop::Message(MessagePtr::test_value(5)));
        assert_eq!(c.pop(true), Pop::Message(MessagePtr::test_value(5)));
        assert_eq!(a.pop(true), Pop::Empty);
        assert_eq!(other.pop(true), Pop::Empty);
    }

    #[test]
    fn members_that_left_or_vanished_receive_nothing() {
        let a = join("t3");
        let b = join("t3");
        let c = join("t3");
        leave("t3", &b);
        drop(c);
        post("t3", &a, MessagePtr::test_value(1), |_| MessagePtr::test_value(1));
        // Leaving drops the group's end: the member sees its channel closed, nothing else.
        assert_eq!(b.pop(true), Pop::Closed);
        assert_eq!(groups().get("t3").map(Vec::len), Some(1));
    }
}
