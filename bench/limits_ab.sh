#!/usr/bin/env bash
# bench/limits_ab.sh: the seed scenario against feitpd with quotas and bandwidth limits set (not
# reached) and without, interleaved, server pinned to CPU 0 and feitp-bench to CPU 1, server CPU
# from /proc. The same servers and method as bench/compare.sh's feitpd-1 and feitpd-limits, for
# when compare.sh cannot run (it needs a system user, a sysctl and ports of its own): nothing
# here needs root, everything listens on 127.0.0.1 and stops by itself.
#   bench/limits_ab.sh [RUNS] [DURATION]      (default 3 runs of 10 s)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BUILD:-$ROOT/build}/bin
RUNS=${1:-3}
DURATION=${2:-10}
WORK=$(mktemp -d /tmp/feitp-limits-ab.XXXXXX)
PASSWORD=bench-pass-4821
HASH=$(printf '%s\n' "$PASSWORD" | "$BIN/feitpd" --hash-password --hash-method sha512)
SERVER=""
trap '[[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

config() {  # VARIANT PORT HOME
  cat <<EOF
[server]
listen = ["127.0.0.1:$2"]
workers = 1
[passive]
ports = "46000-47999"
EOF
  if [[ $1 == limits ]]; then
    cat <<EOF
[limits]
upload_rate = 10000000000
download_rate = 10000000000
session_upload_rate = 10000000000
session_download_rate = 10000000000
EOF
  fi
  cat <<EOF
[users.bench]
password_hash = "$HASH"
home = "$3"
permissions = "elradfmwMT"
EOF
  if [[ $1 == limits ]]; then
    cat <<EOF
quota_bytes = 1000000000000
quota_files = 100000000
upload_rate = 10000000000
download_rate = 10000000000
EOF
  fi
}

hz=$(getconf CLK_TCK)
printf 'run\tvariant\tuploads\tuploads_per_s\tserver_cpu_ms\tcpu_us_per_upload\n'
for run in $(seq 1 "$RUNS"); do
  for variant in unlimited limits; do
    dir=$WORK/$run-$variant
    mkdir -p "$dir/home"
    port=$(free_port)
    config "$variant" "$port" "$dir/home" >"$dir/feitpd.toml"
    taskset -c 0 "$BIN/feitpd" --config "$dir/feitpd.toml" --log-level warn >"$dir/log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do
      /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
      sleep 0.1
    done
    sleep 0.5
    c0=$(cpu_ticks "$SERVER")
    timeout $((DURATION + 60)) taskset -c 1 "$BIN/feitp-bench" --host 127.0.0.1 --port "$port" --user bench \
      --password "$PASSWORD" --scenario seed --clients 50 --min-size 1024 --max-size 4096 \
      --duration "$DURATION" --warmup 1 --json --no-progress --verify-dir "$dir/home" >"$dir/out.json"
    c1=$(cpu_ticks "$SERVER")
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
    /usr/bin/python3 - "$dir/out.json" "$run" "$variant" "$((c1 - c0))" "$hz" <<'EOF'
import json, sys
path, run, variant, ticks, hz = sys.argv[1:]
j = json.load(open(path))
# CPU over the whole run (warm-up included) per upload counted over the whole run.
n = j["all_transactions"]
ms = int(ticks) * 1000 / int(hz)
print(f"{run}\t{variant}\t{j['transactions']}\t{j['rate_per_s']:.0f}\t{ms:.0f}\t{ms * 1000 / max(n, 1):.1f}")
EOF
  done
done
