//! pgDog's shard placement against the real thing: for every key type pgDog shards on, a
//! table `PARTITION BY HASH (k)` with MODULUS 2 and 3 is filled with thousands of keys
//! (negative and beyond 32 bits, every text length up to 50 bytes, non-ASCII text, random
//! uuids), and for every single row the partition PostgreSQL chose must be the shard
//! `pgdog::router::hash::shard_for` computes from the key's text. The key's binary form
//! (what a client binds in binary format) must parse to the same value.

use pgdog::router::hash::{shard_for, KeyType, KeyValue};
use pgdog_tests::*;

const MODULI: [usize; 2] = [2, 3];

/// Creates `t_<m>` partitioned by hash on a column of `sql_type` with one partition per
/// remainder, fills it with `fill` (statements with `{t}` for the table name), and checks
/// every row's partition against `shard_for`.
async fn check_type(sql_type: &str, ty: KeyType, send_fn: &str, fill: &[&str]) {
    let server = shared_server().await;
    let tenant = server
        .tenant(
            &format!("hash_{}", sql_type.replace(' ', "_")),
            PasswordKind::Scram,
        )
        .await;
    let client = connect(&server.url(&tenant.user, &tenant.password, &tenant.database)).await;

    for modulus in MODULI {
        let table = format!("t_{modulus}");
        let mut ddl = format!("CREATE TABLE {table} (k {sql_type}) PARTITION BY HASH (k);\n");
        for r in 0..modulus {
            ddl.push_str(&format!(
                "CREATE TABLE {table}_{r} PARTITION OF {table} \
                 FOR VALUES WITH (MODULUS {modulus}, REMAINDER {r});\n"
            ));
        }
        for stmt in fill {
            ddl.push_str(&stmt.replace("{t}", &table));
            ddl.push_str(";\n");
        }
        client
            .batch_execute(&ddl)
            .await
            .unwrap_or_else(|e| panic!("{sql_type}, modulus {modulus}: {}", describe(&e)));

        let rows = client
            .query(
                &format!("SELECT tableoid::regclass::text, k::text, {send_fn}(k) FROM {table}"),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{sql_type}: {}", describe(&e)));
        assert!(
            rows.len() >= 2000,
            "{sql_type}: only {} rows inserted",
            rows.len()
        );

        let mut per_partition = vec![0usize; modulus];
        let mut mismatches = Vec::new();
        for row in &rows {
            let partition: String = row.get(0);
            let text: String = row.get(1);
            let binary: Vec<u8> = row.get(2);
            let remainder: usize = partition
                .strip_prefix(&format!("{table}_"))
                .and_then(|r| r.parse().ok())
                .unwrap_or_else(|| panic!("unexpected partition {partition}"));
            per_partition[remainder] += 1;

            let value = KeyValue::parse(&text, ty)
                .unwrap_or_else(|e| panic!("{sql_type}: cannot parse {text:?}: {e}"));
            let from_binary = KeyValue::from_binary(&binary, ty)
                .unwrap_or_else(|e| panic!("{sql_type}: binary of {text:?}: {e}"));
            assert_eq!(
                from_binary, value,
                "{sql_type}: binary and text forms differ"
            );

            let shard = shard_for(&value, ty, modulus);
            if shard != remainder {
                mismatches.push(format!(
                    "{text:?}: PostgreSQL remainder {remainder}, pgDog shard {shard}"
                ));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{sql_type}, modulus {modulus}: {} of {} rows on the wrong shard, e.g.:\n{}",
            mismatches.len(),
            rows.len(),
            mismatches[..mismatches.len().min(20)].join("\n")
        );
        // Sanity: the data really is spread over every partition.
        assert!(
            per_partition
                .iter()
                .all(|&n| n > rows.len() / (modulus * 2)),
            "{sql_type}, modulus {modulus}: skewed partitions {per_partition:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigint_keys_land_on_postgres_partition() {
    check_type(
        "bigint",
        KeyType::BigInt,
        "int8send",
        &[
            "INSERT INTO {t} SELECT i FROM generate_series(-3000, 3000) AS i",
            // Beyond 32 bits in both directions, with varying high halves.
            "INSERT INTO {t} SELECT i * 4294967311 FROM generate_series(-1500, 1500) AS i",
            "INSERT INTO {t} SELECT i * 1000000000000037 FROM generate_series(-9000, 9000, 7) AS i",
            "INSERT INTO {t} VALUES (9223372036854775807), (-9223372036854775808), \
             (4294967296), (4294967295), (-4294967296), (-4294967297), \
             (2147483648), (-2147483649), (2147483647), (-2147483648)",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_keys_land_on_postgres_partition() {
    check_type(
        "integer",
        KeyType::Integer,
        "int4send",
        &[
            "INSERT INTO {t} SELECT i FROM generate_series(-3000, 3000) AS i",
            "INSERT INTO {t} SELECT i * 1000003 FROM generate_series(-2000, 2000) AS i",
            "INSERT INTO {t} VALUES (2147483647), (-2147483648), (65536), (-65536)",
        ],
    )
    .await;
}

/// Text keys: hex strings of every length 0..=50 (all of lookup3's tail cases, several
/// 12-byte blocks), and non-ASCII text (2-, 3- and 4-byte UTF-8 sequences).
const TEXT_FILL: &[&str] = &[
    "INSERT INTO {t} SELECT md5(i::text) FROM generate_series(1, 3000) AS i",
    "INSERT INTO {t} SELECT left(md5(i::text) || md5((-i)::text), i % 51) \
     FROM generate_series(1, 1500) AS i",
    "INSERT INTO {t} SELECT 'ключ ' || i FROM generate_series(1, 500) AS i",
    "INSERT INTO {t} SELECT '日本語キー' || i FROM generate_series(1, 500) AS i",
    "INSERT INTO {t} SELECT repeat('é', i % 30) || i FROM generate_series(1, 500) AS i",
    "INSERT INTO {t} SELECT '🐘' || i || '🦀' FROM generate_series(1, 500) AS i",
    "INSERT INTO {t} VALUES (''), (' '), ('a'), ('A'), ('Ω'), ('0')",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_keys_land_on_postgres_partition() {
    check_type("text", KeyType::Text, "textsend", TEXT_FILL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn varchar_keys_land_on_postgres_partition() {
    // varchar uses text's hash function; pgDog's config calls it `varchar` or `text`.
    check_type("varchar", KeyType::Text, "varcharsend", TEXT_FILL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uuid_keys_land_on_postgres_partition() {
    check_type(
        "uuid",
        KeyType::Uuid,
        "uuid_send",
        &[
            "INSERT INTO {t} SELECT md5(i::text)::uuid FROM generate_series(1, 5000) AS i",
            "INSERT INTO {t} SELECT gen_random_uuid() FROM generate_series(1, 1000)",
            "INSERT INTO {t} VALUES ('00000000-0000-0000-0000-000000000000'), \
             ('ffffffff-ffff-ffff-ffff-ffffffffffff')",
        ],
    )
    .await;
}
