//! Merging one result set from several shards into what a single server holding all the
//! rows would have returned.
//!
//! Rows sorted by ORDER BY on every shard are merged by comparing the shards' current rows
//! (a k-way merge: the session pulls the next row only from the shard whose row went out,
//! so memory stays bounded). Aggregates and GROUP BY need every row first: partial results
//! are folded per group (COUNT and SUM add up, MIN and MAX compare, AVG divides the summed
//! hidden `sum` by the summed hidden `count`), then sorted. OFFSET and LIMIT apply last.

use std::cmp::Ordering;
use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

use super::rows::{encode_row, Columns, Row};
use super::value::{self, Format, ValueError};
use crate::router::rewrite::{AvgColumns, ShardLimit};
use crate::router::statement::{AggregateFunction, SortKey, Statement, Value};
use crate::wire::ErrorResponse;

/// What merging a statement's results needs, from its summary (and its fanout rewrite).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    order_by: Vec<(SortKey, bool, bool)>,
    limit: Option<u64>,
    offset: u64,
    aggregates: Vec<(AggregateFunction, usize)>,
    group_by: bool,
    avg: Vec<AvgColumns>,
    /// Columns the rewrite appended, dropped before the client sees a row.
    hidden: usize,
}

impl Plan {
    /// The plan for `stmt`; an error for what cannot be merged correctly.
    pub fn new(stmt: &Statement) -> Result<Plan, ErrorResponse> {
        let count = |value: &Option<Value>, what: &str| match value {
            None => Ok(None),
            Some(Value::Integer(n)) if *n >= 0 => Ok(Some(*n as u64)),
            Some(Value::Null) => Ok(None),
            Some(_) => Err(unsupported(format!(
                "{what} must be a non-negative integer literal in a query across shards"
            ))),
        };
        let refuse = |what: &str| {
            Err(unsupported(format!("{what} across shards is not supported; filter on the sharding key so the query runs on one shard")))
        };
        if stmt.aggregates.iter().any(|a| a.distinct) {
            return refuse("an aggregate with DISTINCT");
        }
        if stmt.other_aggregates {
            return refuse("an aggregate other than a plain COUNT, SUM, MIN, MAX or AVG of a column (or one inside an expression)");
        }
        if stmt.window_functions {
            return refuse("a window function");
        }
        if stmt.having {
            return refuse("HAVING");
        }
        if stmt.group_by_other {
            return refuse("GROUP BY on something that is not an output column");
        }
        if stmt.distinct_on {
            return refuse("DISTINCT ON");
        }
        Ok(Plan {
            order_by: stmt
                .order_by
                .iter()
                .map(|o| (o.key.clone(), o.descending, o.nulls_first))
                .collect(),
            limit: count(&stmt.limit, "LIMIT")?,
            offset: count(&stmt.offset, "OFFSET")?.unwrap_or(0),
            aggregates: stmt
                .aggregates
                .iter()
                .map(|a| (a.function, a.position))
                .collect(),
            // SELECT DISTINCT is a GROUP BY of every column: rows are folded by value.
            group_by: !stmt.group_by.is_empty() || stmt.distinct,
            avg: Vec::new(),
            hidden: 0,
        })
    }

    /// Folding rows per group: every row is needed before any goes out.
    pub fn aggregates(&self) -> bool {
        !self.aggregates.is_empty() || self.group_by
    }

    /// Whether AVG needs the hidden sum and count columns of a rewrite.
    pub fn has_avg(&self) -> bool {
        self.aggregates
            .iter()
            .any(|(f, _)| *f == AggregateFunction::Avg)
    }

    /// What each shard must do with the statement's LIMIT and OFFSET: an OFFSET is only
    /// right after the merge, so shards get `LIMIT limit+offset` instead; with aggregates a
    /// shard's rows are only partial, so neither applies there.
    pub fn shard_limit(&self) -> ShardLimit {
        let limited = self.limit.is_some() || self.offset > 0;
        match self.limit {
            _ if self.aggregates() && limited => ShardLimit::Unlimited,
            _ if self.offset == 0 => ShardLimit::Keep,
            Some(limit) => i64::try_from(limit.saturating_add(self.offset))
                .map_or(ShardLimit::Unlimited, ShardLimit::Rows),
            None => ShardLimit::Unlimited,
        }
    }

    /// Records the hidden columns the rewrite added.
    pub fn with_hidden(mut self, avg: Vec<AvgColumns>, hidden: usize) -> Plan {
        self.avg = avg;
        self.hidden = hidden;
        self
    }
}

fn unsupported(message: String) -> ErrorResponse {
    ErrorResponse::error("0A000", message)
}

/// One ORDER BY key resolved against the result's columns.
#[derive(Debug, Clone)]
struct SortColumn {
    index: usize,
    oid: u32,
    format: Format,
    descending: bool,
    nulls_first: bool,
}

/// The merge of one result set.
pub struct Merge {
    columns: Columns,
    keys: Vec<SortColumn>,
    plan: Plan,
    /// Columns the client sees.
    visible: usize,
    skipped: u64,
    sent: u64,
    groups: HashMap<Vec<Option<Bytes>>, usize>,
    folded: Vec<Row>,
    /// The first error while folding; reported once every shard is done.
    error: Option<ErrorResponse>,
}

impl Merge {
    pub fn new(plan: Plan, columns: Columns) -> Result<Merge, ErrorResponse> {
        let mut keys = Vec::with_capacity(plan.order_by.len());
        for (key, descending, nulls_first) in &plan.order_by {
            let index = match key {
                SortKey::Position(p) => p.checked_sub(1),
                SortKey::Column(name) => columns.position(name),
                SortKey::Expression => None,
            };
            let Some(index) = index.filter(|i| *i < columns.fields.len()) else {
                return Err(unsupported(
                    "ORDER BY in a query across shards must name an output column (by name or position)"
                        .to_string(),
                ));
            };
            let field = &columns.fields[index];
            if !value::orderable(field.type_oid) {
                return Err(unsupported(format!(
                    "ORDER BY \"{}\" across shards: pgDog cannot order values of type oid {}",
                    field.name, field.type_oid
                )));
            }
            keys.push(SortColumn {
                index,
                oid: field.type_oid,
                format: field.format,
                descending: *descending,
                nulls_first: *nulls_first,
            });
        }
        for (function, position) in &plan.aggregates {
            if *position >= columns.fields.len() {
                return Err(unsupported(format!(
                    "aggregate at column {} is not in the result",
                    position + 1
                )));
            }
            let field = &columns.fields[*position];
            let supported = match function {
                AggregateFunction::Count | AggregateFunction::Sum => value::addable(field.type_oid),
                AggregateFunction::Min | AggregateFunction::Max => value::orderable(field.type_oid),
                AggregateFunction::Avg => true,
            };
            if !supported {
                return Err(unsupported(format!(
                    "{function:?} of type oid {} across shards is not supported",
                    field.type_oid
                )));
            }
            if *function == AggregateFunction::Avg && !plan.avg.iter().any(|a| a.avg == *position) {
                return Err(unsupported(
                    "AVG across shards needs its sum and count; this query could not be rewritten for that"
                        .to_string(),
                ));
            }
        }
        let visible = columns.fields.len().saturating_sub(plan.hidden);
        Ok(Merge {
            columns,
            keys,
            plan,
            visible,
            skipped: 0,
            sent: 0,
            groups: HashMap::new(),
            folded: Vec::new(),
            error: None,
        })
    }

    /// Rows must be compared across shards (ORDER BY without aggregates).
    pub fn sorted(&self) -> bool {
        !self.keys.is_empty() && !self.plan.aggregates()
    }

    /// Rows are folded and sent only at the end.
    pub fn aggregates(&self) -> bool {
        self.plan.aggregates()
    }

    /// The RowDescription the client gets.
    pub fn describe(&self, out: &mut BytesMut) {
        self.columns.encode(out, self.visible);
    }

    /// How many values each row from a shard has (hidden columns included).
    pub fn width(&self) -> usize {
        self.columns.fields.len()
    }

    /// Rows sent so far (the count of the merged CommandComplete).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Whether LIMIT has been reached: the remaining rows are read and dropped.
    pub fn full(&self) -> bool {
        self.plan.limit.is_some_and(|l| self.sent >= l)
    }

    /// Orders two rows by the ORDER BY keys.
    pub fn compare(&self, a: &Row, b: &Row) -> Ordering {
        for key in &self.keys {
            let (x, y) = (&a[key.index], &b[key.index]);
            let ord = match (x, y) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) if key.nulls_first => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) if key.nulls_first => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let ord = value::compare(key.oid, key.format, x, y).unwrap_or(Ordering::Equal);
                    if key.descending {
                        ord.reverse()
                    } else {
                        ord
                    }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    /// Sends `row` unless OFFSET still skips it or LIMIT was reached.
    pub fn emit(&mut self, out: &mut BytesMut, row: &Row, raw: Option<&Bytes>) {
        if self.full() {
            return;
        }
        if self.skipped < self.plan.offset {
            self.skipped += 1;
            return;
        }
        self.sent += 1;
        match raw {
            Some(raw) if self.visible == self.columns.fields.len() => out.extend_from_slice(raw),
            _ => encode_row(out, row, self.visible),
        }
    }

    /// Folds one partial row into its group.
    pub fn fold(&mut self, row: Row) {
        if self.error.is_some() || row.len() != self.columns.fields.len() {
            return;
        }
        let key: Vec<Option<Bytes>> = (0..self.visible)
            .filter(|i| !self.is_aggregate(*i))
            .map(|i| row[i].clone())
            .collect();
        match self.groups.get(&key) {
            None => {
                self.groups.insert(key, self.folded.len());
                self.folded.push(row);
            }
            Some(&index) => {
                let mut acc = std::mem::take(&mut self.folded[index]);
                if let Err(err) = self.combine(&mut acc, &row) {
                    self.error = Some(unsupported(err.to_string()));
                }
                self.folded[index] = acc;
            }
        }
    }

    fn is_aggregate(&self, index: usize) -> bool {
        self.plan.aggregates.iter().any(|(_, p)| *p == index)
            || self
                .plan
                .avg
                .iter()
                .any(|a| a.sum == index || a.count == index)
    }

    fn combine(&self, acc: &mut Row, row: &Row) -> Result<(), ValueError> {
        let mut added: Vec<usize> = self
            .plan
            .avg
            .iter()
            .flat_map(|a| [a.sum, a.count])
            .collect();
        for (function, position) in &self.plan.aggregates {
            match function {
                AggregateFunction::Count | AggregateFunction::Sum => added.push(*position),
                AggregateFunction::Min | AggregateFunction::Max => {
                    let field = &self.columns.fields[*position];
                    let keep_new = match (&acc[*position], &row[*position]) {
                        (_, None) => false,
                        (None, Some(_)) => true,
                        (Some(a), Some(b)) => {
                            let ord = value::compare(field.type_oid, field.format, b, a)?;
                            if *function == AggregateFunction::Min {
                                ord == Ordering::Less
                            } else {
                                ord == Ordering::Greater
                            }
                        }
                    };
                    if keep_new {
                        acc[*position] = row[*position].clone();
                    }
                }
                AggregateFunction::Avg => {}
            }
        }
        for position in added {
            let field = &self.columns.fields[position];
            acc[position] = match (&acc[position], &row[position]) {
                (a, None) => a.clone(),
                (None, b) => b.clone(),
                (Some(a), Some(b)) => {
                    Some(Bytes::from(value::add(field.type_oid, field.format, a, b)?))
                }
            };
        }
        Ok(())
    }

    /// Sends the folded groups (AVG computed, sorted, OFFSET and LIMIT applied), or the
    /// error that stopped the fold.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<(), ErrorResponse> {
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        let mut rows = std::mem::take(&mut self.folded);
        for row in &mut rows {
            for avg in &self.plan.avg {
                row[avg.avg] = self
                    .average(row, avg)
                    .map_err(|e| unsupported(e.to_string()))?;
            }
        }
        if !self.keys.is_empty() {
            rows.sort_by(|a, b| self.compare(a, b));
        }
        for row in &rows {
            self.emit(out, row, None);
        }
        Ok(())
    }

    fn average(&self, row: &Row, avg: &AvgColumns) -> Result<Option<Bytes>, ValueError> {
        let (Some(sum), Some(count)) = (&row[avg.sum], &row[avg.count]) else {
            return Ok(None);
        };
        let count_field = &self.columns.fields[avg.count];
        let count = value::int8(count_field.format, count)?;
        if count == 0 {
            return Ok(None);
        }
        let (out, sum_field) = (&self.columns.fields[avg.avg], &self.columns.fields[avg.sum]);
        let value = value::average(
            out.type_oid,
            out.format,
            sum_field.type_oid,
            sum_field.format,
            sum,
            count,
        )?;
        Ok(Some(Bytes::from(value)))
    }
}

#[cfg(test)]
mod tests;
