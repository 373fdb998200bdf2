#!/usr/bin/env bash
# The CI jobs beyond scripts/test.sh, in order: the ASan+UBSan build with the unit tests and the
# whole integration suite, the TSan build with the tests that use the thread pool, and a 20 s
# smoke of every fuzz target. Prints how long each took; fails if any of them failed (all run).
# Safe on a fresh Debian 12 as root: each script installs what it needs (scripts/setup.sh).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CI="${CI:-true}"

status=0
times=()
run_job() {
  local name="$1"
  shift
  local t0=$SECONDS
  echo "==== $name"
  local rc=0
  "$@" || rc=$?
  local dt=$((SECONDS - t0))
  times+=("$(printf '%-16s %4dm%02ds  %s' "$name" $((dt / 60)) $((dt % 60)) \
             "$( ((rc == 0)) && echo ok || echo "FAILED (exit $rc)")")")
  ((rc == 0)) || status=1
}

run_job "asan-ubsan" ./scripts/sanitize.sh asan
run_job "tsan" ./scripts/sanitize.sh tsan
run_job "fuzz smoke" ./scripts/fuzz.sh 20

echo "==== elapsed"
printf '%s\n' "${times[@]}"
exit $status
