#!/usr/bin/env bash
# Sets up the Python package in one command, offline: installs what is missing (scripts/setup.sh),
# builds (the feitp._feitp module and a copy of python/feitp in build/python), makes a virtual
# environment at build/venv from Debian's /usr/bin/python3 that also sees Debian's site packages,
# and installs the package in it (a .pth file naming build/python: no package index, and a
# rebuild is picked up at once). Prints the environment's python on its last line:
#
#   py=$(./scripts/python-env.sh | tail -n1); "$py" -m feitp -p 2121
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"

"$repo/scripts/setup.sh" >&2
BUILD_DIR="$build" "$repo/scripts/build.sh" -DFEITP_PYTHON=ON >&2

venv="$build/venv"
if [[ ! -x "$venv/bin/python" ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv" >&2
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$build/python" >"$site/feitp.pth"
"$venv/bin/python" -c 'import feitp, feitp._feitp, feitp.pyftpdlib.servers' >&2 || {
  echo "python-env: the feitp package does not import from $venv" >&2
  exit 1
}
echo "python-env: feitp installed in $venv" >&2
echo "$venv/bin/python"
