#!/usr/bin/env bash
# Why this exists: to measure what a wasm routing plugin costs on every query. pgbench -S
# runs against one PostgreSQL through two pgDogs that both route every statement (a
# sharded_tables entry on pgbench_accounts.aid): one with the built-in router alone, one
# with the tenant-router plugin (plugins/tenant-router) deciding every query
# (it asks pgDog for the values of `aid` in the WHERE clause and for the bound parameter,
# so each call runs the guest and calls back into pgDog for what it reads).
# Rounds interleaved, medians reported, and each pgDog's CPU time per transaction.
#
# Usage: tests/bench/plugins.sh   Knobs: DURATION=8 ROUNDS=3 SCALE=10 CLIENTS=10
#        MODES="simple extended prepared" PGDOG_BIN=path (else cargo build --release)
#        WORKERS=1 (pgDog's worker threads, for both pgDogs; pgDog's own default is 2)
#        AA=1: no plugin in the second pgDog either, to see the ratio noise alone gives
set -euo pipefail
DURATION=${DURATION:-8}; ROUNDS=${ROUNDS:-3}; SCALE=${SCALE:-10}; CLIENTS=${CLIENTS:-10}
WORKERS=${WORKERS:-1}
MODES=${MODES:-"simple extended prepared"}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log() { printf '[plugins-bench] %s\n' "$*" >&2; }
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
INITDB=$(bin initdb); POSTGRES=$(bin postgres)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
if [[ -z ${PGDOG_BIN:-} ]]; then
    (cd "$REPO" && cargo build --release -p pgdog >&2)
    PGDOG_BIN=$TARGET/release/pgdog
fi
(cd "$REPO" && cargo build --release --target wasm32-wasip2 -p tenant-router >&2)
PLUGIN=$TARGET/wasm32-wasip2/release/tenant_router.wasm
AS_PG=(); [[ $(id -u) == 0 ]] && AS_PG=(runuser -u postgres --)
WORK=$(mktemp -d /tmp/pgdog-plugins-XXXXXX); chmod 755 "$WORK"
[[ ${#AS_PG[@]} -gt 0 ]] && chown postgres: "$WORK"
PIDS=()
cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    [[ -f $WORK/data/postmaster.pid ]] && kill -QUIT "$(head -1 "$WORK/data/postmaster.pid")" 2>/dev/null
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PG_PORT=$(port)
"${AS_PG[@]}" "$INITDB" -D "$WORK/data" --auth=trust -U postgres --no-sync -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1
"${AS_PG[@]}" "$POSTGRES" -D "$WORK/data" -p "$PG_PORT" -k "$WORK" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c max_connections=200 -c shared_buffers=256MB \
    >"$WORK/pg.log" 2>&1 &
disown
for _ in $(seq 300); do psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 'SELECT 1' postgres >/dev/null 2>&1 && break; sleep 0.1; done
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE ROLE bench LOGIN PASSWORD 'bench'" postgres
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE bench OWNER bench" postgres
log "pgbench -i -s $SCALE"
pgbench -i -s "$SCALE" -q -h 127.0.0.1 -p "$PG_PORT" -U bench bench >"$WORK/init.log" 2>&1

declare -A PORTS PIDOF
start_pgdog() { # label extra-toml
    local p; p=$(port)
    cat >"$WORK/$1.toml" <<TOML
[general]
host = "127.0.0.1"
port = $p
workers = $WORKERS
default_pool_size = 10
min_pool_size = 0
checkout_timeout = 60000

[[databases]]
name = "bench"
host = "127.0.0.1"
port = $PG_PORT

# Both pgDogs route every statement: the built-in router by this key, the other one
# after asking the plugin.
[[sharded_tables]]
database = "bench"
name = "pgbench_accounts"
column = "aid"
$2
TOML
    printf '[[users]]\nname = "bench"\ndatabase = "bench"\npassword = "bench"\n' >"$WORK/users.toml"
    # setsid: each pgDog in a scheduling autogroup of its own (see run.sh), so neither
    # shares its CPU share with pgbench or with the other.
    RUST_LOG=warn setsid "$PGDOG_BIN" --config "$WORK/$1.toml" --users "$WORK/users.toml" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!); PIDOF[$1]=$!; PORTS[$1]=$p
    for _ in $(seq 100); do PGPASSWORD=bench psql -X -q -h 127.0.0.1 -p "$p" -U bench -c 'SELECT 1' bench >/dev/null 2>&1 && return; sleep 0.1; done
    log "pgdog $1 did not start"; cat "$WORK/$1.log" >&2; exit 1
}
start_pgdog builtin ""
if [[ ${AA:-0} == 1 ]]; then
    # A/A calibration: the second pgDog is the first one again, so the ratio shows how far
    # this machine's noise alone moves it.
    start_pgdog plugin ""
else
    start_pgdog plugin "
[[plugins]]
name = \"tenant-router\"
path = \"$PLUGIN\"

[plugins.config]
column = \"aid\"
data_type = \"integer\"
unknown = \"hash\"
"
fi
export PGPASSWORD=bench

# utime and stime apart: a plugin's cost is user time (the guest and wasmtime), while the
# kernel's share (networking, mostly) swings by several µs between runs of the same build.
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
run() { # mode target -> tps; logs the target's user and system ticks and transactions (run in a subshell)
    local u1 s1 u2 s2 out tx
    read -r u1 s1 < <(cpu_ticks "${PIDOF[$2]}")
    out=$(pgbench -n -S -M "$1" -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 -p "${PORTS[$2]}" -U bench bench 2>&1)
    read -r u2 s2 < <(cpu_ticks "${PIDOF[$2]}")
    tx=$(awk '/number of transactions actually processed/ {split($6, a, "/"); print a[1]}' <<<"$out")
    echo "$1 $2 $((u2 - u1)) $((s2 - s1)) ${tx:-0}" >>"$WORK/cpu.log"
    awk '/^tps/ {print $3}' <<<"$out"
}
SECOND=tenant-router; [[ ${AA:-0} == 1 ]] && SECOND="built-in (A/A)"
compare builtin plugin "built-in" "$SECOND"
echo
echo "pgDog CPU per transaction, all runs (warm-ups included): user + system = total"
awk -v hz="$(getconf CLK_TCK)" '{u[$1" "$2]+=$3; s[$1" "$2]+=$4; n[$1" "$2]+=$5}
    END {for (k in u) if (n[k]) printf "  %-22s %6.1f + %5.1f = %6.1f µs\n", k,
        u[k] * 1e6 / hz / n[k], s[k] * 1e6 / hz / n[k], (u[k] + s[k]) * 1e6 / hz / n[k]}' "$WORK/cpu.log" | sort
grep -E "WARN|ERROR" "$WORK"/*.log | head -5 >&2 || true
