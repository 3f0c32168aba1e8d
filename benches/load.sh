#!/usr/bin/env bash
# Load figures for the real binary with wrk: throughput and p99 latency of /healthz and of /auth
# (public path, cached JWT, 401), and memory idle and after many distinct tokens.
#
#   benches/load.sh                 # DURATION=10s CONNECTIONS=50 THREADS=2 TOKENS=100000 PORT=(free)
#
# Uses the quickstart config (examples/quickstart) with only the listen address overridden.
# Needs wrk, node and curl (tests/run.sh installs them); builds the release binary unless BIN
# names one. wrk shares the machine's cores with Portcullis, so figures are comparable only
# between runs on the same machine. benches/compare.sh measures many more cases side by side.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. benches/lib/common.sh

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
TOKENS=${TOKENS:-100000}
[ -n "${PORT:-}" ] || bench_free_port PORT
BASE="http://127.0.0.1:$PORT"
work=$BENCH_WORK

bench_need wrk node curl
bench_build
bin=$BIN

bench_portcullis "127.0.0.1:$PORT" examples/quickstart/portcullis.toml
pid=$BENCH_PID

rss_kib() { bench_rss_kib "$pid"; }
rss_idle=$(rss_kib)

token=$("$bin" token --key examples/quickstart/demo-key.pem --aud demo --sub alice --groups admins)
public=(-H "X-Original-URL: https://app.example.com/static/app.css" -H "X-Original-Method: GET")
admin=(-H "X-Original-URL: https://app.example.com/admin/" -H "X-Original-Method: GET")

# Each case answers what it should before it is measured.
bench_expect 200 "$BASE/healthz"
bench_expect 200 "${public[@]}" "$BASE/auth"
bench_expect 200 "${admin[@]}" -H "Authorization: Bearer $token" "$BASE/auth"
bench_expect 401 "${admin[@]}" "$BASE/auth"

declare -A rps p99
measure() {
    local name=$1
    shift
    echo "==> wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency: $name"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" >"$work/$name.txt"
    grep -E 'Requests/sec|Non-2xx|Socket errors|^ +99%' "$work/$name.txt" | sed 's/^/    /'
    rps[$name]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$work/$name.txt")
    p99[$name]=$(awk '$1 == "99%" { print $2 }' "$work/$name.txt")
}
measure healthz "$BASE/healthz"
measure auth-public "${public[@]}" "$BASE/auth"
measure auth-cached-jwt "${admin[@]}" -H "Authorization: Bearer $token" "$BASE/auth"
measure auth-401 "${admin[@]}" "$BASE/auth"
rss_after_load=$(rss_kib)

# Distinct tokens: every one is verified once (signature, claims) and then cached.
echo "==> minting $TOKENS distinct tokens"
mint_start=$(date +%s%N)
node benches/lib/tokens.mjs examples/quickstart/demo-key.pem "$TOKENS" >"$work/tokens.txt"
mint_seconds=$(( ($(date +%s%N) - mint_start) / 1000000000 ))
echo "==> sending one request per token, $CONNECTIONS at a time"
read -r sent send_seconds failures < <(node benches/lib/send.mjs "$BASE" "$work/tokens.txt" "$CONNECTIONS")
[ "$failures" = 0 ] || { echo "$failures of $sent distinct-token requests were not 200" >&2; exit 1; }
rss_after_tokens=$(rss_kib)

ratio=$(awk -v a="${rps[auth-cached-jwt]}" -v b="${rps[healthz]}" 'BEGIN { printf "%.2f", a / b }')
distinct_rps=$(awk -v n="$sent" -v s="$send_seconds" 'BEGIN { printf "%.0f", n / s }')

echo
echo "Portcullis $("$bin" --version | awk '{ print $NF }'), $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
printf '%-34s %12s %10s\n' case req/s p99
for name in healthz auth-public auth-cached-jwt auth-401; do
    printf '%-34s %12s %10s\n' "$name" "${rps[$name]}" "${p99[$name]}"
done
printf '%-34s %12s %10s\n' "auth, $sent distinct tokens (node)" "$distinct_rps" "-"
echo
echo "cached JWT / healthz throughput:   $ratio"
echo "RSS idle:                          $((rss_idle / 1024)) MiB ($rss_idle KiB)"
echo "RSS after the wrk runs:            $((rss_after_load / 1024)) MiB ($rss_after_load KiB)"
echo "RSS after $sent distinct tokens: $((rss_after_tokens / 1024)) MiB ($rss_after_tokens KiB)"
echo "(minting the tokens took ${mint_seconds}s, sending them ${send_seconds}s)"
