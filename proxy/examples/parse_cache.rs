//! Measures what the parse cache saves: the cost per query of a cache miss (a full
//! `pg_query` parse and summary), of a hit by exact text (the query with `$1`, as an
//! extended-protocol client prepares it), and of a hit by shape (the query with a new
//! constant each time, as a simple-protocol client sends it), for a few typical statements.
//!
//! Run with `cargo run --release -p pgdog --example parse_cache`.

use std::hint::black_box;
use std::time::Instant;

use pgdog::router::cache::ParseCache;
use pgdog::router::summarize::summarize;

/// Each query with `{}` where a simple-protocol client inlines a number.
const QUERIES: &[(&str, &str)] = &[
    ("pgbench -S", "SELECT abalance FROM pgbench_accounts WHERE aid = {};"),
    (
        "join + IN",
        "SELECT u.id, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id IN ({}, 2, 3) AND o.state = 'open' ORDER BY o.total DESC LIMIT 10",
    ),
    (
        "insert 3 rows",
        "INSERT INTO events (tenant_id, kind, payload) VALUES ({}, 'a', '[]'), (2, 'b', '[]'), (3, 'c', '[]')",
    ),
    (
        "aggregate",
        "SELECT tenant_id, count(*), sum(amount), avg(amount) FROM payments WHERE tenant_id = {} AND created_at > now() - interval '1 day' GROUP BY 1 ORDER BY 2 DESC",
    ),
];

fn main() {
    let rounds = 20_000;
    println!(
        "{:<14} {:>10} {:>10} {:>12} {:>12}",
        "query", "miss (us)", "hit (us)", "shape (us)", "miss/shape"
    );
    for (name, pattern) in QUERIES {
        let texts: Vec<String> = (0..rounds)
            .map(|n| pattern.replacen("{}", &(n * 7919 + 1).to_string(), 1))
            .collect();

        let start = Instant::now();
        for text in texts.iter().take(rounds / 10) {
            black_box(summarize(black_box(text)));
        }
        let miss = start.elapsed().as_secs_f64() * 1e6 / (rounds / 10) as f64;

        // A hit by text: the statement as an extended-protocol client prepares it.
        let prepared = pattern.replacen("{}", "$1", 1);
        let cache = ParseCache::new(1024);
        cache.get(&prepared);
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(cache.get(black_box(&prepared)));
        }
        let hit = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;

        let cache = ParseCache::new(1024);
        let start = Instant::now();
        for text in &texts {
            black_box(cache.get_inline(black_box(text)));
        }
        let shape = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        assert!(
            cache.stats().shape_hits as usize >= rounds - 1,
            "{name}: {:?}",
            cache.stats()
        );
        println!(
            "{name:<14} {miss:>10.2} {hit:>10.3} {shape:>12.3} {:>11.0}x",
            miss / shape
        );
    }
}
