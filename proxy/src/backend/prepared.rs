//! Which renamed prepared statements one server connection holds.
//!
//! Statements are identified by the proxy-wide id the frontend gave them (`__pgdog_<id>` on
//! the server). The set is bounded: past the limit, the statement prepared longest ago is
//! closed on the server to make room, so a client cycling through unique statements cannot
//! grow a server's memory without end.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;

#[derive(Debug, Default)]
pub struct PreparedSet {
    held: FxHashSet<u64>,
    order: VecDeque<u64>,
}

/// The server-side name of a proxy-wide prepared statement id.
pub fn server_name(id: u64) -> ServerName {
    ServerName::new(id)
}

/// `__pgdog_<id>`, built on the stack: it is written into every Bind of a prepared
/// statement, and formatting a `String` for each cost an allocation per query.
#[derive(Clone, Copy)]
pub struct ServerName {
    buf: [u8; ServerName::CAPACITY],
    len: usize,
}

impl ServerName {
    const PREFIX: &'static [u8] = b"__pgdog_";
    /// The prefix and the 20 digits of the largest u64.
    const CAPACITY: usize = 8 + 20;

    pub fn new(mut id: u64) -> ServerName {
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (id % 10) as u8;
            n += 1;
            id /= 10;
            if id == 0 {
                break;
            }
        }
        let mut buf = [0u8; ServerName::CAPACITY];
        buf[..8].copy_from_slice(ServerName::PREFIX);
        for (i, digit) in digits[..n].iter().rev().enumerate() {
            buf[8 + i] = *digit;
        }
        ServerName { buf, len: 8 + n }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Debug for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::ops::Deref for ServerName {
    type Target = str;
    fn deref(&self) -> &str {
        // Only ASCII was written.
        std::str::from_utf8(self.as_bytes()).expect("ASCII digits and prefix")
    }
}

impl std::fmt::Display for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
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
    fn server_names_spell_the_id() {
        assert_eq!(&*server_name(0), "__pgdog_0");
        assert_eq!(&*server_name(7), "__pgdog_7");
        assert_eq!(&*server_name(1234567890), "__pgdog_1234567890");
        assert_eq!(&*server_name(u64::MAX), format!("__pgdog_{}", u64::MAX));
    }

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
