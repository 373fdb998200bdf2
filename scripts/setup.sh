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
  python3-dev python3-venv pybind11-dev  # the Python package (python/, scripts/python-env.sh)
  curl lftp wget ncftp tnftp
  openssl  # the CLI: test certificates (tests/integration/test_tls.py), quickstart.sh's certificate
  # /metrics and the admin API (cpp-httplib, nlohmann-json); the admin page's browser test.
  libcpp-httplib-dev nlohmann-json3-dev chromium chromium-driver python3-selenium
  ccache  # used by the build scripts when present: rebuilds in CI and sanitizer builds are faster
  # The tests' tmpfs for a full disk (test_diskfull) needs mount/umount, which the smallest
  # Debian roots (mmdebstrap --variant=apt, some container images) do not have.
  mount
  # The Debian packages (scripts/package.sh, scripts/deb-install-test.sh): dpkg-shlibdeps fills
  # their Depends, go-md2man makes the man pages, fail2ban-regex tests the fail2ban filter,
  # systemd-analyze rates the unit, systemd-nspawn boots a root to run the unit for real,
  # man shows the man pages.
  dpkg-dev go-md2man fail2ban systemd systemd-container man-db
  haproxy  # tests/integration/test_proxy_protocol.py: a real HAProxy sends PROXY v1/v2 headers
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
