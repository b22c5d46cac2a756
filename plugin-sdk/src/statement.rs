//! The statement a call is about, read field by field.
//!
//! pgDog lends the statement to a call as a handle; each field is fetched from pgDog the
//! first time the plugin asks for it and kept for the rest of the call, so a plugin pays
//! only for the fields it reads. Tests build a statement from plain data instead
//! ([`StatementFields`], usually through [`crate::testing::statement`]).

use crate::bindings::pgdog::router::types as wit;
use crate::lazy::lazy_view;
use crate::types::{Command, CopyOptions, Insert, OrderBy, Predicate, SetCommand, Table, Value};

lazy_view! {
    /// Every field of a statement, as plain data. Fields mean what the methods of
    /// [`Statement`] with the same names say.
    StatementFields /
    /// What pgDog knows about one statement (see `statement` in `wit/router.wit`).
    Statement / wit::Statement {
        sql: String,
        command: Command,
        tables: Vec<Table>,
        predicates: Vec<Predicate>,
        insert: Option<Insert>,
        order_by: Vec<OrderBy>,
        limit: Option<Value>,
        offset: Option<Value>,
        targets: Vec<String>,
        functions: Vec<String>,
        writes: bool,
        read_only_transaction: bool,
        comment: Option<String>,
        set: Option<SetCommand>,
        copy: Option<CopyOptions>,
        parse_error: Option<String>,
        has_where: bool,
    }
}

impl Statement<'_> {
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

    /// `key-values` asked of pgDog, or `None` for a statement built from fields, which
    /// the caller answers from its own predicates and rows.
    pub(crate) fn fetch_key_values(
        &self,
        column: &str,
        source: wit::KeySource,
        key_type: wit::KeyType,
    ) -> Option<Option<wit::KeyValues>> {
        Some(self.host?.key_values(column, source, key_type))
    }

    /// `placed-keys` asked of pgDog, or `None` for a statement built from fields.
    pub(crate) fn fetch_placed_keys(
        &self,
        column: &str,
        source: wit::KeySource,
        key_type: wit::KeyType,
    ) -> Option<Option<wit::PlacedKeys>> {
        Some(self.host?.placed_keys(column, source, key_type))
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
