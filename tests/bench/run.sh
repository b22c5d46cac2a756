#!/usr/bin/env bash
# Why this exists: to compare pgDog with PgBouncer on the same machine, same
# PostgreSQL, same pool size and same workload (pgbench -S), reporting what
# matters for a pooler: throughput, latency (p50/p99) and the proxy's own CPU
# cost per transaction. Direct-to-PostgreSQL numbers are the ceiling.
#
# Usage: tests/bench/run.sh            (from anywhere; ~20 min by default)
# Knobs (environment):
#   DURATION=10   seconds per measured run     WARMUP=3   seconds of warm-up before each
#   ROUNDS=3      rounds, targets interleaved  SCALE=10   pgbench -i scale
#   POOL_SIZE=10  server connections per pool (PgBouncer and pgDog alike)
#   CLIENTS="1 10 100"   MODES="simple extended prepared"   PGDOG_WORKERS=1 (PgBouncer runs one thread: one core each)
#   PGDOG_BIN=path  (skip `cargo build --release -p pgdog`)   KEEP=1  keep the work dir
# With ROUNDS=6 or more the report gives the paired ratio's 95% interval (interval.py).
# Quick smoke run: DURATION=2 WARMUP=1 ROUNDS=1 SCALE=1 CLIENTS="1 10" tests/bench/run.sh
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-3}
SCALE=${SCALE:-10}
POOL_SIZE=${POOL_SIZE:-10}
CLIENTS=${CLIENTS:-"1 10 100"}
MODES=${MODES:-"simple extended prepared"}
PGDOG_WORKERS=${PGDOG_WORKERS:-1}
PASSWORD=bench-password

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools (PostgreSQL binaries: PATH, else the newest Debian dir; see lib.sh) ---
pg_tools

pgbouncer_bin
# Debian's package may start its own instance; we run ours on free ports.

if [[ -z ${PGDOG_BIN:-} ]]; then
    log "building pgdog (release)"
    (cd "$REPO" && cargo build --release -p pgdog >&2)
    PGDOG_BIN=$REPO/target/release/pgdog
fi
[[ -x $PGDOG_BIN ]] || die "pgdog binary $PGDOG_BIN missing"

as_pg_user # PostgreSQL and PgBouncer refuse to run as root

# --- setup & teardown ------------------------------------------------------
work_dir pgdog-bench
PGDOG_PID=""
cleanup() {
    set +e
    [[ -n $PGDOG_PID ]] && kill -9 "$PGDOG_PID" 2>/dev/null
    for pidfile in "$WORK"/pgbouncer-*.pid; do
        [[ -f $pidfile ]] && kill -9 "$(cat "$pidfile")" 2>/dev/null
    done
    if [[ -f $WORK/data/postmaster.pid ]]; then
        kill -QUIT "$(head -1 "$WORK/data/postmaster.pid")" 2>/dev/null
        sleep 1
    fi
    if [[ ${KEEP:-0} == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_postgres -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB
log "PostgreSQL on port $PGPORT (work dir $WORK)"

# md5-stored role: every path (direct, PgBouncer, pgDog) authenticates the
# same way, and PgBouncer's auth_file can carry the stored hash.
su_sql "SET password_encryption = 'md5'; CREATE ROLE bench LOGIN PASSWORD '$PASSWORD'"
su_sql "CREATE DATABASE bench OWNER bench"
MD5=$(su_sql "SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")
export PGPASSWORD=$PASSWORD
log "pgbench -i -s $SCALE"
"$PGBENCH" -i -s "$SCALE" -q -h 127.0.0.1 -p "$PGPORT" -U bench bench >"$WORK/init.log" 2>&1 ||
    { cat "$WORK/init.log" >&2; die "pgbench -i failed"; }

# PgBouncer: transaction mode, plus a session-mode twin for -M prepared
# (PgBouncer 1.18 cannot keep prepared statements across transactions).
MAX_CLIENTS=$(printf '%s\n' $CLIENTS | sort -n | tail -1)
printf '"bench" "%s"\n' "$MD5" >"$WORK/userlist.txt"
start_pgbouncer() { # name mode pool_size -> sets BOUNCER_PORT
    local name=$1 mode=$2 size=$3 port
    port=$(port)
    pgbouncer_ini "$name" "$mode" "$size" "$port"
    # -d: daemonise, so the pid file holds PgBouncer's own pid (not runuser's).
    "${AS_PG[@]}" "$PGBOUNCER" -d "$WORK/pgbouncer-$name.ini" ||
        die "pgbouncer ($name) failed: $(cat "$WORK/pgbouncer-$name.log" 2>/dev/null)"
    for _ in $(seq 100); do [[ -s $WORK/pgbouncer-$name.pid ]] && break; sleep 0.05; done
    BOUNCER_PORT=$port
}
start_pgbouncer tx transaction "$POOL_SIZE"
BOUNCER_TX_PORT=$BOUNCER_PORT
BOUNCER_TX_PID=$(cat "$WORK/pgbouncer-tx.pid")
start_pgbouncer session session "$MAX_CLIENTS"
BOUNCER_SESSION_PORT=$BOUNCER_PORT
BOUNCER_SESSION_PID=$(cat "$WORK/pgbouncer-session.pid")

PGDOG_PORT=$(port)
cat >"$WORK/pgdog.toml" <<EOF
[general]
host = "127.0.0.1"
port = $PGDOG_PORT
workers = $PGDOG_WORKERS
default_pool_size = $POOL_SIZE
min_pool_size = 0
pooler_mode = "transaction"
auth_type = "md5"
connect_timeout = 5000
checkout_timeout = 120000
idle_timeout = 600000
shutdown_timeout = 5000

[[databases]]
name = "bench"
host = "127.0.0.1"
port = $PGPORT
database_name = "bench"
EOF
cat >"$WORK/users.toml" <<EOF
[[users]]
name = "bench"
database = "bench"
password = "$PASSWORD"
EOF
# setsid: a session of its own, as PgBouncer's -d gives it. With the kernel's autogroup
# scheduling (on by default on desktop and many server kernels) each session is one
# scheduling group, so a pgDog left in this script's session would share its CPU share with
# pgbench, while the daemonised PgBouncer (and every postgres backend, which calls setsid)
# gets a share of its own: pgDog was preempted twice as often as PgBouncer for that alone.
# Without job control a background job is not a group leader, so setsid execs in place and
# $! is pgDog's pid.
RUST_LOG=warn setsid "$PGDOG_BIN" --config "$WORK/pgdog.toml" --users "$WORK/users.toml" >"$WORK/pgdog.log" 2>&1 &
PGDOG_PID=$!
disown
log "PgBouncer tx :$BOUNCER_TX_PORT session :$BOUNCER_SESSION_PORT, pgDog :$PGDOG_PORT (pool size $POOL_SIZE)"

for port in "$BOUNCER_TX_PORT" "$BOUNCER_SESSION_PORT" "$PGDOG_PORT"; do
    ok=0
    for _ in $(seq 100); do
        if "$PSQL" -X -q -h 127.0.0.1 -p "$port" -U bench -d bench -c 'SELECT 1' >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    [[ $ok == 1 ]] || { tail -20 "$WORK"/pgdog.log "$WORK"/pgbouncer-*.log >&2; die "proxy on port $port not answering"; }
done
# Each proxy must run outside this script's session (see setsid above), and the CPU column
# reads these pids: check both.
OWN_SID=$(ps -o sid= -p $$ | tr -d ' ')
for pid in "$PGDOG_PID" "$BOUNCER_TX_PID" "$BOUNCER_SESSION_PID"; do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    [[ $comm == pgdog || $comm == pgbouncer ]] || die "pid $pid is not a proxy (it is '$comm')"
    [[ $(ps -o sid= -p "$pid" | tr -d ' ') != "$OWN_SID" ]] || die "$comm ($pid) shares this script's session"
done

# --- measurement -----------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of a process (all threads), in clock ticks
    [[ -n $1 && -r /proc/$1/stat ]] || { echo 0; return; }
    # Fields after the ")" that closes the command name: utime is 12th, stime 13th.
    sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
RESULTS=$WORK/results.tsv
: >"$RESULTS"

run_one() { # mode clients target round
    local mode=$1 c=$2 target=$3 round=$4 port pid jobs prefix out before after tps txns stats
    case $target in
        direct) port=$PGPORT; pid="" ;;
        pgbouncer)
            if [[ $mode == prepared ]]; then port=$BOUNCER_SESSION_PORT; pid=$BOUNCER_SESSION_PID
            else port=$BOUNCER_TX_PORT; pid=$BOUNCER_TX_PID; fi ;;
        pgdog) port=$PGDOG_PORT; pid=$PGDOG_PID ;;
    esac
    jobs=$((c < 2 ? c : 2))
    local args=(-S -M "$mode" -c "$c" -j "$jobs" -h 127.0.0.1 -p "$port" -U bench -n)
    "$PGBENCH" "${args[@]}" -T "$WARMUP" bench >/dev/null 2>&1 || true
    prefix=$WORK/lat_${target}_${mode}_${c}_${round}
    before=$(cpu_ticks "$pid")
    out=$("$PGBENCH" "${args[@]}" -T "$DURATION" --log --log-prefix="$prefix" bench 2>&1) ||
        { echo "$out" >&2; die "pgbench failed against $target ($mode, -c $c)"; }
    after=$(cpu_ticks "$pid")
    tps=$(awk '/^tps = / {print $3; exit}' <<<"$out")
    txns=$(awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]}' <<<"$out")
    # 3rd field of pgbench's per-transaction log: latency in microseconds.
    stats=$(cat "$prefix".* | awk '{print $3}' | sort -n | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "0 0"; exit }
              p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
              print p50, p99 }')
    rm -f "$prefix".*
    local cpu_us="-"
    if [[ -n $pid && ${txns:-0} -gt 0 ]]; then
        cpu_us=$(awk -v d=$((after - before)) -v hz="$CLK_TCK" -v n="$txns" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$c" "$target" "$round" "$tps" "$stats" "$cpu_us" |
        tr ' ' '\t' >>"$RESULTS"
    log "$mode -c $c round $round $target: tps=$tps p50/p99(us)=$stats cpu_us/txn=$cpu_us"
}

TARGETS=(direct pgbouncer pgdog)
for mode in $MODES; do
    for c in $CLIENTS; do
        for round in $(seq "$ROUNDS"); do
            # Interleave targets so drift (thermal, caches) hits all alike, and change
            # their order every round: a target that always ran in the same place, or
            # always right after the same other target, would carry that place's effect
            # into every round. Rotating alone keeps the cycle (pgDog always after
            # PgBouncer), and pgDog-vs-pgDog and pgDog-vs-PgBouncer comparisons made
            # that way did not agree with each other. So rounds 1-3 rotate the order and
            # rounds 4-6 rotate it reversed: over 6 rounds each target runs twice in each
            # place and follows each other target equally often.
            for i in 0 1 2; do
                if (((round - 1) / 3 % 2)); then
                    target=${TARGETS[$(((2 - i + round) % 3))]}
                else
                    target=${TARGETS[$(((i + round) % 3))]}
                fi
                kill -0 "$PGDOG_PID" 2>/dev/null || { tail -30 "$WORK/pgdog.log" >&2; die "pgdog died"; }
                run_one "$mode" "$c" "$target" "$round"
            done
        done
    done
done

# --- report ----------------------------------------------------------------
python3 - "$RESULTS" "$POOL_SIZE" "$MAX_CLIENTS" "$DURATION" "$ROUNDS" "$BENCH_DIR" <<'EOF'
import sys, statistics
from collections import defaultdict
path, pool, max_clients, duration, rounds, bench_dir = sys.argv[1:]
sys.path.insert(0, bench_dir)
from interval import median_interval
rows = defaultdict(lambda: defaultdict(list))
# tps per row, round and target: a round runs its targets back to back, so its own
# pgDog/PgBouncer ratio is the least touched by the machine drifting between rounds.
by_round = defaultdict(lambda: defaultdict(dict))
order = []
for line in open(path):
    mode, c, target, rnd, tps, p50, p99, cpu = line.rstrip("\n").split("\t")
    key = (mode, int(c))
    if key not in order:
        order.append(key)
    rows[key][target].append((float(tps or 0), float(p50), float(p99), None if cpu == "-" else float(cpu)))
    by_round[key][rnd][target] = float(tps or 0)

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def fmt(v, spec="{:.0f}"):
    return "-" if v is None else spec.format(v)

print()
print(f"pgbench -S, {duration}s per run, median of {rounds} round(s), pool size {pool}; "
      "latency in ms from per-transaction logs; CPU = proxy utime+stime per transaction")
head = ("mode", "clients", "direct tps", "pgbouncer tps", "pgdog tps", "pgdog/pgb", "paired",
        "paired 95%", "p50 d/b/g ms", "p99 d/b/g ms", "pgb cpu us/tx", "pgdog cpu us/tx")
widths = (9, 7, 11, 14, 10, 9, 6, 10, 20, 20, 13, 15)
print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
for mode, c in order:
    r = rows[(mode, c)]
    m = {t: [med([x[i] for x in r[t]]) for i in range(4)] for t in ("direct", "pgbouncer", "pgdog")}
    ratio = m["pgdog"][0] / m["pgbouncer"][0] if m["pgbouncer"][0] else None
    pairs = [t["pgdog"] / t["pgbouncer"] for t in by_round[(mode, c)].values()
             if t.get("pgbouncer") and "pgdog" in t]
    paired = med(pairs)
    # Where the median of the paired ratios lies, 95% of the time (6 rounds or more).
    interval = median_interval(pairs)
    span = "-" if interval is None else "{:.2f}-{:.2f}".format(*interval)
    lat = lambda i: "/".join(fmt(m[t][i] and m[t][i] / 1000, "{:.2f}") for t in ("direct", "pgbouncer", "pgdog"))
    bouncer = fmt(m["pgbouncer"][0]) + ("*" if mode == "prepared" else "")
    cells = (mode, str(c), fmt(m["direct"][0]), bouncer, fmt(m["pgdog"][0]), fmt(ratio, "{:.2f}"),
             fmt(paired, "{:.2f}"), span, lat(1), lat(2), fmt(m["pgbouncer"][3], "{:.1f}"), fmt(m["pgdog"][3], "{:.1f}"))
    print("  ".join(v.rjust(w) for v, w in zip(cells, widths)))
if any(mode == "prepared" for mode, _ in order):
    print(f"\n* -M prepared: PgBouncer 1.18 cannot keep prepared statements in transaction mode, so that column "
          f"is a second PgBouncer in SESSION mode with pool size {max_clients} (one server connection per "
          f"client); pgDog stays in transaction mode with pool size {pool}.")
EOF
