//! `/* pgdog_explain */`: shows what pgDog understood of a query and where it would send
//! it, without running it, so users can see why a query went where it went.

use super::{Flow, Session};
use crate::config::Role;
use crate::router::route::{Params, Shards};
use crate::router::statement::{Statement, Value};
use crate::wire::backend::{command_complete, data_row, row_description};

impl Session {
    /// Answers a simple query whose leading comment asks for `pgdog_explain`.
    pub(super) fn explain(&mut self, sql: &str) -> Flow {
        let summaries = self.shared.parse_cache.get_inline(sql);
        let mut rows: Vec<(String, String)> = Vec::new();
        for (i, stmt) in summaries.iter().enumerate() {
            let prefix = if summaries.len() > 1 {
                format!("statement {} ", i + 1)
            } else {
                String::new()
            };
            for (field, value) in describe(stmt) {
                rows.push((format!("{prefix}{field}"), value));
            }
            rows.push((format!("{prefix}route"), self.explain_route(stmt)));
            if self.login.cluster.shards.iter().any(|s| s.has_replicas()) {
                let role = match self.role_for(std::slice::from_ref(stmt)) {
                    Role::Primary => "primary",
                    Role::Replica => "replica (or the primary, per read_write_split)",
                };
                rows.push((format!("{prefix}role"), role.to_string()));
            }
        }
        row_description(&mut self.cout, &["field", "value"]);
        for (field, value) in &rows {
            data_row(&mut self.cout, &[Some(field), Some(value)]);
        }
        command_complete(&mut self.cout, &format!("SELECT {}", rows.len()));
        self.ready();
        Flow::Continue
    }

    fn explain_route(&self, stmt: &Statement) -> String {
        let shards = self.login.cluster.shards.len();
        let Some(sharding) = self.login.cluster.sharding.as_ref() else {
            return format!("shard 0 (the database has {shards} shard, nothing to route)");
        };
        let forced = self.forced_local.as_ref().or(self.forced.as_ref());
        match sharding.route(stmt, &Params::default(), forced) {
            Ok(route) => {
                let kind = if route.write { "write" } else { "read" };
                match route.shards {
                    Shards::Any => format!("any one of {shards} shards ({kind}, no sharded table)"),
                    Shards::All => format!("all {shards} shards ({kind}, no sharding key)"),
                    Shards::Set(set) => format!("shards {set:?} of {shards} ({kind})"),
                }
            }
            Err(err) => format!("rejected: {} {}", err.code, err.message),
        }
    }
}

fn describe(stmt: &Statement) -> Vec<(&'static str, String)> {
    let mut out = vec![("command", format!("{:?}", stmt.command))];
    if let Some(err) = &stmt.parse_error {
        out.push(("parse error", err.clone()));
    }
    if !stmt.tables.is_empty() {
        let tables: Vec<String> = stmt
            .tables
            .iter()
            .map(|t| {
                let mut name = match &t.schema {
                    Some(schema) => format!("{schema}.{}", t.name),
                    None => t.name.clone(),
                };
                if let Some(alias) = &t.alias {
                    name.push_str(&format!(" as {alias}"));
                }
                if t.written {
                    name.push_str(" (written)");
                }
                name
            })
            .collect();
        out.push(("tables", tables.join(", ")));
    }
    for p in &stmt.predicates {
        let column = match &p.qualifier {
            Some(q) => format!("{q}.{}", p.column),
            None => p.column.clone(),
        };
        let values: Vec<String> = p.values.iter().map(value).collect();
        out.push((
            "predicate",
            format!("{column} = any({})", values.join(", ")),
        ));
    }
    if let Some(insert) = &stmt.insert {
        out.push((
            "insert",
            format!(
                "columns ({}), {} row(s)",
                insert.columns.join(", "),
                insert.rows.len()
            ),
        ));
    }
    if !stmt.order_by.is_empty() {
        out.push(("order by", format!("{:?}", stmt.order_by)));
    }
    if let Some(limit) = &stmt.limit {
        out.push(("limit", value(limit)));
    }
    if let Some(offset) = &stmt.offset {
        out.push(("offset", value(offset)));
    }
    if !stmt.aggregates.is_empty() {
        out.push(("aggregates", format!("{:?}", stmt.aggregates)));
    }
    out.push(("writes", stmt.writes.to_string()));
    if let Some(comment) = &stmt.comment {
        out.push(("comment", comment.clone()));
    }
    out
}

fn value(v: &Value) -> String {
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Text(t) => format!("'{t}'"),
        Value::Param(n) => format!("${n}"),
        Value::Null => "NULL".into(),
        Value::Expression => "(expression)".into(),
    }
}
