//! The statement a call is about, read field by field.
//!
//! pgDog lends the statement to a call as a handle; each field is fetched from pgDog the
//! first time the plugin asks for it and kept for the rest of the call, so a plugin pays
//! only for the fields it reads. Tests build a statement from plain data instead
//! ([`StatementFields`], usually through [`crate::testing::statement`]).

use std::cell::OnceCell;

use crate::bindings::pgdog::router::types as wit;
use crate::types::{Command, CopyOptions, Insert, OrderBy, Predicate, SetCommand, Table, Value};

/// Every field of a statement, as plain data. Fields mean what the methods of
/// [`Statement`] with the same names say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementFields {
    pub sql: String,
    pub command: Command,
    pub tables: Vec<Table>,
    pub predicates: Vec<Predicate>,
    pub insert: Option<Insert>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<Value>,
    pub offset: Option<Value>,
    pub targets: Vec<String>,
    pub functions: Vec<String>,
    pub writes: bool,
    pub read_only_transaction: bool,
    pub comment: Option<String>,
    pub set: Option<SetCommand>,
    pub copy: Option<CopyOptions>,
    pub parse_error: Option<String>,
    pub has_where: bool,
}

/// What pgDog knows about one statement (see `statement` in `wit/router.wit`).
pub struct Statement<'a> {
    /// pgDog's handle for the call; `None` when built from [`StatementFields`], whose
    /// every cell is filled.
    host: Option<&'a wit::Statement>,
    sql: OnceCell<String>,
    command: OnceCell<Command>,
    tables: OnceCell<Vec<Table>>,
    predicates: OnceCell<Vec<Predicate>>,
    insert: OnceCell<Option<Insert>>,
    order_by: OnceCell<Vec<OrderBy>>,
    limit: OnceCell<Option<Value>>,
    offset: OnceCell<Option<Value>>,
    targets: OnceCell<Vec<String>>,
    functions: OnceCell<Vec<String>>,
    writes: OnceCell<bool>,
    read_only_transaction: OnceCell<bool>,
    comment: OnceCell<Option<String>>,
    set: OnceCell<Option<SetCommand>>,
    copy: OnceCell<Option<CopyOptions>>,
    parse_error: OnceCell<Option<String>>,
    has_where: OnceCell<bool>,
}

impl<'a> Statement<'a> {
    /// The statement pgDog lent to the current call.
    pub(crate) fn from_host(host: &'a wit::Statement) -> Self {
        Self {
            host: Some(host),
            ..Self::empty()
        }
    }

    fn empty() -> Self {
        Self {
            host: None,
            sql: OnceCell::new(),
            command: OnceCell::new(),
            tables: OnceCell::new(),
            predicates: OnceCell::new(),
            insert: OnceCell::new(),
            order_by: OnceCell::new(),
            limit: OnceCell::new(),
            offset: OnceCell::new(),
            targets: OnceCell::new(),
            functions: OnceCell::new(),
            writes: OnceCell::new(),
            read_only_transaction: OnceCell::new(),
            comment: OnceCell::new(),
            set: OnceCell::new(),
            copy: OnceCell::new(),
            parse_error: OnceCell::new(),
            has_where: OnceCell::new(),
        }
    }

    /// The value in `cell`, fetched from pgDog on first use.
    fn load<'s, T>(&'s self, cell: &'s OnceCell<T>, fetch: fn(&wit::Statement) -> T) -> &'s T {
        cell.get_or_init(|| match self.host {
            Some(host) => fetch(host),
            // A statement built from fields has every cell set; reaching here is a bug.
            None => unreachable!("a statement built from fields has every field"),
        })
    }

    /// The whole query text the client sent (for a simple query with several statements,
    /// the whole text each time).
    pub fn sql(&self) -> &str {
        self.load(&self.sql, wit::Statement::sql).as_str()
    }

    pub fn command(&self) -> Command {
        *self.load(&self.command, wit::Statement::command)
    }

    /// Tables read or written, in order of appearance.
    pub fn tables(&self) -> &[Table] {
        self.load(&self.tables, wit::Statement::tables).as_slice()
    }

    /// Equality and IN predicates of the WHERE clause, combined with AND.
    pub fn predicates(&self) -> &[Predicate] {
        self.load(&self.predicates, wit::Statement::predicates)
            .as_slice()
    }

    /// The columns and rows of an `INSERT … VALUES`.
    pub fn insert(&self) -> Option<&Insert> {
        self.load(&self.insert, wit::Statement::insert).as_ref()
    }

    pub fn order_by(&self) -> &[OrderBy] {
        self.load(&self.order_by, wit::Statement::order_by)
            .as_slice()
    }

    pub fn limit(&self) -> Option<&Value> {
        self.load(&self.limit, wit::Statement::limit).as_ref()
    }

    pub fn offset(&self) -> Option<&Value> {
        self.load(&self.offset, wit::Statement::offset).as_ref()
    }

    /// Output column names, as PostgreSQL will name them (best effort).
    pub fn targets(&self) -> &[String] {
        self.load(&self.targets, wit::Statement::targets).as_slice()
    }

    /// Functions the statement calls, lower case, without schema.
    pub fn functions(&self) -> &[String] {
        self.load(&self.functions, wit::Statement::functions)
            .as_slice()
    }

    /// The statement changes data or takes row locks.
    pub fn writes(&self) -> bool {
        *self.load(&self.writes, wit::Statement::writes)
    }

    /// `BEGIN READ ONLY` / `START TRANSACTION READ ONLY`.
    pub fn read_only_transaction(&self) -> bool {
        *self.load(
            &self.read_only_transaction,
            wit::Statement::read_only_transaction,
        )
    }

    /// The text of a leading comment, trimmed.
    pub fn comment(&self) -> Option<&str> {
        self.load(&self.comment, wit::Statement::comment).as_deref()
    }

    /// `SET [LOCAL] name = value` or `RESET name`.
    pub fn set(&self) -> Option<&SetCommand> {
        self.load(&self.set, wit::Statement::set).as_ref()
    }

    pub fn copy(&self) -> Option<&CopyOptions> {
        self.load(&self.copy, wit::Statement::copy).as_ref()
    }

    /// PostgreSQL's parser rejected the text; the server will report the error itself.
    pub fn parse_error(&self) -> Option<&str> {
        self.load(&self.parse_error, wit::Statement::parse_error)
            .as_deref()
    }

    /// The statement has a WHERE clause of any shape.
    pub fn has_where(&self) -> bool {
        *self.load(&self.has_where, wit::Statement::has_where)
    }
}

/// A field that has a narrower question pgDog can answer with less copying.
pub(crate) enum Field {
    Predicates,
    Insert,
}

impl Statement<'_> {
    /// The values pgDog finds for `column` in `field` (`predicate-values`,
    /// `insert-values`), asked directly: `None` when the whole field is here already
    /// (loaded, or built from fields), so the caller searches it instead.
    pub(crate) fn fetch_unless_loaded(
        &self,
        field: Field,
        column: &str,
    ) -> Option<Option<Vec<Value>>> {
        let host = self.host?;
        match field {
            Field::Predicates if self.predicates.get().is_none() => {
                Some(host.predicate_values(column))
            }
            Field::Insert if self.insert.get().is_none() => Some(host.insert_values(column)),
            _ => None,
        }
    }
}

impl From<StatementFields> for Statement<'static> {
    fn from(f: StatementFields) -> Self {
        Self {
            host: None,
            sql: f.sql.into(),
            command: f.command.into(),
            tables: f.tables.into(),
            predicates: f.predicates.into(),
            insert: f.insert.into(),
            order_by: f.order_by.into(),
            limit: f.limit.into(),
            offset: f.offset.into(),
            targets: f.targets.into(),
            functions: f.functions.into(),
            writes: f.writes.into(),
            read_only_transaction: f.read_only_transaction.into(),
            comment: f.comment.into(),
            set: f.set.into(),
            copy: f.copy.into(),
            parse_error: f.parse_error.into(),
            has_where: f.has_where.into(),
        }
    }
}

impl std::fmt::Debug for Statement<'_> {
    /// The fields fetched so far: printing must not fetch the rest.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Statement");
        loaded(&mut out, "sql", &self.sql);
        loaded(&mut out, "command", &self.command);
        loaded(&mut out, "tables", &self.tables);
        loaded(&mut out, "predicates", &self.predicates);
        loaded(&mut out, "insert", &self.insert);
        loaded(&mut out, "order_by", &self.order_by);
        loaded(&mut out, "limit", &self.limit);
        loaded(&mut out, "offset", &self.offset);
        loaded(&mut out, "targets", &self.targets);
        loaded(&mut out, "functions", &self.functions);
        loaded(&mut out, "writes", &self.writes);
        loaded(
            &mut out,
            "read_only_transaction",
            &self.read_only_transaction,
        );
        loaded(&mut out, "comment", &self.comment);
        loaded(&mut out, "set", &self.set);
        loaded(&mut out, "copy", &self.copy);
        loaded(&mut out, "parse_error", &self.parse_error);
        loaded(&mut out, "has_where", &self.has_where);
        out.finish_non_exhaustive()
    }
}

/// Adds `name` to a debug print when its cell is filled.
pub(crate) fn loaded<T: std::fmt::Debug>(
    out: &mut std::fmt::DebugStruct<'_, '_>,
    name: &str,
    cell: &OnceCell<T>,
) {
    if let Some(value) = cell.get() {
        out.field(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{predicate, statement};

    #[test]
    fn built_statements_answer_every_method_and_print_them() {
        let mut fields = statement(Command::Delete, "DELETE FROM t WHERE k = 1");
        fields.predicates = vec![predicate("k", vec![Value::Integer(1)])];
        fields.has_where = true;
        fields.writes = true;
        let stmt = Statement::from(fields);
        assert_eq!(stmt.command(), Command::Delete);
        assert_eq!(stmt.predicates()[0].column, "k");
        assert!(stmt.has_where() && stmt.writes());
        assert_eq!(stmt.comment(), None);
        let printed = format!("{stmt:?}");
        assert!(printed.contains("command: Command::Delete"), "{printed}");
        assert!(printed.contains("column: \"k\""), "{printed}");
        assert!(printed.contains("has_where: true"), "{printed}");
    }
}
