//! Named prepared statements in transaction mode.
//!
//! A client's `s1` may be prepared on one server connection and executed in a later
//! transaction on another. So every distinct statement (query text plus parameter types)
//! gets one proxy-wide id and the server-side name `__pgdog_<id>`; each client keeps its
//! own names mapped to those ids, and each server connection records which ids it holds
//! (see `backend::prepared`), so a statement is prepared on demand wherever it runs and
//! identical statements from different clients share one server-side preparation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use rustc_hash::FxHashMap;

use crate::backend::prepared::ServerName;

/// A statement as the server must see it: its id and the Parse body after the name.
#[derive(Debug)]
pub struct Statement {
    pub id: u64,
    /// `__pgdog_<id>`, made once: every Bind of the statement carries it.
    pub server_name: ServerName,
    /// The Parse body after the name: query text, then parameter types. Private, so the
    /// text `sql` hands out stays the text `new` checked.
    rest: Bytes,
    /// The length of the query text at the start of `rest`, checked once to be UTF-8
    /// (`None` when it is not, or has no terminator): a sharded Bind reads the text at
    /// every execution.
    sql_len: Option<usize>,
    /// Some server has accepted this Parse. From then on a client's Parse of it can be
    /// answered without a server: clients such as pgbench prepare synchronously, and making
    /// them wait for a server that other clients of the same thread hold would deadlock.
    pub valid: AtomicBool,
}

impl Statement {
    pub fn new(id: u64, rest: Bytes) -> Statement {
        let sql_len = crate::wire::Reader::new(&rest).cstr().map(str::len);
        Statement {
            id,
            server_name: ServerName::new(id),
            rest,
            sql_len,
            valid: AtomicBool::new(false),
        }
    }

    /// The Parse body after the name (query text and parameter types).
    pub fn rest(&self) -> &Bytes {
        &self.rest
    }

    /// The statement's query text.
    pub fn sql(&self) -> Option<&str> {
        let len = self.sql_len?;
        // SAFETY: `new` found these bytes to be UTF-8, and nothing changes `rest` after.
        Some(unsafe { std::str::from_utf8_unchecked(&self.rest[..len]) })
    }

    pub fn is_valid(&self) -> bool {
        self.valid.load(Ordering::Relaxed)
    }

    pub fn mark_valid(&self) {
        self.valid.store(true, Ordering::Relaxed);
    }
}

/// Proxy-wide ids of distinct statements.
#[derive(Debug, Default)]
pub struct GlobalStatements {
    ids: DashMap<Bytes, Arc<Statement>>,
    next: AtomicU64,
}

/// Past this many distinct statements the map is cleared. Ids are never reused, so a
/// statement seen again simply gets a new id and is prepared again on demand; the limit
/// only stops unique one-off statements from growing memory without end.
const GLOBAL_LIMIT: usize = 100_000;

impl GlobalStatements {
    pub fn get_or_insert(&self, rest: &[u8]) -> Arc<Statement> {
        if let Some(stmt) = self.ids.get(rest) {
            return stmt.clone();
        }
        if self.ids.len() >= GLOBAL_LIMIT {
            self.ids.clear();
        }
        let rest = Bytes::copy_from_slice(rest);
        self.ids
            .entry(rest.clone())
            .or_insert_with(|| {
                let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
                Arc::new(Statement::new(id, rest))
            })
            .clone()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// One client's statement names. Looked up on every Bind of a prepared statement; the
/// map is the client's own, so a fast hash without flood resistance can only slow down
/// the client that picks colliding names.
#[derive(Debug, Default)]
pub struct ClientStatements {
    /// Keyed by the name's bytes, so a Bind's name is looked up as it lies in the message.
    names: FxHashMap<Box<[u8]>, Arc<Statement>>,
}

impl ClientStatements {
    pub fn insert(&mut self, name: &str, stmt: Arc<Statement>) {
        self.names.insert(name.as_bytes().into(), stmt);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Statement>> {
        self.get_bytes(name.as_bytes())
    }

    /// [`ClientStatements::get`] by the raw name, not yet checked to be UTF-8 (a name that
    /// is not was never inserted, so it is simply not found).
    pub fn get_bytes(&self, name: &[u8]) -> Option<&Arc<Statement>> {
        self.names.get(name)
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<Statement>> {
        self.names.remove(name.as_bytes())
    }

    pub fn clear(&mut self) {
        self.names.clear();
    }

    /// The client's statement with this id, if it still has one.
    pub fn by_id(&self, id: u64) -> Option<&Arc<Statement>> {
        self.names.values().find(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_statements_share_an_id() {
        let global = GlobalStatements::default();
        let a = global.get_or_insert(b"SELECT 1\0\0\0");
        let b = global.get_or_insert(b"SELECT 1\0\0\0");
        let c = global.get_or_insert(b"SELECT 2\0\0\0");
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn a_statement_reads_back_its_text() {
        let global = GlobalStatements::default();
        assert_eq!(
            global.get_or_insert(b"SELECT 'na\xc3\xafve'\0\0\0").sql(),
            Some("SELECT 'na\u{ef}ve'")
        );
        assert_eq!(global.get_or_insert(b"SELECT '\xef'\0\0\0").sql(), None);
        assert_eq!(global.get_or_insert(b"SELECT 1").sql(), None);
    }
}
