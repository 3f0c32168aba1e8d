#!/usr/bin/env bash
# Every speed figure of issue 12 in one run, on the release build, as one Markdown table: each
# case's req/s and p99 (wrk), and the server's CPU time per request (user + system from
# /proc/PID/stat before and after the run, divided by the requests served: it does not depend
# on how wrk and the server share the cores), with its ratio to the same process's /healthz.
#
#   benches/compare.sh             # DURATION=8s WARMUP=2s CONNECTIONS=50 THREADS=2 ROUNDS=2 SLICES=4
#   SAVE=1 benches/compare.sh      # also writes the output to benches/results/compare.md (OUT=)
#
# One Portcullis process serves every case (config and rules generated into a temp folder):
# /healthz (bare, and with the JWT case's headers), /auth on a public rule, a 401, a cached
# RS256 JWT, a cached introspected opaque token, a cached Kratos-shaped session check, a CEL
# expression, a cached `http` authorizer answer, a reused identity token, /ext-authz (HTTP) and
# gRPC ext_authz Check with the cached JWT (h2load posting the CheckRequest that
# benches/ext_authz_load.rs builds). The remote
# services are benches/lib/peers.py (JWKS, RFC 7662 introspection, /sessions/whoami, an
# authorizer). Side by side, in ROUNDS rounds of SLICES alternating slices each: Apache
# mod_oauth2 validating the same cached JWT against the same JWKS URL. Then nginx `auth_request` (1 worker) through Portcullis
# (its /auth answers carry a body, so nginx opens a connection per request: it keeps an auth
# connection only when the answer has none), to a `return 200` location, and to a proxied nginx
# `return 200` without a body (what an auth service behind nginx can reach at best), each in
# front of a static 200.
#
# Each case is first asked once with curl and must answer its status (200 or 401), else the
# script stops; then a WARMUP wrk run, then the measured one. benches/lib/status.lua counts the
# answers that are not that status (and socket errors): a row with any is flagged and the
# script exits 1 after printing. All peers listen on 127.0.0.1, on free ports below 20000, and
# are stopped on exit. Needs wrk, h2load (`nghttp2-client`), curl, python3, nginx, and Apache
# with mod_oauth2 (`apt-get install -y apache2 libapache2-mod-oauth2 nghttp2-client`); builds the release binary and the
# gRPC driver (`cargo bench --no-run --bench ext_authz_load`). Run as root (Apache's children
# switch to www-data). Figures are comparable only between runs on the same machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
SLICES=${SLICES:-4}
OUT=${OUT:-benches/results/compare.md}
ISSUER=https://idp.bench.example/
AUDIENCE=bench
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

. benches/lib/common.sh
. benches/lib/compare_configs.sh

bench_need wrk h2load curl nginx apache2
python=target/peers-venv/bin/python
[ -x "$python" ] || python=python3
bench_need "$python"
[ -f /usr/lib/apache2/modules/mod_oauth2.so ] \
    || bench_die "mod_oauth2 is not installed: apt-get install -y apache2 libapache2-mod-oauth2"
seconds_of() { echo "${1%s}"; }
[[ $(seconds_of "$DURATION") =~ ^[0-9]+$ && $(seconds_of "$WARMUP") =~ ^[0-9]+$ ]] \
    || bench_die "DURATION and WARMUP are whole seconds (8s, 2s)"

# The gRPC driver first: building a bench may link target/release/portcullis with the
# dev-dependencies' features, and the plain release build below links it back.
echo "==> cargo bench --no-run --bench ext_authz_load (the gRPC load driver)"
driver=$(cargo bench --no-run --locked --quiet --bench ext_authz_load --message-format=json-render-diagnostics \
    | grep -o '"executable":"[^"]*ext_authz_load[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$driver" ] || bench_die "the gRPC load driver was not built"
bench_build
W=$BENCH_WORK
cp "$BIN" "$W/portcullis-bin"
BIN=$W/portcullis-bin
# Apache's children (www-data) read their document root below it.
chmod 755 "$W"

bench_free_port pc_port
bench_free_port grpc_port
bench_free_port peers_port
bench_free_port apache_port
bench_free_port nginx_auth_port
bench_free_port nginx_static_port
bench_free_port nginx_stub_port
bench_free_port stub_auth_port
bench_free_port app_port
P=http://127.0.0.1:$pc_port
peers=http://127.0.0.1:$peers_port

bench_start peers "$python" benches/lib/peers.py "$peers_port" tests/fixtures/keys/rsa1.jwks.json "$ISSUER" "$AUDIENCE"
peers_pid=$BENCH_PID
bench_wait peers "$peers_pid" "$peers/calls" 200 30

write_portcullis_config "$W/portcullis" "127.0.0.1:$pc_port" "127.0.0.1:$grpc_port" "$peers" "$ISSUER" "$AUDIENCE"
"$BIN" check --config "$W/portcullis/portcullis.toml" >"$W/check.log" 2>&1 \
    || { cat "$W/check.log" >&2; bench_die "portcullis check refused the generated config"; }
bench_portcullis "127.0.0.1:$pc_port" "$W/portcullis/portcullis.toml"
pc_pid=$BENCH_PID

token=$("$BIN" token --key tests/fixtures/keys/rsa1.pem --kid rsa1 --iss "$ISSUER" --aud "$AUDIENCE" --sub alice \
    --email alice@example.com --groups admins,dev --claim email_verified=true --claim tenant=acme --ttl 24h)
bearer=(-H "Authorization: Bearer $token")
# The headers nginx sets on the auth subrequest, for PATH on app.example.com, into the array H.
original() { H=(-H "X-Original-URL: https://app.example.com$1" -H "X-Original-Method: GET"); }
original /jwt/users?page=2
jwt=("${H[@]}" "${bearer[@]}")

declare -A name expect rps p99 cpu wrong ratio base_rps base_cpu
slice_seconds=$(( $(seconds_of "$DURATION") / SLICES ))
[ "$slice_seconds" -ge 1 ] || bench_die "DURATION must be at least SLICES seconds"

order=()
any_wrong=0

cpu_of() {
    local total=0 pid
    for pid; do total=$((total + $(bench_cpu_ticks "$pid"))); done
    echo "$total"
}

# Stores one row: KEY NAME EXPECT REQUESTS REQ/S P99 TICKS WRONG
record() {
    order+=("$1")
    name[$1]=$2 expect[$1]=$3 rps[$1]=$5 p99[$1]=$6 wrong[$1]=$8
    cpu[$1]=$(awk -v t="$7" -v hz="$BENCH_HZ" -v n="$4" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
    [ "$8" = 0 ] || any_wrong=1
    echo "    $5 req/s, p99 $6, ${cpu[$1]} µs CPU per request, wrong answers: $8"
}

# Measures a case with wrk: KEY NAME EXPECT "PIDS" URL [wrk/curl header arguments...]. The CPU
# is that of PIDS (and their children).
measure() {
    local key=$1 label=$2 status=$3 pids=$4 url=$5 before after out=$W/$1.wrk
    shift 5
    bench_expect "$status" "$@" "$url"
    echo "==> $label: expects $status; warm-up $WARMUP, then wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
    WRK_EXPECT=$status wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s benches/lib/status.lua "$@" "$url" >"$out.warmup"
    # shellcheck disable=SC2086
    before=$(cpu_of $pids)
    WRK_EXPECT=$status wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/lib/status.lua "$@" "$url" >"$out"
    # shellcheck disable=SC2086
    after=$(cpu_of $pids)
    grep -q '^wrong answers: ' "$out" || { cat "$out" >&2; bench_die "wrk did not finish $label"; }
    grep '^wrong statuses:' "$out" | sed 's/^/    /' || true
    record "$key" "$label" "$status" \
        "$(awk '/ requests in / { print $1 }' "$out")" \
        "$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")" \
        "$(awk '$1 == "99%" { print $2 }' "$out")" \
        "$((after - before))" \
        "$(sed -n 's/^wrong answers: //p' "$out")"
}

# One wrk slice of DURATION/SLICES against Portcullis: "REQUESTS TICKS WRONG P99" of it.
slice() {
    slice_of "$pc_pid" "$@"
}

# The same against the server PID (and its children): PID STATUS URL [headers...].
slice_of() {
    local pid=$1 status=$2 url=$3 before after out=$W/slice.wrk
    shift 3
    before=$(cpu_of "$pid")
    WRK_EXPECT=$status wrk -t"$THREADS" -c"$CONNECTIONS" -d"$slice_seconds"s --latency -s benches/lib/status.lua "$@" "$url" >"$out"
    after=$(cpu_of "$pid")
    grep -q '^wrong answers: ' "$out" || { cat "$out" >&2; bench_die "wrk did not finish a slice of $url"; }
    echo "$(awk '/ requests in / { print $1 }' "$out") $((after - before)) $(sed -n 's/^wrong answers: //p' "$out")" \
        "$(awk '$1 == "99%" { print $2 }' "$out")"
}

# Measures a Portcullis case against its own /healthz baseline: KEY NAME EXPECT URL [headers...].
# The DURATION is cut into SLICES slices, each case slice right after a /healthz slice, so both
# see the same machine (a shared VM's speed drifts by tens of percent within minutes; measured
# one after the other, the case and the baseline would differ by when they ran). The row holds
# the case's slices summed; base_rps and base_cpu the /healthz slices'.
measure_paired() {
    local key=$1 label=$2 status=$3 url=$4 n=0 t=0 bad=0 hn=0 ht=0 p99s="" i line
    shift 4
    bench_expect "$status" "$@" "$url"
    echo "==> $label: expects $status; warm-up $WARMUP, then $SLICES slices of ${slice_seconds}s, each after a \`/healthz\` slice"
    WRK_EXPECT=$status wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s benches/lib/status.lua "$@" "$url" >"$W/$key.warmup"
    for i in $(seq "$SLICES"); do
        read -r -a line < <(slice 200 "$P/healthz")
        hn=$((hn + line[0])) ht=$((ht + line[1])) bad=$((bad + line[2]))
        read -r -a line < <(slice "$status" "$url" "$@")
        n=$((n + line[0])) t=$((t + line[1])) bad=$((bad + line[2])) p99s+="${p99s:+ }${line[3]}"
    done
    base_rps[$key]=$(awk -v n="$hn" -v s="$((slice_seconds * SLICES))" 'BEGIN { printf "%.0f", n / s }')
    base_cpu[$key]=$(awk -v t="$ht" -v hz="$BENCH_HZ" -v n="$hn" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
    # The slowest slice's p99 (wrk's are per run).
    record "$key" "$label" "$status" "$n" \
        "$(awk -v n="$n" -v s="$((slice_seconds * SLICES))" 'BEGIN { printf "%.0f", n / s }')" \
        "$(tr ' ' '\n' <<<"$p99s" | sort -h | tail -n 1)" "$t" "$bad"
    echo "    paired /healthz: ${base_rps[$key]} req/s, ${base_cpu[$key]} µs CPU per request"
}

# The gRPC decisions answered so far: "ALLOWED ALL" from the metrics.
grpc_decisions() {
    curl -fsS "$P/metrics" | awk '/^portcullis_decisions_total\{endpoint="grpc"/ {
        all += $NF; if ($0 ~ /outcome="allow"/) allowed += $NF } END { printf "%d %d\n", allowed, all }'
}

# gRPC ext_authz Check with the cached JWT, in SLICES slices each right after a slice of the
# HTTP form (`/ext-authz` with the same JWT and path, wrk), which is this row's base_rps and
# base_cpu. The load is h2load (nghttp2, C, like wrk: a client that costs the shared cores
# little) posting the CheckRequest that benches/ext_authz_load.rs builds, over one HTTP/2
# connection per core (as Envoy keeps one per worker) with CONNECTIONS calls in flight. h2load
# sees HTTP statuses only, so the answers are checked twice: the tonic driver asks once first
# and must be allowed, and every decision on the gRPC endpoint during the row must be an allow
# (the metrics; any other counts as a wrong answer).
measure_grpc() {
    local key=$1 label=$2 before after out=$W/$1.h2load body=$W/grpc.body n=0 t=0 bad=0 hn=0 ht=0 secs=0 i http
    local cores per_connection decided_before decided_after line
    cores=$(nproc)
    per_connection=$(( (CONNECTIONS + cores - 1) / cores ))
    grpc() {
        EXT_AUTHZ_GRPC=127.0.0.1:$grpc_port EXT_AUTHZ_AUTHORIZATION="Bearer $token" EXT_AUTHZ_PATH=/jwt/users?page=2 \
            EXT_AUTHZ_STATUS=200 CONCURRENCY=1 SECONDS=1 "$@" "$driver"
    }
    line=$(grpc)
    [[ $line == *" wrong=0" && $line != "requests=0 "* ]] || bench_die "gRPC Check did not answer 200: $line"
    grpc env EXT_AUTHZ_BODY="$body"
    h2() {
        h2load -c "$cores" -m "$per_connection" -t "$THREADS" -D "$1" -d "$body" -H 'content-type: application/grpc' \
            -H 'te: trailers' "http://127.0.0.1:$grpc_port/envoy.service.auth.v3.Authorization/Check" >"$out"
        grep -q '^requests: ' "$out" || { cat "$out" >&2; bench_die "h2load did not finish $label"; }
    }
    echo "==> $label: expects 200; warm-up $WARMUP, then $SLICES slices of ${slice_seconds}s (h2load, $cores connections, $CONNECTIONS calls in flight), each after a slice of the HTTP form"
    h2 "$(seconds_of "$WARMUP")"
    read -r -a decided_before < <(grpc_decisions)
    for i in $(seq "$SLICES"); do
        read -r -a http < <(slice 200 "$P/ext-authz/jwt/users?page=2" -H "Host: app.example.com" \
            -H "X-Forwarded-Proto: https" -H "Accept: application/json" "${bearer[@]}")
        hn=$((hn + http[0])) ht=$((ht + http[1])) bad=$((bad + http[2]))
        before=$(cpu_of "$pc_pid")
        h2 "$slice_seconds"
        after=$(cpu_of "$pc_pid")
        n=$((n + $(awk '/^requests: / { print $8 }' "$out"))) t=$((t + after - before))
        bad=$((bad + $(awk '/^requests: / { print $10 + $12 + $14 }' "$out")))
        bad=$((bad + $(awk '/^status codes: / { print $5 + $7 + $9 }' "$out")))
        secs=$(awk -v a="$secs" '/^finished in / { sub(/s,$/, "", $3); print a + $3 }' "$out")
    done
    read -r -a decided_after < <(grpc_decisions)
    bad=$((bad + (decided_after[1] - decided_before[1]) - (decided_after[0] - decided_before[0])))
    base_rps[$key]=$(awk -v n="$hn" -v s="$((slice_seconds * SLICES))" 'BEGIN { printf "%.0f", n / s }')
    base_cpu[$key]=$(awk -v t="$ht" -v hz="$BENCH_HZ" -v n="$hn" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
    record "$key" "$label" 200 "$n" "$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')" "n/a" "$t" "$bad"
    echo "    paired HTTP form: ${base_rps[$key]} req/s, ${base_cpu[$key]} µs CPU per request"
}

load_before_runs=$(cut -d' ' -f1-3 /proc/loadavg)
measure healthz "\`/healthz\`" 200 "$pc_pid" "$P/healthz"
measure_paired healthz-headers "\`/healthz\` with the JWT case's headers" 200 "$P/healthz" "${jwt[@]}"
original /public/app.css
measure_paired public "\`/auth\`, public rule, no credential" 200 "$P/auth" "${H[@]}"
original /jwt/users
measure_paired unauthenticated "\`/auth\`, protected, no credential (401)" 401 "$P/auth" "${H[@]}"
measure_paired jwt "\`/auth\`, cached JWT (RS256)" 200 "$P/auth" "${jwt[@]}"
original /opaque/x
measure_paired opaque "\`/auth\`, cached introspected opaque token" 200 "$P/auth" "${H[@]}" \
    -H "Authorization: Bearer opaque-bench-token"
original /session/x
measure_paired session "\`/auth\`, cached session check (Kratos whoami)" 200 "$P/auth" "${H[@]}" \
    -H "Cookie: ory_kratos_session=MTcwMDAwMDAwMHxiZW5jaC1zZXNzaW9u"
original /expression/x
measure_paired expression "\`/auth\`, JWT + \`require.expression\`" 200 "$P/auth" "${H[@]}" "${bearer[@]}"
original /authorizer/x
measure_paired authorizer "\`/auth\`, JWT + cached \`http\` authorizer" 200 "$P/auth" "${H[@]}" "${bearer[@]}"
original /identity-token/x
measure_paired identity-token "\`/auth\`, JWT + reused \`identity_token\`" 200 "$P/auth" "${H[@]}" "${bearer[@]}"
measure_paired ext-authz-http "\`/ext-authz\` (HTTP), cached JWT" 200 "$P/ext-authz/jwt/users?page=2" \
    -H "Host: app.example.com" -H "X-Forwarded-Proto: https" -H "Accept: application/json" "${bearer[@]}"
measure_grpc grpc "gRPC ext_authz \`Check\`, cached JWT"

# Apache mod_oauth2 on the same token and JWKS, alternating with Portcullis's cached JWT.
write_apache_config "$W/apache" "$apache_port" "$peers/jwks.json"
apache=$(command -v apache2 || echo /usr/sbin/apache2)
bench_start apache "$apache" -f "$W/apache/httpd.conf" -DFOREGROUND
apache_pid=$BENCH_PID
apache_url=http://127.0.0.1:$apache_port/jwt/ok.txt
bench_wait apache "$apache_pid" "$apache_url" 200 30 "${bearer[@]}"
bench_expect 401 "$apache_url"
# Each round: SLICES slices of each, a Portcullis slice then an Apache one, so both see the same
# machine (measured one after the other, a drift of the VM's speed between them entered the
# ratio: 5.9 and 4.2 in one run).
against_apache() {
    local round=$1 pn=0 pt=0 an=0 at=0 pbad=0 abad=0 pp="" ap="" line i seconds=$((slice_seconds * SLICES))
    bench_expect 200 "${jwt[@]}" "$P/auth"
    bench_expect 200 "${bearer[@]}" "$apache_url"
    echo "==> round $round: Portcullis's cached JWT and Apache mod_oauth2; warm-up $WARMUP each, then $SLICES slices of ${slice_seconds}s each, alternating"
    WRK_EXPECT=200 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s benches/lib/status.lua "${jwt[@]}" "$P/auth" >"$W/jwt-$round.warmup"
    WRK_EXPECT=200 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s benches/lib/status.lua "${bearer[@]}" "$apache_url" >"$W/apache-$round.warmup"
    for i in $(seq "$SLICES"); do
        read -r -a line < <(slice_of "$pc_pid" 200 "$P/auth" "${jwt[@]}")
        pn=$((pn + line[0])) pt=$((pt + line[1])) pbad=$((pbad + line[2])) pp+="${pp:+ }${line[3]}"
        read -r -a line < <(slice_of "$apache_pid" 200 "$apache_url" "${bearer[@]}")
        an=$((an + line[0])) at=$((at + line[1])) abad=$((abad + line[2])) ap+="${ap:+ }${line[3]}"
    done
    rate() { awk -v n="$1" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }'; }
    slowest() { tr ' ' '\n' <<<"$1" | sort -h | tail -n 1; }
    record "jwt-$round" "\`/auth\`, cached JWT (alternating with Apache, round $round)" 200 "$pn" "$(rate "$pn")" \
        "$(slowest "$pp")" "$pt" "$pbad"
    record "apache-$round" "Apache mod_oauth2, the same cached JWT (round $round)" 200 "$an" "$(rate "$an")" \
        "$(slowest "$ap")" "$at" "$abad"
}
for round in $(seq "$ROUNDS"); do
    against_apache "$round"
done
bench_stop "$apache_pid"

# nginx auth_request: through Portcullis (the cached JWT), to a `return 200` location, and to
# a proxied `return 200` server.
write_nginx_config "$W/nginx" "$nginx_auth_port" "$nginx_static_port" "$nginx_stub_port" "$stub_auth_port" \
    "$app_port" "127.0.0.1:$pc_port"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
bench_start nginx "$nginx" -p "$W/nginx" -c nginx.conf -e stderr
nginx_pid=$BENCH_PID
bench_wait nginx "$nginx_pid" "http://127.0.0.1:$app_port/" 200 30
measure nginx-portcullis "nginx \`auth_request\` → Portcullis (cached JWT) → static 200" 200 "$nginx_pid $pc_pid" \
    "http://127.0.0.1:$nginx_auth_port/jwt/users?page=2" "${bearer[@]}"
measure nginx-static "nginx \`auth_request\` → \`return 200\` location → static 200" 200 "$nginx_pid" \
    "http://127.0.0.1:$nginx_static_port/jwt/users?page=2" "${bearer[@]}"
measure nginx-stub "nginx \`auth_request\` → proxied nginx \`return 200\` (no body) → static 200" 200 "$nginx_pid" \
    "http://127.0.0.1:$nginx_stub_port/jwt/users?page=2" "${bearer[@]}"
bench_stop "$nginx_pid"

measure healthz-end "\`/healthz\` again, at the end (drift)" 200 "$pc_pid" "$P/healthz"

. benches/lib/compare_report.sh
