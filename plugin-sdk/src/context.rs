//! Where and how the current statement runs, read field by field like [`crate::Statement`].

use std::cell::OnceCell;

use crate::bindings::pgdog::router::types as wit;
use crate::statement::loaded;
use crate::types::Param;

/// Every field of a context, as plain data, for tests (see [`crate::testing::context`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFields {
    pub database: String,
    pub user: String,
    pub shards: u32,
    pub has_replicas: bool,
    pub in_transaction: bool,
    pub params: Vec<Param>,
}

/// Where and how one statement is being executed (see `context` in `wit/router.wit`).
pub struct Context<'a> {
    host: Option<&'a wit::Context>,
    database: OnceCell<String>,
    user: OnceCell<String>,
    shards: OnceCell<u32>,
    has_replicas: OnceCell<bool>,
    in_transaction: OnceCell<bool>,
    params: OnceCell<Vec<Param>>,
    /// The first single parameter asked for, when `params` is not loaded: most plugins
    /// read one, and fetching one costs less than fetching the list.
    one_param: OnceCell<(u16, Option<Param>)>,
}

impl<'a> Context<'a> {
    /// The context pgDog lent to the current call.
    pub(crate) fn from_host(host: &'a wit::Context) -> Self {
        Self {
            host: Some(host),
            database: OnceCell::new(),
            user: OnceCell::new(),
            shards: OnceCell::new(),
            has_replicas: OnceCell::new(),
            in_transaction: OnceCell::new(),
            params: OnceCell::new(),
            one_param: OnceCell::new(),
        }
    }

    fn load<'s, T>(&'s self, cell: &'s OnceCell<T>, fetch: fn(&wit::Context) -> T) -> &'s T {
        cell.get_or_init(|| match self.host {
            Some(host) => fetch(host),
            None => unreachable!("a context built from fields has every field"),
        })
    }

    /// The database name the client connected to.
    pub fn database(&self) -> &str {
        self.load(&self.database, wit::Context::database).as_str()
    }

    /// The user the client logged in as.
    pub fn user(&self) -> &str {
        self.load(&self.user, wit::Context::user).as_str()
    }

    /// How many shards the database has (1 when it is not sharded).
    pub fn shards(&self) -> u32 {
        *self.load(&self.shards, wit::Context::shards)
    }

    /// Some shard has replicas, so the role of a route matters.
    pub fn has_replicas(&self) -> bool {
        *self.load(&self.has_replicas, wit::Context::has_replicas)
    }

    /// The client is inside a transaction.
    pub fn in_transaction(&self) -> bool {
        *self.load(&self.in_transaction, wit::Context::in_transaction)
    }

    /// Every bound parameter value (extended protocol); empty for a simple query.
    pub fn params(&self) -> &[Param] {
        self.load(&self.params, wit::Context::params).as_slice()
    }

    /// The parameter bound to `$position` (1-based), if the client bound that many.
    pub fn param(&self, position: u16) -> Option<&Param> {
        let index = usize::from(position).checked_sub(1)?;
        if let Some(params) = self.params.get() {
            return params.get(index);
        }
        let host = self.host?;
        let (first, param) = self
            .one_param
            .get_or_init(|| (position, host.param(u32::from(position))));
        if *first == position {
            param.as_ref()
        } else {
            self.params().get(index)
        }
    }
}

impl From<ContextFields> for Context<'static> {
    fn from(f: ContextFields) -> Self {
        Self {
            host: None,
            database: f.database.into(),
            user: f.user.into(),
            shards: f.shards.into(),
            has_replicas: f.has_replicas.into(),
            in_transaction: f.in_transaction.into(),
            params: f.params.into(),
            one_param: OnceCell::new(),
        }
    }
}

impl std::fmt::Debug for Context<'_> {
    /// The fields fetched so far: printing must not fetch the rest.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Context");
        loaded(&mut out, "database", &self.database);
        loaded(&mut out, "user", &self.user);
        loaded(&mut out, "shards", &self.shards);
        loaded(&mut out, "has_replicas", &self.has_replicas);
        loaded(&mut out, "in_transaction", &self.in_transaction);
        loaded(&mut out, "params", &self.params);
        out.finish_non_exhaustive()
    }
}
