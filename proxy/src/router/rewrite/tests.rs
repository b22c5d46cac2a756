use super::*;

/// Rewrites `sql`, expecting a change, and checks that the output parses again.
fn fanout(sql: &str, limit: Option<i64>) -> FanoutSql {
    let out = for_fanout(sql, limit).expect("rewrite").expect("a change");
    pg_query::parse(&out.sql, 0).expect("the rewritten SQL parses");
    out
}

fn unsupported_fanout(sql: &str, limit: Option<i64>) {
    match for_fanout(sql, limit) {
        Err(RewriteError::Unsupported(_)) => {}
        other => panic!("{sql}: expected Unsupported, got {other:?}"),
    }
}

fn unsupported_insert(sql: &str, rows: &[usize]) {
    match insert_rows(sql, rows) {
        Err(RewriteError::Unsupported(_)) => {}
        other => panic!("{sql}: expected Unsupported, got {other:?}"),
    }
}

#[test]
fn avg_gets_hidden_sum_and_count_at_the_end() {
    let out = fanout(
        "SELECT region, avg(amount) FROM orders GROUP BY region ORDER BY 2 DESC",
        None,
    );
    assert_eq!(
        out.sql,
        "SELECT region, avg(amount), sum(amount) AS __pgdog_sum_1, \
         count(amount) AS __pgdog_count_1 FROM orders GROUP BY region ORDER BY 2 DESC"
    );
    assert_eq!(
        out.avg,
        vec![AvgColumns {
            avg: 1,
            sum: 2,
            count: 3
        }]
    );
    assert_eq!(out.hidden, 2);
}

#[test]
fn several_avgs_are_numbered_in_target_order() {
    let out = fanout(
        "/* leading comment */ SELECT avg(a), b, pg_catalog.avg(c + 1 ORDER BY c) FROM t GROUP BY b",
        None,
    );
    assert_eq!(
        out.sql,
        "SELECT avg(a), b, pg_catalog.avg(c + 1 ORDER BY c), \
         sum(a) AS __pgdog_sum_1, count(a) AS __pgdog_count_1, \
         pg_catalog.sum(c + 1) AS __pgdog_sum_2, pg_catalog.count(c + 1) AS __pgdog_count_2 \
         FROM t GROUP BY b"
    );
    let columns = |avg, sum| AvgColumns {
        avg,
        sum,
        count: sum + 1,
    };
    assert_eq!(out.avg, vec![columns(0, 3), columns(2, 5)]);
    assert_eq!(out.hidden, 4);
}

#[test]
fn avg_next_to_other_clauses() {
    let out = fanout(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) \
         SELECT a, avg(b) AS b_avg, count(*) FROM r JOIN u USING (n) \
         GROUP BY a HAVING avg(b) > 1 ORDER BY b_avg",
        Some(5),
    );
    assert_eq!(
        out.sql,
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) \
         SELECT a, avg(b) AS b_avg, count(*), sum(b) AS __pgdog_sum_1, count(b) AS __pgdog_count_1 \
         FROM r JOIN u USING (n) GROUP BY a HAVING avg(b) > 1 ORDER BY b_avg LIMIT 5"
    );
    assert_eq!(out.avg[0].avg, 1);
    assert_eq!((out.avg[0].sum, out.avg[0].count, out.hidden), (3, 4, 2));
}

#[test]
fn avgs_that_cannot_be_split_are_left_alone() {
    for sql in [
        "SELECT avg(DISTINCT x) FROM t",
        "SELECT avg(x) FILTER (WHERE x > 0) FROM t",
        "SELECT avg(x) OVER (PARTITION BY y) FROM t",
        "SELECT myschema.avg(x) FROM t",
        "SELECT round(avg(x), 2) FROM t",
        "SELECT x FROM t WHERE x > (SELECT avg(x) FROM t)",
    ] {
        assert_eq!(for_fanout(sql, None).unwrap(), None, "{sql}");
    }
}

#[test]
fn limit_replaces_limit_and_offset() {
    let out = fanout(
        "SELECT * FROM users ORDER BY id LIMIT 5 OFFSET 10",
        Some(15),
    );
    assert_eq!(out.sql, "SELECT * FROM users ORDER BY id LIMIT 15");
    assert_eq!((out.avg, out.hidden), (vec![], 0));

    let cases = [
        (
            "SELECT * FROM users LIMIT 10",
            10,
            "SELECT * FROM users LIMIT 10",
        ),
        (
            "SELECT * FROM users OFFSET 3",
            7,
            "SELECT * FROM users LIMIT 7",
        ),
        ("SELECT * FROM users", 0, "SELECT * FROM users LIMIT 0"),
        (
            "SELECT * FROM users",
            5_000_000_000,
            "SELECT * FROM users LIMIT 5000000000",
        ),
        (
            "SELECT * FROM users ORDER BY id LIMIT ALL OFFSET 3",
            7,
            "SELECT * FROM users ORDER BY id LIMIT 7",
        ),
        (
            "SELECT * FROM users ORDER BY id OFFSET 2 ROWS FETCH FIRST 5 ROWS ONLY",
            7,
            "SELECT * FROM users ORDER BY id LIMIT 7",
        ),
        (
            "SELECT * FROM users ORDER BY id OFFSET 2 FETCH FIRST 5 ROWS WITH TIES",
            7,
            "SELECT * FROM users ORDER BY id FETCH FIRST 7 ROWS WITH TIES",
        ),
        (
            "SELECT x FROM t FOR UPDATE SKIP LOCKED LIMIT 1 OFFSET 2",
            3,
            "SELECT x FROM t LIMIT 3 FOR UPDATE SKIP LOCKED",
        ),
        (
            "SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b LIMIT 2 OFFSET 2",
            4,
            "SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b LIMIT 4",
        ),
        (
            "VALUES (1, 'a'), (2, 'b') ORDER BY 1 LIMIT 1 OFFSET 1",
            2,
            "VALUES (1, 'a'), (2, 'b') ORDER BY 1 LIMIT 2",
        ),
    ];
    for (sql, limit, expected) in cases {
        assert_eq!(fanout(sql, Some(limit)).sql, expected, "{sql}");
    }
}

#[test]
fn parameters_quotes_and_literals_survive() {
    let out = fanout(
        "SELECT \"Name\", 'it''s' AS x, E'a\\\\b', $$q'q$$ FROM \"My Table\" \
         WHERE id = $1 ORDER BY \"Name\" LIMIT $2 OFFSET $3",
        Some(7),
    );
    assert_eq!(
        out.sql,
        "SELECT \"Name\", 'it''s' AS x, E'a\\\\b', 'q''q' FROM \"My Table\" \
         WHERE id = $1 ORDER BY \"Name\" LIMIT 7"
    );
}

#[test]
fn nothing_to_change() {
    for sql in [
        "SELECT * FROM users",
        "SELECT count(*), sum(x) FROM t",
        "CREATE TABLE t (id int)",
        "UPDATE t SET x = 1",
    ] {
        assert_eq!(for_fanout(sql, None).unwrap(), None, "{sql}");
    }
}

#[test]
fn unsupported_fanouts() {
    unsupported_fanout("SELECT a FROM t UNION SELECT b FROM u LIMIT 3", Some(3));
    unsupported_fanout("SELECT avg(a) FROM t INTERSECT SELECT b FROM u", None);
    unsupported_fanout("SELECT avg(x) FROM t; SELECT 2", None);
    unsupported_fanout("SELECT 1; SELECT 2", Some(1));
    unsupported_fanout("SELECT DISTINCT avg(x) FROM t GROUP BY y", None);
    unsupported_fanout("SELECT DISTINCT ON (y) y, avg(x) FROM t GROUP BY y", None);
    unsupported_fanout("SELECT *, avg(x) FROM t GROUP BY id", None);
    unsupported_fanout("SELECT avg(x), t.* FROM t GROUP BY t.id", None);
    unsupported_fanout("SELECT avg(x), (r).* FROM t GROUP BY r", None);
    unsupported_fanout("SELECT avg(x) INTO other FROM t", None);
    unsupported_fanout("CREATE TABLE t (id int)", Some(1));
    unsupported_fanout("SELECT * FROM t", Some(-1));
    unsupported_fanout("", Some(1));
    unsupported_fanout("-- only a comment", None);
}

#[test]
fn parse_errors_are_reported() {
    assert!(matches!(
        for_fanout("SELEC 1", Some(1)),
        Err(RewriteError::Parse(_))
    ));
    assert!(matches!(
        for_fanout("SELECT '\0'", Some(1)),
        Err(RewriteError::Parse(_))
    ));
    assert!(matches!(
        insert_rows("INSERT INTO", &[0]),
        Err(RewriteError::Parse(_))
    ));
}

#[test]
fn insert_keeps_only_the_chosen_rows() {
    let sql = "INSERT INTO users (id, name) VALUES (1,'a'),(2,'b'),(3,'c') RETURNING id";
    assert_eq!(
        insert_rows(sql, &[0, 2]).unwrap(),
        "INSERT INTO users (id, name) VALUES (1, 'a'), (3, 'c') RETURNING id"
    );
    assert_eq!(
        insert_rows(sql, &[2, 1]).unwrap(),
        "INSERT INTO users (id, name) VALUES (3, 'c'), (2, 'b') RETURNING id"
    );
    assert_eq!(
        insert_rows("INSERT INTO t VALUES (1)", &[0]).unwrap(),
        "INSERT INTO t VALUES (1)"
    );
}

#[test]
fn insert_keeps_everything_else() {
    let sql = "WITH x AS (SELECT 1) INSERT INTO \"Users\" AS u (id, \"Name\") \
               OVERRIDING SYSTEM VALUE VALUES ($1, 'it''s'), ($2, E'\\n'), ($3, DEFAULT) \
               ON CONFLICT (id) DO UPDATE SET \"Name\" = excluded.\"Name\" \
               WHERE u.id > 0 RETURNING *";
    assert_eq!(
        insert_rows(sql, &[0, 2]).unwrap(),
        "WITH x AS (SELECT 1) INSERT INTO \"Users\" AS u (id, \"Name\") \
         OVERRIDING SYSTEM VALUE VALUES ($1, 'it''s'), ($3, DEFAULT) \
         ON CONFLICT (id) DO UPDATE SET \"Name\" = excluded.\"Name\" \
         WHERE u.id > 0 RETURNING *"
    );
    // E'\n' comes back as a standard string holding a real newline.
    assert_eq!(
        insert_rows(sql, &[1]).unwrap(),
        "WITH x AS (SELECT 1) INSERT INTO \"Users\" AS u (id, \"Name\") \
         OVERRIDING SYSTEM VALUE VALUES ($2, '\n') \
         ON CONFLICT (id) DO UPDATE SET \"Name\" = excluded.\"Name\" \
         WHERE u.id > 0 RETURNING *"
    );
}

#[test]
fn unsupported_inserts() {
    let sql = "INSERT INTO t (id) VALUES (1), (2)";
    unsupported_insert(sql, &[2]);
    unsupported_insert(sql, &[0, 0]);
    unsupported_insert(sql, &[]);
    unsupported_insert("INSERT INTO t SELECT * FROM u", &[0]);
    unsupported_insert("INSERT INTO t DEFAULT VALUES", &[0]);
    unsupported_insert("INSERT INTO t VALUES (1), (2) LIMIT 1", &[0]);
    unsupported_insert("INSERT INTO t VALUES (1) UNION VALUES (2)", &[0]);
    unsupported_insert("SELECT 1", &[0]);
    unsupported_insert("UPDATE t SET x = 1", &[0]);
    unsupported_insert("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)", &[0]);
    unsupported_insert("", &[0]);
}

#[test]
fn odd_input_never_panics() {
    for sql in [
        "",
        ";",
        ";;",
        "BEGIN",
        "COPY t FROM STDIN",
        "EXPLAIN SELECT avg(x) FROM t",
        "SELECT",
        "SELECT FROM t",
        "SELECT avg() FROM t",
        "SELECT avg(*) FROM t",
        "SELECT avg(x, y) FROM t",
        "SELECT avg(VARIADIC ARRAY[1]) FROM t",
        "SELECT ((((((((((1))))))))))",
        "INSERT INTO t VALUES",
        "\u{feff}SELECT 1",
        "SELECT 'unterminated",
    ] {
        for limit in [None, Some(0), Some(i64::MAX), Some(i64::MIN)] {
            let _ = for_fanout(sql, limit);
        }
        for rows in [&[][..], &[0], &[usize::MAX]] {
            let _ = insert_rows(sql, rows);
        }
    }
}
