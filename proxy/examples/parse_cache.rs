//! Measures what the parse cache saves: the cost per query of a cache miss (a full
//! `pg_query` parse and summary) against a hit, for a few typical statements.
//!
//! Run with `cargo run --release -p pgdog --example parse_cache`.

use std::hint::black_box;
use std::time::Instant;

use pgdog::router::cache::ParseCache;
use pgdog::router::summarize::summarize;

const QUERIES: &[(&str, &str)] = &[
    ("pgbench -S", "SELECT abalance FROM pgbench_accounts WHERE aid = $1"),
    (
        "join + IN",
        "SELECT u.id, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id IN ($1, $2, $3) AND o.state = 'open' ORDER BY o.total DESC LIMIT 10",
    ),
    (
        "insert 3 rows",
        "INSERT INTO events (tenant_id, kind, payload) VALUES ($1, 'a', '{}'), ($2, 'b', '{}'), ($3, 'c', '{}')",
    ),
    (
        "aggregate",
        "SELECT tenant_id, count(*), sum(amount), avg(amount) FROM payments WHERE created_at > now() - interval '1 day' GROUP BY 1 ORDER BY 2 DESC",
    ),
];

fn main() {
    let rounds = 20_000;
    println!(
        "{:<14} {:>12} {:>12} {:>8}",
        "query", "miss (us)", "hit (us)", "ratio"
    );
    for (name, sql) in QUERIES {
        let start = Instant::now();
        for _ in 0..rounds / 10 {
            black_box(summarize(black_box(sql)));
        }
        let miss = start.elapsed().as_secs_f64() * 1e6 / (rounds / 10) as f64;

        let cache = ParseCache::new(1024);
        cache.get(sql);
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(cache.get(black_box(sql)));
        }
        let hit = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!("{name:<14} {miss:>12.2} {hit:>12.3} {:>7.0}x", miss / hit);
    }
}
