# Shell shared by the bench scripts (load.sh, token_memory.sh, compare.sh): tool checks, the
# release build, free ports, starting processes in the background and waiting until they
# answer, stopping them on exit, and a process's CPU time from /proc.
#
#   cd "$(dirname "${BASH_SOURCE[0]}")/.." && . benches/lib/common.sh
#
# Sourcing it creates BENCH_WORK (a temporary folder) and sets a trap that stops every process
# started with `bench_start` and removes that folder on exit.

BENCH_WORK=$(mktemp -d)
BENCH_PIDS=()
BENCH_PORTS=" "

bench_die() {
    echo "error: $*" >&2
    exit 1
}

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$BENCH_WORK"
}
trap bench_cleanup EXIT

# Fails unless every TOOL is installed (on PATH or in /usr/sbin, where apache2 and nginx live).
bench_need() {
    local tool
    for tool; do
        command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] \
            || bench_die "$tool is not installed (tests/run.sh installs wrk, node and curl; see the script's header for the others)"
    done
}

# Builds the release binary unless BIN names one; sets BIN to its path.
bench_build() {
    if [ -z "${BIN:-}" ]; then
        echo "==> cargo build --release --locked"
        cargo build --release --locked --quiet
        BIN=target/release/portcullis
    fi
    [ -x "$BIN" ] || bench_die "$BIN is not an executable"
}

# Sets the variable VAR to a TCP port below 20000 (outside the kernel's ephemeral range, so no
# outgoing connection takes it meanwhile) that no socket on this machine uses and that this
# script has not handed out before.
#   bench_free_port VAR
bench_free_port() {
    # (Names the caller's variable cannot be.)
    local _bench_port _bench_hex
    for _ in $(seq 200); do
        _bench_port=$((10000 + RANDOM % 10000))
        [[ $BENCH_PORTS == *" $_bench_port "* ]] && continue
        printf -v _bench_hex ':%04X ' "$_bench_port"
        # Any socket, in any state, with this local port (column 2 of /proc/net/tcp*).
        if ! awk -v p="$_bench_hex" 'FNR > 1 && index($2 " ", p) { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6; then
            BENCH_PORTS+="$_bench_port "
            printf -v "$1" '%s' "$_bench_port"
            return
        fi
    done
    bench_die "no free port found below 20000"
}

# Starts COMMAND... in the background, its output in $BENCH_WORK/NAME.log; sets BENCH_PID.
#   bench_start NAME COMMAND...
bench_start() {
    local name=$1
    shift
    "$@" >"$BENCH_WORK/$name.log" 2>&1 &
    BENCH_PID=$!
    BENCH_PIDS+=("$BENCH_PID")
}

# Stops one process started with bench_start and waits for it.
bench_stop() {
    local pid kept=()
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    # Forgotten, so the exit trap never signals a later process that got the same id.
    for pid in "${BENCH_PIDS[@]}"; do
        [ "$pid" = "$1" ] || kept+=("$pid")
    done
    BENCH_PIDS=("${kept[@]}")
}

# Waits until URL answers STATUS (curl's %{http_code}), failing with the log when the process
# PID exits first or SECONDS (default 30) pass. Extra curl arguments may follow.
#   bench_wait NAME PID URL STATUS [SECONDS] [CURL ARGS...]
bench_wait() {
    local name=$1 pid=$2 url=$3 status=$4 seconds=${5:-30}
    shift 5 2>/dev/null || shift $#
    local deadline=$((SECONDS + seconds)) got
    while :; do
        got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true)
        [ "$got" = "$status" ] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name exited before $url answered $status; its log:" >&2
            tail -n 40 "$BENCH_WORK/$name.log" >&2
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "$name did not answer $status at $url within ${seconds}s (last: $got); its log:" >&2
            tail -n 40 "$BENCH_WORK/$name.log" >&2
            exit 1
        fi
        sleep 0.05
    done
}

# Starts `portcullis serve --config CONFIG` (BIN, see bench_build) with the environment
# assignments given, logging to $BENCH_WORK/portcullis.log, and waits until http://LISTEN/readyz
# answers 200; sets BENCH_PID.
#   bench_portcullis LISTEN CONFIG [NAME=VALUE...]
bench_portcullis() {
    local listen=$1 config=$2
    shift 2
    bench_start portcullis env PORTCULLIS_SERVER__LISTEN="$listen" RUST_LOG="${RUST_LOG:-warn}" "$@" \
        "$BIN" serve --config "$config"
    bench_wait portcullis "$BENCH_PID" "http://$listen/readyz" 200 30
}

# Fails unless a request (curl arguments) answers STATUS.
#   bench_expect STATUS CURL ARGS...
bench_expect() {
    local status=$1 got
    shift
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true)
    [ "$got" = "$status" ] || bench_die "expected $status, got $got: curl $*"
}

# The resident set size of PID in KiB.
bench_rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# CPU time (user + system, in clock ticks) of PID, of the children it has reaped and of its
# live children: a child's time moves into its parent's once it exits, so the sum counts every
# process of the tree once (Apache and nginx workers).
bench_cpu_ticks() {
    local pid=$1 total=0 stat child
    local -a fields
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo 0; return; }
    # Fields after `(comm)`: utime, stime, cutime, cstime are the 14th to 17th of the line.
    read -r -a fields <<<"${stat##*) }"
    total=$((fields[11] + fields[12] + fields[13] + fields[14]))
    for child in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
        total=$((total + $(bench_cpu_ticks "$child")))
    done
    echo "$total"
}

# Clock ticks per second, for bench_cpu_ticks.
BENCH_HZ=$(getconf CLK_TCK)
