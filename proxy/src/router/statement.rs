//! The statement summary: what routing (built-in and plugins) knows about a query.
//!
//! Built once per distinct SQL text and cached, so it holds only what the text itself says;
//! bound parameter values arrive separately at execution time (`Value::Param` marks where
//! they go). This shape is public: wasm plugins receive it through the WIT contract, so
//! fields are added, never repurposed.

/// What kind of statement this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Select,
    /// `SELECT … FOR UPDATE / SHARE`: a read that takes row locks, so it writes.
    SelectForUpdate,
    Insert,
    Update,
    Delete,
    CopyFrom,
    CopyTo,
    Ddl,
    Begin,
    Commit,
    Rollback,
    Savepoint,
    Set,
    Show,
    Listen,
    Notify,
    Other,
}

/// A table the statement reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub schema: Option<String>,
    pub name: String,
    pub alias: Option<String>,
    /// The statement writes to it (INSERT/UPDATE/DELETE/COPY FROM target, also inside CTEs).
    pub written: bool,
}

/// A value in the query text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i64),
    /// A string literal, or a number too large for `i64` kept as written.
    Text(String),
    /// `$n`, 1-based, resolved from Bind at execution time.
    Param(u16),
    Null,
    /// Anything else (an expression, a function call): not usable for routing.
    Expression,
}

/// `column = value` or `column IN (values…)` from the WHERE clause, combined with AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicate {
    /// The qualifier as written (`u` in `u.id = 1`), if any.
    pub qualifier: Option<String>,
    pub column: String,
    pub values: Vec<Value>,
}

/// The target and rows of an INSERT … VALUES.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Insert {
    /// Column list as written; empty when the statement names none.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub key: SortKey,
    pub descending: bool,
    /// PostgreSQL's default: NULLS FIRST for DESC, NULLS LAST for ASC.
    pub nulls_first: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    /// By output column name (or the column a simple reference names).
    Column(String),
    /// By output position, 1-based.
    Position(usize),
    /// By an expression pgDog cannot match to an output column.
    Expression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

/// An aggregate in the target list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub function: AggregateFunction,
    /// Output position, 0-based.
    pub position: usize,
    /// `DISTINCT` inside the aggregate: results from shards cannot be combined.
    pub distinct: bool,
}

/// COPY details.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    pub columns: Vec<String>,
    pub csv: bool,
    pub header: bool,
    /// The delimiter; tab for text, comma for CSV unless given.
    pub delimiter: Option<char>,
    /// `FORMAT binary`.
    pub binary: bool,
    /// `QUOTE`, `ESCAPE` and `NULL` when given.
    pub quote: Option<char>,
    pub escape: Option<char>,
    pub null: Option<String>,
    /// `COPY (query) TO …` rather than a table.
    pub from_query: bool,
    /// `FROM STDIN` / `TO STDOUT`: the data travels over the connection (not a server-side
    /// file or program).
    pub stdio: bool,
}

/// `SET [LOCAL] name = value` / `RESET name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCommand {
    pub name: String,
    /// `None` for RESET / DEFAULT.
    pub value: Option<String>,
    pub local: bool,
}

/// Everything pgDog knows about one statement from its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub command: Command,
    pub tables: Vec<Table>,
    pub predicates: Vec<Predicate>,
    pub insert: Option<Insert>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<Value>,
    pub offset: Option<Value>,
    pub aggregates: Vec<Aggregate>,
    /// GROUP BY keys as output positions (0-based) where they match an output column.
    pub group_by: Vec<usize>,
    /// GROUP BY has keys that are not output columns (expressions, hidden columns,
    /// ROLLUP/CUBE/GROUPING SETS).
    pub group_by_other: bool,
    /// `SELECT DISTINCT` (without ON).
    pub distinct: bool,
    /// Functions the statement calls, lowercase, without schema (for the query string as
    /// a whole when it holds several statements).
    pub functions: Vec<String>,
    /// `SELECT DISTINCT ON (…)`.
    pub distinct_on: bool,
    /// A HAVING clause.
    pub having: bool,
    /// Window functions (`… OVER (…)`) in the target list.
    pub window_functions: bool,
    /// Aggregates in the target list that are not a plain COUNT/SUM/MIN/MAX/AVG of their
    /// own column: other aggregate functions, aggregates inside expressions, FILTER,
    /// ordered-set aggregates.
    pub other_aggregates: bool,
    /// Output column names, as PostgreSQL will name them (best effort).
    pub targets: Vec<String>,
    /// The statement changes data or takes row locks (including writes inside CTEs and
    /// `SELECT … FOR UPDATE`).
    pub writes: bool,
    /// `BEGIN READ ONLY` / `START TRANSACTION READ ONLY`.
    pub read_only_transaction: bool,
    pub copy: Option<Copy>,
    pub set: Option<SetCommand>,
    /// The text of a leading `/* … */` or `-- …` comment.
    pub comment: Option<String>,
    /// The parser rejected the text; PostgreSQL will report the error itself.
    pub parse_error: Option<String>,
    /// A WHERE clause of any shape (`predicates` holds only equality and IN).
    pub has_where: bool,
}

impl Statement {
    pub fn empty(command: Command) -> Statement {
        Statement {
            command,
            tables: Vec::new(),
            predicates: Vec::new(),
            insert: None,
            order_by: Vec::new(),
            limit: None,
            offset: None,
            aggregates: Vec::new(),
            group_by: Vec::new(),
            group_by_other: false,
            distinct: false,
            functions: Vec::new(),
            distinct_on: false,
            having: false,
            window_functions: false,
            other_aggregates: false,
            targets: Vec::new(),
            writes: false,
            read_only_transaction: false,
            copy: None,
            set: None,
            comment: None,
            parse_error: None,
            has_where: false,
        }
    }
}

/// The text of a leading SQL comment, if the statement starts with one.
pub fn leading_comment(sql: &str) -> Option<String> {
    let s = sql.trim_start();
    if let Some(rest) = s.strip_prefix("/*") {
        let end = rest.find("*/")?;
        return Some(rest[..end].trim().to_string());
    }
    if let Some(rest) = s.strip_prefix("--") {
        let end = rest.find('\n').unwrap_or(rest.len());
        return Some(rest[..end].trim().to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments() {
        assert_eq!(
            leading_comment("  /* pgdog_shard: 1 */ SELECT 1").as_deref(),
            Some("pgdog_shard: 1")
        );
        assert_eq!(
            leading_comment("-- hello\nSELECT 1").as_deref(),
            Some("hello")
        );
        assert_eq!(leading_comment("SELECT /* x */ 1"), None);
        assert_eq!(leading_comment("/* unterminated"), None);
    }
}
