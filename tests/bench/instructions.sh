#!/usr/bin/env bash
# Why this exists: on a small shared VM, throughput and CPU time through a proxy swing by
# 20-30% from one run to the next, which hides the change a hot-path edit makes. The
# number of instructions pgDog executes per transaction, counted by valgrind's callgrind,
# is the same on every run. This script counts it for `pgbench -S` through pgDog and prints
# the functions the instructions are spent in.
#
# Usage: tests/bench/instructions.sh      (from anywhere; a few minutes)
# Knobs (environment):
#   MODES="simple extended prepared"   TRANSACTIONS=1000 (per client)   CLIENTS=10
#   (CLIENTS=1 shows what each wake-up from an idle wait costs: two per transaction)
#   TOP=25   functions listed per mode  PGDOG_BIN=path (skip `cargo build --release -p pgdog`)
#   KEEP=dir  copy the callgrind files there (for callgrind_annotate --auto=yes)
set -euo pipefail

MODES=${MODES:-"simple extended prepared"}
TRANSACTIONS=${TRANSACTIONS:-1000}
TOP=${TOP:-25}
CLIENTS=${CLIENTS:-10}
PASSWORD=bench-password

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
log() { printf '[instructions] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

pg_tools
if ! command -v valgrind >/dev/null 2>&1; then
    log "installing valgrind"
    [[ $(id -u) == 0 ]] || die "valgrind missing and not root: apt-get install valgrind"
    DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind >/dev/null 2>&1 ||
        { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind >/dev/null; }
fi

if [[ -z ${PGDOG_BIN:-} ]]; then
    log "building pgdog (release)"
    (cd "$REPO" && cargo build --release -p pgdog >&2)
    PGDOG_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/pgdog
fi
[[ -x $PGDOG_BIN ]] || die "pgdog binary $PGDOG_BIN missing"

as_pg_user
work_dir pgdog-instructions
PGDOG_PID=""
cleanup() {
    set +e
    [[ -n $PGDOG_PID ]] && kill -9 "$PGDOG_PID" 2>/dev/null
    if [[ -f $WORK/data/postmaster.pid ]]; then
        kill -QUIT "$(head -1 "$WORK/data/postmaster.pid")" 2>/dev/null
        sleep 1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_postgres
su_sql "SET password_encryption = 'md5'; CREATE ROLE bench LOGIN PASSWORD '$PASSWORD'"
su_sql "CREATE DATABASE bench OWNER bench"
export PGPASSWORD=$PASSWORD
"$PGBENCH" -i -s 1 -q -h 127.0.0.1 -p "$PGPORT" -U bench bench >"$WORK/init.log" 2>&1 ||
    { cat "$WORK/init.log" >&2; die "pgbench -i failed"; }

PGDOG_PORT=$(port)
cat >"$WORK/pgdog.toml" <<EOF
[general]
host = "127.0.0.1"
port = $PGDOG_PORT
workers = 1
default_pool_size = $CLIENTS
auth_type = "md5"

[[databases]]
name = "bench"
host = "127.0.0.1"
port = $PGPORT
EOF
printf '[[users]]\nname = "bench"\ndatabase = "bench"\npassword = "%s"\n' "$PASSWORD" >"$WORK/users.toml"

# Totals per function from a callgrind output file (its name-compressed format), self
# cost only, divided by the number of transactions.
report() { # file transactions top
    python3 - "$@" <<'EOF'
import collections, re, sys
path, n, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names, cost, fn, call = {}, collections.Counter(), None, False
def name(token):
    m = re.match(r'\((\d+)\)(?:\s+(.*))?', token)
    if not m:
        return token
    if m.group(2):
        names[m.group(1)] = m.group(2)
    return names.get(m.group(1), m.group(1))
for line in open(path):
    if line.startswith('fn='):
        fn = name(line[3:].strip())
    elif line.startswith('cfn='):
        name(line[4:].strip())
    elif line.startswith('calls='):
        call = True
    elif line[:1].isdigit() or line[:1] in '+-*':
        parts = line.split()
        if call:
            call = False  # the inclusive cost of a call, counted in the callee
        elif len(parts) > 1:
            cost[fn] += int(parts[1])
total = sum(cost.values())
print(f"  {total / n:,.0f} instructions per transaction")
for f, c in cost.most_common(top):
    print(f"  {c / n:8.0f}  {100 * c / total:4.1f}%  {f[:110]}")
EOF
}

for mode in $MODES; do
    out=$WORK/callgrind-$mode.out
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" "$PGDOG_BIN" \
        --config "$WORK/pgdog.toml" --users "$WORK/users.toml" >"$WORK/pgdog-$mode.log" 2>&1 &
    PGDOG_PID=$!
    for _ in $(seq 600); do
        "$PSQL" -X -q -h 127.0.0.1 -p "$PGDOG_PORT" -U bench -d bench -c 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.2
    done
    args=(-S -M "$mode" -c "$CLIENTS" -j $((CLIENTS > 1 ? 2 : 1)) -h 127.0.0.1 -p "$PGDOG_PORT" -U bench -n)
    # Warm-up: connections opened, statements prepared, caches filled; then count from zero.
    "$PGBENCH" "${args[@]}" -t 100 bench >/dev/null 2>&1 || die "pgbench warm-up failed ($mode)"
    callgrind_control --zero "$PGDOG_PID" >/dev/null 2>&1
    "$PGBENCH" "${args[@]}" -t "$TRANSACTIONS" bench >"$WORK/pgbench-$mode.log" 2>&1 ||
        { cat "$WORK/pgbench-$mode.log" >&2; die "pgbench failed ($mode)"; }
    callgrind_control --dump="$mode" "$PGDOG_PID" >/dev/null 2>&1
    sleep 1
    kill "$PGDOG_PID" 2>/dev/null; wait "$PGDOG_PID" 2>/dev/null || true
    PGDOG_PID=""
    echo "pgbench -S -M $mode, $CLIENTS clients, pgDog under callgrind:"
    report "$(ls "$out".* | head -1)" $((TRANSACTIONS * CLIENTS)) "$TOP"
    [[ -n ${KEEP:-} ]] && mkdir -p "$KEEP" && cp "$out".* "$KEEP/"
    echo
done
