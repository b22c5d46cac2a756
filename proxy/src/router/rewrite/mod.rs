//! Rewriting a statement's SQL before it goes to several shards.
//!
//! Most cross-shard statements are sent to every shard exactly as the client wrote them, but
//! a few need a slightly different text per shard for the merged result to be correct or
//! cheap. An AVG cannot be combined from per-shard averages, so each shard also returns the
//! sum and count of the same argument. A LIMIT with an OFFSET cannot be applied on each shard
//! as written, because the rows to skip are only known after merging, so each shard returns
//! the first `limit + offset` rows instead. A multi-row INSERT whose rows belong to different
//! shards must give each shard only its own rows.
//!
//! The rewrites work on pg_query's protobuf parse tree rather than on the text, so quoting,
//! comments and string literals can never be mangled; the tree is then deparsed back into SQL.
//! pg_query deparses with the PostgreSQL 18 grammar, so the rewrites only add constructs that
//! older servers understand too (plain function calls, aliases and `LIMIT n`). Everything here
//! is a pure function of its input.

use pg_query::protobuf::{
    a_const, AConst, Float, FuncCall, Integer, LimitOption, ParseResult, ResTarget, SelectStmt,
    SetOperation,
};
use pg_query::{DeparseOptions, Node, NodeEnum};

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("cannot rewrite this statement for cross-shard execution: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Parse(#[from] pg_query::Error),
}

/// Hidden columns added for one AVG: each shard returns avg, sum and count of the same
/// argument, so the proxy can compute the overall average as sum / count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvgColumns {
    /// 0-based output positions.
    pub avg: usize,
    pub sum: usize,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutSql {
    pub sql: String,
    /// One entry per avg(...) in the top-level target list, in target order.
    pub avg: Vec<AvgColumns>,
    /// Number of columns appended after the statement's own output columns.
    pub hidden: usize,
}

/// Prefixes of the aliases given to the hidden columns. They are unusual enough that a
/// client's own output column names never collide with them, which matters because ORDER BY
/// and GROUP BY may refer to output columns by name.
const SUM_ALIAS: &str = "__pgdog_sum_";
const COUNT_ALIAS: &str = "__pgdog_count_";

/// What a shard does with the statement's own LIMIT and OFFSET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardLimit {
    /// Leave them as written (no OFFSET, and a LIMIT every shard may apply itself).
    Keep,
    /// `LIMIT n` and no OFFSET: the proxy applies the real offset after merging.
    Rows(i64),
    /// Neither: every shard sends all its rows (aggregates, whose per-shard rows are only
    /// partial, or an OFFSET without LIMIT).
    Unlimited,
}

impl From<Option<i64>> for ShardLimit {
    fn from(limit: Option<i64>) -> ShardLimit {
        match limit {
            Some(n) => ShardLimit::Rows(n),
            None => ShardLimit::Keep,
        }
    }
}

/// The SELECT each shard runs for a cross-shard query:
/// - for every `avg(expr)` (not DISTINCT, no FILTER/OVER) in the top-level SELECT's target list, appends
///   `sum(expr)` and `count(expr)` as extra target entries at the END of the target list
///   (aliased `__pgdog_sum_N` / `__pgdog_count_N`, N counting the AVGs from 1, so they never clash);
/// - when `limit` is Some(n): replaces the top-level LIMIT/OFFSET with `LIMIT n` and no OFFSET
///   (the proxy applies the real offset after merging; n is the original limit + offset).
///
/// Returns Ok(None) when nothing needs changing (no avg and limit None). Only a plain top-level
/// SELECT (possibly with CTEs, joins, GROUP BY, ORDER BY) is handled; UNION/INTERSECT at top
/// level, `SELECT DISTINCT` with avg, or a multi-statement string => RewriteError::Unsupported.
pub fn for_fanout(
    sql: &str,
    limit: impl Into<ShardLimit>,
) -> Result<Option<FanoutSql>, RewriteError> {
    let limit = limit.into();
    let mut tree = pg_query::parse(sql, 0)?.protobuf;
    let select = match only_statement(&mut tree)? {
        NodeEnum::SelectStmt(select) => select,
        // Without a SELECT there is no target list to extend, so only a LIMIT push-down
        // could have been asked for, and nothing else has a LIMIT to replace.
        _ if limit == ShardLimit::Keep => return Ok(None),
        _ => return Err(unsupported("only a SELECT can have its LIMIT pushed down")),
    };
    if select.op != SetOperation::SetopNone as i32 {
        // The output columns of a set operation come from each branch, so hidden columns
        // would have to be added to every branch in step; that is not attempted.
        return Err(unsupported(
            "UNION, INTERSECT and EXCEPT are not rewritten for shards",
        ));
    }
    let averages: Vec<usize> = select
        .target_list
        .iter()
        .enumerate()
        .filter(|(_, target)| plain_avg(target).is_some())
        .map(|(position, _)| position)
        .collect();
    if averages.is_empty() && limit == ShardLimit::Keep {
        return Ok(None);
    }
    if select.into_clause.is_some() {
        // SELECT INTO creates a table on every shard; a pushed-down LIMIT or extra columns
        // would change what that table holds.
        return Err(unsupported("SELECT INTO is not rewritten for shards"));
    }
    if !averages.is_empty() {
        if !select.distinct_clause.is_empty() {
            // Extra columns would take part in the DISTINCT and could turn one output row
            // into several, so the shard's answer would no longer match the client's query.
            return Err(unsupported("AVG together with SELECT DISTINCT"));
        }
        if select.target_list.iter().any(expands) {
            // A `*` expands to a number of columns only the server knows, so neither the
            // position of an AVG after it nor the position of the hidden columns is known.
            return Err(unsupported("AVG together with * in the same target list"));
        }
    }
    let avg = append_hidden(select, &averages);
    match limit {
        ShardLimit::Keep => {}
        ShardLimit::Rows(n) => push_limit(select, n)?,
        ShardLimit::Unlimited => {
            select.limit_count = None;
            select.limit_offset = None;
            select.limit_option = LimitOption::Default as i32;
        }
    }
    let sql = pg_query::deparse(&tree, DeparseOptions::default())?;
    Ok(Some(FanoutSql {
        sql,
        hidden: avg.len() * 2,
        avg,
    }))
}

/// An INSERT … VALUES keeping only the VALUES rows at `rows` (0-based indices, in that order),
/// everything else (column list, ON CONFLICT, RETURNING, CTEs) unchanged. Used to send each
/// shard only its own rows of a multi-row INSERT.
pub fn insert_rows(sql: &str, rows: &[usize]) -> Result<String, RewriteError> {
    let mut tree = pg_query::parse(sql, 0)?.protobuf;
    let NodeEnum::InsertStmt(insert) = only_statement(&mut tree)? else {
        return Err(unsupported("only an INSERT can be split by rows"));
    };
    let Some(NodeEnum::SelectStmt(values)) = insert
        .select_stmt
        .as_deref_mut()
        .and_then(|node| node.node.as_mut())
    else {
        return Err(unsupported("INSERT … DEFAULT VALUES has no rows to split"));
    };
    // ORDER BY, LIMIT or OFFSET after VALUES would pick rows from the whole list, so
    // keeping a subset would change which rows they pick.
    if values.values_lists.is_empty()
        || values.op != SetOperation::SetopNone as i32
        || !values.sort_clause.is_empty()
        || values.limit_count.is_some()
        || values.limit_offset.is_some()
    {
        return Err(unsupported(
            "only INSERT … VALUES, not INSERT … SELECT, can be split by rows",
        ));
    }
    if rows.is_empty() {
        return Err(unsupported("an INSERT needs at least one VALUES row"));
    }
    let total = values.values_lists.len();
    let mut seen = vec![false; total];
    for &row in rows {
        match seen.get_mut(row) {
            None => {
                return Err(unsupported(&format!(
                    "VALUES row {row} requested but the INSERT has only {total}"
                )))
            }
            // Sending a row twice would insert it twice, which is never what a split means.
            Some(true) => return Err(unsupported(&format!("VALUES row {row} requested twice"))),
            Some(seen) => *seen = true,
        }
    }
    let mut all: Vec<Option<Node>> = std::mem::take(&mut values.values_lists)
        .into_iter()
        .map(Some)
        .collect();
    // Every index was checked to be in range and unique above, so each take finds its row.
    values.values_lists = rows.iter().filter_map(|&row| all[row].take()).collect();
    Ok(pg_query::deparse(&tree, DeparseOptions::default())?)
}

fn unsupported(reason: &str) -> RewriteError {
    RewriteError::Unsupported(reason.to_string())
}

/// The one statement of the parse tree. Several statements in one string are refused because
/// the proxy routes and merges a single result per query here.
fn only_statement(tree: &mut ParseResult) -> Result<&mut NodeEnum, RewriteError> {
    match tree.stmts.as_mut_slice() {
        [raw] => raw
            .stmt
            .as_deref_mut()
            .and_then(|node| node.node.as_mut())
            .ok_or_else(|| unsupported("empty statement")),
        [] => Err(unsupported("no statement")),
        _ => Err(unsupported("several statements in one query")),
    }
}

/// The call of a target entry that is an AVG whose parts can be summed across shards.
/// DISTINCT needs the distinct values of all shards at once, and OVER makes it a window
/// function that does not reduce rows at all. FILTER is left out as well to keep to the
/// documented contract; an AVG that gets no hidden columns is refused by the merge itself,
/// so skipping one is never silently wrong.
fn plain_avg(target: &Node) -> Option<&FuncCall> {
    let Some(NodeEnum::ResTarget(res)) = target.node.as_ref() else {
        return None;
    };
    let Some(NodeEnum::FuncCall(call)) = res.val.as_deref().and_then(|v| v.node.as_ref()) else {
        return None;
    };
    let name: Vec<&str> = call.funcname.iter().map(string).collect::<Option<_>>()?;
    // Only the built-in avg is known to be sum / count; a function of the same name in
    // another schema could compute anything.
    let builtin = matches!(name.as_slice(), ["avg"] | ["pg_catalog", "avg"]);
    let plain = call.args.len() == 1
        && !call.agg_star
        && !call.agg_distinct
        && !call.agg_within_group
        && !call.func_variadic
        && call.agg_filter.is_none()
        && call.over.is_none();
    (builtin && plain).then_some(call.as_ref())
}

fn string(node: &Node) -> Option<&str> {
    match node.node.as_ref() {
        Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
        _ => None,
    }
}

/// Whether a target entry can produce more than one output column (`*`, `t.*`, `(row).*`).
fn expands(target: &Node) -> bool {
    let is_star = |field: &Node| matches!(field.node, Some(NodeEnum::AStar(_)));
    let Some(NodeEnum::ResTarget(res)) = target.node.as_ref() else {
        // A target list only ever holds ResTarget; anything else is of unknown width.
        return true;
    };
    match res.val.as_deref().and_then(|v| v.node.as_ref()) {
        Some(NodeEnum::ColumnRef(column)) => column.fields.iter().any(is_star),
        Some(NodeEnum::AIndirection(indirection)) => indirection.indirection.iter().any(is_star),
        _ => false,
    }
}

/// Appends `sum(arg)` and `count(arg)` for the AVG at each of `averages` (target positions)
/// and returns where each trio of columns ends up. Appending rather than inserting keeps
/// every original column at its position, so `ORDER BY 2` and `GROUP BY 1` still mean the
/// same column.
fn append_hidden(select: &mut SelectStmt, averages: &[usize]) -> Vec<AvgColumns> {
    let width = select.target_list.len();
    let mut columns = Vec::with_capacity(averages.len());
    for (index, &position) in averages.iter().enumerate() {
        let Some(avg) = plain_avg(&select.target_list[position]).cloned() else {
            continue;
        };
        let number = index + 1;
        let sum = select.target_list.len();
        select
            .target_list
            .push(hidden_target(&avg, "sum", format!("{SUM_ALIAS}{number}")));
        select.target_list.push(hidden_target(
            &avg,
            "count",
            format!("{COUNT_ALIAS}{number}"),
        ));
        columns.push(AvgColumns {
            avg: position,
            sum,
            count: sum + 1,
        });
    }
    debug_assert_eq!(select.target_list.len(), width + 2 * columns.len());
    columns
}

/// A copy of the AVG call under another aggregate's name (same schema qualification, same
/// argument), as an aliased target entry.
fn hidden_target(avg: &FuncCall, function: &str, alias: String) -> Node {
    let mut call = avg.clone();
    if let Some(last) = call.funcname.last_mut() {
        *last = Node {
            node: Some(NodeEnum::String(pg_query::protobuf::String {
                sval: function.to_string(),
            })),
        };
    }
    // The order of the rows does not change a sum or a count, so an ORDER BY inside the
    // call is dropped rather than making every shard sort for nothing.
    call.agg_order.clear();
    // Locations point into the original text; the new nodes have no place in it.
    call.location = -1;
    Node {
        node: Some(NodeEnum::ResTarget(Box::new(ResTarget {
            name: alias,
            indirection: Vec::new(),
            val: Some(Box::new(Node {
                node: Some(NodeEnum::FuncCall(Box::new(call))),
            })),
            location: -1,
        }))),
    }
}

/// Replaces LIMIT and OFFSET with `LIMIT n`. FETCH FIRST … WITH TIES stays WITH TIES: every
/// shard must then also return the rows tied with its last one, or the merged result could
/// miss some of them.
fn push_limit(select: &mut SelectStmt, n: i64) -> Result<(), RewriteError> {
    if n < 0 {
        return Err(unsupported("a negative LIMIT cannot be pushed down"));
    }
    // PostgreSQL's own parser keeps integers too large for int4 as a numeric literal in
    // text form, so the same is done here; both deparse to the plain digits.
    let value = match i32::try_from(n) {
        Ok(ival) => a_const::Val::Ival(Integer { ival }),
        Err(_) => a_const::Val::Fval(Float {
            fval: n.to_string(),
        }),
    };
    select.limit_count = Some(Box::new(Node {
        node: Some(NodeEnum::AConst(AConst {
            isnull: false,
            location: -1,
            val: Some(value),
        })),
    }));
    select.limit_offset = None;
    // Without a LIMIT clause the option is "default", which deparse would print as no LIMIT
    // keyword at all; a count is what `LIMIT n` means.
    if select.limit_option != LimitOption::WithTies as i32 {
        select.limit_option = LimitOption::Count as i32;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
