//! `Output` values built by hand as a C plugin would, malformed ones included. Memory
//! handed to `free` comes from libc's malloc, as the ABI requires.

use std::ffi::{c_char, c_int};

use super::*;

fn c(text: &str) -> *mut c_char {
    let bytes = text.as_bytes();
    // SAFETY: a fresh allocation of len + 1 bytes, filled and NUL-terminated.
    unsafe {
        let ptr = libc::malloc(bytes.len() + 1) as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len());
        *ptr.add(bytes.len()) = 0;
        ptr as *mut c_char
    }
}

fn array<T: Copy>(items: &[T]) -> *mut T {
    // SAFETY: room for every item, then each written once.
    unsafe {
        let ptr = libc::calloc(items.len().max(1), std::mem::size_of::<T>()) as *mut T;
        for (i, item) in items.iter().enumerate() {
            ptr.add(i).write(*item);
        }
        ptr
    }
}

fn read(out: abi::Output) -> Result<Decision, String> {
    // SAFETY: built by these tests with valid pointers (or deliberately NULL ones).
    unsafe {
        let decision = read_route(&out);
        free(&out);
        decision
    }
}

fn forward(affinity: c_int, shard: c_int) -> abi::Output {
    let mut out = abi::Output::zeroed();
    out.decision = abi::FORWARD;
    out.output.route = abi::Route {
        affinity,
        shard,
        num_order_by: 0,
        order_by: std::ptr::null_mut(),
    };
    out
}

fn intercept(names: &[&str], oids: &[c_int], rows: &[&[Option<&str>]]) -> abi::Output {
    let columns: Vec<abi::RowDescriptionColumn> = names
        .iter()
        .zip(oids)
        .map(|(n, &oid)| abi::RowDescriptionColumn {
            len: n.len() as c_int,
            name: c(n),
            oid,
        })
        .collect();
    let rows: Vec<abi::Row> = rows
        .iter()
        .map(|values| {
            let row = abi::pgdog_row_new(values.len() as c_int);
            for (i, v) in values.iter().enumerate() {
                // SAFETY: pgdog_row_new gave room for every value.
                unsafe {
                    *row.columns.add(i) = match v {
                        Some(v) => abi::RowColumn {
                            length: v.len() as c_int,
                            data: c(v),
                        },
                        None => abi::RowColumn {
                            length: -1,
                            data: std::ptr::null_mut(),
                        },
                    };
                }
            }
            row
        })
        .collect();
    let mut out = abi::Output::zeroed();
    out.decision = abi::INTERCEPT;
    out.output.intercept = abi::Intercept {
        row_description: abi::RowDescription {
            num_columns: columns.len() as c_int,
            columns: array(&columns),
        },
        num_rows: rows.len() as c_int,
        rows: array(&rows),
    };
    out
}

#[test]
fn forward_maps_affinity_and_shard() {
    let d = read(forward(abi::READ, 1)).unwrap();
    assert_eq!(
        d,
        Decision::Route(Target {
            shards: Some(Shards::Set(vec![1])),
            role: Some(Role::Replica)
        })
    );
    let d = read(forward(abi::TRANSACTION_START, abi::ALL)).unwrap();
    assert_eq!(
        d,
        Decision::Route(Target {
            shards: Some(Shards::All),
            role: Some(Role::Primary)
        })
    );
    // ANY leaves the shard, UNKNOWN the role, to pgDog.
    let d = read(forward(abi::UNKNOWN, abi::ANY)).unwrap();
    assert_eq!(
        d,
        Decision::Route(Target {
            shards: None,
            role: None
        })
    );
}

#[test]
fn bad_routes_are_errors() {
    assert!(read(forward(9, 0)).unwrap_err().contains("affinity 9"));
    assert!(read(forward(abi::READ, -7))
        .unwrap_err()
        .contains("shard -7"));
    let mut out = forward(abi::READ, 0);
    out.output.route.num_order_by = 2;
    assert!(read(out).unwrap_err().contains("NULL for 2 entries"));
    let mut out = forward(abi::READ, 0);
    out.output.route.num_order_by = -1;
    assert!(read(out).unwrap_err().contains("negative count -1"));
    let mut out = abi::Output::zeroed();
    out.decision = 0;
    assert_eq!(read(out).unwrap_err(), "unknown decision 0");
}

#[test]
fn error_needs_code_and_message() {
    let mut out = abi::Output::zeroed();
    out.decision = abi::ERROR;
    out.output.error = abi::Error {
        severity: c("ERROR"),
        code: c("42501"),
        message: c("no"),
        detail: c("because"),
    };
    let Decision::Reject(err) = read(out).unwrap() else {
        panic!("not a reject")
    };
    assert_eq!(
        (
            err.code.as_str(),
            err.message.as_str(),
            err.detail.as_deref()
        ),
        ("42501", "no", Some("because"))
    );
    let mut out = abi::Output::zeroed();
    out.decision = abi::ERROR;
    out.output.error = abi::Error {
        severity: std::ptr::null_mut(),
        code: c("42501"),
        message: std::ptr::null_mut(),
        detail: std::ptr::null_mut(),
    };
    assert_eq!(read(out).unwrap_err(), "ERROR message is NULL");
}

#[test]
fn intercept_keeps_types_nulls_and_checks_shapes() {
    let out = intercept(
        &["n", "s"],
        &[23, 0],
        &[&[Some("1"), None], &[Some("2"), Some("b")]],
    );
    let Decision::Respond(r) = read(out).unwrap() else {
        panic!("not a respond")
    };
    assert_eq!(r.columns, ["n", "s"]);
    assert_eq!(r.oids, [23, 25]);
    assert_eq!(
        r.rows,
        [
            vec![Some("1".to_string()), None],
            vec![Some("2".to_string()), Some("b".to_string())]
        ]
    );
    let out = intercept(&["n"], &[23], &[&[Some("1")]]);
    // SAFETY: the intercept member is the active one, its rows array has one entry.
    unsafe { (*out.output.intercept.rows).num_columns = 2 };
    assert!(read(out)
        .unwrap_err()
        .contains("row with 2 columns for 1 described"));
    let out = intercept(&["n"], &[-4], &[]);
    assert!(read(out).unwrap_err().contains("type OID -4"));
    let mut out = intercept(&["n"], &[23], &[]);
    // SAFETY: the rows array is released here and replaced by NULL.
    unsafe {
        libc::free(out.output.intercept.rows as *mut libc::c_void);
        out.output.intercept.rows = std::ptr::null_mut();
        out.output.intercept.num_rows = 3;
    }
    assert!(read(out).unwrap_err().contains("NULL for 3 entries"));
}

#[test]
fn rewrite_carries_text_and_route() {
    let mut out = abi::Output::zeroed();
    out.decision = abi::REWRITE;
    out.output.rewrite = abi::Rewrite {
        route: abi::Route {
            affinity: abi::WRITE,
            shard: 0,
            num_order_by: 0,
            order_by: std::ptr::null_mut(),
        },
        len: 8,
        query: c("SELECT 1"),
    };
    assert_eq!(
        read(out).unwrap(),
        Decision::Rewrite {
            sql: "SELECT 1".into(),
            target: Target {
                shards: Some(Shards::Set(vec![0])),
                role: Some(Role::Primary)
            }
        }
    );
    let mut out = abi::Output::zeroed();
    out.decision = abi::REWRITE;
    out.output.rewrite.len = -2;
    assert!(read(out).unwrap_err().contains("negative count -2"));
}

#[test]
fn copy_rows_are_read_with_their_shards() {
    let rows = [
        abi::CopyRow {
            len: 4,
            data: c("1,a\n"),
            shard: 1,
        },
        abi::CopyRow {
            len: 4,
            data: c("2,b\n"),
            shard: abi::ALL,
        },
    ];
    let mut out = abi::Output::zeroed();
    out.decision = abi::COPY_ROWS;
    out.output.copy_rows = abi::CopyOutput {
        num_rows: 2,
        rows: array(&rows),
        header: c("id,note\n"),
    };
    // SAFETY: built above with valid pointers.
    let read = unsafe {
        let r = read_copy_rows(&out);
        free(&out);
        r
    }
    .unwrap();
    assert_eq!(read.header.as_deref(), Some(&b"id,note\n"[..]));
    assert_eq!(
        read.rows,
        [
            (b"1,a\n".to_vec(), CopyShard::One(1)),
            (b"2,b\n".to_vec(), CopyShard::All)
        ]
    );
    // COPY_ROWS is no answer to a query, nor FORWARD to COPY input.
    let mut out = abi::Output::zeroed();
    out.decision = abi::COPY_ROWS;
    assert!(read_route_of(out).contains("COPY input only"));
    let out = forward(abi::READ, 0);
    // SAFETY: a valid FORWARD output.
    let err = unsafe { read_copy_rows(&out) }.unwrap_err();
    assert!(err.contains("only COPY_ROWS splits rows"), "{err}");
}

fn read_route_of(out: abi::Output) -> String {
    read(out).unwrap_err()
}

#[test]
fn copy_decision_needs_csv() {
    let mut out = abi::Output::zeroed();
    out.decision = abi::COPY;
    out.output.copy = abi::Copy {
        copy_format: abi::CSV,
        table_name: c("items"),
        has_headers: 1,
        delimiter: b';' as c_char,
        num_columns: 2,
        columns: array(&[c("id"), c("note")]),
    };
    assert_eq!(
        read(out).unwrap(),
        Decision::SplitCopy(CopySplit {
            delimiter: b';',
            has_headers: true,
            columns: vec!["id".into(), "note".into()]
        })
    );
    let mut out = abi::Output::zeroed();
    out.decision = abi::COPY;
    assert!(read(out).unwrap_err().contains("format 0"));
}
