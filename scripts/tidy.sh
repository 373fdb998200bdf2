#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy's checks) over the given sources, or over every .cpp of src/ and
# apps/, with build/'s compile database (./scripts/build.sh makes it). GCC-only flags are
# dropped for clang. Exit status 1 when clang-tidy reports a warning.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy is missing (apt-get install clang-tidy)" >&2; exit 1; }
[[ -f "$build/compile_commands.json" ]] || { echo "tidy: no $build/compile_commands.json: run ./scripts/build.sh" >&2; exit 1; }
cd "$repo"
if (($#)); then files=("$@"); else mapfile -t files < <(git ls-files 'src/*.cpp' 'apps/*.cpp'); fi
out=$(clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option \
        --extra-arg=-Wno-unused-command-line-argument --extra-arg=-DASIO_HAS_CO_AWAIT=1 --extra-arg=-DASIO_HAS_STD_COROUTINE=1 "${files[@]}" 2>/dev/null || true)
printf '%s\n' "$out" | grep -E "warning:|error:" -A3 || true
! printf '%s\n' "$out" | grep -qE "(warning|error):"
