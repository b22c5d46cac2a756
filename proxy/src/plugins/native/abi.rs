//! The C ABI of native plugins, as `plugin-sdk/c/pgdog_plugin.h` declares it: pgdog's
//! original layouts on 64-bit Linux, mirrored field for field.

use std::ffi::{c_char, c_int};

pub const ROUTING_INPUT: c_int = 1;
pub const COPY_INPUT: c_int = 2;

pub const PRIMARY: c_int = 1;
pub const REPLICA: c_int = 2;

pub const FORWARD: c_int = 1;
pub const REWRITE: c_int = 2;
pub const ERROR: c_int = 3;
pub const INTERCEPT: c_int = 4;
pub const NO_DECISION: c_int = 5;
pub const COPY: c_int = 6;
pub const COPY_ROWS: c_int = 7;

pub const READ: c_int = 1;
pub const WRITE: c_int = 2;
pub const TRANSACTION_START: c_int = 3;
pub const TRANSACTION_END: c_int = 4;
pub const UNKNOWN: c_int = -1;

pub const ANY: c_int = -1;
pub const ALL: c_int = -2;

pub const CSV: c_int = 1;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct DatabaseConfig {
    pub shard: c_int,
    pub role: c_int,
    pub host: *mut c_char,
    pub port: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Config {
    pub num_databases: c_int,
    pub databases: *mut DatabaseConfig,
    pub name: *mut c_char,
    pub shards: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Parameter {
    pub len: c_int,
    pub data: *const c_char,
    pub format: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Query {
    pub len: c_int,
    pub query: *const c_char,
    pub num_parameters: c_int,
    pub parameters: *const Parameter,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct CopyInput {
    pub len: c_int,
    pub data: *const c_char,
    pub delimiter: c_char,
    pub has_headers: c_int,
    pub sharding_column: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub union RoutingInput {
    pub query: Query,
    pub copy: CopyInput,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Input {
    pub config: Config,
    pub input_type: c_int,
    pub input: RoutingInput,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct OrderBy {
    pub column_name: *mut c_char,
    pub column_index: c_int,
    pub direction: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Route {
    pub affinity: c_int,
    pub shard: c_int,
    pub num_order_by: c_int,
    pub order_by: *mut OrderBy,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Error {
    pub severity: *mut c_char,
    pub code: *mut c_char,
    pub message: *mut c_char,
    pub detail: *mut c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct RowColumn {
    pub length: c_int,
    pub data: *mut c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Row {
    pub num_columns: c_int,
    pub columns: *mut RowColumn,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct RowDescriptionColumn {
    pub len: c_int,
    pub name: *mut c_char,
    pub oid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct RowDescription {
    pub num_columns: c_int,
    pub columns: *mut RowDescriptionColumn,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Intercept {
    pub row_description: RowDescription,
    pub num_rows: c_int,
    pub rows: *mut Row,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Copy {
    pub copy_format: c_int,
    pub table_name: *mut c_char,
    pub has_headers: c_int,
    pub delimiter: c_char,
    pub num_columns: c_int,
    pub columns: *mut *mut c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct CopyRow {
    pub len: c_int,
    pub data: *mut c_char,
    pub shard: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct CopyOutput {
    pub num_rows: c_int,
    pub rows: *mut CopyRow,
    pub header: *mut c_char,
}

/// pgDog's addition: REWRITE's payload, inside the union's original size.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Rewrite {
    pub route: Route,
    pub len: c_int,
    pub query: *mut c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub union RoutingOutput {
    pub route: Route,
    pub error: Error,
    pub intercept: Intercept,
    pub copy: Copy,
    pub copy_rows: CopyOutput,
    pub rewrite: Rewrite,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Output {
    pub decision: c_int,
    pub output: RoutingOutput,
}

impl Output {
    /// An all-zero answer (decision 0), what a plugin returning nothing looks like.
    pub fn zeroed() -> Output {
        // SAFETY: every field is an integer or a raw pointer, for which all-zero is valid.
        unsafe { std::mem::zeroed() }
    }
}

// The sizes the original ABI has on 64-bit Linux (the header asserts the same).
const _: () = assert!(std::mem::size_of::<Input>() == 72);
const _: () = assert!(std::mem::size_of::<Output>() == 48);
const _: () = assert!(std::mem::size_of::<RoutingOutput>() == 40);
const _: () = assert!(std::mem::size_of::<Rewrite>() <= std::mem::size_of::<Copy>());

pub type RouteQuery = unsafe extern "C" fn(Input) -> Output;
pub type Hook = unsafe extern "C" fn();

/// `Row pgdog_row_new(int num_columns)`, for plugins: exported by the pgdog binary
/// (`build.rs` puts it in the dynamic symbol table), allocated with calloc so pgDog's
/// `free` of returned rows matches.
#[no_mangle]
pub extern "C" fn pgdog_row_new(num_columns: c_int) -> Row {
    let count = usize::try_from(num_columns).unwrap_or(0);
    if count == 0 {
        return Row {
            num_columns: num_columns.max(0),
            columns: std::ptr::null_mut(),
        };
    }
    // SAFETY: calloc with a nonzero count; a NULL result is passed on as "no columns".
    let columns =
        unsafe { libc::calloc(count, std::mem::size_of::<RowColumn>()) } as *mut RowColumn;
    Row {
        num_columns: if columns.is_null() { 0 } else { num_columns },
        columns,
    }
}

/// `void pgdog_row_free(Row row)`: frees each column's data and the column array.
#[no_mangle]
pub extern "C" fn pgdog_row_free(row: Row) {
    if row.columns.is_null() {
        return;
    }
    for i in 0..usize::try_from(row.num_columns).unwrap_or(0) {
        // SAFETY: the caller promises a row from pgdog_row_new (num_columns entries) whose
        // data pointers are NULL or from malloc.
        unsafe { libc::free((*row.columns.add(i)).data as *mut libc::c_void) };
    }
    // SAFETY: as above; the array came from calloc.
    unsafe { libc::free(row.columns as *mut libc::c_void) };
}
