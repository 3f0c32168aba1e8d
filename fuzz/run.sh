#!/usr/bin/env bash
# Builds the fuzz targets once and runs each for SECONDS (default 30), JOBS (default 2) at a
# time, with libFuzzer's hang (-timeout=10) and memory (-rss_limit_mb=2048) limits and
# AddressSanitizer's leak check. Prints one line per target; exits non-zero when a target
# crashed, hung, leaked or did not build. New inputs go to fuzz/generated/TARGET (not committed),
# the committed seeds in fuzz/corpus/TARGET are only read; a failing input is kept in
# fuzz/artifacts/TARGET/ and the log in fuzz/generated/TARGET.log.
#
#   fuzz/run.sh [SECONDS] [TARGET...]        # every target of fuzz/Cargo.toml when none given
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

seconds=${1:-30}
shift || true
jobs=${JOBS:-2}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(awk -F'"' '/^\[\[bin\]\]/ { bin = 1 } bin && /^name = / { print $2; bin = 0 }' Cargo.toml)
fi

mkdir -p generated
if ! RUSTC_BOOTSTRAP=1 cargo fuzz build -O >generated/build.log 2>&1; then
    tail -n 30 generated/build.log >&2
    echo "fuzz targets do not build" >&2
    exit 1
fi
bin_dir=target/x86_64-unknown-linux-gnu/release

# Runs one target and prints its line; the status says whether it found something.
run_one() {
    local target=$1 log status
    mkdir -p "generated/$target" "artifacts/$target" "corpus/$target"
    log="generated/$target.log"
    "$bin_dir/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" "generated/$target" "corpus/$target" >"$log" 2>&1
    status=$?
    local runs corpus
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    corpus=$(find "generated/$target" "corpus/$target" -type f | wc -l)
    if [ "$status" = 0 ]; then
        printf 'fuzz %-15s ok      %ss, %s runs, corpus %s\n' "$target" "$seconds" "${runs:-?}" "$corpus"
    else
        printf 'fuzz %-15s FAILED  %s (input in fuzz/artifacts/%s/, log fuzz/%s)\n' "$target" \
            "$(grep -m1 -oE 'ERROR: [A-Za-z]+[^ ]*( [a-z-]+)?|panicked at [^:]*:[0-9]+|deadly signal|timeout' "$log" || echo "exit $status")" \
            "$target" "$log"
    fi
    return "$status"
}
export -f run_one
export seconds bin_dir

printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}
