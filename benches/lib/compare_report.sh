# The report of benches/compare.sh (sourced at its end, with its rows in the arrays name,
# expect, rps, p99, cpu, wrong and their keys in order): a header naming the build and the
# machine, one Markdown table, the remote calls counted by benches/lib/peers.py, and issue 12's
# targets. Printed, and written to OUT when SAVE=1; exits 1 when a row had wrong answers.

ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# Whether A (a ratio) is at least (ge) or at most (le) LIMIT: "met" or "missed".
verdict() { awk -v a="$1" -v op="$2" -v l="$3" 'BEGIN { if (a == "n/a") print "n/a"; else if (op == "ge" ? a >= l : a <= l) print "met"; else print "missed" }'; }

for key in "${order[@]}"; do
    case $key in
        healthz) ratio[$key]="1 (the baseline)" ;;
        apache-*)
            round=${key#apache-}
            ratio[$key]="Portcullis ÷ Apache: $(ratio_of "${rps[jwt-$round]}" "${rps[$key]}")× req/s (\`/healthz\` ÷ Apache, the ceiling: $(ratio_of "${rps[healthz]}" "${rps[$key]}")×); Apache uses $(ratio_of "${cpu[$key]}" "${cpu[jwt-$round]}")× Portcullis's CPU per request"
            ;;
        nginx-portcullis)
            ratio[$key]="$(ratio_of "${rps[$key]}" "${rps[nginx-static]:-0}")× the \`return 200\` location's req/s, $(ratio_of "${rps[$key]}" "${rps[nginx-stub]:-0}")× the proxied one's; CPU: nginx + Portcullis"
            ;;
        nginx-static) ratio[$key]="the nginx baseline; CPU: nginx" ;;
        nginx-stub) ratio[$key]="$(ratio_of "${rps[$key]}" "${rps[nginx-static]:-0}")× the \`return 200\` location's req/s; CPU: nginx" ;;
        grpc)
            ratio[$key]="$(ratio_of "${rps[$key]}" "${base_rps[$key]}")× the HTTP form's req/s, $(ratio_of "${cpu[$key]}" "${base_cpu[$key]}")× its CPU (\`/ext-authz\` slices alternating with this row's: ${base_rps[$key]} req/s, ${base_cpu[$key]} µs)"
            ;;
        *)
            if [ -n "${base_cpu[$key]:-}" ]; then
                ratio[$key]="$(ratio_of "${rps[$key]}" "${base_rps[$key]}")× req/s, $(ratio_of "${cpu[$key]}" "${base_cpu[$key]}")× CPU (paired \`/healthz\`: ${base_rps[$key]} req/s, ${base_cpu[$key]} µs)"
            else
                ratio[$key]="$(ratio_of "${rps[$key]}" "${rps[healthz]}")× req/s, $(ratio_of "${cpu[$key]}" "${cpu[healthz]}")× CPU"
            fi
            ;;
    esac
done

calls=$(curl -s --max-time 5 "$peers/calls" || echo '{}')
remote() { sed -n "s/.*\"$1\": \\([0-9]*\\).*/\\1/p" <<<"$calls"; }
metric() { curl -s --max-time 5 "$P/metrics" | awk -v name="$1" '$1 == name { printf "%d", $2 }'; }

jwt_rps=$(ratio_of "${rps[jwt]}" "${base_rps[jwt]}")
jwt_cpu=$(ratio_of "${cpu[jwt]}" "${base_cpu[jwt]}")
apache_ratios="" ceiling_ratios="" apache_min=""
for round in $(seq "$ROUNDS"); do
    r=$(ratio_of "${rps[jwt-$round]}" "${rps[apache-$round]}")
    apache_ratios+="${apache_ratios:+, }$r"
    ceiling_ratios+="${ceiling_ratios:+, }$(ratio_of "${rps[healthz]}" "${rps[apache-$round]}")"
    apache_min=$(awk -v a="$r" -v m="${apache_min:-$r}" 'BEGIN { print (a < m ? a : m) }')
done
grpc_http=$(ratio_of "${rps[grpc]}" "${base_rps[grpc]}")
grpc_cpu=$(ratio_of "${cpu[grpc]}" "${base_cpu[grpc]}")

report() {
    local commit dirty="" key flag
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD 2>/dev/null || dirty=" with uncommitted changes"
    echo "## benches/compare.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- Portcullis $("$BIN" --version | awk '{ print $NF }'), commit $commit$dirty, release build."
    echo "- Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM;" \
        "load average $load_at_start at the start, $load_before_runs before the first run."
    echo "- wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }') \`-t$THREADS -c$CONNECTIONS -d$DURATION\` after a $WARMUP warm-up per case, on the same cores as the servers;" \
        "gRPC: h2load (nghttp2) posting the \`CheckRequest\` of \`benches/ext_authz_load.rs\`, one HTTP/2 connection per core, $CONNECTIONS calls at a time; answers checked by the tonic driver once and by the gRPC decisions counted during the row (all must be allows)."
    echo "- CPU/req: user + system time of the server over the measured run ÷ requests served" \
        "(Apache: all its processes; nginx rows as said)." \
        "Each Portcullis row ran in $SLICES slices, each right after a \`/healthz\` slice of the same length (the gRPC row: after an \`/ext-authz\` slice);" \
        "its ratio is to those paired slices, so drift of the machine's speed during the run does not enter it."
    echo
    echo "| case | status | req/s | p99 | CPU/req (µs) | ratio | wrong answers |"
    echo "| --- | --- | ---: | ---: | ---: | --- | ---: |"
    for key in "${order[@]}"; do
        flag=""
        [ "${wrong[$key]}" = 0 ] || flag=" **(flagged)**"
        echo "| ${name[$key]} | ${expect[$key]} | ${rps[$key]}$flag | ${p99[$key]} | ${cpu[$key]} | ${ratio[$key]} | ${wrong[$key]} |"
    done
    echo
    echo "Remote calls over the whole run (each credential's cache makes it one): introspection $(remote introspect)," \
        "session check $(remote whoami), authorizer $(remote authorize), JWKS $(remote jwks)" \
        "(Portcullis and Apache). Token cache: $(metric portcullis_token_cache_hits_total) hits," \
        "$(metric portcullis_token_cache_misses_total) misses."
    echo
    echo "Issue 12's targets: cached JWT $jwt_rps× \`/healthz\` req/s (≥ 0.8: $(verdict "$jwt_rps" ge 0.8))," \
        "$jwt_cpu× its CPU (≤ 1.3: $(verdict "$jwt_cpu" le 1.3)); Portcullis ÷ Apache mod_oauth2 $apache_ratios" \
        "(≥ 4.5: $(verdict "$apache_min" ge 4.5); the ceiling, \`/healthz\` ÷ Apache: $ceiling_ratios);" \
        "gRPC $grpc_http× the HTTP form's req/s (≥ 0.8: $(verdict "$grpc_http" ge 0.8)) at $grpc_cpu× its CPU per request."
}

echo
report | tee "$W/compare.md"
if [ "${SAVE:-0}" = 1 ]; then
    mkdir -p "$(dirname "$OUT")"
    cp "$W/compare.md" "$OUT"
    echo
    echo "(saved to $OUT)"
fi
if [ "$any_wrong" = 1 ]; then
    echo "error: some runs had wrong answers (flagged above): their figures measure an error path" >&2
    exit 1
fi
