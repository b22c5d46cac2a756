//! `ProxyEnv`: the setup nearly every proxy test starts with — a server (the
//! shared one, or one the test owns), a fresh tenant on it, and a pgDog
//! configured for that tenant — so each test body is only about behaviour.

use std::ops::Deref;

use tokio_postgres::Client;

use crate::client::connect;
use crate::config::Config;
use crate::proxy::Pgdog;
use crate::server::{shared_server, PasswordKind, PgServer, Tenant};
use crate::util::free_port;

/// The server behind a `ProxyEnv`: shared by the process, or owned by the
/// test (needed to stop / restart it).
pub enum ServerHandle {
    Shared(&'static PgServer),
    Owned(PgServer),
}

impl Deref for ServerHandle {
    type Target = PgServer;
    fn deref(&self) -> &PgServer {
        match self {
            ServerHandle::Shared(s) => s,
            ServerHandle::Owned(s) => s,
        }
    }
}

impl ServerHandle {
    /// The owned server, for `stop()` / `restart()`; panics on the shared
    /// one, which other tests are using.
    pub fn owned_mut(&mut self) -> &mut PgServer {
        match self {
            ServerHandle::Owned(s) => s,
            ServerHandle::Shared(_) => panic!("cannot stop or restart the shared server"),
        }
    }
}

pub struct ProxyEnv {
    pub server: ServerHandle,
    pub tenant: Tenant,
    pub pgdog: Pgdog,
}

impl ProxyEnv {
    /// Tenant (SCRAM-stored password) on the shared server, behind a pgDog
    /// whose config `configure` may adjust; the tenant's user is the last
    /// user in the config, so `user_setting` & co. apply to it.
    pub async fn shared(prefix: &str, configure: impl FnOnce(Config) -> Config) -> ProxyEnv {
        Self::on(
            ServerHandle::Shared(shared_server().await),
            prefix,
            PasswordKind::Scram,
            configure,
        )
        .await
    }

    /// Same, on a server of the test's choosing and with a chosen password
    /// storage for the tenant.
    pub async fn on(
        server: ServerHandle,
        prefix: &str,
        kind: PasswordKind,
        configure: impl FnOnce(Config) -> Config,
    ) -> ProxyEnv {
        let tenant = server.tenant(prefix, kind).await;
        let cfg = configure(Config::new(free_port()).tenant(&tenant, server.port()));
        let pgdog = Pgdog::from_config(&cfg).await;
        ProxyEnv {
            server,
            tenant,
            pgdog,
        }
    }

    /// Connection string for the tenant through pgDog.
    pub fn url(&self) -> String {
        let t = &self.tenant;
        self.pgdog.url(&t.user, &t.password, &t.database)
    }

    /// Connection string for the tenant straight to PostgreSQL.
    pub fn direct_url(&self) -> String {
        let t = &self.tenant;
        self.server.url(&t.user, &t.password, &t.database)
    }

    /// A client connected through pgDog.
    pub async fn client(&self) -> Client {
        connect(&self.url()).await
    }

    /// A client connected straight to PostgreSQL (setup, verification).
    pub async fn direct(&self) -> Client {
        connect(&self.direct_url()).await
    }

    /// Superuser connection on the tenant's database (for pg_stat_activity
    /// and for checks that must not depend on the proxy).
    pub async fn superuser(&self) -> Client {
        self.server.superuser_on(&self.tenant.database).await
    }
}
