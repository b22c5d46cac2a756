//! The summary of real SQL, statement kind by statement kind.

use super::*;
use crate::router::statement::{AggregateFunction, OrderBy, SortKey};

fn one(sql: &str) -> Statement {
    let mut all = summarize(sql);
    assert_eq!(all.len(), 1, "{sql}");
    all.remove(0)
}

#[test]
fn select_with_predicates_order_limit_and_aggregates() {
    let s = one(
        "/* pgdog_shard: 1 */ SELECT u.id, count(*) AS n, sum(x) FROM users u JOIN orders o ON o.uid = u.id \
         WHERE u.id = $1 AND o.kind IN ('a', 'b') AND (o.y = 1 OR o.y = 2) \
         GROUP BY 1 ORDER BY n DESC, 1 NULLS FIRST LIMIT 10 OFFSET 5",
    );
    assert_eq!(s.command, Command::Select);
    assert!(!s.writes);
    assert_eq!(s.comment.as_deref(), Some("pgdog_shard: 1"));
    let names: Vec<_> = s
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t.alias.as_deref()))
        .collect();
    assert_eq!(names, vec![("users", Some("u")), ("orders", Some("o"))]);
    assert_eq!(
        s.predicates,
        vec![
            Predicate {
                qualifier: Some("u".into()),
                column: "id".into(),
                values: vec![Value::Param(1)]
            },
            Predicate {
                qualifier: Some("o".into()),
                column: "kind".into(),
                values: vec![Value::Text("a".into()), Value::Text("b".into())]
            },
        ],
        "the OR branch is not a usable predicate"
    );
    assert_eq!(s.targets, vec!["id", "n", "sum"]);
    assert_eq!(s.aggregates.len(), 2);
    assert_eq!(s.aggregates[0].function, AggregateFunction::Count);
    assert_eq!(s.aggregates[1].position, 2);
    assert_eq!(s.group_by, vec![0]);
    assert_eq!(
        s.order_by,
        vec![
            OrderBy {
                key: SortKey::Column("n".into()),
                descending: true,
                nulls_first: true
            },
            OrderBy {
                key: SortKey::Position(1),
                descending: false,
                nulls_first: true
            },
        ]
    );
    assert_eq!(s.limit, Some(Value::Integer(10)));
    assert_eq!(s.offset, Some(Value::Integer(5)));
}

#[test]
fn insert_rows_and_columns() {
    let s = one(
        "INSERT INTO public.users (id, name) VALUES (1, 'a'), ($1, $2), (3::bigint, upper('x'))",
    );
    assert_eq!(s.command, Command::Insert);
    assert!(s.writes);
    assert_eq!(s.tables[0].schema.as_deref(), Some("public"));
    assert!(s.tables[0].written);
    let insert = s.insert.unwrap();
    assert_eq!(insert.columns, vec!["id", "name"]);
    assert_eq!(insert.rows.len(), 3);
    assert_eq!(insert.rows[1], vec![Value::Param(1), Value::Param(2)]);
    assert_eq!(insert.rows[2], vec![Value::Integer(3), Value::Expression]);
}

#[test]
fn writes_inside_ctes_and_locking_reads() {
    let s = one("WITH moved AS (DELETE FROM a WHERE id = 1 RETURNING *) SELECT * FROM moved");
    assert_eq!(s.command, Command::Select);
    assert!(s.writes, "a DELETE inside a CTE writes");
    let s = one("SELECT * FROM a WHERE id = 7 FOR UPDATE");
    assert_eq!(s.command, Command::SelectForUpdate);
    assert!(s.writes);
    assert_eq!(s.predicates[0].values, vec![Value::Integer(7)]);
}

#[test]
fn update_delete_copy_and_transactions() {
    let s = one("UPDATE t SET v = 1 WHERE 5 = id");
    assert_eq!(s.command, Command::Update);
    assert_eq!(s.predicates[0].column, "id");
    assert_eq!(one("DELETE FROM t").predicates, vec![]);
    let c = one("COPY t (a, b) FROM STDIN WITH (FORMAT csv, HEADER, DELIMITER ';')");
    assert_eq!(c.command, Command::CopyFrom);
    let copy = c.copy.unwrap();
    assert!(copy.csv && copy.header);
    assert_eq!(copy.delimiter, Some(';'));
    assert_eq!(copy.columns, vec!["a", "b"]);
    assert!(copy.stdio);
    let file = one("COPY t FROM '/tmp/x.csv'");
    assert!(!file.copy.unwrap().stdio);
    assert!(!one("COPY t FROM PROGRAM 'cat x'").copy.unwrap().stdio);
    assert_eq!(one("COPY t TO STDOUT").command, Command::CopyTo);
    assert_eq!(one("BEGIN").command, Command::Begin);
    assert!(one("BEGIN READ ONLY").read_only_transaction);
    assert!(!one("START TRANSACTION").read_only_transaction);
    assert_eq!(one("COMMIT").command, Command::Commit);
    assert_eq!(one("ROLLBACK").command, Command::Rollback);
    assert_eq!(one("SAVEPOINT a").command, Command::Savepoint);
    assert_eq!(one("CREATE TABLE x (id int)").command, Command::Ddl);
    assert_eq!(one("SHOW search_path").command, Command::Show);
    assert_eq!(one("LISTEN x").command, Command::Listen);
}

#[test]
fn set_commands() {
    let s = one("SET LOCAL pgdog.shard = 2");
    assert_eq!(
        s.set,
        Some(SetCommand {
            name: "pgdog.shard".into(),
            value: Some("2".into()),
            local: true
        })
    );
    let s = one("SET pgdog.sharding_key TO 'abc'");
    assert_eq!(s.set.unwrap().value.as_deref(), Some("abc"));
    assert_eq!(one("RESET pgdog.shard").set.unwrap().value, None);
}

#[test]
fn multiple_statements_and_errors() {
    let all = summarize("BEGIN; SELECT 1; COMMIT");
    let kinds: Vec<_> = all.iter().map(|s| s.command).collect();
    assert_eq!(
        kinds,
        vec![Command::Begin, Command::Select, Command::Commit]
    );
    let bad = summarize("SELEC 1");
    assert_eq!(bad.len(), 1);
    assert!(bad[0].parse_error.is_some());
    assert_eq!(summarize("").len(), 1);
}

#[test]
fn what_cross_shard_merging_cannot_combine_is_flagged() {
    let one = |sql: &str| summarize(sql).into_iter().next().unwrap();
    let plain = one("SELECT region, count(*), sum(x), avg(y) FROM t GROUP BY region");
    assert!(!plain.other_aggregates && !plain.window_functions && !plain.group_by_other);
    assert!(one("SELECT count(*)::int FROM t").other_aggregates);
    assert!(one("SELECT sum(x) + 1 FROM t").other_aggregates);
    assert!(one("SELECT string_agg(name, ',') FROM t").other_aggregates);
    assert!(one("SELECT count(*) FILTER (WHERE x > 1) FROM t").other_aggregates);
    assert!(one("SELECT id, row_number() OVER () FROM t").window_functions);
    assert!(one("SELECT count(*) FROM t GROUP BY region").group_by_other);
    assert!(one("SELECT region, count(*) FROM t GROUP BY ROLLUP (region)").group_by_other);
    assert!(one("SELECT region FROM t GROUP BY region HAVING count(*) > 1").having);
    let distinct = one("SELECT DISTINCT region FROM t");
    assert!(distinct.distinct && !distinct.distinct_on);
    let on = one("SELECT DISTINCT ON (region) region, id FROM t");
    assert!(on.distinct_on && !on.distinct);
    let copy = one("COPY t FROM STDIN WITH (FORMAT binary)");
    assert!(copy.copy.unwrap().binary);
    let copy = one("COPY t (a) FROM STDIN WITH (FORMAT csv, QUOTE '|', NULL 'nil')");
    let copy = copy.copy.unwrap();
    assert_eq!((copy.quote, copy.null.as_deref()), (Some('|'), Some("nil")));
}

#[test]
fn called_functions_are_listed() {
    let stmt = summarize("SELECT nextval('s'), pg_catalog.NOW() FROM t WHERE lower(x) = 'a'")
        .into_iter()
        .next()
        .unwrap();
    for f in ["nextval", "now", "lower"] {
        assert!(
            stmt.functions.contains(&f.to_string()),
            "{f}: {:?}",
            stmt.functions
        );
    }
}
