#!/usr/bin/env bash
# Installs what is missing, builds, then runs the unit tests (ctest) and the integration tests
# (pytest against the real build/bin/feitpd). Exits non-zero if anything fails.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
cd "$repo" || exit 1

"$repo/scripts/setup.sh" || { echo "test: setup failed" >&2; exit 1; }
BUILD_DIR="$build" "$repo/scripts/build.sh" || { echo "test: build failed" >&2; exit 1; }

status=0
echo "== unit tests"
ctest --test-dir "$build" --output-on-failure --timeout 300 || status=1

echo "== integration tests"
pytest_args=(-ra -p no:cacheprovider)
if /usr/bin/python3 -c "import pytest_timeout" 2>/dev/null; then
  pytest_args+=(--timeout=300)
fi
FEITPD="${FEITPD:-$build/bin/feitpd}" /usr/bin/python3 -m pytest "${pytest_args[@]}" \
  tests/integration "$@" || status=1

echo "== python package tests"
# The package as built (build/python: feitp._feitp and a copy of python/feitp); setup.sh installs
# pybind11-dev and python3-dev, so the build has it unless FEITP_PYTHON=OFF was asked for.
if compgen -G "$build/python/feitp/_feitp*.so" >/dev/null; then
  PYTHONPATH="$build/python" /usr/bin/python3 -m pytest "${pytest_args[@]}" tests/python || status=1
else
  echo "test: the Python package was not built ($build/python/feitp/_feitp*.so missing)" >&2
  status=1
fi

if ((status != 0)); then
  echo "test: FAILED" >&2
else
  echo "test: all passed"
fi
exit $status
