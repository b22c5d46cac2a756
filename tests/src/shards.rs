//! Sharded setups for the cross-shard suites: N shards, each its own database (on the
//! shared server, or on servers a test owns), plus a reference database holding every row,
//! so a test can compare what pgDog returns with what a single PostgreSQL returns.

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::{connect, free_port, shared_server, PasswordKind, PgServer, Pgdog};

/// A running pgDog in front of `shards.len()` shards.
pub struct ShardedEnv {
    pub pgdog: Pgdog,
    /// pgDog's URL for the sharded database `app`.
    pub url: String,
    /// Direct connections to each shard, in shard order.
    pub shards: Vec<Client>,
    /// A direct connection to the reference database (not behind pgDog).
    pub reference: Client,
    pub user: String,
    pub password: String,
    /// Each shard's (port, database name).
    pub locations: Vec<(u16, String)>,
    /// The config pgDog was started with, to start another with a variation.
    pub pgdog_toml: String,
    pub users_toml: String,
}

/// Where each shard lives: `None` puts it on the shared server.
pub async fn sharded_env(
    prefix: &str,
    servers: &[Option<&PgServer>],
    schema: &str,
    sharded_tables: &str,
) -> ShardedEnv {
    let shared = shared_server().await;
    let tenant = shared.tenant(prefix, PasswordKind::Scram).await;
    let mut locations = Vec::new();
    let mut has_user: Vec<u16> = Vec::new();
    for (n, server) in servers.iter().enumerate() {
        let name = if n == 0 {
            tenant.database.clone()
        } else {
            format!("{}_s{n}", tenant.database)
        };
        match server {
            None if n == 0 => {}
            None => shared.create_database(&name, &tenant.user).await,
            Some(own) => {
                if !has_user.contains(&own.port()) {
                    own.create_user(&tenant.user, &tenant.password, PasswordKind::Scram)
                        .await;
                    has_user.push(own.port());
                }
                own.create_database(&name, &tenant.user).await;
            }
        }
        let port = server.map_or(shared.port(), |s| s.port());
        locations.push((port, name));
    }
    let reference_name = format!("{}_ref", tenant.database);
    shared.create_database(&reference_name, &tenant.user).await;
    let url = |port: u16, db: &str| {
        format!(
            "postgres://{}:{}@127.0.0.1:{port}/{db}",
            tenant.user, tenant.password
        )
    };
    let mut shards = Vec::new();
    for (port, name) in &locations {
        let client = connect(&url(*port, name)).await;
        client.batch_execute(schema).await.unwrap();
        shards.push(client);
    }
    let reference = connect(&url(shared.port(), &reference_name)).await;
    reference.batch_execute(schema).await.unwrap();

    let port = free_port();
    let mut pgdog_toml = format!(
        "[general]\nhost = \"127.0.0.1\"\nport = {port}\ndefault_pool_size = 4\ncheckout_timeout = 2000\nconnect_timeout = 1000\n\n"
    );
    for (n, (port, name)) in locations.iter().enumerate() {
        pgdog_toml.push_str(&format!(
            "[[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\nport = {port}\ndatabase_name = \"{name}\"\nshard = {n}\n\n"
        ));
    }
    pgdog_toml.push_str(sharded_tables);
    let users_toml = format!(
        "[[users]]\nname = \"{}\"\ndatabase = \"app\"\npassword = \"{}\"\n",
        tenant.user, tenant.password
    );
    let pgdog = Pgdog::start(&pgdog_toml, &users_toml).await;
    let url = pgdog.url(&tenant.user, &tenant.password, "app");
    ShardedEnv {
        pgdog,
        url,
        shards,
        reference,
        user: tenant.user,
        password: tenant.password,
        locations,
        pgdog_toml,
        users_toml,
    }
}

/// The `id` values of every row of `table`, read directly from one server.
pub async fn ids_in(client: &Client, table: &str) -> std::collections::BTreeSet<i64> {
    client
        .query(&format!("SELECT id FROM {table}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The rows of a simple query as text, NULL as `None`.
pub async fn text_rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    match client.simple_query(sql).await {
        Ok(messages) => rows_of(&messages),
        Err(e) => panic!("{sql}: {}", crate::describe(&e)),
    }
}

/// The first column of the first row of a simple query, as text (`NULL` for NULL).
pub async fn first_value(client: &Client, sql: &str) -> String {
    let rows = text_rows(client, sql).await;
    let first = rows.first().unwrap_or_else(|| panic!("{sql}: no rows"));
    first[0].clone().unwrap_or_else(|| "NULL".into())
}

/// The rows in simple-query messages.
pub fn rows_of(messages: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The row counts of each CommandComplete in simple-query messages.
pub fn counts_of(messages: &[SimpleQueryMessage]) -> Vec<u64> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect()
}
