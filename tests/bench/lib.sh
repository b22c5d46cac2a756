# Shared by the bench scripts: where the server binaries are, free ports, medians, and
# (for the pgDog-vs-pgDog ones: sharded.sh, replicas.sh, plugins.sh) the interleaved
# comparison of two targets. Sourced, not run.

bin() { command -v "$1" 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1; }
# pg_bin NAME: as bin, but a missing tool fails (and so, under set -e, ends the script).
pg_bin() {
    local path
    path=$(bin "$1")
    [[ -n $path ]] || { echo "error: $1 not found (install postgresql)" >&2; return 1; }
    echo "$path"
}
# pg_tools: sets INITDB, POSTGRES, PGBENCH and PSQL (a missing one fails, see pg_bin).
pg_tools() {
    INITDB=$(pg_bin initdb) && POSTGRES=$(pg_bin postgres) &&
        PGBENCH=$(pg_bin pgbench) && PSQL=$(pg_bin psql)
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# span LO HI: an interval as "0.97-1.03", or "-" (too few rounds for one).
span() { if [[ $1 == - ]]; then echo -; else printf '%.2f-%.2f' "$1" "$2"; fi; }

# compare BASE OTHER BASE_LABEL OTHER_LABEL: for each of $MODES, warms up, then runs
# `run MODE DB` (defined by the caller, printing TPS) $ROUNDS times on each database in
# turn, and prints the medians and their ratio, then the median of each round's own ratio
# ("paired"): the two runs of a round are back to back, so a machine that slows down or
# speeds up over minutes moves both and the paired ratio less than the medians'. The last
# column is the 95% interval of that median (interval.py; 6 rounds or more): a difference
# is only there when the interval leaves 1.00 out.
compare() {
    local base=$1 other=$2
    printf '%-16s %8s %16s %16s %8s %8s %14s\n' mode clients "$3 tps" "$4 tps" ratio paired "paired 95%"
    for mode in $MODES; do
        run "$mode" "$base" >/dev/null; run "$mode" "$other" >/dev/null # warm-up
        local firsts=() seconds=() pairs=() x y
        for r in $(seq "$ROUNDS"); do
            # Alternate which goes first, so neither always runs in the other's wake.
            if ((r % 2)); then
                x=$(run "$mode" "$base"); y=$(run "$mode" "$other")
            else
                y=$(run "$mode" "$other"); x=$(run "$mode" "$base")
            fi
            firsts+=("$x"); seconds+=("$y")
            # A run that printed no TPS has no ratio to pair.
            [[ -n $x && -n $y ]] && pairs+=("$(echo "$y / $x" | bc -l)")
        done
        local a b lo hi
        a=$(median "${firsts[@]}"); b=$(median "${seconds[@]}")
        read -r lo hi < <(python3 "$BENCH_DIR/interval.py" "${pairs[@]}")
        printf '%-16s %8s %16.0f %16.0f %8.2f %8.2f %14s\n' "$mode" "$CLIENTS" "$a" "$b" \
            "$(echo "$b / $a" | bc -l)" "$(median "${pairs[@]}")" "$(span "$lo" "$hi")"
    done
}

# as_pg_user: PostgreSQL and PgBouncer refuse to run as root, so as root their commands
# are prefixed with AS_PG (runuser to the postgres user); otherwise AS_PG is empty.
as_pg_user() {
    AS_PG=()
    if [[ $(id -u) == 0 ]]; then
        id postgres >/dev/null 2>&1 || { echo "error: running as root but no postgres user" >&2; return 1; }
        AS_PG=(runuser -u postgres --)
    fi
}

# work_dir PREFIX: sets WORK to a new directory under /tmp that the postgres user can use.
work_dir() {
    WORK=$(mktemp -d "/tmp/$1-XXXXXX")
    chmod 755 "$WORK"
    if [[ ${#AS_PG[@]} -gt 0 ]]; then chown postgres: "$WORK"; fi
}

# start_postgres [-c OPTION ...]: initdb into $WORK/data (trust locally and for postgres,
# md5 for other users over TCP), start it on a free port (sets PGPORT) with durability off
# and the given options, and wait until it answers. Needs pg_tools, as_pg_user, work_dir.
start_postgres() {
    PGPORT=$(port)
    "${AS_PG[@]}" "$INITDB" -D "$WORK/data" --auth=trust -U postgres --no-sync -E UTF8 --locale=C \
        >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; echo "error: initdb failed" >&2; return 1; }
    printf 'local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 md5\n' \
        >"$WORK/data/pg_hba.conf"
    "${AS_PG[@]}" "$POSTGRES" -D "$WORK/data" -p "$PGPORT" -k "$WORK" -c listen_addresses=127.0.0.1 \
        -c fsync=off -c synchronous_commit=off -c log_min_messages=warning "$@" >"$WORK/postgres.log" 2>&1 &
    disown # no "Killed" job notice at teardown
    for _ in $(seq 300); do
        "$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "error: PostgreSQL did not start (see $WORK/postgres.log)" >&2
    return 1
}

# su_sql SQL: runs SQL as postgres on the server start_postgres started.
su_sql() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c "$1"; }

# pgbouncer_ini NAME MODE POOL_SIZE PORT: writes $WORK/pgbouncer-NAME.ini for the bench
# database on $PGPORT, md5 users from $WORK/userlist.txt, its log and pid file in $WORK,
# readable by the user PgBouncer runs as. run.sh and instructions.sh both use it, so the
# PgBouncer they measure is configured alike.
pgbouncer_ini() {
    local name=$1 mode=$2 size=$3 port=$4
    cat >"$WORK/pgbouncer-$name.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PGPORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = md5
auth_file = $WORK/userlist.txt
pool_mode = $mode
default_pool_size = $size
max_client_conn = 200
logfile = $WORK/pgbouncer-$name.log
pidfile = $WORK/pgbouncer-$name.pid
ignore_startup_parameters = extra_float_digits
EOF
    if [[ ${#AS_PG[@]} -gt 0 ]]; then chown postgres: "$WORK"/pgbouncer-"$name".* "$WORK/userlist.txt"; fi
}

# pgbouncer_bin: sets PGBOUNCER, installing Debian's package (as root) when it is missing.
pgbouncer_bin() {
    PGBOUNCER=$(command -v pgbouncer || true)
    [[ -z $PGBOUNCER && -x /usr/sbin/pgbouncer ]] && PGBOUNCER=/usr/sbin/pgbouncer
    [[ -n $PGBOUNCER ]] && return 0
    [[ $(id -u) == 0 ]] || { echo "error: pgbouncer missing and not root: apt-get install pgbouncer" >&2; return 1; }
    echo "installing pgbouncer" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer >/dev/null 2>&1 ||
        { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer >/dev/null; }
    PGBOUNCER=/usr/sbin/pgbouncer
}
