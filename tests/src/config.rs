//! A small builder for pgDog's two config files (pgdog.toml, users.toml), so
//! tests state only what matters to them (pool size, mode, auth type) and get
//! fast, test-friendly defaults for the rest. Tests that probe the config
//! format itself can still hand-write TOML and call `Pgdog::start`.

use std::fmt::Display;

use crate::server::Tenant;

/// One `[section]` / `[[array]]` entry: ordered key = raw TOML value pairs.
type Table = Vec<(String, String)>;

#[derive(Clone, Debug)]
pub struct Config {
    port: u16,
    general: Table,
    databases: Vec<Table>,
    users: Vec<Table>,
    admin: Option<Table>,
    /// Raw TOML appended to pgdog.toml (`[[plugins]]` blocks, say).
    extra: String,
}

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn set(table: &mut Table, key: &str, raw: String) {
    match table.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = raw,
        None => table.push((key.to_string(), raw)),
    }
}

fn render(out: &mut String, header: &str, table: &Table) {
    out.push_str(header);
    out.push('\n');
    for (k, v) in table {
        out.push_str(&format!("{k} = {v}\n"));
    }
    out.push('\n');
}

impl Config {
    /// Defaults: 2 workers (the machine has 2 cores), transaction mode, SCRAM
    /// client auth, and timeouts short enough that a stuck proxy fails a test
    /// in seconds rather than minutes.
    pub fn new(port: u16) -> Config {
        let mut general = Table::new();
        for (k, v) in [
            ("host", toml_str("127.0.0.1")),
            ("port", port.to_string()),
            ("workers", "2".into()),
            ("default_pool_size", "10".into()),
            ("min_pool_size", "0".into()),
            ("pooler_mode", toml_str("transaction")),
            ("auth_type", toml_str("scram")),
            ("connect_timeout", "5000".into()),
            ("checkout_timeout", "5000".into()),
            ("idle_timeout", "60000".into()),
            ("shutdown_timeout", "10000".into()),
        ] {
            general.push((k.to_string(), v));
        }
        let admin = vec![
            ("name".to_string(), toml_str("admin")),
            ("user".to_string(), toml_str("admin")),
            ("password".to_string(), toml_str("admin")),
        ];
        Config {
            port,
            general,
            databases: Vec::new(),
            users: Vec::new(),
            admin: Some(admin),
            extra: String::new(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Set any `[general]` key; `raw` is a TOML value (strings via `toml_str`).
    pub fn general(mut self, key: &str, raw: impl Display) -> Self {
        set(&mut self.general, key, raw.to_string());
        self
    }

    pub fn pool_size(self, n: usize) -> Self {
        self.general("default_pool_size", n)
    }

    pub fn pooler_mode(self, mode: &str) -> Self {
        self.general("pooler_mode", toml_str(mode))
    }

    pub fn auth_type(self, auth: &str) -> Self {
        self.general("auth_type", toml_str(auth))
    }

    pub fn checkout_timeout_ms(self, ms: u64) -> Self {
        self.general("checkout_timeout", ms)
    }

    pub fn shutdown_timeout_ms(self, ms: u64) -> Self {
        self.general("shutdown_timeout", ms)
    }

    /// Append raw TOML to pgdog.toml.
    pub fn raw(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    /// Drop the `[admin]` section (to test the proxy without one).
    pub fn without_admin(mut self) -> Self {
        self.admin = None;
        self
    }

    /// Add a `[[databases]]` entry: clients say `name`, the proxy connects to
    /// `database_name` on host:port.
    pub fn database(mut self, name: &str, host: &str, port: u16, database_name: &str) -> Self {
        self.databases.push(vec![
            ("name".into(), toml_str(name)),
            ("host".into(), toml_str(host)),
            ("port".into(), port.to_string()),
            ("database_name".into(), toml_str(database_name)),
        ]);
        self
    }

    /// Set a key on the most recently added database (e.g. `user`).
    pub fn database_setting(mut self, key: &str, raw: impl Display) -> Self {
        let db = self.databases.last_mut().expect("add a database first");
        set(db, key, raw.to_string());
        self
    }

    /// Add a `[[users]]` entry.
    pub fn user(mut self, name: &str, database: &str, password: &str) -> Self {
        self.users.push(vec![
            ("name".into(), toml_str(name)),
            ("database".into(), toml_str(database)),
            ("password".into(), toml_str(password)),
        ]);
        self
    }

    /// Set a key on the most recently added user.
    pub fn user_setting(mut self, key: &str, raw: impl Display) -> Self {
        let user = self.users.last_mut().expect("add a user first");
        set(user, key, raw.to_string());
        self
    }

    pub fn user_pool_size(self, n: usize) -> Self {
        self.user_setting("pool_size", n)
    }

    pub fn user_pooler_mode(self, mode: &str) -> Self {
        self.user_setting("pooler_mode", toml_str(mode))
    }

    /// Credentials the proxy uses towards PostgreSQL for the last user.
    pub fn server_credentials(self, user: &str, password: &str) -> Self {
        self.user_setting("server_user", toml_str(user))
            .user_setting("server_password", toml_str(password))
    }

    /// The common case: a database and a user with the same names and
    /// password as a tenant on the server at 127.0.0.1:`server_port`.
    pub fn tenant(self, t: &Tenant, server_port: u16) -> Self {
        self.database(&t.database, "127.0.0.1", server_port, &t.database)
            .user(&t.user, &t.database, &t.password)
    }

    pub fn pgdog_toml(&self) -> String {
        let mut out = String::new();
        render(&mut out, "[general]", &self.general);
        for db in &self.databases {
            render(&mut out, "[[databases]]", db);
        }
        if let Some(admin) = &self.admin {
            render(&mut out, "[admin]", admin);
        }
        out.push_str(&self.extra);
        out
    }

    pub fn users_toml(&self) -> String {
        let mut out = String::new();
        for user in &self.users {
            render(&mut out, "[[users]]", user);
        }
        out
    }
}
