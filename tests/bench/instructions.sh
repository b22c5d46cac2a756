#!/usr/bin/env bash
# Why this exists: on a small shared VM, throughput and CPU time through a proxy swing by
# 20-30% from one run to the next, which hides the change a hot-path edit makes and any
# difference between two proxies smaller than that. What a proxy's CPU per transaction is
# made of can be counted exactly instead: the instructions it executes in user space
# (valgrind's callgrind; the same on every run) and the system calls it makes (strace).
# This script counts both for `pgbench -S` through pgDog and through PgBouncer, configured
# as tests/bench/run.sh configures them, and prints the functions pgDog spends its
# instructions in.
#
# Usage: tests/bench/instructions.sh      (from anywhere; a few minutes)
# Knobs (environment):
#   MODES="simple extended prepared"   TRANSACTIONS=1000 (per client)   CLIENTS=10
#   (CLIENTS=1 shows what each wake-up from an idle wait costs: two per transaction)
#   TOP=25   functions listed per mode  PGDOG_BIN=path (skip `cargo build --release -p pgdog`)
#   PGBOUNCER=0  count pgDog only       KEEP=dir  copy the callgrind files there
#   (for callgrind_annotate --auto=yes)
# PgBouncer runs in transaction mode with a pool of CLIENTS, except for -M prepared, which
# PgBouncer 1.18 cannot pool by transaction: there it runs in session mode (as in run.sh).
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
# apt_tool NAME: installs Debian's package NAME (as root) when the command is missing.
apt_tool() {
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $1"
    [[ $(id -u) == 0 ]] || die "$1 missing and not root: apt-get install $1"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$1" >/dev/null 2>&1 ||
        { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "$1" >/dev/null; }
}
apt_tool valgrind
apt_tool strace
if [[ ${PGBOUNCER:-1} != 0 ]]; then
    pgbouncer_bin
else
    PGBOUNCER=""
fi

if [[ -z ${PGDOG_BIN:-} ]]; then
    log "building pgdog (release)"
    (cd "$REPO" && cargo build --release -p pgdog >&2)
    PGDOG_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/pgdog
fi
[[ -x $PGDOG_BIN ]] || die "pgdog binary $PGDOG_BIN missing"

as_pg_user
work_dir pgdog-instructions
cleanup() {
    set +e
    # The proxies are started inside command substitutions (subshells): find them by the
    # work dir on their command lines (valgrind's too).
    pkill -9 -f -- "--config $WORK/pgdog.toml|$WORK/pgbouncer-" 2>/dev/null
    if [[ -f $WORK/data/postmaster.pid ]]; then
        kill -QUIT "$(head -1 "$WORK/data/postmaster.pid")" 2>/dev/null
        sleep 1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_postgres
# md5-stored role, as in run.sh: PgBouncer's auth_file carries the stored hash.
su_sql "SET password_encryption = 'md5'; CREATE ROLE bench LOGIN PASSWORD '$PASSWORD'"
su_sql "CREATE DATABASE bench OWNER bench"
printf '"bench" "%s"\n' "$(su_sql "SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")" >"$WORK/userlist.txt"
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
# cost only, divided by the number of transactions. Prints the total first, alone.
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
print(round(total / n))
for f, c in cost.most_common(top):
    print(f"  {c / n:8.0f}  {100 * c / total:4.1f}%  {f[:110]}")
EOF
}

# start TARGET MODE [PREFIX...]: starts pgDog or PgBouncer (as run.sh configures it for
# MODE) behind PREFIX (valgrind, or nothing), waits until it answers, and sets PORT and
# PID (the proxy's own process, from PgBouncer's pid file since runuser forks it).
start() {
    local target=$1 mode=$2
    shift 2
    if [[ $target == pgdog ]]; then
        PORT=$PGDOG_PORT
        RUST_LOG=warn "$@" "$PGDOG_BIN" --config "$WORK/pgdog.toml" --users "$WORK/users.toml" \
            >"$WORK/pgdog-$mode.log" 2>&1 &
        PID=$!
    else
        PORT=$(port)
        local pool_mode=transaction
        [[ $mode == prepared ]] && pool_mode=session
        pgbouncer_ini "$mode" "$pool_mode" "$CLIENTS" "$PORT"
        "${AS_PG[@]}" "$@" "$PGBOUNCER" "$WORK/pgbouncer-$mode.ini" >"$WORK/pgbouncer-run-$mode.log" 2>&1 &
        for _ in $(seq 100); do [[ -s $WORK/pgbouncer-$mode.pid ]] && break; sleep 0.1; done
        [[ -s $WORK/pgbouncer-$mode.pid ]] || die "pgbouncer did not start: $(cat "$WORK/pgbouncer-run-$mode.log")"
        PID=$(cat "$WORK/pgbouncer-$mode.pid")
    fi
    for _ in $(seq 600); do
        "$PSQL" -X -q -h 127.0.0.1 -p "$PORT" -U bench -d bench -c 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$target did not answer (mode $mode)"
}
stop() {
    kill "$PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null || true
    rm -f "$WORK"/pgbouncer-*.pid
}
pgbench_args() { # mode -> ARGS
    ARGS=(-S -M "$1" -c "$CLIENTS" -j $((CLIENTS > 1 ? 2 : 1)) -h 127.0.0.1 -p "$PORT" -U bench -n)
}

# instructions TARGET MODE: user-space instructions per transaction (the number alone on
# the first line, then the top functions).
instructions() {
    local target=$1 mode=$2 out=$WORK/callgrind-$1-$2.out control=(callgrind_control)
    start "$target" "$mode" valgrind --tool=callgrind --callgrind-out-file="$out"
    [[ $target == pgbouncer ]] && control=("${AS_PG[@]}" callgrind_control)
    pgbench_args "$mode"
    # Warm-up: connections opened, statements prepared, caches filled; then count from zero.
    "$PGBENCH" "${ARGS[@]}" -t 100 bench >/dev/null 2>&1 || die "pgbench warm-up failed ($target, $mode)"
    "${control[@]}" --zero "$PID" >/dev/null 2>&1
    "$PGBENCH" "${ARGS[@]}" -t "$TRANSACTIONS" bench >"$WORK/pgbench-$target-$mode.log" 2>&1 ||
        { cat "$WORK/pgbench-$target-$mode.log" >&2; die "pgbench failed ($target, $mode)"; }
    "${control[@]}" --dump="$mode" "$PID" >/dev/null 2>&1
    sleep 1
    stop
    report "$(ls "$out".* | head -1)" $((TRANSACTIONS * CLIENTS)) "$TOP"
    [[ -n ${KEEP:-} ]] && mkdir -p "$KEEP" && cp "$out".* "$KEEP/"
    return 0
}

# syscalls TARGET MODE: system calls per transaction, all threads, counted by strace
# around the same pgbench run on the proxy running natively: "total send recv".
syscalls() {
    local target=$1 mode=$2 out=$WORK/strace-$1-$2.txt tracer
    start "$target" "$mode"
    pgbench_args "$mode"
    "$PGBENCH" "${ARGS[@]}" -t 100 bench >/dev/null 2>&1 || die "pgbench warm-up failed ($target, $mode)"
    strace -c -f -q -p "$PID" -o "$out" &
    tracer=$!
    sleep 1 # attached to every thread before counting starts
    "$PGBENCH" "${ARGS[@]}" -t "$TRANSACTIONS" bench >/dev/null 2>&1 || die "pgbench failed under strace ($target, $mode)"
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    stop
    # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall; then "total".
    awk -v n=$((TRANSACTIONS * CLIENTS)) '
        $NF == "total" { total = $4 }
        $NF ~ /^(sendto|send|write|writev|sendmsg)$/ { send += $4 }
        $NF ~ /^(recvfrom|recv|read|readv|recvmsg)$/ { recv += $4 }
        END { printf "%.2f %.2f %.2f\n", total / n, send / n, recv / n }' "$out"
}

targets=(pgdog)
[[ -n $PGBOUNCER ]] && targets+=(pgbouncer)
SUMMARY=()
for mode in $MODES; do
    declare -A instr=() calls=()
    for target in "${targets[@]}"; do
        log "$mode: $target under callgrind"
        result=$(instructions "$target" "$mode")
        instr[$target]=$(head -1 <<<"$result")
        if [[ $target == pgdog ]]; then
            echo "pgbench -S -M $mode, $CLIENTS clients, pgDog under callgrind:"
            echo "  ${instr[$target]} instructions per transaction"
            tail -n +2 <<<"$result"
            echo
        fi
        log "$mode: $target under strace"
        calls[$target]=$(syscalls "$target" "$mode")
    done
    for target in "${targets[@]}"; do
        read -r total send recv <<<"${calls[$target]}"
        SUMMARY+=("$(printf '%-9s %-10s %14s %14s %10s %10s' "$mode" "$target" "${instr[$target]}" "$total" "$send" "$recv")")
    done
    unset instr calls
done

echo "Per pgbench -S transaction, $CLIENTS clients (instructions: user space, callgrind; system calls: strace, all threads):"
printf '%-9s %-10s %14s %14s %10s %10s\n' mode proxy instructions "system calls" "of them send" "recv"
printf '%s\n' "${SUMMARY[@]}"
if [[ -n $PGBOUNCER && " $MODES " == *" prepared "* ]]; then
    echo "-M prepared: PgBouncer in session mode (1.18 cannot keep prepared statements in transaction mode); pgDog in transaction mode."
fi
