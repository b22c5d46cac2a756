//! Where and how the current statement runs, read field by field like [`crate::Statement`].

use crate::bindings::pgdog::router::types as wit;
use crate::lazy::lazy_view;
use crate::types::Param;

lazy_view! {
    /// Every field of a context, as plain data, for tests (see [`crate::testing::context`]).
    ContextFields /
    /// Where and how one statement is being executed (see `context` in `wit/router.wit`).
    Context / wit::Context {
        database: String,
        user: String,
        shards: u32,
        has_replicas: bool,
        in_transaction: bool,
        params: Vec<Param>,
    }
    cache {
        // The first single parameter asked for, when `params` is not loaded: most plugins
        // read one, and fetching one costs less than fetching the list.
        one_param: (u16, Option<Param>),
    }
}

impl Context<'_> {
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
