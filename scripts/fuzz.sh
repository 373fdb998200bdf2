#!/usr/bin/env bash
# Builds the libFuzzer targets (preset fuzz: clang, ASan+UBSan, build-fuzz/) and runs each for
# SECONDS_PER_TARGET seconds (default 20, the CI smoke; give more for a long run, e.g. 3600).
# Prints per target how many inputs ran; fails when a target crashes, leaks, hits UB or
# breaks one of its invariants. Findings land in build-fuzz/findings/<target>/ (replay one
# with build-fuzz/bin/fuzz_<name> FILE); new interesting inputs in build-fuzz/corpus/<target>/.
# FUZZ_TARGETS="line config" runs only those.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

seconds="${1:-20}"
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || {
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2; exit 2; }
build="$repo/build-fuzz"

"$repo/scripts/setup.sh" || { echo "fuzz: setup failed" >&2; exit 1; }
# clang and the libFuzzer runtime (Debian 12: in libclang-rt-14-dev) are needed only here.
fuzz_packages=(clang libclang-rt-14-dev)
missing=()
for p in "${fuzz_packages[@]}"; do
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" == installed ]] || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "fuzz: installing ${missing[*]}"
  SUDO=()
  [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -q &&
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" || { echo "fuzz: cannot install ${missing[*]}" >&2; exit 1; }
fi

names="${FUZZ_TARGETS:-$(sed -n 's/^set(FEITP_FUZZ_NAMES \(.*\))$/\1/p' tests/fuzz/targets.cmake)}"
[[ -n "$names" ]] || { echo "fuzz: no targets in tests/fuzz/targets.cmake" >&2; exit 1; }

cmake_args=(--preset fuzz)
if command -v ccache >/dev/null; then
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake "${cmake_args[@]}" >/dev/null || { echo "fuzz: configure failed" >&2; exit 1; }
targets=()
for n in $names; do targets+=("fuzz_$n"); done
ninja -C "$build" "${targets[@]}" || { echo "fuzz: build failed" >&2; exit 1; }

export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
summary=()
for n in $names; do
  corpus="$build/corpus/$n"     # grows from run to run; the seeds stay untouched
  findings="$build/findings/$n"
  mkdir -p "$corpus" "$findings"
  log="$build/fuzz_$n.log"
  echo "== fuzz_$n: ${seconds}s"
  # -max_len: commands, paths and arguments are short; config files may be a few kB.
  max_len=1024
  [[ "$n" == config ]] && max_len=8192
  "$build/bin/fuzz_$n" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" \
    "$corpus" "$repo/tests/fuzz/corpus/$n" >"$log" 2>&1
  rc=$?
  runs="$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)"
  if ((rc != 0)) || [[ -z "$runs" ]]; then
    status=1
    summary+=("fuzz_$n: FAILED (exit $rc) after ${runs:-?} runs; log $log, findings in $findings")
    tail -n 60 "$log" >&2
  else
    summary+=("fuzz_$n: $runs runs in ${seconds}s, no crash")
  fi
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit $status
