//! The parse cache: one summary per distinct SQL text, shared by every client.
//!
//! Parsing costs tens of microseconds; a cache hit costs a hash lookup. The cache is
//! bounded: when full, it is emptied and refills with what is in use, which is cheaper to
//! run than an LRU on every hit and keeps one-off queries from growing memory without end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use super::statement::Statement;
use super::summarize::summarize;

/// The summaries of every statement in one SQL text.
pub type Summaries = Arc<[Statement]>;

pub struct ParseCache {
    entries: DashMap<Arc<str>, Summaries>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ParseCache {
    pub fn new(capacity: usize) -> ParseCache {
        ParseCache {
            entries: DashMap::new(),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The summaries for `sql`, parsing it only if it was not seen before.
    pub fn get(&self, sql: &str) -> Summaries {
        if let Some(found) = self.entries.get(sql) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return found.clone();
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let summaries: Summaries = summarize(sql).into();
        if self.entries.len() >= self.capacity {
            self.entries.clear();
        }
        self.entries.insert(Arc::from(sql), summaries.clone());
        summaries
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hits_and_misses_and_stays_bounded() {
        let cache = ParseCache::new(2);
        let a = cache.get("SELECT 1");
        let b = cache.get("SELECT 1");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!((cache.hits(), cache.misses()), (1, 1));
        cache.get("SELECT 2");
        cache.get("SELECT 3");
        assert!(cache.len() <= 2);
    }
}
