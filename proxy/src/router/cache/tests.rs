//! The cache answers every query exactly as parsing it would, and stops parsing a shape
//! once it has learned it (from its second query) where its constants can be filled in.

use super::*;

/// Runs each query of `family` through one cache, checks every answer against a parse of
/// the query itself, and returns how many parses the cache made.
fn parses_for(family: &[&str]) -> u64 {
    let cache = ParseCache::new(100);
    for sql in family {
        let cached = cache.get(sql);
        let parsed = summarize(sql);
        assert_eq!(cached[..], parsed[..], "{sql}");
    }
    cache.stats().parses
}

/// What a family of queries of one learnable shape costs in parses: the first query,
/// then the second with the shape; none after that.
const LEARNED: u64 = 3;

#[test]
fn queries_differing_in_constants_stop_being_parsed_once_their_shape_is_learned() {
    let families: &[&[&str]] = &[
        &[
            "SELECT abalance FROM pgbench_accounts WHERE aid = 1;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = 007;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = 3000000000;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = 99999999999999999999;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = 1.5;",
        ],
        &[
            "SELECT * FROM users WHERE name = 'bob'",
            "SELECT * FROM users WHERE name = 'o''brien'",
            "SELECT * FROM users WHERE name = ''",
            "SELECT * FROM users WHERE name = 'héllo wörld'",
            // Backslashes are plain characters in standard strings.
            "SELECT * FROM users WHERE name = 'back\\slash\\'",
        ],
        &[
            "INSERT INTO t (id, name) VALUES (1, 'a'), (2, NULL)",
            "INSERT INTO t (id, name) VALUES (10, 'b'), (0, NULL)",
            "INSERT INTO t (id, name) VALUES (11, 'c'), (12, NULL)",
        ],
        &[
            "SELECT * FROM t WHERE id IN (1, 2) AND k = 'x' LIMIT 5 OFFSET 3",
            "SELECT * FROM t WHERE id IN (7, 8) AND k = 'y' LIMIT 50 OFFSET 30",
            "SELECT * FROM t WHERE id IN (9, 9) AND k = 'z' LIMIT 1 OFFSET 0",
        ],
        &[
            "/* tenant: 7 */ UPDATE t SET v = 5 WHERE id = 9",
            "/* tenant: 7 */ UPDATE t SET v = 6 WHERE id = 10",
            "/* tenant: 7 */ UPDATE t SET v = 7 WHERE id = 11",
        ],
        &[
            "SELECT * FROM t WHERE id = $1 AND k = 5",
            "SELECT * FROM t WHERE id = $1 AND k = 6",
            "SELECT * FROM t WHERE id = $1 AND k = 7",
        ],
        &[
            "SELECT * FROM t WHERE id = '5'::bigint",
            "SELECT * FROM t WHERE id = '6'::bigint",
            "SELECT * FROM t WHERE id = '7'::bigint",
        ],
        &[
            "BEGIN; SELECT * FROM t WHERE id = 4; COMMIT",
            "BEGIN; SELECT * FROM t WHERE id = 5; COMMIT",
            "BEGIN; SELECT * FROM t WHERE id = 6; COMMIT",
        ],
        &[
            "SELECT a, count(*), sum(x) FROM t WHERE k = 3 GROUP BY 1 ORDER BY 2 DESC",
            "SELECT a, count(*), sum(x) FROM t WHERE k = 4 GROUP BY 1 ORDER BY 2 DESC",
            "SELECT a, count(*), sum(x) FROM t WHERE k = 5 GROUP BY 1 ORDER BY 2 DESC",
        ],
        &["SELECT 1", "SELECT 2", "SELECT 'x'"],
        // Constants the summary does not read.
        &[
            "SELECT now() - INTERVAL '1 day' FROM t WHERE id = 1",
            "SELECT now() - INTERVAL '2 days' FROM t WHERE id = 2",
            "SELECT now() - INTERVAL '3 days' FROM t WHERE id = 3",
        ],
        &[
            "SELECT x::numeric(10,2) FROM t WHERE id = 3",
            "SELECT x::numeric(12,4) FROM t WHERE id = 4",
            "SELECT x::numeric(14,6) FROM t WHERE id = 5",
        ],
    ];
    for family in families {
        assert!(family.len() > 2, "{family:?}: too short to tell");
        assert_eq!(parses_for(family), LEARNED, "{family:?}");
    }
}

#[test]
fn constants_that_are_more_than_values_are_parsed_every_time() {
    let families: &[&[&str]] = &[
        // A negative number is one constant; `-$1` is an expression.
        &[
            "SELECT * FROM t WHERE id = -5",
            "SELECT * FROM t WHERE id = -7",
            "SELECT * FROM t WHERE id = -9",
        ],
        &[
            "SET statement_timeout = 5",
            "SET statement_timeout = 10",
            "SET statement_timeout = 15",
        ],
        &[
            "COPY t FROM STDIN WITH (FORMAT csv, DELIMITER ';')",
            "COPY t FROM STDIN WITH (FORMAT csv, DELIMITER '|')",
            "COPY t FROM STDIN WITH (FORMAT csv, DELIMITER ',')",
        ],
        // Adjacent strings on separate lines are one constant.
        &[
            "SELECT * FROM t WHERE name = 'a'\n'b'",
            "SELECT * FROM t WHERE name = 'c'\n'd'",
            "SELECT * FROM t WHERE name = 'e'\n'f'",
        ],
        &["SELEC 5 FROM t", "SELEC 6 FROM t", "SELEC 7 FROM t"],
    ];
    for family in families {
        // Every query, and the shape once, when its second query came.
        assert!(family.len() > 2, "{family:?}: too short to tell");
        assert_eq!(parses_for(family), family.len() as u64 + 1, "{family:?}");
    }
}

#[test]
fn order_by_positions_are_never_taken_for_values() {
    // `ORDER BY 0` summarises like an expression; if its shape were `ORDER BY $1`, the
    // check would pass and `ORDER BY 2` would then lose its position.
    let family = [
        "SELECT a, b FROM t WHERE id = 1 ORDER BY 0",
        "SELECT a, b FROM t WHERE id = 1 ORDER BY 2",
        "SELECT a, b FROM t WHERE id = 2 ORDER BY 2",
        "SELECT a, b FROM t WHERE id = 1 GROUP BY 0",
        "SELECT a, b FROM t WHERE id = 1 GROUP BY 2",
    ];
    parses_for(&family);
    let cache = ParseCache::new(100);
    cache.get(family[0]);
    let s = cache.get(family[1]);
    assert_eq!(
        s[0].order_by[0].key,
        crate::router::statement::SortKey::Position(2)
    );
}

#[test]
fn a_repeated_text_is_answered_by_its_text() {
    let cache = ParseCache::new(2);
    let a = cache.get("SELECT * FROM t WHERE id = $1");
    let b = cache.get("SELECT * FROM t WHERE id = $1");
    assert!(Arc::ptr_eq(&a, &b));
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.parses, stats.statements), (1, 1, 1));
}

#[test]
fn both_maps_stay_bounded() {
    let cache = ParseCache::new(2);
    for n in 0..10 {
        cache.get(&format!("SELECT * FROM t{n} WHERE id = {n}"));
        cache.get(&format!("SELECT * FROM u{n} WHERE id = $1"));
        cache.get(&format!("SELECT * FROM v WHERE id = -{n}"));
    }
    let stats = cache.stats();
    assert!(stats.shapes <= 2 && stats.statements <= 2, "{stats:?}");
}

/// Many queries of many shapes, with constants of every kind, through one cache in an
/// interleaved order: every answer equals the parser's.
#[test]
fn mixed_shapes_and_constants_always_match_the_parser() {
    let shapes = [
        "SELECT * FROM t WHERE id = {} AND name = {}",
        "SELECT a, b FROM t WHERE id IN ({}, {}) ORDER BY {} LIMIT {}",
        "INSERT INTO t (id, name) VALUES ({}, {}), ({}, {})",
        "UPDATE t SET name = {} WHERE id = {}",
        "DELETE FROM t WHERE id = {} RETURNING {}",
        "SELECT count(*) FROM t WHERE k = {} GROUP BY {} OFFSET {}",
        "/* c {} */ SELECT {} FROM t WHERE id = {}",
        "SELECT * FROM t WHERE id = {}::bigint AND x = $1",
        "SELECT {} ; SELECT * FROM u WHERE id = {}",
        "SET application_name = {}",
    ];
    let constants = [
        "0",
        "1",
        "2",
        "42",
        "-3",
        "007",
        "2147483648",
        "99999999999999999999",
        "1.5",
        ".5",
        "1e3",
        "'a'",
        "''",
        "'it''s'",
        "'back\\slash'",
        "'ünï'",
        "'5'",
        "NULL",
        "TRUE",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let cache = ParseCache::new(1000);
    for _ in 0..2000 {
        let shape = shapes[next(shapes.len())];
        let mut sql = String::new();
        let mut parts = shape.split("{}").peekable();
        while let Some(part) = parts.next() {
            sql.push_str(part);
            if parts.peek().is_some() {
                sql.push_str(constants[next(constants.len())]);
            }
        }
        assert_eq!(cache.get(&sql)[..], summarize(&sql)[..], "{sql}");
    }
    // The shape path answered a good part of them (some 400 shapes, each learned from its
    // second query), so the comparison above tested it.
    let stats = cache.stats();
    assert!(stats.shape_hits > 600, "{stats:?}");
}

#[test]
fn prepared_texts_are_kept_by_text_and_simple_queries_by_shape_only() {
    let cache = ParseCache::new(100);
    let prepared = "SELECT * FROM t WHERE state = 'open' AND id = $1";
    cache.get("SELECT * FROM t WHERE state = 'closed' AND id = $1");
    cache.get("SELECT * FROM t WHERE state = 'any' AND id = $1");
    let first = cache.get(prepared);
    let again = cache.get(prepared);
    assert!(Arc::ptr_eq(&first, &again), "the second lookup is by text");
    let stats = cache.stats();
    assert_eq!(
        (stats.parses, stats.shape_hits, stats.hits),
        (LEARNED, 1, 1)
    );

    for id in 0..50 {
        cache.get_inline(&format!("SELECT * FROM u WHERE id = {id}"));
    }
    let stats = cache.stats();
    assert_eq!(stats.statements, 3, "simple queries are not kept by text");
    assert_eq!((stats.parses, stats.shape_hits), (2 * LEARNED, 1 + 48));
}
