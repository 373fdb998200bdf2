#!/usr/bin/env bash
# Installs what is missing, builds, and starts feitpd on 127.0.0.1:2121 serving ./feitp-data
# with a user "demo" whose fresh random password is printed. Ctrl-C stops it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

"$repo/scripts/setup.sh"
"$repo/scripts/build.sh"

data="$repo/feitp-data"
mkdir -p "$data"
pass="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

cat <<MSG

feitpd is starting on 127.0.0.1:2121, serving $data
  user:     demo
  password: $pass

Log in with, for example:
  curl ftp://demo:$pass@127.0.0.1:2121/
  lftp -u demo,$pass -p 2121 127.0.0.1

Press Ctrl-C to stop.

MSG

exec "$repo/build/bin/feitpd" --listen 127.0.0.1:2121 --root "$data" --user "demo:$pass" \
  --write --passive-ports 30000-30100
