#!/usr/bin/env bash
# bench/proxy_overhead.sh: what the PROXY protocol costs on the seed scenario (connect, login,
# EPSV, STOR 1-4 KiB, QUIT; 50 clients), feitpd with the README quick start's settings:
#   plain      no [proxy_protocol]
#   untrusted  proxy_protocol.from = 10.0.0.0/8: configured, clients connect from outside it
#   v1, v2     proxy_protocol.from = 127.0.0.1/32 and feitp-bench --proxy-header 1|2 (every
#              control connection starts with a header, as behind HAProxy)
#   warn       plain with --log-level warn: no login line (what logging each login at info costs)
#   baseline   only with BASELINE=/path/to/feitpd: another build (e.g. main's), plain
# Variants are interleaved, ROUNDS times; prints one line per run and the median per variant.
# Loopback only; each run is bounded (DURATION s + warm-up + grace).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-50}
WORKERS=${WORKERS:-2}
PORT=${PORT:-21290}
WORK=$(mktemp -d /tmp/feitp-proxy-bench.XXXXXX)
SERVER=""
cleanup() { [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

run_one() {  # variant
  local v=$1 home=$WORK/home-$v-$RANDOM extra=() bench=() feitpd=$BIN/feitpd
  mkdir -p "$home"
  [[ $v == baseline ]] && feitpd=$BASELINE
  case $v in
    untrusted) extra=(--proxy-protocol-from 10.0.0.0/8) ;;
    warn) extra=(--log-level warn) ;;
    v1|v2) extra=(--proxy-protocol-from 127.0.0.1/32); bench=(--proxy-header "${v#v}") ;;
  esac
  "$feitpd" --listen 127.0.0.1:$PORT --root "$home" --user bench:bench-pass --write \
    --passive-ports 20000-29999 --workers "$WORKERS" "${extra[@]}" >"$WORK/feitpd-$v.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
  sleep 0.5
  timeout $((DURATION + 60)) "$BIN/feitp-bench" --host 127.0.0.1 --port $PORT --user bench \
    --password bench-pass --scenario seed --clients "$CLIENTS" --duration "$DURATION" --warmup 1 \
    --min-size 1024 --max-size 4096 --json --no-progress "${bench[@]}" >"$WORK/out.json" 2>"$WORK/bench.err" ||
    { cat "$WORK/bench.err" >&2; }
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(round(d["rate_per_s"]), d["failures_total"], d["latency_us"]["p99"])' "$WORK/out.json"
}

VARIANTS="plain untrusted v1 v2 warn"
[[ -n ${BASELINE:-} ]] && VARIANTS="baseline $VARIANTS"
declare -A results
for r in $(seq "$ROUNDS"); do
  for v in $VARIANTS; do
    read -r rate fails p99 < <(run_one "$v")
    echo "round $r $v: $rate transactions/s, p99 $p99 us (failures: $fails)"
    results[$v]+="$rate "
  done
done
for v in $VARIANTS; do
  echo "$v median: $(printf '%s\n' ${results[$v]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') transactions/s"
done
