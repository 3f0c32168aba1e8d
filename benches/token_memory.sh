#!/usr/bin/env bash
# Memory of the real binary under many distinct large bearer tokens: RSS idle, after every token
# was verified once (and cached), and after a second pass, for each token cache budget
# (`server.token_cache_memory`). The second pass counts cache hits: tokens still cached when
# asked again in the same order.
#
#   benches/token_memory.sh     # TOKENS=20000 PAD=8192 BUDGETS="64MiB 1GiB" CONCURRENCY=20 PORT=(free)
#
# PAD is the size of an extra claim, so each token is about PAD * 4/3 + 500 bytes. A budget far
# above what the tokens take (1GiB) shows what the cache would hold without a budget.
# Uses the quickstart config (examples/quickstart) with the listen address and budget overridden.
# Needs node and curl; builds the release binary unless BIN names one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. benches/lib/common.sh

TOKENS=${TOKENS:-20000}
PAD=${PAD:-8192}
BUDGETS=${BUDGETS:-64MiB 1GiB}
CONCURRENCY=${CONCURRENCY:-20}
[ -n "${PORT:-}" ] || bench_free_port PORT
BASE="http://127.0.0.1:$PORT"
work=$BENCH_WORK

bench_need node curl
bench_build
bin=$BIN

echo "==> minting $TOKENS tokens with a $PAD-byte claim"
node benches/lib/tokens.mjs examples/quickstart/demo-key.pem "$TOKENS" "$PAD" >"$work/tokens.txt"
token_bytes=$(head -n 1 "$work/tokens.txt" | tr -d '\n' | wc -c)

rss_kib() { bench_rss_kib "$pid"; }
metric() { curl -s "$BASE/metrics" | awk -v name="$1" '$1 == name { printf "%d", $2 }'; }
send() {
    local sent seconds failures
    read -r sent seconds failures < <(node benches/lib/send.mjs "$BASE" "$work/tokens.txt" "$CONCURRENCY")
    [ "$failures" = 0 ] || { echo "$failures of $sent requests were not 200" >&2; cat "$work/portcullis.log" >&2; exit 1; }
}

declare -a rows
for budget in $BUDGETS; do
    bench_portcullis "127.0.0.1:$PORT" examples/quickstart/portcullis.toml PORTCULLIS_SERVER__TOKEN_CACHE_MEMORY="$budget"
    pid=$BENCH_PID
    idle=$(rss_kib)
    echo "==> budget $budget: first pass"
    send
    first=$(rss_kib)
    hits_before=$(metric portcullis_token_cache_hits_total)
    echo "==> budget $budget: second pass"
    send
    second=$(rss_kib)
    hits=$(( $(metric portcullis_token_cache_hits_total) - hits_before ))
    rows+=("$(printf '%-10s %10s %12s %12s %14s' "$budget" "$((idle / 1024))" "$((first / 1024))" "$((second / 1024))" "$hits")")
    bench_stop "$pid"
done

echo
echo "Portcullis $("$bin" --version | awk '{ print $NF }'), $TOKENS distinct tokens of $token_bytes bytes, $CONCURRENCY at a time"
printf '%-10s %10s %12s %12s %14s\n' budget "idle MiB" "1st pass MiB" "2nd pass MiB" "2nd pass hits"
printf '%s\n' "${rows[@]}"
