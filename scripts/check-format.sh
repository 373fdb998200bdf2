#!/usr/bin/env bash
# Checks that every C++ source in git follows .clang-format (clang-format 14, Debian 12's);
# lists the files that do not, and exits 1. --fix rewrites them instead. In CI (CI=true) it
# installs clang-format if it is missing.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
if ! command -v clang-format >/dev/null; then
  if [[ "${CI:-}" == true && $(id -u) == 0 ]]; then
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends clang-format >/dev/null
  else
    echo "check-format: clang-format is missing (apt-get install clang-format)" >&2
    exit 1
  fi
fi
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
if [[ "${1:-}" == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "check-format: ${#bad[@]} file(s) differ from .clang-format (scripts/check-format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files follow .clang-format"
