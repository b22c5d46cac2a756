//! Hand-built statements and contexts for native unit tests.
//!
//! pgDog builds statements from the parse tree; a plugin's tests build their fields by
//! hand and turn them into the [`Statement`](crate::Statement) and
//! [`Context`](crate::types::Context) a plugin reads with `.into()`. These start every
//! field empty so a test sets only what its case is about, with struct update syntax:
//! `ContextFields { in_transaction: true, ..context(1) }`.

use crate::types::{Command, ContextFields, Param, Predicate, StatementFields, Table, Value};

/// A statement of `command` with text `sql` and every other field empty or false.
pub fn statement(command: Command, sql: &str) -> StatementFields {
    StatementFields {
        sql: sql.to_string(),
        command,
        tables: Vec::new(),
        predicates: Vec::new(),
        insert: None,
        order_by: Vec::new(),
        limit: None,
        offset: None,
        targets: Vec::new(),
        functions: Vec::new(),
        writes: false,
        read_only_transaction: false,
        comment: None,
        set: None,
        copy: None,
        parse_error: None,
        has_where: false,
    }
}

/// A context for database `pgdog`, user `pgdog`, with `shards` shards, no replicas, no
/// transaction and no parameters.
pub fn context(shards: u32) -> ContextFields {
    ContextFields {
        database: "pgdog".to_string(),
        user: "pgdog".to_string(),
        shards,
        has_replicas: false,
        in_transaction: false,
        params: Vec::new(),
    }
}

/// An unqualified table the statement reads.
pub fn table(name: &str) -> Table {
    Table {
        schema: None,
        name: name.to_string(),
        alias: None,
        written: false,
    }
}

/// An unqualified predicate `column = value` (one value) or `column IN (…)`.
pub fn predicate(column: &str, values: Vec<Value>) -> Predicate {
    Predicate {
        qualifier: None,
        column: column.to_string(),
        values,
    }
}

/// A text-format parameter.
pub fn text_param(value: &str) -> Param {
    Param {
        value: Some(value.as_bytes().to_vec()),
        binary: false,
    }
}

/// A binary-format parameter.
pub fn binary_param(bytes: &[u8]) -> Param {
    Param {
        value: Some(bytes.to_vec()),
        binary: true,
    }
}

/// A parameter bound to NULL.
pub fn null_param() -> Param {
    Param {
        value: None,
        binary: false,
    }
}
