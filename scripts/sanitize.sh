#!/usr/bin/env bash
# Sanitizer builds and the tests that run under them (a CI job each, see scripts/ci-extra.sh):
#   scripts/sanitize.sh asan   ASan+UBSan build (preset asan-ubsan, build-asan-ubsan/): the unit
#                              tests and the whole integration suite.
#   scripts/sanitize.sh tsan   TSan build (preset tsan, build-tsan/): the integration tests whose
#                              sessions hand work to the thread pool (blocking hooks, storages
#                              and the user table's logins).
# Extra arguments go to pytest (e.g. -k name, or test files to run instead of the default set).
# Any sanitizer report fails the run: the programs halt on the first one, and the integration
# harness fails the test during which a report appeared (tests/integration/conftest.py).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

kind="${1:-}"
shift || true
case "$kind" in
  asan) preset=asan-ubsan ;;
  tsan) preset=tsan ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [pytest args]" >&2; exit 2 ;;
esac
build="$repo/build-$preset"

"$repo/scripts/setup.sh" || { echo "sanitize: setup failed" >&2; exit 1; }

cmake_args=(--preset "$preset")
if command -v ccache >/dev/null; then
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake "${cmake_args[@]}" >/dev/null || { echo "sanitize: configure failed" >&2; exit 1; }
# tsan runs no unit tests: it needs only the programs the chosen integration tests start
# (test_examples builds the examples itself, against an installed copy of this build).
targets=()
[[ "$kind" == tsan ]] && targets=(feitpd hook_probe)
ninja -C "$build" "${targets[@]}" || { echo "sanitize: build failed" >&2; exit 1; }

# Sanitizer reports of the programs the integration tests start go to files here; the harness
# fails the test during which one appears and shows it.
logs="$(mktemp -d /tmp/feitp-sanitize-XXXXXX)"
export FEITP_SANITIZER="$kind" FEITP_SANITIZER_LOG_DIR="$logs"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

status=0
pytest_args=(-ra -p no:cacheprovider)
if /usr/bin/python3 -c "import pytest_timeout" 2>/dev/null; then
  pytest_args+=(--timeout=600)  # sanitized programs run 2-15 times slower
fi

if [[ "$kind" == asan ]]; then
  echo "== unit tests (ASan+UBSan)"
  ctest --test-dir "$build" --output-on-failure --timeout 600 || status=1
  tests=(tests/integration)
else
  tests=(tests/integration/test_threads.py tests/integration/test_hooks.py
         tests/integration/test_program_hooks.py
         tests/integration/test_examples.py tests/integration/test_login.py)
fi
(($# > 0)) && tests=()

echo "== integration tests ($kind): ${tests[*]} $*"
# log_path only now: ctest above shows reports on its own output.
ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$logs/report" \
UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$logs/report" \
TSAN_OPTIONS="$TSAN_OPTIONS:log_path=$logs/report" \
FEITPD="$build/bin/feitpd" /usr/bin/python3 -m pytest "${pytest_args[@]}" "${tests[@]}" "$@" \
  || status=1

if compgen -G "$logs/report*" >/dev/null; then
  echo "sanitize: sanitizer reports in $logs:" >&2
  ls -l "$logs" >&2
  status=1
else
  rm -rf "$logs"
fi

if ((status != 0)); then
  echo "sanitize $kind: FAILED" >&2
else
  echo "sanitize $kind: all passed, no sanitizer report"
fi
exit $status
