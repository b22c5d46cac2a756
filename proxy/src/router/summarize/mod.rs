//! Building a [`Statement`] summary from `pg_query`'s parse tree.
//!
//! Only what routing and result merging need is extracted; everything else in the tree is
//! ignored. The walk never panics on shapes it does not know: it records less instead.

mod select;

use pg_query::protobuf::{a_const, AExprKind, BoolExprType, TransactionStmtKind, VariableSetKind};
use pg_query::{Node, NodeEnum};

use super::statement::{
    leading_comment, Command, Copy, Insert, Predicate, SetCommand, Statement, Table, Value,
};
use select::select_details;

/// Summarises every statement in `sql` (one per `;`-separated statement).
pub fn summarize(sql: &str) -> Vec<Statement> {
    let comment = leading_comment(sql);
    let parsed = match pg_query::parse(sql, 0) {
        Ok(parsed) => parsed,
        Err(err) => {
            let mut stmt = Statement::empty(Command::Other);
            stmt.parse_error = Some(err.to_string());
            stmt.comment = comment;
            return vec![stmt];
        }
    };
    let written: Vec<(Option<String>, String)> = parsed
        .tables
        .iter()
        .filter(|(_, ctx)| matches!(ctx, pg_query::Context::DML))
        .map(|(name, _)| split_qualified(name))
        .collect();
    let mut functions: Vec<String> = parsed
        .call_functions()
        .iter()
        .map(|f| f.rsplit('.').next().unwrap_or(f).to_ascii_lowercase())
        .collect();
    functions.sort_unstable();
    functions.dedup();
    let mut out = Vec::new();
    for raw in &parsed.protobuf.stmts {
        let Some(node) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
            continue;
        };
        let mut stmt = summarize_node(node);
        stmt.comment = comment.clone();
        stmt.functions = functions.clone();
        for table in &mut stmt.tables {
            if written.iter().any(|(schema, name)| {
                name == &table.name && (schema.is_none() || *schema == table.schema)
            }) {
                table.written = true;
            }
        }
        if stmt.tables.iter().any(|t| t.written) {
            stmt.writes = true;
        }
        out.push(stmt);
    }
    if out.is_empty() {
        // An empty query (only comments or semicolons).
        let mut stmt = Statement::empty(Command::Other);
        stmt.comment = comment;
        out.push(stmt);
    }
    out
}

fn split_qualified(name: &str) -> (Option<String>, String) {
    match name.rsplit_once('.') {
        Some((schema, table)) => (Some(schema.to_string()), table.to_string()),
        None => (None, name.to_string()),
    }
}

fn summarize_node(node: &NodeEnum) -> Statement {
    match node {
        NodeEnum::SelectStmt(select) => {
            let locking = !select.locking_clause.is_empty();
            let mut stmt = Statement::empty(if locking {
                Command::SelectForUpdate
            } else {
                Command::Select
            });
            stmt.writes = locking;
            select_details(select, &mut stmt);
            stmt
        }
        NodeEnum::InsertStmt(insert) => {
            let mut stmt = Statement::empty(Command::Insert);
            stmt.writes = true;
            if let Some(rel) = &insert.relation {
                stmt.tables.push(table(rel, true));
            }
            let columns = insert
                .cols
                .iter()
                .filter_map(|c| match c.node.as_ref() {
                    Some(NodeEnum::ResTarget(t)) => Some(t.name.clone()),
                    _ => None,
                })
                .collect();
            let mut rows = Vec::new();
            if let Some(NodeEnum::SelectStmt(values)) =
                insert.select_stmt.as_ref().and_then(|n| n.node.as_ref())
            {
                for list in &values.values_lists {
                    if let Some(NodeEnum::List(list)) = list.node.as_ref() {
                        rows.push(list.items.iter().map(value).collect());
                    }
                }
                from_tables(&values.from_clause, &mut stmt.tables);
            }
            stmt.insert = Some(Insert { columns, rows });
            with_tables(
                insert.with_clause.as_ref().map(|w| &w.ctes),
                &mut stmt.tables,
            );
            stmt
        }
        NodeEnum::UpdateStmt(update) => {
            let mut stmt = Statement::empty(Command::Update);
            stmt.writes = true;
            if let Some(rel) = &update.relation {
                stmt.tables.push(table(rel, true));
            }
            from_tables(&update.from_clause, &mut stmt.tables);
            stmt.has_where = update.where_clause.is_some();
            where_predicates(update.where_clause.as_deref(), &mut stmt.predicates);
            stmt
        }
        NodeEnum::DeleteStmt(delete) => {
            let mut stmt = Statement::empty(Command::Delete);
            stmt.writes = true;
            if let Some(rel) = &delete.relation {
                stmt.tables.push(table(rel, true));
            }
            from_tables(&delete.using_clause, &mut stmt.tables);
            stmt.has_where = delete.where_clause.is_some();
            where_predicates(delete.where_clause.as_deref(), &mut stmt.predicates);
            stmt
        }
        NodeEnum::CopyStmt(copy) => {
            let mut stmt = Statement::empty(if copy.is_from {
                Command::CopyFrom
            } else {
                Command::CopyTo
            });
            stmt.writes = copy.is_from;
            if let Some(rel) = &copy.relation {
                stmt.tables.push(table(rel, copy.is_from));
            }
            let mut details = Copy {
                columns: copy.attlist.iter().filter_map(string).collect(),
                from_query: copy.query.is_some(),
                stdio: copy.filename.is_empty() && !copy.is_program,
                ..Copy::default()
            };
            for option in &copy.options {
                let Some(NodeEnum::DefElem(def)) = option.node.as_ref() else {
                    continue;
                };
                let arg = def.arg.as_deref().and_then(string);
                match def.defname.as_str() {
                    "format" => {
                        details.csv = arg.as_deref() == Some("csv");
                        details.binary = arg.as_deref() == Some("binary");
                    }
                    "quote" => details.quote = arg.and_then(|q| q.chars().next()),
                    "escape" => details.escape = arg.and_then(|e| e.chars().next()),
                    "null" => details.null = arg,
                    "header" => {
                        details.header = !matches!(arg.as_deref(), Some("false" | "off" | "0"))
                            && !matches!(
                                def.arg.as_deref().and_then(|n| n.node.as_ref()),
                                Some(NodeEnum::Boolean(b)) if !b.boolval
                            )
                    }
                    "delimiter" => details.delimiter = arg.and_then(|d| d.chars().next()),
                    _ => {}
                }
            }
            stmt.copy = Some(details);
            stmt
        }
        NodeEnum::TransactionStmt(tx) => {
            let command = match tx.kind() {
                TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart => {
                    Command::Begin
                }
                TransactionStmtKind::TransStmtCommit => Command::Commit,
                TransactionStmtKind::TransStmtRollback => Command::Rollback,
                TransactionStmtKind::TransStmtSavepoint
                | TransactionStmtKind::TransStmtRelease
                | TransactionStmtKind::TransStmtRollbackTo => Command::Savepoint,
                _ => Command::Other,
            };
            let mut stmt = Statement::empty(command);
            stmt.read_only_transaction = tx.options.iter().any(|o| {
                matches!(o.node.as_ref(), Some(NodeEnum::DefElem(d))
                    if d.defname == "transaction_read_only"
                        && matches!(d.arg.as_deref().and_then(|n| n.node.as_ref()),
                            Some(NodeEnum::AConst(c)) if matches!(&c.val, Some(a_const::Val::Ival(i)) if i.ival == 1)))
            });
            stmt
        }
        NodeEnum::VariableSetStmt(set) => {
            let mut stmt = Statement::empty(Command::Set);
            let value = match set.kind() {
                VariableSetKind::VarSetValue => Some(
                    set.args
                        .iter()
                        .map(|a| match value(a) {
                            Value::Integer(i) => i.to_string(),
                            Value::Text(t) => t,
                            _ => String::new(),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                _ => None,
            };
            stmt.set = Some(SetCommand {
                name: set.name.clone(),
                value,
                local: set.is_local,
            });
            stmt
        }
        NodeEnum::VariableShowStmt(_) => Statement::empty(Command::Show),
        NodeEnum::ListenStmt(_) | NodeEnum::UnlistenStmt(_) => Statement::empty(Command::Listen),
        NodeEnum::NotifyStmt(_) => {
            let mut stmt = Statement::empty(Command::Notify);
            stmt.writes = true;
            stmt
        }
        NodeEnum::CreateStmt(_)
        | NodeEnum::CreateTableAsStmt(_)
        | NodeEnum::AlterTableStmt(_)
        | NodeEnum::DropStmt(_)
        | NodeEnum::IndexStmt(_)
        | NodeEnum::TruncateStmt(_)
        | NodeEnum::RenameStmt(_)
        | NodeEnum::CreateSchemaStmt(_)
        | NodeEnum::CreateSeqStmt(_)
        | NodeEnum::AlterSeqStmt(_)
        | NodeEnum::ViewStmt(_)
        | NodeEnum::CreateFunctionStmt(_)
        | NodeEnum::CreateExtensionStmt(_)
        | NodeEnum::CommentStmt(_)
        | NodeEnum::GrantStmt(_)
        | NodeEnum::CompositeTypeStmt(_)
        | NodeEnum::CreateEnumStmt(_) => {
            let mut stmt = Statement::empty(Command::Ddl);
            stmt.writes = true;
            stmt
        }
        _ => Statement::empty(Command::Other),
    }
}

fn with_tables(ctes: Option<&Vec<Node>>, tables: &mut Vec<Table>) {
    for cte in ctes.into_iter().flatten() {
        let Some(NodeEnum::CommonTableExpr(cte)) = cte.node.as_ref() else {
            continue;
        };
        let Some(query) = cte.ctequery.as_deref().and_then(|n| n.node.as_ref()) else {
            continue;
        };
        tables.extend(summarize_node(query).tables);
    }
}

fn from_tables(from: &[Node], tables: &mut Vec<Table>) {
    for item in from {
        match item.node.as_ref() {
            Some(NodeEnum::RangeVar(rel)) => tables.push(table(rel, false)),
            Some(NodeEnum::JoinExpr(join)) => {
                let sides: Vec<Node> = [join.larg.as_deref(), join.rarg.as_deref()]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                from_tables(&sides, tables);
            }
            Some(NodeEnum::RangeSubselect(sub)) => {
                if let Some(query) = sub.subquery.as_deref().and_then(|n| n.node.as_ref()) {
                    tables.extend(summarize_node(query).tables);
                }
            }
            _ => {}
        }
    }
}

fn table(rel: &pg_query::protobuf::RangeVar, written: bool) -> Table {
    Table {
        schema: (!rel.schemaname.is_empty()).then(|| rel.schemaname.clone()),
        name: rel.relname.clone(),
        alias: rel.alias.as_ref().map(|a| a.aliasname.clone()),
        written,
    }
}

/// Collects `col = value` and `col IN (…)` joined by AND; anything under OR or NOT is left
/// out, since it cannot narrow the rows to the listed values.
fn where_predicates(clause: Option<&Node>, out: &mut Vec<Predicate>) {
    let Some(node) = clause.and_then(|n| n.node.as_ref()) else {
        return;
    };
    match node {
        NodeEnum::BoolExpr(b) if b.boolop() == BoolExprType::AndExpr => {
            for arg in &b.args {
                where_predicates(Some(arg), out);
            }
        }
        NodeEnum::AExpr(e) => {
            let op = e.name.last().and_then(string);
            let (left, right) = (e.lexpr.as_deref(), e.rexpr.as_deref());
            match (e.kind(), op.as_deref()) {
                (AExprKind::AexprOp, Some("=")) => {
                    if let Some((qualifier, column)) = left.and_then(column_ref) {
                        out.push(Predicate {
                            qualifier,
                            column,
                            values: vec![right.map_or(Value::Expression, value)],
                        });
                    } else if let Some((qualifier, column)) = right.and_then(column_ref) {
                        out.push(Predicate {
                            qualifier,
                            column,
                            values: vec![left.map_or(Value::Expression, value)],
                        });
                    }
                }
                (AExprKind::AexprIn, Some("=")) => {
                    if let (Some((qualifier, column)), Some(NodeEnum::List(list))) = (
                        left.and_then(column_ref),
                        right.and_then(|n| n.node.as_ref()),
                    ) {
                        out.push(Predicate {
                            qualifier,
                            column,
                            values: list.items.iter().map(value).collect(),
                        });
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn column_ref(node: &Node) -> Option<(Option<String>, String)> {
    let Some(NodeEnum::ColumnRef(col)) = node.node.as_ref() else {
        return None;
    };
    let names: Vec<String> = col.fields.iter().filter_map(string).collect();
    match names.as_slice() {
        [column] => Some((None, column.clone())),
        [.., qualifier, column] => Some((Some(qualifier.clone()), column.clone())),
        [] => None,
    }
}

fn value(node: &Node) -> Value {
    match node.node.as_ref() {
        Some(NodeEnum::AConst(c)) => {
            if c.isnull {
                return Value::Null;
            }
            match &c.val {
                Some(a_const::Val::Ival(i)) => Value::Integer(i.ival as i64),
                Some(a_const::Val::Fval(f)) => match f.fval.parse::<i64>() {
                    Ok(i) => Value::Integer(i),
                    Err(_) => Value::Text(f.fval.clone()),
                },
                Some(a_const::Val::Sval(s)) => Value::Text(s.sval.clone()),
                Some(a_const::Val::Boolval(b)) => Value::Text(b.boolval.to_string()),
                _ => Value::Expression,
            }
        }
        Some(NodeEnum::ParamRef(p)) => {
            u16::try_from(p.number).map_or(Value::Expression, Value::Param)
        }
        Some(NodeEnum::TypeCast(cast)) => cast.arg.as_deref().map_or(Value::Expression, value),
        _ => Value::Expression,
    }
}

fn string(node: &Node) -> Option<String> {
    match node.node.as_ref() {
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
