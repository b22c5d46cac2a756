//! Reading a native plugin's `Output`: every pointer and length is checked before it is
//! followed, so a plugin returning NULL where data is promised, a negative length or an
//! unknown decision fails that query with a clear error instead of undefined behaviour in
//! pgDog. Then everything the plugin allocated is freed, as the ABI says.

use std::ffi::{c_char, c_int, CStr};

use super::abi;
use crate::config::Role;
use crate::plugins::{CopyRows, CopyShard, CopySplit, Decision, Respond, Target};
use crate::router::route::Shards;
use crate::wire::ErrorResponse;

/// PostgreSQL's own limit on the columns of a result.
const MAX_COLUMNS: c_int = 1664;

/// Reads the answer to a routing input.
///
/// # Safety
/// `out` came from the plugin's `pgdog_route_query`: the pointers of the member its
/// decision names are NULL or point where the ABI says.
pub unsafe fn read_route(out: &abi::Output) -> Result<Decision, String> {
    match out.decision {
        abi::NO_DECISION => Ok(Decision::Pass),
        abi::FORWARD => Ok(Decision::Route(route(&out.output.route)?)),
        abi::REWRITE => {
            let rewrite = &out.output.rewrite;
            let sql = text(rewrite.query, rewrite.len, "REWRITE query")?;
            Ok(Decision::Rewrite {
                sql,
                target: route(&rewrite.route)?,
            })
        }
        abi::ERROR => Ok(Decision::Reject(error(&out.output.error)?)),
        abi::INTERCEPT => Ok(Decision::Respond(intercept(&out.output.intercept)?)),
        abi::COPY => Ok(Decision::SplitCopy(copy(&out.output.copy)?)),
        abi::COPY_ROWS => Err("COPY_ROWS answers COPY input only, not a query".into()),
        other => Err(format!("unknown decision {other}")),
    }
}

/// Reads the answer to a COPY input.
///
/// # Safety
/// As for [`read_route`].
pub unsafe fn read_copy_rows(out: &abi::Output) -> Result<CopyRows, String> {
    if out.decision != abi::COPY_ROWS {
        return Err(format!(
            "decision {} to COPY input (only COPY_ROWS splits rows)",
            out.decision
        ));
    }
    let rows = &out.output.copy_rows;
    let header = if rows.header.is_null() {
        None
    } else {
        Some(CStr::from_ptr(rows.header).to_bytes().to_vec())
    };
    let list = array(rows.rows, rows.num_rows, "COPY_ROWS rows")?;
    let mut out_rows = Vec::with_capacity(list.len());
    for row in list {
        let data = bytes(row.data, row.len, "COPY_ROWS row data")?.to_vec();
        let shard = match row.shard {
            abi::ALL => CopyShard::All,
            n if n >= 0 => CopyShard::One(n as usize),
            n => return Err(format!("COPY_ROWS row for shard {n}")),
        };
        out_rows.push((data, shard));
    }
    Ok(CopyRows {
        header,
        rows: out_rows,
    })
}

unsafe fn route(route: &abi::Route) -> Result<Target, String> {
    let role = match route.affinity {
        abi::READ => Some(Role::Replica),
        abi::WRITE | abi::TRANSACTION_START | abi::TRANSACTION_END => Some(Role::Primary),
        abi::UNKNOWN => None,
        other => return Err(format!("unknown affinity {other}")),
    };
    let shards = match route.shard {
        // The plugin leaves the shard to pgDog's built-in sharding.
        abi::ANY => None,
        abi::ALL => Some(Shards::All),
        n if n >= 0 => Some(Shards::Set(vec![n as usize])),
        n => return Err(format!("shard {n} (a shard number, ANY (-1) or ALL (-2))")),
    };
    for order in array(route.order_by, route.num_order_by, "route order_by")? {
        if !matches!(order.direction, 0 | 1) {
            return Err(format!("order_by direction {}", order.direction));
        }
    }
    Ok(Target { shards, role })
}

unsafe fn error(error: &abi::Error) -> Result<ErrorResponse, String> {
    let code = cstr(error.code, "ERROR code")?;
    let message = cstr(error.message, "ERROR message")?;
    let err = ErrorResponse::error(&code, message);
    Ok(if error.detail.is_null() {
        err
    } else {
        err.with_detail(cstr(error.detail, "ERROR detail")?)
    })
}

unsafe fn intercept(intercept: &abi::Intercept) -> Result<Respond, String> {
    let described = &intercept.row_description;
    if described.num_columns > MAX_COLUMNS {
        return Err(format!(
            "INTERCEPT with {} columns (at most {MAX_COLUMNS})",
            described.num_columns
        ));
    }
    let mut columns = Vec::new();
    let mut oids = Vec::new();
    for column in array(
        described.columns,
        described.num_columns,
        "INTERCEPT columns",
    )? {
        columns.push(text(column.name, column.len, "INTERCEPT column name")?);
        let oid = u32::try_from(column.oid)
            .map_err(|_| format!("INTERCEPT column type OID {}", column.oid))?;
        oids.push(if oid == 0 { 25 } else { oid });
    }
    let mut rows = Vec::new();
    for row in array(intercept.rows, intercept.num_rows, "INTERCEPT rows")? {
        if row.num_columns != described.num_columns {
            return Err(format!(
                "INTERCEPT row with {} columns for {} described",
                row.num_columns, described.num_columns
            ));
        }
        let mut values = Vec::new();
        for value in array(row.columns, row.num_columns, "INTERCEPT row columns")? {
            values.push(if value.length == -1 || value.data.is_null() {
                None
            } else {
                Some(text(value.data, value.length, "INTERCEPT value")?)
            });
        }
        rows.push(values);
    }
    Ok(Respond {
        columns,
        rows,
        oids,
    })
}

unsafe fn copy(copy: &abi::Copy) -> Result<CopySplit, String> {
    if copy.copy_format != abi::CSV {
        return Err(format!(
            "COPY with format {} (only CSV (1) is supported)",
            copy.copy_format
        ));
    }
    let columns = array(copy.columns, copy.num_columns, "COPY columns")?
        .iter()
        .map(|&name| cstr(name, "COPY column name"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CopySplit {
        delimiter: copy.delimiter as u8,
        has_headers: copy.has_headers != 0,
        columns,
    })
}

/// `count` entries at `ptr`: a negative count, or NULL with entries promised, is an error.
unsafe fn array<'a, T>(ptr: *const T, count: c_int, what: &str) -> Result<&'a [T], String> {
    let len = usize::try_from(count).map_err(|_| format!("{what}: negative count {count}"))?;
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(format!("{what}: NULL for {len} entries"));
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

unsafe fn bytes<'a>(ptr: *const c_char, len: c_int, what: &str) -> Result<&'a [u8], String> {
    array(ptr as *const u8, len, what)
}

/// `len` bytes of UTF-8 text at `ptr`.
unsafe fn text(ptr: *const c_char, len: c_int, what: &str) -> Result<String, String> {
    let raw = bytes(ptr, len, what)?;
    String::from_utf8(raw.to_vec()).map_err(|_| format!("{what} is not valid UTF-8"))
}

/// A NUL-terminated UTF-8 string; NULL is an error.
unsafe fn cstr(ptr: *const c_char, what: &str) -> Result<String, String> {
    if ptr.is_null() {
        return Err(format!("{what} is NULL"));
    }
    CStr::from_ptr(ptr)
        .to_str()
        .map(str::to_string)
        .map_err(|_| format!("{what} is not valid UTF-8"))
}

/// Frees what the plugin allocated for `out`, as far as it can be followed safely: arrays
/// with a negative count or an unknown decision are left alone (a leak, never a bad free).
///
/// # Safety
/// As for [`read_route`]; `out` is not used afterwards.
pub unsafe fn free(out: &abi::Output) {
    match out.decision {
        abi::FORWARD => free_route(&out.output.route),
        abi::REWRITE => {
            free_route(&out.output.rewrite.route);
            release(out.output.rewrite.query);
        }
        abi::ERROR => {
            let e = &out.output.error;
            for ptr in [e.severity, e.code, e.message, e.detail] {
                release(ptr);
            }
        }
        abi::INTERCEPT => {
            let i = &out.output.intercept;
            let d = &i.row_description;
            for column in array(d.columns, d.num_columns, "").unwrap_or(&[]) {
                release(column.name);
            }
            release(d.columns);
            for row in array(i.rows, i.num_rows, "").unwrap_or(&[]) {
                // A row whose count disagrees with the description has a count that cannot
                // be trusted: its values are leaked rather than read past its array.
                if row.num_columns == d.num_columns {
                    for value in array(row.columns, row.num_columns, "").unwrap_or(&[]) {
                        release(value.data);
                    }
                }
                release(row.columns);
            }
            release(i.rows);
        }
        abi::COPY => {
            let c = &out.output.copy;
            release(c.table_name);
            for &name in array(c.columns, c.num_columns, "").unwrap_or(&[]) {
                release(name);
            }
            release(c.columns);
        }
        abi::COPY_ROWS => {
            let c = &out.output.copy_rows;
            for row in array(c.rows, c.num_rows, "").unwrap_or(&[]) {
                release(row.data);
            }
            release(c.rows);
            release(c.header);
        }
        _ => {}
    }
}

unsafe fn free_route(route: &abi::Route) {
    for order in array(route.order_by, route.num_order_by, "").unwrap_or(&[]) {
        release(order.column_name);
    }
    release(route.order_by);
}

unsafe fn release<T>(ptr: *mut T) {
    if !ptr.is_null() {
        libc::free(ptr as *mut libc::c_void);
    }
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
