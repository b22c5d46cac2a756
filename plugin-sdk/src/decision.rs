//! Constructors for the answers a plugin gives.
//!
//! The generated types are plain records; these helpers make the common answers one
//! expression (`Decision::route_to(1, Role::Replica)`), and the `From` impls let a plugin
//! build a `Reject` or `Route` with extras and still return it as a `Decision`.

use crate::types::{Decision, Reject, Respond, Rewrite, Role, Route, Shards};

impl Decision {
    /// Runs the statement on one shard (0-based).
    pub fn route_to(shard: u32, role: Role) -> Self {
        Self::route(Shards::One(shard), role)
    }

    /// Runs the statement on the given shards.
    pub fn route(shards: Shards, role: Role) -> Self {
        Self::Route(Route::new(shards, role))
    }

    /// Refuses the statement with a five-character SQLSTATE (see [`crate::sqlstate`]).
    pub fn reject(sqlstate: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Reject(Reject::new(sqlstate, message))
    }

    /// Answers the statement without a server: text columns and rows, `None` for NULL.
    pub fn respond(
        columns: impl IntoIterator<Item = impl Into<String>>,
        rows: Vec<Vec<Option<String>>>,
    ) -> Self {
        Self::Respond(Respond {
            columns: columns.into_iter().map(Into::into).collect(),
            rows,
        })
    }

    /// Sends `sql` instead of the client's text, to `route`.
    pub fn rewrite(sql: impl Into<String>, route: Route) -> Self {
        Self::Rewrite(Rewrite {
            sql: sql.into(),
            route,
        })
    }

    /// The decision defers to the next plugin or the built-in router.
    pub fn is_pass(&self) -> bool {
        matches!(self, Self::Pass)
    }
}

impl Route {
    pub fn new(shards: Shards, role: Role) -> Self {
        Self { shards, role }
    }
}

impl Reject {
    pub fn new(sqlstate: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            sqlstate: sqlstate.into(),
            message: message.into(),
            detail: None,
        }
    }

    /// Adds the DETAIL line clients show under the message.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl From<Route> for Decision {
    fn from(route: Route) -> Self {
        Self::Route(route)
    }
}

impl From<Rewrite> for Decision {
    fn from(rewrite: Rewrite) -> Self {
        Self::Rewrite(rewrite)
    }
}

impl From<Reject> for Decision {
    fn from(reject: Reject) -> Self {
        Self::Reject(reject)
    }
}

impl From<Respond> for Decision {
    fn from(respond: Respond) -> Self {
        Self::Respond(respond)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlstate;

    #[test]
    fn route_to_is_one_shard() {
        assert_eq!(
            Decision::route_to(3, Role::Replica),
            Decision::Route(Route {
                shards: Shards::One(3),
                role: Role::Replica
            })
        );
    }

    #[test]
    fn reject_with_detail() {
        let decision: Decision = Reject::new(sqlstate::INSUFFICIENT_PRIVILEGE, "no")
            .with_detail("because")
            .into();
        let Decision::Reject(reject) = decision else {
            panic!("not a reject");
        };
        assert_eq!(reject.sqlstate, "42501");
        assert_eq!(reject.detail.as_deref(), Some("because"));
    }

    #[test]
    fn respond_takes_str_columns() {
        let decision = Decision::respond(["a", "b"], vec![vec![Some("1".into()), None]]);
        assert_eq!(
            decision,
            Decision::Respond(Respond {
                columns: vec!["a".into(), "b".into()],
                rows: vec![vec![Some("1".into()), None]],
            })
        );
        assert!(!decision.is_pass());
        assert!(Decision::Pass.is_pass());
    }
}
