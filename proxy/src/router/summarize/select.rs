//! The parts of a SELECT that merging results across shards needs: output names,
//! aggregates, GROUP BY, ORDER BY, LIMIT and OFFSET, and what makes a merge impossible
//! (window functions, aggregates pgDog cannot combine, set operations).

use pg_query::protobuf::{a_const, SelectStmt, SortByDir, SortByNulls};
use pg_query::NodeEnum;

use super::{from_tables, string, value, where_predicates, with_tables};
use crate::router::statement::{
    Aggregate, AggregateFunction, Command, OrderBy, SortKey, Statement,
};

/// Aggregate functions PostgreSQL ships besides the five pgDog combines across shards.
const OTHER_AGGREGATES: &[&str] = &[
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "bit_and",
    "bit_or",
    "bit_xor",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "json_agg_strict",
    "jsonb_agg_strict",
    "xmlagg",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "range_agg",
    "range_intersect_agg",
    "any_value",
];

/// Whether a target expression holds window functions, and aggregates pgDog cannot
/// combine across shards: anything but a plain COUNT/SUM/MIN/MAX/AVG standing alone.
fn aggregate_shape(val: &NodeEnum) -> (bool, bool) {
    let plain = |call: &pg_query::protobuf::FuncCall| {
        let name = call.funcname.last().and_then(string).unwrap_or_default();
        matches!(name.as_str(), "count" | "sum" | "min" | "max" | "avg")
    };
    let mut window = false;
    let mut other = false;
    let mut visit = |call: &pg_query::protobuf::FuncCall, top: bool| {
        if call.over.is_some() {
            window = true;
            return;
        }
        let name = call.funcname.last().and_then(string).unwrap_or_default();
        let aggregate = plain(call) || OTHER_AGGREGATES.contains(&name.as_str());
        if !aggregate {
            return;
        }
        let simple = top
            && plain(call)
            && call.agg_filter.is_none()
            && call.agg_order.is_empty()
            && !call.agg_within_group;
        if !simple {
            other = true;
        }
    };
    if let NodeEnum::FuncCall(call) = val {
        visit(call, true);
    }
    for (node, _, _, _) in val.nodes() {
        if let pg_query::NodeRef::FuncCall(call) = node {
            // The top-level call itself was visited above.
            if !std::ptr::eq(
                call,
                match val {
                    NodeEnum::FuncCall(top) => &**top,
                    _ => std::ptr::null(),
                },
            ) {
                visit(call, false);
            }
        }
    }
    (window, other)
}

pub(super) fn select_details(select: &SelectStmt, stmt: &mut Statement) {
    with_tables(
        select.with_clause.as_ref().map(|w| &w.ctes),
        &mut stmt.tables,
    );
    if let (Some(l), Some(r)) = (&select.larg, &select.rarg) {
        // UNION / INTERSECT / EXCEPT: tables from both sides; nothing else is mergeable.
        let (mut left, mut right) = (
            Statement::empty(Command::Select),
            Statement::empty(Command::Select),
        );
        select_details(l, &mut left);
        select_details(r, &mut right);
        stmt.tables.extend(left.tables);
        stmt.tables.extend(right.tables);
        return;
    }
    from_tables(&select.from_clause, &mut stmt.tables);
    stmt.has_where |= select.where_clause.is_some();
    where_predicates(select.where_clause.as_deref(), &mut stmt.predicates);
    // Plain DISTINCT is a one-element list holding nothing; DISTINCT ON lists expressions.
    stmt.distinct_on = select.distinct_clause.iter().any(|d| d.node.is_some());
    stmt.distinct = !select.distinct_clause.is_empty() && !stmt.distinct_on;
    stmt.having = select.having_clause.is_some();
    if select.into_clause.is_some() {
        // SELECT … INTO creates a table.
        stmt.writes = true;
    }
    for target in &select.target_list {
        if let Some(NodeEnum::ResTarget(res)) = target.node.as_ref() {
            if let Some(val) = res.val.as_deref().and_then(|n| n.node.as_ref()) {
                let (window, other) = aggregate_shape(val);
                stmt.window_functions |= window;
                stmt.other_aggregates |= other;
            }
        }
    }
    for (position, target) in select.target_list.iter().enumerate() {
        let Some(NodeEnum::ResTarget(res)) = target.node.as_ref() else {
            continue;
        };
        let val = res.val.as_deref().and_then(|n| n.node.as_ref());
        let mut name = res.name.clone();
        match val {
            Some(NodeEnum::ColumnRef(col)) if name.is_empty() => {
                name = col.fields.last().and_then(string).unwrap_or_default();
            }
            Some(NodeEnum::FuncCall(call)) => {
                let func = call.funcname.last().and_then(string).unwrap_or_default();
                if name.is_empty() {
                    name = func.clone();
                }
                let function = match func.as_str() {
                    "count" => Some(AggregateFunction::Count),
                    "sum" => Some(AggregateFunction::Sum),
                    "min" => Some(AggregateFunction::Min),
                    "max" => Some(AggregateFunction::Max),
                    "avg" => Some(AggregateFunction::Avg),
                    _ => None,
                };
                if let (Some(function), None) = (function, &call.over) {
                    stmt.aggregates.push(Aggregate {
                        function,
                        position,
                        distinct: call.agg_distinct,
                    });
                }
            }
            _ => {}
        }
        if name.is_empty() {
            name = "?column?".into();
        }
        stmt.targets.push(name);
    }
    for key in &select.group_clause {
        let position = match key.node.as_ref() {
            Some(NodeEnum::ColumnRef(col)) => col
                .fields
                .last()
                .and_then(string)
                .and_then(|c| stmt.targets.iter().position(|t| *t == c)),
            Some(NodeEnum::AConst(c)) => match &c.val {
                Some(a_const::Val::Ival(i)) if i.ival >= 1 => Some(i.ival as usize - 1),
                _ => None,
            },
            _ => None,
        };
        match position {
            Some(p) => stmt.group_by.push(p),
            None => stmt.group_by_other = true,
        }
    }
    for sort in &select.sort_clause {
        let Some(NodeEnum::SortBy(by)) = sort.node.as_ref() else {
            continue;
        };
        let key = match by.node.as_deref().and_then(|n| n.node.as_ref()) {
            Some(NodeEnum::ColumnRef(col)) => col
                .fields
                .last()
                .and_then(string)
                .map_or(SortKey::Expression, SortKey::Column),
            Some(NodeEnum::AConst(c)) => match &c.val {
                Some(a_const::Val::Ival(i)) if i.ival >= 1 => SortKey::Position(i.ival as usize),
                _ => SortKey::Expression,
            },
            _ => SortKey::Expression,
        };
        let descending = by.sortby_dir() == SortByDir::SortbyDesc;
        let nulls_first = match by.sortby_nulls() {
            SortByNulls::SortbyNullsFirst => true,
            SortByNulls::SortbyNullsLast => false,
            _ => descending,
        };
        stmt.order_by.push(OrderBy {
            key,
            descending,
            nulls_first,
        });
    }
    stmt.limit = select.limit_count.as_deref().map(value);
    stmt.offset = select.limit_offset.as_deref().map(value);
}
