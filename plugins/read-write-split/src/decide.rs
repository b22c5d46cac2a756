//! The role a statement needs.
//!
//! The plugin decides only the role: its routes name the `default` shards, the ones
//! pgDog's built-in sharding picks, so it works on sharded databases too. It passes when
//! no shard has replicas (the role changes nothing, and a later plugin may still want to
//! decide), and for statements it cannot classify (`other`, parse errors): pgDog knows best
//! there.

use pgdog_plugin_sdk::prelude::*;

use crate::config::Config;

/// Routes `statement` to the primary or a replica of the shards pgDog picks, or passes.
pub fn decide(config: &Config, statement: &Statement<'_>, context: &Context<'_>) -> Decision {
    if !context.has_replicas() {
        return Decision::Pass;
    }
    match role_for(config, statement, context) {
        Some(role) => Decision::route(Shards::Default, role),
        None => Decision::Pass,
    }
}

/// The role `statement` needs, or `None` when the plugin has no opinion.
pub fn role_for(config: &Config, statement: &Statement<'_>, context: &Context<'_>) -> Option<Role> {
    if statement.parse_error().is_some() {
        return None;
    }
    // A transaction sees its own writes only on the primary, and every statement of it
    // must reach the same server.
    if context.in_transaction() {
        return Some(Role::Primary);
    }
    match statement.command() {
        // Transaction control and session settings belong with the session's writes.
        Command::Begin | Command::Commit | Command::Rollback | Command::Savepoint | Command::Set => {
            Some(Role::Primary)
        }
        Command::Insert
        | Command::Update
        | Command::Delete
        | Command::CopyFrom
        | Command::Ddl
        | Command::SelectForUpdate
        // Notifications are delivered by the primary; a replica cannot send them.
        | Command::Listen
        | Command::Notify => Some(Role::Primary),
        Command::Select | Command::Show | Command::CopyTo => {
            if statement.writes() || calls_write_function(config, statement) {
                Some(Role::Primary)
            } else {
                Some(Role::Replica)
            }
        }
        Command::Other => None,
    }
}

fn calls_write_function(config: &Config, statement: &Statement<'_>) -> bool {
    statement
        .functions()
        .iter()
        .any(|f| config.write_functions.contains(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgdog_plugin_sdk::testing::{context, statement};

    fn config() -> Config {
        Config::parse(r#"{"write_functions": ["nextval", "app.record_login"]}"#).unwrap()
    }

    /// One shard with a replica, outside a transaction.
    fn replicated() -> ContextFields {
        ContextFields {
            has_replicas: true,
            ..context(1)
        }
    }

    fn decide_for(stmt: &StatementFields, ctx: &ContextFields) -> Decision {
        decide(&config(), &stmt.clone().into(), &ctx.clone().into())
    }

    fn select(functions: &[&str]) -> StatementFields {
        let mut stmt = statement(Command::Select, "SELECT …");
        stmt.functions = functions.iter().map(|f| f.to_string()).collect();
        stmt
    }

    #[test]
    fn plain_reads_go_to_a_replica() {
        for command in [Command::Select, Command::Show, Command::CopyTo] {
            let stmt = statement(command, "read");
            assert_eq!(
                decide_for(&stmt, &replicated()),
                Decision::route(Shards::Default, Role::Replica),
                "{command:?}"
            );
        }
        assert_eq!(
            decide_for(&select(&["lower", "count"]), &replicated()),
            Decision::route(Shards::Default, Role::Replica)
        );
    }

    #[test]
    fn writes_go_to_the_primary() {
        for command in [
            Command::Insert,
            Command::Update,
            Command::Delete,
            Command::CopyFrom,
            Command::Ddl,
            Command::SelectForUpdate,
            Command::Listen,
            Command::Notify,
        ] {
            let stmt = statement(command, "write");
            assert_eq!(
                decide_for(&stmt, &replicated()),
                Decision::route(Shards::Default, Role::Primary),
                "{command:?}"
            );
        }
    }

    #[test]
    fn writing_cte_goes_to_the_primary() {
        let mut stmt = statement(
            Command::Select,
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        );
        stmt.writes = true;
        assert_eq!(
            decide_for(&stmt, &replicated()),
            Decision::route(Shards::Default, Role::Primary)
        );
    }

    #[test]
    fn write_functions_go_to_the_primary() {
        // Configured as `app.record_login`; pgDog reports it without schema.
        for function in ["nextval", "record_login"] {
            assert_eq!(
                decide_for(&select(&["lower", function]), &replicated()),
                Decision::route(Shards::Default, Role::Primary),
                "{function}"
            );
        }
    }

    #[test]
    fn transactions_stay_on_the_primary() {
        for command in [
            Command::Begin,
            Command::Commit,
            Command::Rollback,
            Command::Savepoint,
            Command::Set,
        ] {
            let stmt = statement(command, "control");
            assert_eq!(
                decide_for(&stmt, &replicated()),
                Decision::route(Shards::Default, Role::Primary),
                "{command:?}"
            );
        }
        let in_transaction = ContextFields {
            in_transaction: true,
            ..replicated()
        };
        assert_eq!(
            decide_for(&select(&[]), &in_transaction),
            Decision::route(Shards::Default, Role::Primary)
        );
    }

    #[test]
    fn unclassified_statements_pass() {
        assert_eq!(
            decide_for(
                &statement(Command::Other, "EXPLAIN ANALYZE …"),
                &replicated()
            ),
            Decision::Pass
        );
        let mut broken = statement(Command::Select, "SELEC 1");
        broken.parse_error = Some("syntax error".into());
        assert_eq!(decide_for(&broken, &replicated()), Decision::Pass);
    }

    #[test]
    fn sharded_databases_keep_their_shards_and_unreplicated_ones_pass() {
        let sharded = ContextFields {
            shards: 2,
            ..replicated()
        };
        assert_eq!(
            decide_for(&select(&[]), &sharded),
            Decision::route(Shards::Default, Role::Replica)
        );
        assert_eq!(decide_for(&select(&[]), &context(1)), Decision::Pass);
    }
}
