//! Questions plugins ask about a statement.
//!
//! Routing by a key means finding where the statement pins a column: a WHERE predicate
//! (`tenant_id = $1`, `id IN (1, 2)`) or the column's slot in each INSERT row. These
//! helpers find it and resolve the values against the execution's parameters.
//!
//! Column and table names are compared exactly: pgDog reports them as PostgreSQL folds
//! them, so an unquoted `TENANT_ID` in the query is already `tenant_id`.

use crate::statement::Field;
use crate::types::{Context, Insert, Predicate, Statement, Table, Value};
use crate::value::Resolved;

impl Statement<'_> {
    /// The first predicate on `column`, whatever its qualifier.
    pub fn predicate(&self, column: &str) -> Option<&Predicate> {
        self.predicates().iter().find(|p| p.column == column)
    }

    /// The first predicate on `column` of `table`: qualified by the table's name (also as
    /// `schema.table`) or by an alias the statement gives it, or unqualified when the
    /// statement reads that table. Use it when joined tables share a column name.
    pub fn table_predicate(&self, table: &str, column: &str) -> Option<&Predicate> {
        let aliases: Vec<&str> = self
            .tables()
            .iter()
            .filter(|t| t.name == table)
            .filter_map(|t| t.alias.as_deref())
            .collect();
        let reads_table = self.tables().iter().any(|t| t.name == table);
        self.predicates().iter().find(|p| {
            p.column == column
                && match p.qualifier.as_deref() {
                    None => reads_table,
                    Some(qualifier) => {
                        names_table(qualifier, table) || aliases.contains(&qualifier)
                    }
                }
        })
    }

    /// The values `column` is compared to in the WHERE clause (one for `=`, several for
    /// `IN`), with `$n` resolved. `None` when no predicate constrains the column.
    pub fn column_values(&self, column: &str, context: &Context<'_>) -> Option<Vec<Resolved>> {
        if let Some(values) = self.fetch_unless_loaded(Field::Predicates, column) {
            return values.map(|values| resolve_all(&values, context));
        }
        self.predicate(column).map(|p| p.resolve(context))
    }

    /// The value each INSERT row gives `column`, with `$n` resolved. `None` when the
    /// statement is not an `INSERT … VALUES` naming that column.
    pub fn insert_values(&self, column: &str, context: &Context<'_>) -> Option<Vec<Resolved>> {
        if let Some(values) = self.fetch_unless_loaded(Field::Insert, column) {
            return values.map(|values| resolve_all(&values, context));
        }
        self.insert()?.column_values(column, context)
    }

    /// The first table the statement names `name`, in any schema.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables().iter().find(|t| t.name == name)
    }
}

impl Predicate {
    /// The values compared to, with `$n` resolved.
    pub fn resolve(&self, context: &Context<'_>) -> Vec<Resolved> {
        resolve_all(&self.values, context)
    }
}

fn resolve_all(values: &[Value], context: &Context<'_>) -> Vec<Resolved> {
    values.iter().map(|v| v.resolve(context)).collect()
}

impl Insert {
    /// The value each row gives `column`, with `$n` resolved; `None` when the column list
    /// does not name it (or names no columns, so positions are unknown).
    pub fn column_values(&self, column: &str, context: &Context<'_>) -> Option<Vec<Resolved>> {
        let index = self.columns.iter().position(|c| c == column)?;
        Some(
            self.rows
                .iter()
                .map(|row| {
                    row.get(index)
                        .map_or(Resolved::Unknown, |v| v.resolve(context))
                })
                .collect(),
        )
    }
}

impl Table {
    /// `schema.name`, or `name` when the statement did not qualify it.
    pub fn qualified_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// `qualifier` is `table` or `some_schema.table`.
fn names_table(qualifier: &str, table: &str) -> bool {
    qualifier == table
        || qualifier
            .strip_suffix(table)
            .is_some_and(|schema| schema.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{context, predicate, statement, table, text_param};
    use crate::types::{Command, ContextFields, Value};

    fn join() -> Statement<'static> {
        let mut stmt = statement(
            Command::Select,
            "SELECT * FROM users u JOIN orders ON orders.user_id = u.id WHERE u.id = 1 AND orders.id = 2",
        );
        stmt.tables = vec![
            Table {
                alias: Some("u".into()),
                ..table("users")
            },
            table("orders"),
        ];
        stmt.predicates = vec![
            Predicate {
                qualifier: Some("u".into()),
                ..predicate("id", vec![Value::Integer(1)])
            },
            Predicate {
                qualifier: Some("orders".into()),
                ..predicate("id", vec![Value::Integer(2)])
            },
        ];
        stmt.into()
    }

    #[test]
    fn predicate_by_column_takes_the_first() {
        let stmt = join();
        assert_eq!(
            stmt.predicate("id").unwrap().values,
            vec![Value::Integer(1)]
        );
        assert!(stmt.predicate("name").is_none());
    }

    #[test]
    fn predicate_by_table_uses_alias_or_name() {
        let stmt = join();
        let users = stmt.table_predicate("users", "id").unwrap();
        assert_eq!(users.values, vec![Value::Integer(1)]);
        let orders = stmt.table_predicate("orders", "id").unwrap();
        assert_eq!(orders.values, vec![Value::Integer(2)]);
        assert!(stmt.table_predicate("items", "id").is_none());
    }

    #[test]
    fn unqualified_predicate_belongs_to_a_read_table() {
        let mut stmt = statement(Command::Delete, "DELETE FROM app.users WHERE id = 1");
        stmt.tables = vec![Table {
            schema: Some("app".into()),
            written: true,
            ..table("users")
        }];
        stmt.predicates = vec![predicate("id", vec![Value::Integer(1)])];
        let stmt = Statement::from(stmt);
        assert!(stmt.table_predicate("users", "id").is_some());
        assert!(stmt.table_predicate("orders", "id").is_none());
        assert_eq!(stmt.tables()[0].qualified_name(), "app.users");
    }

    #[test]
    fn schema_qualified_qualifier() {
        assert!(names_table("app.users", "users"));
        assert!(names_table("users", "users"));
        assert!(!names_table("appusers", "users"));
        assert!(!names_table("users2", "users"));
    }

    #[test]
    fn column_values_resolve_params() {
        let mut stmt = statement(
            Command::Select,
            "SELECT * FROM t WHERE k IN ($1, 'b', NULL)",
        );
        stmt.predicates = vec![predicate(
            "k",
            vec![Value::Param(1), Value::Text("b".into()), Value::Null],
        )];
        let stmt = Statement::from(stmt);
        let ctx = Context::from(ContextFields {
            params: vec![text_param("a")],
            ..context(2)
        });
        assert_eq!(
            stmt.column_values("k", &ctx).unwrap(),
            vec![
                Resolved::Text("a".into()),
                Resolved::Text("b".into()),
                Resolved::Null
            ]
        );
        assert!(stmt.column_values("other", &ctx).is_none());
    }

    #[test]
    fn insert_values_per_row() {
        let mut stmt = statement(
            Command::Insert,
            "INSERT INTO t (id, k) VALUES (1, $1), (2, 'b')",
        );
        stmt.insert = Some(Insert {
            columns: vec!["id".into(), "k".into()],
            rows: vec![
                vec![Value::Integer(1), Value::Param(1)],
                vec![Value::Integer(2), Value::Text("b".into())],
                // A short row (pgDog would not send one) reads as unknown, not a panic.
                vec![Value::Integer(3)],
            ],
        });
        let ctx = Context::from(ContextFields {
            params: vec![text_param("a")],
            ..context(1)
        });
        assert_eq!(
            Statement::from(stmt.clone())
                .insert_values("k", &ctx)
                .unwrap(),
            vec![
                Resolved::Text("a".into()),
                Resolved::Text("b".into()),
                Resolved::Unknown
            ]
        );
        assert!(Statement::from(stmt.clone())
            .insert_values("missing", &ctx)
            .is_none());
        stmt.insert.as_mut().unwrap().columns.clear();
        assert!(Statement::from(stmt).insert_values("k", &ctx).is_none());
    }
}
