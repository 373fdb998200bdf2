#!/usr/bin/env bash
# Installs what is missing, builds, and starts feitpd on 127.0.0.1:2121 serving ./feitp-data
# (created if missing) with a user "demo" whose fresh random password is printed. Ctrl-C stops
# it. FEITP_PORT chooses another port. FEITP_TLS=1 also offers FTPS (AUTH TLS) with a
# self-signed RSA-2048 certificate made once in ./feitp-tls. Off by default: lftp tries AUTH TLS
# on its own and, with its default settings, refuses a certificate it cannot verify instead of
# going on in clear text, so a self-signed certificate would lock lftp users out.
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

# FTPS only when asked (see the top of this file).
tls_flags=()
tls_hint="
For FTPS, start it with FEITP_TLS=1 (a self-signed certificate is made in ./feitp-tls)."
if [[ "${FEITP_TLS:-0}" == 1 ]]; then
  tls="$repo/feitp-tls"
  if [[ ! -s "$tls/cert.pem" || ! -s "$tls/key.pem" ]]; then
    mkdir -p "$tls"
    (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
      -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null)
    echo "quickstart: made a self-signed certificate in $tls"
  fi
  tls_flags=(--tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem")
  tls_hint="
or over TLS (FTPS; the certificate in $tls is self-signed, hence -k and verify-certificate no):
  curl --ssl-reqd -k ftp://demo:$pass@127.0.0.1:$port/
  lftp -e 'set ftp:ssl-force true; set ssl:verify-certificate no' -u demo,$pass -p $port 127.0.0.1"
fi

cat <<MSG

feitpd is starting on 127.0.0.1:$port, serving $data
  user:     demo
  password: $pass

Log in with, for example:
  curl ftp://demo:$pass@127.0.0.1:$port/
  lftp -u demo,$pass -p $port 127.0.0.1
$tls_hint

Press Ctrl-C to stop.

MSG

exec "$repo/build/bin/feitpd" --listen "127.0.0.1:$port" --root "$data" --user "demo:$pass" \
  --write --passive-ports 20000-29999 "${tls_flags[@]}"
