#!/usr/bin/env bash
# Installs every build and test dependency of feitp (Debian/Ubuntu). Does nothing when all of
# them are already present. Non-interactive; runs apt-get as root (or through sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build g++ pkg-config
  libasio-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libssl-dev libcrypt-dev zlib1g-dev libseccomp-dev libgtest-dev libgmock-dev
  libsqlite3-dev libpq-dev libpam0g-dev  # account stores (docs/accounts.md)
  postgresql  # the tests' and the benchmark's PostgreSQL (initdb, pg_ctl in a temp dir)
  python3 python3-pytest python3-pytest-timeout
  curl lftp wget
  ccache  # used by the build scripts when present: rebuilds in CI and sanitizer builds are faster
  # The tests' tmpfs for a full disk (test_diskfull) needs mount/umount, which the smallest
  # Debian roots (mmdebstrap --variant=apt, some container images) do not have.
  mount
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all dependencies present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    echo "setup: missing packages (${missing[*]}) and not root; install them or run as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "${missing[@]}"
