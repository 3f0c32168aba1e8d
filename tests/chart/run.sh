#!/usr/bin/env bash
# The Helm chart test: renders, lints and validates charts/portcullis without a helm binary or a
# cluster (PyPI helm-python-sdk, kubernetes-validate), then runs `portcullis check` on the
# configuration the chart renders. Exits non-zero when any test fails.
#
# The venv (about 400 MB) lives in target/chart-venv, outside the tracked files; override with
# CHART_VENV=/some/dir. Extra arguments go to pytest (e.g. -k secrets).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="${CHART_VENV:-$ROOT/target/chart-venv}"
PACKAGES=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 pytest pyyaml)

python="${PYTHON:-python3}"
if ! "$VENV/bin/python" -c 'import helm_python, kubernetes_validate, pytest, yaml' 2>/dev/null \
  || [ "$("$VENV/bin/python" -c 'import helm_python; print(helm_python.__version__)' 2>/dev/null)" != "0.2.2" ]; then
  echo "chart test: creating venv in $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"
fi

# `portcullis check` runs the debug binary: bring it up to date with the sources (quick when
# nothing changed).
cargo build --quiet

PYTHONDONTWRITEBYTECODE=1 exec "$VENV/bin/python" -m pytest tests/chart -p no:cacheprovider -q -rs "$@"
