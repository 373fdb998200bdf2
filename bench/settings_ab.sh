#!/usr/bin/env bash
# One pinned measurement of a feitpd build with extra config keys: what a setting costs.
#   bench/settings_ab.sh BIN_DIR LABEL SCENARIO "[server] lines" "more tables"
# e.g. bench/settings_ab.sh build/bin nosandbox session "sandbox = false" ""
#      bench/settings_ab.sh build/bin inplace session "" $'[storage]\natomic_uploads = false'
# feitpd (1 worker) runs on CPU 0, feitp-bench (50 clients, 4 s) on CPU 1, the home in a tmpfs
# (/dev/shm; AB_DIR=DIR puts it elsewhere, e.g. on a disk file system). Prints the server's
# user, system and total CPU time per operation from /proc/PID/stat. Interleave several runs of
# the variants and quote medians (docs/performance.md).
# FTPS: TLS_CERT=FILE TLS_KEY=FILE give the server a certificate, and BENCH_ARGS="--tls" (plus
# e.g. "--tls-reconnect resume") goes to feitp-bench; CLIENTS=N changes the 50 clients;
# FILE_MB=N puts an N MiB file "big" in the home (BENCH_ARGS="--path big" for retr).
set -euo pipefail
bin=$1 label=$2 sc=$3 server_extra=$4 tables=$5
bench=${BENCH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/bin/feitp-bench}
d=$(mktemp -d "${AB_DIR:-/dev/shm}/feitp-ab.XXXXXX")
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/home"
[[ -n ${FILE_MB:-} ]] && head -c "${FILE_MB}M" /dev/zero >"$d/home/big"
port=$((30000 + RANDOM % 2000))
pass=ab-pass-$RANDOM
hash=$("$bin/feitpd" --hash-password --hash-method sha512 <<<"$pass" 2>/dev/null | tail -n1)
cat >"$d/f.toml" <<T
[server]
listen = ["127.0.0.1:$port"]
workers = 1
$server_extra
[passive]
ports = "61000-64999"
$tables
[users.bench]
password_hash = "$hash"
home = "$d/home"
permissions = "elradfmwMT"
T
tls=()
[[ -n ${TLS_CERT:-} ]] && tls=(--tls-cert "$TLS_CERT" --tls-key "$TLS_KEY")
taskset -c 0 "$bin/feitpd" --config "$d/f.toml" "${tls[@]}" >"$d/log" 2>&1 &
pid=$!
sleep 0.5
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
out=$(taskset -c 1 "$bench" -s "$sc" -p "$port" -u bench --password "$pass" -c "${CLIENTS:-50}" -d 4 --json --no-progress ${BENCH_ARGS:-} 2>&1) || true
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
kill "$pid"; wait "$pid" 2>/dev/null || true
ops=$(tail -n1 <<<"$out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["transactions"])' 2>/dev/null) || ops=""
[[ -n $ops && $ops -gt 0 ]] || { echo "$label: no result"; tail -n3 "$d/log"; tail -n2 <<<"$out"; exit 1; }
tck=$(getconf CLK_TCK)
python3 -c "o=$ops; t=$tck; u=($u1-$u0)*1e6/t/o; s=($s1-$s0)*1e6/t/o; print('%-14s %-8s ops %7d  user %6.1f  sys %6.1f  total %6.1f us/op' % ('$label', '$sc', o, u, s, u+s))"
