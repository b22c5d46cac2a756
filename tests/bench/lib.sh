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
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# compare BASE OTHER BASE_LABEL OTHER_LABEL: for each of $MODES, warms up, then runs
# `run MODE DB` (defined by the caller, printing TPS) $ROUNDS times on each database in
# turn, and prints the medians and their ratio.
compare() {
    local base=$1 other=$2
    printf '%-16s %8s %16s %16s %8s\n' mode clients "$3 tps" "$4 tps" ratio
    for mode in $MODES; do
        run "$mode" "$base" >/dev/null; run "$mode" "$other" >/dev/null # warm-up
        local firsts=() seconds=()
        for _ in $(seq "$ROUNDS"); do
            firsts+=("$(run "$mode" "$base")"); seconds+=("$(run "$mode" "$other")")
        done
        local a b
        a=$(median "${firsts[@]}"); b=$(median "${seconds[@]}")
        printf '%-16s %8s %16.0f %16.0f %8.2f\n' "$mode" "$CLIENTS" "$a" "$b" "$(echo "$b / $a" | bc -l)"
    done
}
