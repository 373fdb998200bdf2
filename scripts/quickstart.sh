#!/usr/bin/env bash
# Installs what is missing, builds, and starts feitpd on 127.0.0.1:2121 serving ./feitp-data
# (created if missing) with a user "demo" whose fresh random password is printed. Ctrl-C stops
# it. FEITP_PORT chooses another port.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
port="${FEITP_PORT:-2121}"
if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
  echo "quickstart: FEITP_PORT=$port is not a port number" >&2
  exit 1
fi

"$repo/scripts/setup.sh"
"$repo/scripts/build.sh"

# Say so plainly instead of leaving it to a bind error in the server's log.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "quickstart: port $port on 127.0.0.1 is already in use; stop what listens there" \
    "or choose another port with FEITP_PORT=<port>" >&2
  exit 1
fi

data="$repo/feitp-data"
mkdir -p "$data"
pass="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

cat <<MSG

feitpd is starting on 127.0.0.1:$port, serving $data
  user:     demo
  password: $pass

Log in with, for example:
  curl ftp://demo:$pass@127.0.0.1:$port/
  lftp -u demo,$pass -p $port 127.0.0.1

Press Ctrl-C to stop.

MSG

exec "$repo/build/bin/feitpd" --listen "127.0.0.1:$port" --root "$data" --user "demo:$pass" \
  --write --passive-ports 20000-29999
