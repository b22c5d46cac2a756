//! The parse cache: one summary per distinct SQL text, and one per query shape, shared by
//! every client.
//!
//! Parsing costs tens of microseconds; a cache hit costs a hash lookup. A query seen
//! before by its exact text is answered from `statements`. A query that differs from
//! earlier ones only in its constants (`WHERE id = 42`, then `WHERE id = 43`: what a
//! simple-protocol client sends) is answered from `shapes`: the summary of its shape, with
//! its constants filled in (`shape.rs`, `template.rs`), in about a microsecond. A shape's
//! summary is learned from its second query (parsing that query and the shape), so texts
//! whose shape never repeats cost one parse each, as before; after that, only a query of a
//! shape whose constants cannot be filled in is parsed.
//! Prepared statements' texts (`get`) are also kept by text, since they are executed again
//! as written; simple queries' texts (`get_inline`) are not, since most never repeat.
//!
//! Both maps are bounded: when one is full, it is emptied and refills with what is in use,
//! which is cheaper to run than an LRU on every hit and keeps one-off queries from growing
//! memory without end.

mod shape;
mod template;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use super::statement::Statement;
use super::summarize::summarize;
use template::Template;

/// The summaries of every statement in one SQL text.
pub type Summaries = Arc<[Statement]>;

/// The maps' hasher. Every query through a sharded database or a plugin is looked up by
/// its whole text; SipHash, the default, spent about 200 instructions per lookup on a
/// pgbench statement. foldhash is several times faster and still seeded at random per
/// process, so clients cannot aim texts at one bucket.
type Hasher = foldhash::fast::RandomState;

pub struct ParseCache {
    statements: DashMap<Arc<str>, Summaries, Hasher>,
    shapes: DashMap<Box<str>, Template, Hasher>,
    capacity: usize,
    hits: AtomicU64,
    shape_hits: AtomicU64,
    parses: AtomicU64,
}

/// What the cache has done so far, for `SHOW PARSE_CACHE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Distinct texts and shapes held now.
    pub statements: usize,
    pub shapes: usize,
    /// Queries answered by their exact text, and by their shape.
    pub hits: u64,
    pub shape_hits: u64,
    /// Texts parsed (a shape's second query is parsed twice: the query and its shape).
    pub parses: u64,
}

impl ParseCache {
    pub fn new(capacity: usize) -> ParseCache {
        ParseCache {
            statements: DashMap::with_hasher(Hasher::default()),
            shapes: DashMap::with_hasher(Hasher::default()),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            shape_hits: AtomicU64::new(0),
            parses: AtomicU64::new(0),
        }
    }

    /// The summaries for the text of a prepared statement (a Parse message), which will
    /// be executed again by that text: it is kept by its text even when its shape
    /// answered, so the next lookup is a plain hash hit.
    pub fn get(&self, sql: &str) -> Summaries {
        self.lookup(sql, true)
    }

    /// The summaries for a simple query: its constants are usually written in (`WHERE id
    /// = 42`), so a text its shape answers is not kept by itself, where it would only
    /// push out texts that do repeat.
    pub fn get_inline(&self, sql: &str) -> Summaries {
        self.lookup(sql, false)
    }

    /// The summaries for `sql`, parsing it only if neither it nor its shape was seen
    /// before. `repeats`: keep the text itself too.
    fn lookup(&self, sql: &str, repeats: bool) -> Summaries {
        if let Some(found) = self.statements.get(sql) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return found.clone();
        }
        let Some(shape) = shape::shape(sql) else {
            return self.parse_and_keep(sql);
        };
        let known = self.shapes.get(shape.text.as_str()).map(|t| t.clone());
        let answered = match known {
            Some(Template::Same(summaries)) => Some(summaries),
            Some(Template::Fill(template)) => template::fill(&template, &shape),
            Some(Template::Unusable) => None,
            Some(Template::Seen) => return self.learn_shape(sql, shape, repeats),
            None => {
                let summaries = self.parse(sql);
                if repeats {
                    self.keep(sql, &summaries);
                }
                self.keep_shape(shape, Template::Seen);
                return summaries;
            }
        };
        match answered {
            Some(summaries) => {
                self.shape_hits.fetch_add(1, Ordering::Relaxed);
                if repeats {
                    self.keep(sql, &summaries);
                }
                summaries
            }
            None => self.parse_and_keep(sql),
        }
    }

    /// Parses the second query of a shape, and the shape, and keeps the shape's template
    /// if it checks out.
    fn learn_shape(&self, sql: &str, shape: shape::Shape<'_>, repeats: bool) -> Summaries {
        let summaries = self.parse(sql);
        let template = Template::check(&shape, self.parse(&shape.text), &summaries);
        if repeats || matches!(template, Template::Unusable) {
            // A shape that cannot answer leaves its queries to be cached by text, as
            // they would be without shapes.
            self.keep(sql, &summaries);
        }
        self.keep_shape(shape, template);
        summaries
    }

    fn keep_shape(&self, shape: shape::Shape<'_>, template: Template) {
        if self.shapes.len() >= self.capacity {
            self.shapes.clear();
        }
        self.shapes.insert(shape.text.into_boxed_str(), template);
    }

    fn parse(&self, sql: &str) -> Summaries {
        self.parses.fetch_add(1, Ordering::Relaxed);
        summarize(sql).into()
    }

    fn parse_and_keep(&self, sql: &str) -> Summaries {
        let summaries = self.parse(sql);
        self.keep(sql, &summaries);
        summaries
    }

    fn keep(&self, sql: &str, summaries: &Summaries) {
        if self.statements.len() >= self.capacity {
            self.statements.clear();
        }
        self.statements.insert(Arc::from(sql), summaries.clone());
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            statements: self.statements.len(),
            shapes: self.shapes.len(),
            hits: self.hits.load(Ordering::Relaxed),
            shape_hits: self.shape_hits.load(Ordering::Relaxed),
            parses: self.parses.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests;
