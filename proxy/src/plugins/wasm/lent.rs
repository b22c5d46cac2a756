//! The statement and context a call lends to the guest, and the methods it reads them with.
//!
//! A `route` or `after-query` call hands the guest two borrowed handles instead of copying
//! the whole summary into its memory: each method the guest calls converts one field, so
//! a plugin that reads the comment and one predicate pays for those and nothing else.
//! Handles carry no data of their own (rep 0): a store runs one call at a time, and the
//! call's data sits in the store for exactly that call.

use std::ptr::NonNull;

use wasmtime::component::Resource;

use super::bindings::pgdog::router::types as wit;
use super::convert;
use super::host::HostState;
use crate::plugins::Context;
use crate::router::statement::{Statement, Value};

/// Pointers to what the call in progress lends. They are only read from host functions,
/// which run inside the call, while the caller's borrows are alive (see [`HostState::lend`]).
pub struct Lent {
    statement: NonNull<Statement>,
    sql: NonNull<str>,
    context: NonNull<Context<'static>>,
}

// SAFETY: the pointers are shared references in disguise, to `Sync` data (a statement
// summary, a string, a context of strings and parameters); sending them to another thread
// is as sound as sending the references. The assertion below keeps that true.
unsafe impl Send for Lent {}

const _: () = {
    const fn shared_safely<T: Sync + ?Sized>() {}
    shared_safely::<Statement>();
    shared_safely::<str>();
    shared_safely::<Context<'static>>();
};

impl HostState {
    /// Lends `statement`, `sql` and `context` to the next call on this store.
    ///
    /// # Safety
    /// The caller ends the loan with [`HostState::end_loan`] before any of the three is
    /// dropped or changed, or drops the store first. Every call site lends, makes one
    /// synchronous call while it holds the borrows, and ends the loan right after.
    pub unsafe fn lend(&mut self, statement: &Statement, sql: &str, context: &Context<'_>) {
        self.lent = Some(Lent {
            statement: NonNull::from(statement),
            sql: NonNull::from(sql),
            context: NonNull::from(context).cast(),
        });
    }

    pub fn end_loan(&mut self) {
        self.lent = None;
    }

    fn statement(&self) -> Option<(&Statement, &str)> {
        let lent = self.lent.as_ref()?;
        // SAFETY: `lend`'s contract keeps the pointees alive and unchanged while lent.
        unsafe { Some((lent.statement.as_ref(), lent.sql.as_ref())) }
    }

    fn context(&self) -> Option<&Context<'_>> {
        let lent = self.lent.as_ref()?;
        // SAFETY: as above; the 'static in the stored type is narrowed back to the loan.
        unsafe { Some(lent.context.cast::<Context<'_>>().as_ref()) }
    }

    /// A field of the lent statement. Outside a call there is none: wasmtime refuses a
    /// handle kept past its call before it reaches here, so the default is never seen.
    fn field<T: Default>(&self, get: impl FnOnce(&Statement, &str) -> T) -> T {
        self.statement()
            .map(|(stmt, sql)| get(stmt, sql))
            .unwrap_or_default()
    }

    fn context_field<T: Default>(&self, get: impl FnOnce(&Context<'_>) -> T) -> T {
        self.context().map(get).unwrap_or_default()
    }

    /// `read` over the values the lent statement pins `column` to at `source`, with the
    /// lent context (see [`key_source`]).
    fn key_source<T>(
        &self,
        column: &str,
        source: wit::KeySource,
        read: impl FnOnce(&mut dyn ExactSizeIterator<Item = Option<&Value>>, &Context<'_>) -> T,
    ) -> Option<T> {
        let (stmt, _) = self.statement()?;
        let ctx = self.context()?;
        key_source(stmt, column, source, |values| read(values, ctx))
    }
}

/// `read` over the values `stmt` pins `column` to at `source` (`None` for an INSERT row
/// too short to have the column); `None` when that place does not name the column.
fn key_source<T>(
    stmt: &Statement,
    column: &str,
    source: wit::KeySource,
    read: impl FnOnce(&mut dyn ExactSizeIterator<Item = Option<&Value>>) -> T,
) -> Option<T> {
    match source {
        wit::KeySource::Where => {
            let predicate = stmt.predicates.iter().find(|p| p.column == column)?;
            Some(read(&mut predicate.values.iter().map(Some)))
        }
        wit::KeySource::Insert => {
            let insert = stmt.insert.as_ref()?;
            let index = insert.columns.iter().position(|c| c == column)?;
            Some(read(&mut insert.rows.iter().map(|row| row.get(index))))
        }
    }
}

/// `statement.placed-keys` of `stmt` executed with `ctx`, without a loan.
fn placed_keys(
    stmt: &Statement,
    ctx: &Context<'_>,
    column: &str,
    source: wit::KeySource,
    key_type: wit::KeyType,
) -> Option<wit::PlacedKeys> {
    key_source(stmt, column, source, |values| {
        // The shard count is a u32 on the contract's side.
        let shards = ctx.shards.min(u32::MAX as usize);
        convert::placed_keys(values, ctx.params, key_type, shards)
    })
}

/// What a `keyed-router` plugin's `route-key` gets for `request`: the placed keys of the
/// WHERE clause's predicate on the column, else of the INSERT rows' values for it.
pub fn found_key(
    stmt: &Statement,
    ctx: &Context<'_>,
    request: &wit::KeyRequest,
) -> Option<wit::FoundKey> {
    [wit::KeySource::Where, wit::KeySource::Insert]
        .into_iter()
        .find_map(|source| {
            let keys = placed_keys(stmt, ctx, &request.column, source, request.key_type)?;
            Some(wit::FoundKey { source, keys })
        })
}

type Stmt = Resource<wit::Statement>;
type Ctx = Resource<wit::Context>;

impl wit::HostStatement for HostState {
    fn sql(&mut self, _: Stmt) -> String {
        self.field(|_, sql| sql.to_string())
    }

    fn command(&mut self, _: Stmt) -> wit::Command {
        self.statement().map_or(wit::Command::Other, |(stmt, _)| {
            convert::command(stmt.command)
        })
    }

    fn tables(&mut self, _: Stmt) -> Vec<wit::Table> {
        self.field(|stmt, _| convert::tables(stmt))
    }

    fn predicates(&mut self, _: Stmt) -> Vec<wit::Predicate> {
        self.field(|stmt, _| convert::predicates(stmt))
    }

    fn insert(&mut self, _: Stmt) -> Option<wit::Insert> {
        self.field(|stmt, _| convert::insert(stmt))
    }

    fn order_by(&mut self, _: Stmt) -> Vec<wit::OrderBy> {
        self.field(|stmt, _| convert::order_by(stmt))
    }

    fn limit(&mut self, _: Stmt) -> Option<wit::Value> {
        self.field(|stmt, _| stmt.limit.as_ref().map(convert::value))
    }

    fn offset(&mut self, _: Stmt) -> Option<wit::Value> {
        self.field(|stmt, _| stmt.offset.as_ref().map(convert::value))
    }

    fn targets(&mut self, _: Stmt) -> Vec<String> {
        self.field(|stmt, _| stmt.targets.clone())
    }

    fn functions(&mut self, _: Stmt) -> Vec<String> {
        self.field(|stmt, _| stmt.functions.clone())
    }

    fn writes(&mut self, _: Stmt) -> bool {
        self.field(|stmt, _| stmt.writes)
    }

    fn read_only_transaction(&mut self, _: Stmt) -> bool {
        self.field(|stmt, _| stmt.read_only_transaction)
    }

    fn comment(&mut self, _: Stmt) -> Option<String> {
        self.field(|stmt, _| stmt.comment.clone())
    }

    fn set(&mut self, _: Stmt) -> Option<wit::SetCommand> {
        self.field(|stmt, _| convert::set(stmt))
    }

    fn copy(&mut self, _: Stmt) -> Option<wit::CopyOptions> {
        self.field(|stmt, _| convert::copy(stmt))
    }

    fn parse_error(&mut self, _: Stmt) -> Option<String> {
        self.field(|stmt, _| stmt.parse_error.clone())
    }

    fn has_where(&mut self, _: Stmt) -> bool {
        self.field(|stmt, _| stmt.has_where)
    }

    fn predicate_values(&mut self, _: Stmt, column: String) -> Option<Vec<wit::Value>> {
        self.field(|stmt, _| {
            let predicate = stmt.predicates.iter().find(|p| p.column == column)?;
            Some(predicate.values.iter().map(convert::value).collect())
        })
    }

    fn insert_values(&mut self, _: Stmt, column: String) -> Option<Vec<wit::Value>> {
        self.field(|stmt, _| {
            let insert = stmt.insert.as_ref()?;
            let index = insert.columns.iter().position(|c| *c == column)?;
            let values = insert.rows.iter().map(|row| {
                row.get(index)
                    .map_or(wit::Value::Expression, convert::value)
            });
            Some(values.collect())
        })
    }

    fn key_values(
        &mut self,
        _: Stmt,
        column: String,
        source: wit::KeySource,
        key_type: wit::KeyType,
    ) -> Option<wit::KeyValues> {
        self.key_source(&column, source, |values, ctx| {
            convert::key_values(values, ctx.params, key_type)
        })
    }

    fn placed_keys(
        &mut self,
        _: Stmt,
        column: String,
        source: wit::KeySource,
        key_type: wit::KeyType,
    ) -> Option<wit::PlacedKeys> {
        let (stmt, _) = self.statement()?;
        placed_keys(stmt, self.context()?, &column, source, key_type)
    }

    fn drop(&mut self, _: Stmt) -> wasmtime::Result<()> {
        // Only borrowed handles are ever given out; there is nothing to free.
        Ok(())
    }
}

impl wit::HostContext for HostState {
    fn database(&mut self, _: Ctx) -> String {
        self.context_field(|ctx| ctx.database.to_string())
    }

    fn user(&mut self, _: Ctx) -> String {
        self.context_field(|ctx| ctx.user.to_string())
    }

    fn shards(&mut self, _: Ctx) -> u32 {
        self.context_field(|ctx| u32::try_from(ctx.shards).unwrap_or(u32::MAX))
    }

    fn has_replicas(&mut self, _: Ctx) -> bool {
        self.context_field(|ctx| ctx.has_replicas)
    }

    fn in_transaction(&mut self, _: Ctx) -> bool {
        self.context_field(|ctx| ctx.in_transaction)
    }

    fn params(&mut self, _: Ctx) -> Vec<wit::Param> {
        self.context_field(|ctx| convert::params(ctx.params))
    }

    fn param(&mut self, _: Ctx, n: u32) -> Option<wit::Param> {
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        self.context_field(|ctx| convert::param(ctx.params, index))
    }

    fn drop(&mut self, _: Ctx) -> wasmtime::Result<()> {
        Ok(())
    }
}
