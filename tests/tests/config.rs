//! The configuration format as users write it: the `[[servers]]` alias,
//! defaults (`database_name` = `name`), per-user overrides of pool size and
//! pooler mode, and rejection of invalid files at startup.

use std::time::Duration;

use pgdog_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_alias_and_default_database_name() {
    let server = shared_server().await;
    let t = server.tenant("cfg", PasswordKind::Scram).await;
    let port = free_port();
    // Hand-written, minimal: no database_name (defaults to name), the old
    // `[[servers]]` spelling, and most [general] keys left at defaults.
    let pgdog_toml = format!(
        "[general]\nhost = \"127.0.0.1\"\nport = {port}\nworkers = 1\n\n\
         [[servers]]\nname = {}\nhost = \"127.0.0.1\"\nport = {}\n",
        toml_str(&t.database),
        server.port()
    );
    let users_toml = format!(
        "[[users]]\nname = {}\ndatabase = {}\npassword = {}\n",
        toml_str(&t.user),
        toml_str(&t.database),
        toml_str(&t.password)
    );
    let pgdog = Pgdog::start(&pgdog_toml, &users_toml).await;
    let c = connect(&pgdog.url(&t.user, &t.password, &t.database)).await;
    let db: String = c
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(db, t.database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_name_maps_client_name_to_server_database() {
    let server = shared_server().await;
    let t = server.tenant("cfgmap", PasswordKind::Scram).await;
    let cfg = Config::new(free_port())
        .database("app", "127.0.0.1", server.port(), &t.database)
        .user(&t.user, "app", &t.password);
    let pgdog = Pgdog::from_config(&cfg).await;
    let c = connect(&pgdog.url(&t.user, &t.password, "app")).await;
    let db: String = c
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(db, t.database);
    // The real name is not a configured database of the proxy.
    let err = try_connect(&pgdog.url(&t.user, &t.password, &t.database))
        .await
        .expect_err("connected with an unconfigured database name");
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("3D000"),
        "{}",
        describe(&err)
    );
}

/// Run `SELECT 1` as a second client while a first one is connected and
/// idle (not in a transaction): Ok if it got a server connection.
async fn second_client_while_first_idle(env: &ProxyEnv) -> Result<(), String> {
    let first = env.client().await;
    first.simple_query("SELECT 1").await.unwrap();
    let url = env.url();
    let res = tokio::time::timeout(Duration::from_secs(10), async {
        let c = try_connect(&url).await?;
        c.simple_query("SELECT 1").await.map(|_| ())
    })
    .await
    .expect("second client hung");
    drop(first);
    res.map_err(|e| describe(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_pooler_mode_overrides_general() {
    // pool_size 1: in session mode an idle but connected client keeps the
    // only server connection; in transaction mode it does not.
    let session = ProxyEnv::shared("cfgmode", |c| {
        c.pooler_mode("transaction")
            .checkout_timeout_ms(1000)
            .user_pool_size(1)
            .user_pooler_mode("session")
    })
    .await;
    let err = second_client_while_first_idle(&session)
        .await
        .expect_err("session-mode user shared its only server connection");
    assert!(
        err.contains("53300") || err.contains("SQLSTATE 08"),
        "{err}"
    );

    let transaction = ProxyEnv::shared("cfgmode", |c| {
        c.pooler_mode("session")
            .checkout_timeout_ms(1000)
            .user_pool_size(1)
            .user_pooler_mode("transaction")
    })
    .await;
    second_client_while_first_idle(&transaction)
        .await
        .expect("transaction-mode user could not share its server connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_pool_size_overrides_default() {
    let env = ProxyEnv::shared("cfgsize", |c| {
        c.pool_size(10)
            .user_pool_size(2)
            .checkout_timeout_ms(20_000)
    })
    .await;
    let su = env.server.superuser().await;
    let url = env.url();
    let sleepers = concurrently(8, |_| {
        let url = url.clone();
        async move {
            let c = connect(&url).await;
            c.batch_execute("BEGIN; SELECT pg_sleep(0.3); COMMIT")
                .await
                .unwrap();
        }
    });
    let watch = async {
        let mut max = 0;
        for _ in 0..20 {
            max = max.max(env.server.backends_of(&su, &env.tenant.user).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        max
    };
    let (_, max) = tokio::join!(sleepers, watch);
    assert!(
        (1..=2).contains(&max),
        "{max} server connections with pool_size 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_config_stops_startup() {
    let port = free_port();
    let users = "[[users]]\nname = \"u\"\ndatabase = \"d\"\npassword = \"p\"\n";
    for (what, general) in [
        ("unknown pooler_mode", "pooler_mode = \"bogus\""),
        ("unknown auth_type", "auth_type = \"kerberos\""),
        ("not TOML", "port = = 1"),
    ] {
        let toml = format!(
            "[general]\nhost = \"127.0.0.1\"\nport = {port}\n{general}\n\n\
             [[databases]]\nname = \"d\"\nhost = \"127.0.0.1\"\nport = 5432\n"
        );
        let (status, log) = Pgdog::run_to_exit(&toml, users, Duration::from_secs(10)).await;
        assert!(
            !status.success(),
            "{what}: exited successfully; log:\n{log}"
        );
        assert!(
            !log.trim().is_empty(),
            "{what}: rejected without saying why"
        );
    }
}
