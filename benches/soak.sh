#!/usr/bin/env bash
# Soak: a release Portcullis under a mixed load for DURATION (default 30m), sampled every 10 s.
#
#   benches/soak.sh [DURATION]         # 30m, 90s, 2h...; OUT=benches/results CONNECTIONS=4 PORT=(free)
#
# Four wrk processes run side by side in 10-second windows, one per kind of request: a public
# path (200), a cached JWT (200), invalid tokens (bad signature, unknown kid: 401) and a cookie
# session minted with the test secret (benches/lib/session.mjs; 200). Meanwhile a rule file is
# rewritten every 5 s (each write is a reload), and halfway through the JWKS server (a static
# file served by python3 -m http.server) rotates from key rsa1 to rsa2, after which the JWT
# requests use a token signed by rsa2 (found by the kid-miss refetch).
#
# Every window appends a row to OUT/soak.csv: RSS, open descriptors (/proc/PID/fd), requests per
# second, the p99 of each kind and how many answers were not what that kind must get.
# benches/lib/soak_plot.py then draws OUT/soak.svg and applies the trend rule: the run fails when
# the median RSS of the last third of the samples is above the first third's by more than 10 %
# + 4 MiB, or the median descriptor count by more than 8; it also fails on any wrong answer or
# when the reloads or the rotation did not happen. Needs wrk, node, curl and python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. benches/lib/common.sh

DURATION=${1:-30m}
OUT=${OUT:-benches/results}
CONNECTIONS=${CONNECTIONS:-4}
[ -n "${PORT:-}" ] || bench_free_port PORT
BASE="http://127.0.0.1:$PORT"
WINDOW=10

seconds_of() {
    case $1 in
        *h) echo $(( ${1%h} * 3600 )) ;; *m) echo $(( ${1%m} * 60 )) ;; *s) echo "${1%s}" ;; *) echo "$1" ;;
    esac
}
total=$(seconds_of "$DURATION")

bench_need wrk node curl python3
bench_build
bin=$BIN
work=$BENCH_WORK

keys=tests/fixtures/keys
bench_free_port jwks_port
mkdir -p "$work/jwks" "$work/rules" "$OUT"
cp "$keys/rsa1.jwks.json" "$work/jwks/jwks.json"
bench_start jwks python3 -m http.server --bind 127.0.0.1 --directory "$work/jwks" "$jwks_port"
bench_wait jwks "$BENCH_PID" "http://127.0.0.1:$jwks_port/" 200 30

secret=$(head -c 32 /dev/urandom | base64)
cp rules/*.yaml "$work/rules/"
cat >"$work/portcullis.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"

[[issuers]]
name = "soak"
issuer = "https://soak.example.com/"
jwks_uri = "http://127.0.0.1:$jwks_port/jwks.json"
audiences = ["soak"]
algorithms = ["RS256"]

[login]
issuer = "soak"
client_id = "portcullis"
client_secret = "not-used"
redirect_url = "https://auth.example.com/oauth2/callback"
allowed_redirect_domains = [".example.com"]

[session]
secret = "$secret"

[rules]
paths = ["$work/rules/"]
default = "deny"
TOML

bench_portcullis "127.0.0.1:$PORT" "$work/portcullis.toml"
pid=$BENCH_PID

mint() { "$bin" token --key "$keys/$1.pem" --kid "$1" --iss https://soak.example.com/ --aud soak --sub "$2" \
    --groups admins --claim tenant=acme --ttl 24h; }
# A request file per kind for benches/lib/soak.lua: variants (a URL, header lines) separated by
# blank lines, asked about in turn.
kind() {
    local name=$1
    shift
    printf '%s\n' "$@" >"$work/$name.req"
}
write_jwt_kind() { kind jwt https://app.example.com/admin/ "Authorization: Bearer $1"; }
jwt=$(mint rsa1 alice)
# A signature with one of its first characters changed (the last one may be only padding bits),
# signed by rsa2: an unknown kid before the rotation, a bad signature after it.
forged=$(mint rsa2 mallory | awk -F. '{ c = substr($3, 10, 1) == "A" ? "B" : "A"; print $1 "." $2 "." substr($3, 1, 9) c substr($3, 11) }')
unknown_kid=$("$bin" token --key "$keys/rsa2.pem" --kid nobody --iss https://soak.example.com/ --aud soak --sub eve --ttl 24h)
session=$(node benches/lib/session.mjs "$secret" _portcullis soak bob 86400)
kind public https://app.example.com/static/app.css
write_jwt_kind "$jwt"
kind invalid https://app.example.com/admin/ "Authorization: Bearer $forged" "" \
    https://app.example.com/admin/ "Authorization: Bearer $unknown_kid" "" \
    https://app.example.com/admin/ "Authorization: Bearer not.a-token"
kind session https://app.example.com/admin/ "Cookie: _portcullis=$session" "Accept: text/html"

# Each kind gets its status before the run starts (else the figures would measure an error path):
# a one-second wrk run with the script's own check.
declare -A status=([public]=200 [jwt]=200 [invalid]=401 [session]=200)
check_kind() {
    local name=$1 out
    out=$(WRK_REQ="$work/$name.req" WRK_EXPECT=${status[$name]} wrk -t1 -c1 -d1s -s benches/lib/soak.lua "$BASE/auth")
    grep -q '^wrong answers: 0$' <<<"$out" || { echo "$name: not all answers were ${status[$name]}: $out" >&2; exit 1; }
}
for name in public jwt invalid session; do check_kind "$name"; done

# Reloads: a rule file rewritten every 5 s (a rule comes and goes), renamed into place.
(
    n=0
    while :; do
        n=$((n + 1))
        { echo "- id: soak-$n"; echo "  paths: [\"/soak/$n/**\"]"; echo "  policy: allow"; } >"$work/20-soak.tmp"
        mv "$work/20-soak.tmp" "$work/rules/20-soak.yaml"
        echo "$n" >"$work/rewrites"
        sleep 5
    done
) &
BENCH_PIDS+=($!)

metric() { curl -s "$BASE/metrics" | awk -v s="$1" 'index($0, s) == 1 { print $NF }'; }
csv="$OUT/soak.csv"
echo "elapsed_s,rss_kib,fds,requests_per_s,p99_ms_public,p99_ms_jwt,p99_ms_invalid,p99_ms_session,wrong_answers,reloads_ok" >"$csv"
echo "==> soak for ${total}s: $CONNECTIONS connections per kind, a sample every ${WINDOW}s into $csv"
start=$(date +%s)
rotated=no
while :; do
    elapsed=$(( $(date +%s) - start ))
    [ "$elapsed" -lt "$total" ] || break
    if [ "$rotated" = no ] && [ "$elapsed" -ge $(( total / 2 )) ]; then
        cp "$keys/rsa2.jwks.json" "$work/jwks/jwks.tmp" && mv "$work/jwks/jwks.tmp" "$work/jwks/jwks.json"
        # As a provider does: the new key is published first, tokens signed with it follow. The
        # kid-miss refetch runs at most every 10 s, so the new token is waited for.
        new_jwt=$(mint rsa2 alice)
        for _ in $(seq 60); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Original-URL: https://app.example.com/admin/' -H 'X-Original-Method: GET' \
                -H "Authorization: Bearer $new_jwt" "$BASE/auth")" = 200 ] && break
            sleep 1
        done
        write_jwt_kind "$new_jwt"
        check_kind jwt
        rotated=yes
        echo "    ${elapsed}s: JWKS rotated from rsa1 to rsa2; the rsa2 token was accepted after $(( $(date +%s) - start - elapsed ))s"
    fi
    wrks=()
    for name in public jwt invalid session; do
        WRK_REQ="$work/$name.req" WRK_EXPECT=${status[$name]} wrk -t1 -c"$CONNECTIONS" -d"${WINDOW}s" --latency \
            -s benches/lib/soak.lua "$BASE/auth" >"$work/$name.out" 2>&1 &
        wrks+=($!)
    done
    wait "${wrks[@]}" || true
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
    rps=0 wrong=0 p99s=()
    for name in public jwt invalid session; do
        out="$work/$name.out"
        rps=$(awk -v a="$rps" '/^Requests\/sec:/ { a += $2 } END { printf "%.0f", a }' "$out")
        p99s+=("$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v }' "$out")")
        w=$(sed -n 's/^wrong answers: //p' "$out"); wrong=$(( wrong + ${w:-1} ))
    done
    reloads=$(metric 'portcullis_rules_reload_total{result="ok"}')
    echo "$(( $(date +%s) - start )),$rss,$fds,$rps,${p99s[0]},${p99s[1]},${p99s[2]},${p99s[3]},$wrong,${reloads:-0}" >>"$csv"
    kill -0 "$pid" 2>/dev/null || { echo "Portcullis exited" >&2; tail -n 20 "$work/portcullis.log" >&2; exit 1; }
done

rewrites=$(cat "$work/rewrites")
reloads=$(metric 'portcullis_rules_reload_total{result="ok"}')
echo "==> rule rewrites: $rewrites, reloads: ${reloads:-0} ok, $(metric 'portcullis_rules_reload_total{result="error"}' | grep . || echo 0) failed;" \
    "JWKS fetches: $(grep -c 'GET /jwks.json' "$work/jwks.log"); log lines at warn or above: $(wc -l <"$work/portcullis.log")"
verdict=0
python3 benches/lib/soak_plot.py "$csv" "$OUT/soak.svg" || verdict=1
# Each rewrite is seen by the 500 ms poll; the last one or two may still be in flight.
if [ "${reloads%.*}" -lt $(( rewrites - 2 )) ]; then echo "FAIL: $rewrites rewrites but ${reloads:-0} reloads" >&2; verdict=1; fi
[ "$rotated" = yes ] || { echo "FAIL: the run ended before the key rotation" >&2; verdict=1; }
exit "$verdict"
