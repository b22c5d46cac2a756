use bytes::{Bytes, BytesMut};

use super::*;
use crate::fanout::rows::{parse_row, Columns};
use crate::router::rewrite::AvgColumns;
use crate::router::summarize::summarize;
use crate::wire::{backend, split_message, Message};

fn columns(names: &[&str]) -> Columns {
    let mut out = BytesMut::new();
    backend::row_description(&mut out, names);
    Columns::parse(&split_message(&mut out).unwrap().unwrap()).unwrap()
}

/// A RowDescription of int8 columns (text format), as PostgreSQL sends for COUNT.
fn int8_columns(names: &[&str]) -> Columns {
    let mut out = BytesMut::new();
    let at = crate::wire::begin(&mut out, b'T');
    out.extend_from_slice(&(names.len() as i16).to_be_bytes());
    for name in names {
        crate::wire::put_cstr(&mut out, name);
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&20i32.to_be_bytes());
        out.extend_from_slice(&8i16.to_be_bytes());
        out.extend_from_slice(&(-1i32).to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
    }
    crate::wire::finish(&mut out, at);
    Columns::parse(&split_message(&mut out).unwrap().unwrap()).unwrap()
}

fn row(values: &[Option<&str>]) -> Row {
    values
        .iter()
        .map(|v| v.map(|s| Bytes::copy_from_slice(s.as_bytes())))
        .collect()
}

fn sent_rows(out: &mut BytesMut) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    while let Some(msg) = split_message(out).unwrap() {
        if msg.tag() == b'D' {
            rows.push(
                parse_row(&msg)
                    .unwrap()
                    .into_iter()
                    .map(|v| v.map(|b| String::from_utf8(b.to_vec()).unwrap()))
                    .collect(),
            );
        }
    }
    rows
}

fn plan(sql: &str) -> Plan {
    let stmt = summarize(sql).into_iter().next().unwrap();
    Plan::new(&stmt).unwrap()
}

#[test]
fn offset_and_limit_apply_after_the_merge() {
    let mut merge = Merge::new(
        plan("SELECT name FROM t LIMIT 2 OFFSET 1"),
        columns(&["name"]),
    )
    .unwrap();
    let mut out = BytesMut::new();
    for name in ["a", "b", "c", "d"] {
        merge.emit(&mut out, &row(&[Some(name)]), None);
    }
    assert_eq!(merge.sent(), 2);
    assert!(merge.full());
    assert_eq!(
        sent_rows(&mut out),
        vec![vec![Some("b".to_string())], vec![Some("c".to_string())]]
    );
}

#[test]
fn order_by_name_position_direction_and_nulls() {
    let merge = Merge::new(
        plan("SELECT a, b FROM t ORDER BY b DESC, 1 NULLS FIRST"),
        columns(&["a", "b"]),
    )
    .unwrap();
    assert!(merge.sorted());
    let x = row(&[Some("1"), Some("z")]);
    let y = row(&[Some("2"), Some("y")]);
    assert!(merge.compare(&x, &y).is_lt(), "DESC on b");
    let n = row(&[None, Some("z")]);
    assert!(merge.compare(&n, &x).is_lt(), "NULLS FIRST on a");
    // DESC puts NULLs first by default.
    let nb = row(&[Some("1"), None]);
    assert!(merge.compare(&nb, &x).is_lt());
}

#[test]
fn order_by_an_expression_is_refused() {
    let err = Merge::new(plan("SELECT a FROM t ORDER BY a + 1"), columns(&["a"]))
        .err()
        .unwrap();
    assert_eq!(err.code, "0A000");
}

#[test]
fn counts_add_up_per_group() {
    let stmt = summarize("SELECT region, count(*) FROM t GROUP BY region ORDER BY region")
        .into_iter()
        .next()
        .unwrap();
    let mut cols = columns(&["region"]);
    cols.fields.extend(int8_columns(&["count"]).fields);
    let mut merge = Merge::new(Plan::new(&stmt).unwrap(), cols).unwrap();
    assert!(merge.aggregates());
    merge.fold(row(&[Some("west"), Some("2")]));
    merge.fold(row(&[Some("east"), Some("5")]));
    merge.fold(row(&[Some("west"), Some("40")]));
    let mut out = BytesMut::new();
    merge.finish(&mut out).unwrap();
    assert_eq!(
        sent_rows(&mut out),
        vec![
            vec![Some("east".to_string()), Some("5".to_string())],
            vec![Some("west".to_string()), Some("42".to_string())],
        ]
    );
}

#[test]
fn avg_divides_hidden_sum_by_hidden_count_and_drops_them() {
    let stmt = summarize("SELECT avg(x) FROM t")
        .into_iter()
        .next()
        .unwrap();
    let plan = Plan::new(&stmt).unwrap().with_hidden(
        vec![AvgColumns {
            avg: 0,
            sum: 1,
            count: 2,
        }],
        2,
    );
    let mut cols = Columns { fields: Vec::new() };
    for (name, oid) in [("avg", 1700u32), ("sum", 20), ("count", 20)] {
        let mut c = int8_columns(&[name]);
        c.fields[0].type_oid = oid;
        cols.fields.push(c.fields.remove(0));
    }
    let mut merge = Merge::new(plan, cols).unwrap();
    merge.fold(row(&[Some("1.5"), Some("3"), Some("2")]));
    merge.fold(row(&[Some("2.0"), Some("2"), Some("1")]));
    let mut out = BytesMut::new();
    merge.describe(&mut out);
    merge.finish(&mut out).unwrap();
    let first: Message = split_message(&mut out).unwrap().unwrap();
    assert_eq!(Columns::parse(&first).unwrap().fields.len(), 1);
    assert_eq!(
        sent_rows(&mut out),
        vec![vec![Some("1.6666666666666667".to_string())]]
    );
}

#[test]
fn min_and_max_compare_by_type() {
    let stmt = summarize("SELECT min(x), max(x) FROM t")
        .into_iter()
        .next()
        .unwrap();
    let mut merge = Merge::new(Plan::new(&stmt).unwrap(), int8_columns(&["min", "max"])).unwrap();
    merge.fold(row(&[Some("9"), Some("9")]));
    merge.fold(row(&[Some("10"), Some("10")]));
    merge.fold(row(&[None, None]));
    let mut out = BytesMut::new();
    merge.finish(&mut out).unwrap();
    assert_eq!(
        sent_rows(&mut out),
        vec![vec![Some("9".to_string()), Some("10".to_string())]]
    );
}

#[test]
fn distinct_aggregates_are_refused() {
    let stmt = summarize("SELECT count(DISTINCT x) FROM t")
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(Plan::new(&stmt).err().unwrap().code, "0A000");
}

#[test]
fn shards_get_limit_plus_offset_and_no_limit_under_aggregates() {
    assert_eq!(
        plan("SELECT a FROM t LIMIT 5 OFFSET 10").shard_limit(),
        ShardLimit::Rows(15)
    );
    assert_eq!(
        plan("SELECT a FROM t LIMIT 5").shard_limit(),
        ShardLimit::Keep
    );
    assert_eq!(plan("SELECT a FROM t").shard_limit(), ShardLimit::Keep);
    assert_eq!(
        plan("SELECT a FROM t OFFSET 3").shard_limit(),
        ShardLimit::Unlimited
    );
    assert_eq!(
        plan("SELECT a, count(*) FROM t GROUP BY a LIMIT 5").shard_limit(),
        ShardLimit::Unlimited
    );
    assert_eq!(
        plan("SELECT count(*) FROM t").shard_limit(),
        ShardLimit::Keep
    );
}
