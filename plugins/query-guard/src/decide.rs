//! query-guard's checks, strongest first.
//!
//! SQLSTATEs:
//! - `42501` (insufficient_privilege) for a denied table, worded like PostgreSQL's own
//!   "permission denied for table": it is exactly an access rule.
//! - `21000` (cardinality_violation) for UPDATE or DELETE without WHERE, as the
//!   pg-safeupdate extension (used by PostgREST and Supabase) reports it, so applications
//!   that already recognise that refusal recognise this one. `42501` would send people
//!   looking for a missing grant.

use pgdog_plugin_sdk::prelude::*;

use crate::config::{DeniedTable, Guard};
use crate::show;

/// Rejects a statement on a denied table, or an UPDATE/DELETE without WHERE; answers a
/// configured `SHOW`; passes everything else.
pub fn decide(guard: &Guard, statement: &Statement<'_>) -> Decision {
    if let Some((table, entry)) = denied(guard, statement) {
        return Reject::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!("permission denied for table {}", table.name),
        )
        .with_detail(format!(
            "query-guard denies every statement on {} (the statement names {}).",
            entry.describe(),
            table.qualified_name()
        ))
        .into();
    }
    if guard.require_where
        && matches!(statement.command(), Command::Update | Command::Delete)
        && !statement.has_where()
    {
        let verb = if statement.command() == Command::Update {
            "UPDATE"
        } else {
            "DELETE"
        };
        return Reject::new(
            sqlstate::CARDINALITY_VIOLATION,
            format!("{verb} requires a WHERE clause"),
        )
        .with_detail(format!(
            "query-guard refuses {verb} without WHERE; write WHERE true to change every row."
        ))
        .into();
    }
    if statement.command() == Command::Show {
        if let Some(table) = show::name(statement.sql()).and_then(|name| guard.show.get(&name)) {
            return Decision::respond(table.columns.iter().cloned(), table.rows.clone());
        }
    }
    Decision::Pass
}

/// The first table of the statement on the deny list, with the entry that denies it.
fn denied<'a>(
    guard: &'a Guard,
    statement: &'a Statement<'_>,
) -> Option<(&'a Table, &'a DeniedTable)> {
    // Without a deny list there is nothing to look up: skip fetching the tables.
    if guard.deny_tables.is_empty() {
        return None;
    }
    statement.tables().iter().find_map(|table| {
        guard
            .deny_tables
            .iter()
            .find(|entry| entry.matches(table))
            .map(|entry| (table, entry))
    })
}

impl DeniedTable {
    /// An unqualified table in the statement matches a schema-qualified entry too: which
    /// schema it resolves to depends on the session's search_path, which pgDog does not
    /// see, and a guard must not be bypassed by leaving the schema out.
    fn matches(&self, table: &Table) -> bool {
        table.name.eq_ignore_ascii_case(&self.name)
            && match (&self.schema, &table.schema) {
                (Some(denied), Some(written)) => written.eq_ignore_ascii_case(denied),
                _ => true,
            }
    }

    fn describe(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => format!("{} in any schema", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgdog_plugin_sdk::testing::{statement, table};

    /// `decide` over hand-built fields.
    fn decide(guard: &Guard, stmt: &StatementFields) -> Decision {
        super::decide(guard, &stmt.clone().into())
    }

    fn guard() -> Guard {
        Guard::parse(
            r#"{"deny_tables": ["audit_log", "app.secrets"],
                "show": {"pgdog_guard": {"columns": ["status"], "rows": [["active"]]}}}"#,
        )
        .unwrap()
    }

    fn on_tables(command: Command, tables: Vec<Table>) -> StatementFields {
        let mut stmt = statement(command, "…");
        stmt.tables = tables;
        stmt.has_where = true;
        stmt
    }

    fn in_schema(schema: &str, name: &str) -> Table {
        Table {
            schema: Some(schema.into()),
            ..table(name)
        }
    }

    fn reject_of(decision: Decision) -> pgdog_plugin_sdk::types::Reject {
        match decision {
            Decision::Reject(reject) => reject,
            other => panic!("expected a reject, got {other:?}"),
        }
    }

    #[test]
    fn denied_table_in_any_schema() {
        for t in [
            table("audit_log"),
            in_schema("public", "audit_log"),
            table("AUDIT_LOG"),
        ] {
            let stmt = on_tables(Command::Select, vec![table("users"), t]);
            let reject = reject_of(decide(&guard(), &stmt));
            assert_eq!(reject.sqlstate, "42501");
            assert_eq!(
                reject.message.to_lowercase(),
                "permission denied for table audit_log"
            );
        }
    }

    #[test]
    fn denied_table_in_its_schema_or_unqualified() {
        let stmt = on_tables(Command::Insert, vec![in_schema("app", "secrets")]);
        let reject = reject_of(decide(&guard(), &stmt));
        assert_eq!(reject.sqlstate, "42501");
        assert_eq!(
            reject.detail.as_deref(),
            Some("query-guard denies every statement on app.secrets (the statement names app.secrets).")
        );
        // Unqualified: the search_path might resolve it to app.secrets.
        let stmt = on_tables(Command::Select, vec![table("secrets")]);
        assert_eq!(reject_of(decide(&guard(), &stmt)).sqlstate, "42501");
        // Another schema's table of that name is fine.
        let stmt = on_tables(Command::Select, vec![in_schema("public", "secrets")]);
        assert_eq!(decide(&guard(), &stmt), Decision::Pass);
    }

    #[test]
    fn update_and_delete_need_where() {
        for (command, message) in [
            (Command::Update, "UPDATE requires a WHERE clause"),
            (Command::Delete, "DELETE requires a WHERE clause"),
        ] {
            let mut stmt = on_tables(command, vec![table("users")]);
            assert_eq!(decide(&guard(), &stmt), Decision::Pass);
            stmt.has_where = false;
            let reject = reject_of(decide(&guard(), &stmt));
            assert_eq!(reject.sqlstate, "21000");
            assert_eq!(reject.message, message);
        }
        // A SELECT without WHERE is fine.
        let mut stmt = on_tables(Command::Select, vec![table("users")]);
        stmt.has_where = false;
        assert_eq!(decide(&guard(), &stmt), Decision::Pass);
    }

    #[test]
    fn require_where_can_be_off() {
        let guard = Guard::parse(r#"{"require_where": false}"#).unwrap();
        let stmt = statement(Command::Delete, "DELETE FROM users");
        assert_eq!(decide(&guard, &stmt), Decision::Pass);
    }

    #[test]
    fn configured_show_is_answered() {
        let stmt = statement(Command::Show, "show PGDOG_GUARD;");
        assert_eq!(
            decide(&guard(), &stmt),
            Decision::respond(["status"], vec![vec![Some("active".into())]])
        );
        let stmt = statement(Command::Show, "SHOW search_path");
        assert_eq!(decide(&guard(), &stmt), Decision::Pass);
        // The name alone is not enough: pgDog must have seen a SHOW.
        let stmt = statement(Command::Other, "SHOW pgdog_guard");
        assert_eq!(decide(&guard(), &stmt), Decision::Pass);
    }

    #[test]
    fn everything_else_passes() {
        let stmt = on_tables(Command::Select, vec![table("users")]);
        assert_eq!(decide(&guard(), &stmt), Decision::Pass);
        assert_eq!(
            decide(&guard(), &statement(Command::Begin, "BEGIN")),
            Decision::Pass
        );
    }
}
