#!/usr/bin/env bash
# Why this exists: to measure what read/write splitting costs and gives. pgbench -S runs
# through one pgDog against a database on a single server and against the same data on a
# primary with two streaming replicas (made with pg_basebackup), rounds interleaved,
# medians reported. On the replicated database every statement is parsed (from the parse
# cache) and classified as a read or a write, and reads are spread over the replicas. On a
# 2-core machine all three servers share the same cores, so this shows the proxy's cost
# more than any capacity gained.
#
# Usage: tests/bench/replicas.sh   Knobs: DURATION=8 ROUNDS=3 SCALE=10 CLIENTS=10
#        MODES="simple extended prepared" SPLIT=exclude_primary
#        PGDOG_BIN=path (else cargo build --release)
set -euo pipefail
DURATION=${DURATION:-8}; ROUNDS=${ROUNDS:-3}; SCALE=${SCALE:-10}; CLIENTS=${CLIENTS:-10}
MODES=${MODES:-"simple extended prepared"}; SPLIT=${SPLIT:-exclude_primary}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log() { printf '[replicas-bench] %s\n' "$*" >&2; }
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
INITDB=$(bin initdb); POSTGRES=$(bin postgres); BASEBACKUP=$(bin pg_basebackup)
if [[ -z ${PGDOG_BIN:-} ]]; then
    (cd "$REPO" && cargo build --release -p pgdog >&2)
    PGDOG_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/pgdog
fi
AS_PG=(); [[ $(id -u) == 0 ]] && AS_PG=(runuser -u postgres --)
WORK=$(mktemp -d /tmp/pgdog-replicas-XXXXXX); chmod 755 "$WORK"
[[ ${#AS_PG[@]} -gt 0 ]] && chown postgres: "$WORK"
PIDS=()
cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    for d in "$WORK"/*/; do
        [[ -f $d/postmaster.pid ]] && kill -QUIT "$(head -1 "$d/postmaster.pid")" 2>/dev/null
    done
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_pg() { # data-dir port
    "${AS_PG[@]}" "$POSTGRES" -D "$1" -p "$2" -k "$WORK" -c listen_addresses=127.0.0.1 \
        -c fsync=off -c synchronous_commit=off -c max_connections=200 -c shared_buffers=256MB \
        >"$1.log" 2>&1 &
    disown
    for _ in $(seq 300); do psql -X -q -h 127.0.0.1 -p "$2" -U postgres -c 'SELECT 1' postgres >/dev/null 2>&1 && return; sleep 0.1; done
    log "postgres on $2 did not start"; exit 1
}
P_PORT=$(port); R1_PORT=$(port); R2_PORT=$(port)
"${AS_PG[@]}" "$INITDB" -D "$WORK/primary" --auth=trust -U postgres --no-sync -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1
printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nlocal replication all trust\nhost replication all 127.0.0.1/32 trust\n' >"$WORK/primary/pg_hba.conf"
start_pg "$WORK/primary" "$P_PORT"
psql -X -q -h 127.0.0.1 -p "$P_PORT" -U postgres -c "CREATE ROLE bench LOGIN PASSWORD 'bench'" postgres
psql -X -q -h 127.0.0.1 -p "$P_PORT" -U postgres -c "CREATE DATABASE bench OWNER bench" postgres
log "pgbench -i -s $SCALE"
pgbench -i -s "$SCALE" -q -h 127.0.0.1 -p "$P_PORT" -U bench bench >"$WORK/init.log" 2>&1
for r in r1:$R1_PORT r2:$R2_PORT; do
    name=${r%%:*}; p=${r##*:}
    "${AS_PG[@]}" "$BASEBACKUP" -h 127.0.0.1 -p "$P_PORT" -U postgres -D "$WORK/$name" -R -X stream -c fast
    start_pg "$WORK/$name" "$p"
done

PORT=$(port)
cat >"$WORK/pgdog.toml" <<TOML
[general]
host = "127.0.0.1"
port = $PORT
workers = 1
default_pool_size = 10
min_pool_size = 0
checkout_timeout = 60000
read_write_split = "$SPLIT"

[[databases]]
name = "single"
host = "127.0.0.1"
port = $P_PORT
database_name = "bench"

[[databases]]
name = "replicated"
host = "127.0.0.1"
port = $P_PORT
database_name = "bench"
role = "primary"

[[databases]]
name = "replicated"
host = "127.0.0.1"
port = $R1_PORT
database_name = "bench"
role = "replica"

[[databases]]
name = "replicated"
host = "127.0.0.1"
port = $R2_PORT
database_name = "bench"
role = "replica"
TOML
cat >"$WORK/users.toml" <<TOML
[[users]]
name = "bench"
database = "single"
password = "bench"

[[users]]
name = "bench"
database = "replicated"
password = "bench"
TOML
# setsid: a scheduling autogroup of its own, not shared with pgbench (see run.sh).
RUST_LOG=warn setsid "$PGDOG_BIN" --config "$WORK/pgdog.toml" --users "$WORK/users.toml" >"$WORK/pgdog.log" 2>&1 &
PIDS+=($!)
export PGPASSWORD=bench
for _ in $(seq 100); do psql -X -q -h 127.0.0.1 -p "$PORT" -U bench -c 'SELECT 1' single >/dev/null 2>&1 && break; sleep 0.1; done

run() { # mode db -> tps
    pgbench -n -S -M "$1" -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 -p "$PORT" -U bench "$2" 2>&1 |
        awk '/^tps/ {print $3}'
}
compare single replicated "single" "primary+2"
grep -E "WARN|ERROR" "$WORK/pgdog.log" | head -5 >&2 || true
