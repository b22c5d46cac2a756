#!/usr/bin/env bash
# Why this exists: to measure what shard routing costs. pgbench -S runs through one pgDog
# against a single-shard database and against the same data behind two shards (every
# lookup parsed from the parse cache and routed by `aid`), rounds interleaved, medians
# reported. Both shards hold the full pgbench data set, so every lookup finds its row
# whichever shard it lands on; what differs is only pgDog's routing work.
#
# The fanout modes run a lookup of four random keys (`aid IN (...) ORDER BY aid`): on the
# single database one server answers; on the sharded one the keys almost always span both
# shards, so pgDog runs it on both and merges the sorted rows (simple and extended
# protocol). Both shards hold every row, so the merged result has each row twice; only the
# cost is of interest.
#
# Usage: tests/bench/sharded.sh   Knobs: DURATION=8 ROUNDS=3 SCALE=10 CLIENTS=10
#        MODES="simple extended prepared fanout fanout-extended"
#        PGDOG_BIN=path (else cargo build --release)
set -euo pipefail
DURATION=${DURATION:-8}; ROUNDS=${ROUNDS:-3}; SCALE=${SCALE:-10}; CLIENTS=${CLIENTS:-10}
MODES=${MODES:-"simple extended prepared fanout fanout-extended"}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log() { printf '[sharded-bench] %s\n' "$*" >&2; }
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
INITDB=$(bin initdb); POSTGRES=$(bin postgres)
if [[ -z ${PGDOG_BIN:-} ]]; then
    (cd "$REPO" && cargo build --release -p pgdog >&2)
    PGDOG_BIN=$REPO/target/release/pgdog
fi
AS_PG=(); [[ $(id -u) == 0 ]] && AS_PG=(runuser -u postgres --)
WORK=$(mktemp -d /tmp/pgdog-sharded-XXXXXX); chmod 755 "$WORK"
[[ ${#AS_PG[@]} -gt 0 ]] && chown postgres: "$WORK"
PGDOG_PID=""
cleanup() {
    set +e
    [[ -n $PGDOG_PID ]] && kill -9 "$PGDOG_PID" 2>/dev/null
    [[ -f $WORK/data/postmaster.pid ]] && kill -QUIT "$(head -1 "$WORK/data/postmaster.pid")" 2>/dev/null && sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PGPORT=$(port)
"${AS_PG[@]}" "$INITDB" -D "$WORK/data" --auth=trust -U postgres --no-sync -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1
printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$WORK/data/pg_hba.conf"
"${AS_PG[@]}" "$POSTGRES" -D "$WORK/data" -p "$PGPORT" -k "$WORK" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c max_connections=200 -c shared_buffers=256MB \
    >"$WORK/postgres.log" 2>&1 &
disown
for _ in $(seq 300); do psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c 'SELECT 1' postgres >/dev/null 2>&1 && break; sleep 0.1; done
psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c "CREATE ROLE bench LOGIN PASSWORD 'bench'" postgres
for db in shard0 shard1; do
    psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c "CREATE DATABASE $db OWNER bench" postgres
    log "pgbench -i -s $SCALE on $db"
    pgbench -i -s "$SCALE" -q -h 127.0.0.1 -p "$PGPORT" -U bench "$db" >"$WORK/init-$db.log" 2>&1
done

PORT=$(port)
cat >"$WORK/pgdog.toml" <<EOF
[general]
host = "127.0.0.1"
port = $PORT
workers = 1
default_pool_size = 10
min_pool_size = 0
checkout_timeout = 60000

[[databases]]
name = "single"
host = "127.0.0.1"
port = $PGPORT
database_name = "shard0"

[[databases]]
name = "sharded"
host = "127.0.0.1"
port = $PGPORT
database_name = "shard0"
shard = 0

[[databases]]
name = "sharded"
host = "127.0.0.1"
port = $PGPORT
database_name = "shard1"
shard = 1

[[sharded_tables]]
database = "sharded"
name = "pgbench_accounts"
column = "aid"
data_type = "integer"
EOF
cat >"$WORK/users.toml" <<EOF
[[users]]
name = "bench"
database = "single"
password = "bench"

[[users]]
name = "bench"
database = "sharded"
password = "bench"
EOF
# setsid: a scheduling autogroup of its own, not shared with pgbench (see run.sh).
RUST_LOG=warn setsid "$PGDOG_BIN" --config "$WORK/pgdog.toml" --users "$WORK/users.toml" >"$WORK/pgdog.log" 2>&1 &
PGDOG_PID=$!
disown
export PGPASSWORD=bench
for _ in $(seq 100); do psql -X -q -h 127.0.0.1 -p "$PORT" -U bench -c 'SELECT 1' single >/dev/null 2>&1 && break; sleep 0.1; done

cat >"$WORK/fanout.sql" <<'SQL'
\set a1 random(1, 100000 * :scale)
\set a2 random(1, 100000 * :scale)
\set a3 random(1, 100000 * :scale)
\set a4 random(1, 100000 * :scale)
SELECT aid, abalance FROM pgbench_accounts WHERE aid IN (:a1, :a2, :a3, :a4) ORDER BY aid;
SQL
run() { # mode db -> tps
    local how=(-S -M "$1")
    case $1 in
        fanout) how=(-f "$WORK/fanout.sql" -M simple) ;;
        fanout-extended) how=(-f "$WORK/fanout.sql" -M extended) ;;
    esac
    pgbench -n "${how[@]}" -D scale="$SCALE" -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 -p "$PORT" -U bench "$2" 2>&1 |
        awk '/^tps/ {print $3}'
}
compare single sharded "1 shard" "2 shards"
grep -E "WARN|ERROR" "$WORK/pgdog.log" | head -5 >&2 || true
