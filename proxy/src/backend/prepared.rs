//! Which renamed prepared statements one server connection holds.
//!
//! Statements are identified by the proxy-wide id the frontend gave them (`__pgdog_<id>` on
//! the server). The set is bounded: past the limit, the statement prepared longest ago is
//! closed on the server to make room, so a client cycling through unique statements cannot
//! grow a server's memory without end.

use std::collections::{HashSet, VecDeque};

#[derive(Debug, Default)]
pub struct PreparedSet {
    held: HashSet<u64>,
    order: VecDeque<u64>,
}

/// The server-side name of a proxy-wide prepared statement id.
pub fn server_name(id: u64) -> String {
    format!("__pgdog_{id}")
}

impl PreparedSet {
    pub fn contains(&self, id: u64) -> bool {
        self.held.contains(&id)
    }

    /// Records `id` as prepared and returns the ids to close first to stay within `limit`.
    pub fn insert(&mut self, id: u64, limit: usize) -> Vec<u64> {
        let mut evicted = Vec::new();
        if self.held.insert(id) {
            self.order.push_back(id);
        }
        while self.held.len() > limit {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if old != id && self.held.remove(&old) {
                evicted.push(old);
            } else if old == id {
                self.order.push_back(old);
            }
        }
        evicted
    }

    /// Forgets `id`, e.g. because its Parse failed on the server.
    pub fn remove(&mut self, id: u64) {
        if self.held.remove(&id) {
            self.order.retain(|&x| x != id);
        }
    }

    pub fn clear(&mut self) {
        self.held.clear();
        self.order.clear();
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_past_limit() {
        let mut set = PreparedSet::default();
        assert!(set.insert(1, 2).is_empty());
        assert!(set.insert(2, 2).is_empty());
        assert_eq!(set.insert(3, 2), vec![1]);
        assert!(!set.contains(1));
        assert!(set.contains(2) && set.contains(3));
        set.remove(2);
        assert_eq!(set.len(), 1);
    }
}
