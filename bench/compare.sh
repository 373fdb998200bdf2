#!/usr/bin/env bash
# bench/compare.sh: feitpd against its peers, side by side, on this machine, in one run.
#
# Installs the peers where missing (Debian packages; the three daemons conflict as packages,
# so they are unpacked with `apt-get download` + `dpkg -x` into separate folders under the
# cache directory), gives every server the same user with the same SHA-512-crypt hash, the
# same passive port range and logging off, then runs feitp-bench's scenarios against each
# server, interleaved and repeated, unpinned and pinned (server on CPU 0, generator on CPU 1).
# Server CPU time is read from a cgroup v2 per server (all its processes), else from the
# process tree in /proc. Writes docs/performance.md and docs/perf/*.png (bench/report.py).
#
# Needs root (it adds a system user, a PAM service file for vsftpd, a cgroup, and reserves
# the passive range in net.ipv4.ip_local_reserved_ports for the run; all restored on exit).
# Everything listens on 127.0.0.1 only; every run is bounded in time.
#
# FTPS: the scenarios ending in -tls run every server that can with explicit TLS (AUTH TLS,
# PROT P) and one RSA-2048 certificate made for the run with the openssl CLI; the feitp-bench
# JSON of each run says how many handshakes there were and how many were resumed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ORIG_ARGS="$*"
BUILD=${BUILD:-$ROOT/build}
CACHE=${CACHE:-$BUILD/peers}

RUNS=3
DURATION=10
WARMUP=1
QUICK=0
CLEAN=0
NOTE=""
BASELINE=""
PIN_MODES="unpinned pinned"
PLAIN_SCENARIOS="seed session login list retr stor idle"
TLS_SCENARIOS="seed-tls seed-tls-resume session-tls retr-tls stor-tls"
ALL_SCENARIOS="$PLAIN_SCENARIOS $TLS_SCENARIOS"
ALL_SERVERS="limit feitpd-1 feitpd-2 feitpd-base vsftpd proftpd pureftpd pyftpdlib pyftpdlib-2 feitpd-2m feitpd-limits feitpd-sqlite feitpd-pg"
# The Python variants (bench/py_server.py: the seed program, an FTPHandler subclass whose
# on_file_received appends path and size to a list): pyftpdlib, and feitp's pyftpdlib layer
# with 1 and 2 workers and with a callback that does nothing. Opt-in: --servers.
PY_SERVERS="pyftpdlib-cb feitp-py feitp-py-2 feitp-py-nocb"
SCENARIOS=$PLAIN_SCENARIOS
# feitpd with limits set or its account stores (1 worker, like feitpd-1): measured only
# when asked for.
SERVERS=${ALL_SERVERS% feitpd-limits feitpd-sqlite feitpd-pg}
TLS_VERSION=1.3
OUT=""
CLIENTS_SMALL=50     # seed, session, login
CLIENTS_STREAM=4     # list, retr, stor
CLIENTS_IDLE=1000
BIG_SIZE=$((256 << 20))   # retr file
STOR_SIZE=$((64 << 20))   # one stor upload
LIST_ENTRIES=10000
PASV_MIN=61000
PASV_MAX=64999
BASE_PORT=21100
BENCH_USER=feitpbench
BENCH_PASSWORD=bench-pass-4821

usage() {
  cat <<EOF
usage: bench/compare.sh [options]
  --runs N            repetitions, interleaved (default $RUNS)
  --duration S        seconds measured per run (default $DURATION)
  --quick             short smoke run: 2 s, 1 run, output under \$CACHE/quick/
  --scenarios a,b     from: ${ALL_SCENARIOS// /,}
                      (default: the plain ones; "tls" stands for all -tls ones, "all" for every one)
  --tls-version V     1.3 (default) or 1.2: the one version the generator offers in -tls scenarios
  --servers x,y       from: ${ALL_SERVERS// /,}, and the Python variants ${PY_SERVERS// /,}
                      (default: all but feitpd-limits, feitpd-sqlite and feitpd-pg: feitpd-1 with limits set (not reached), its user in
                      an SQLite file or a PostgreSQL database (--accounts); feitpd-pg starts a
                      PostgreSQL 15 in a temporary folder as nobody, stopped on exit)
  --pin MODE          unpinned | pinned | both (default both)
  --out FILE          markdown to write (default docs/performance.md; --quick: \$CACHE/quick/)
  --build DIR         where bin/feitp-bench, bin/feitp-limit-responder, bin/feitpd are
                      (default $BUILD)
  --baseline DIR      another build of feitpd (its bin/feitpd), measured as server feitpd-base
                      with feitpd-1's configuration: a before/after of a change in one run
  --clean             delete the upload folders of earlier runs ($CACHE/uploads) and exit; they are
                      never deleted during a run: on ext4 without journal, creating files soon
                      after deleting many is slow for minutes, and deleting them takes minutes
  --work DIR          where the upload folders go (default \$CACHE/uploads). A tmpfs (e.g.
                      /dev/shm/feitp-bench) takes the file system out of the figures: on this
                      machine's ext4 without a journal, creating a file scans past every inode
                      deleted in the last half minute (ext4's recently_deleted()), which can be
                      70% of a server's CPU per upload and varies with what else ran
  --note TEXT         a sentence for the report (e.g. what else ran on the machine)
  --clients N         clients for seed, session, login (default $CLIENTS_SMALL)
  --stream-clients N  clients for list, retr, stor (default $CLIENTS_STREAM)
  --idle-clients N    sessions held by idle (default $CLIENTS_IDLE; fork-per-session peers
                      need a process each)
Environment: CACHE (default \$BUILD/peers) holds unpacked peers, test data and results.
EOF
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --scenarios)
      SCENARIOS=${2//,/ }
      SCENARIOS=$(for s in $SCENARIOS; do case $s in tls) echo "$TLS_SCENARIOS" ;; all) echo "$ALL_SCENARIOS" ;; *) echo "$s" ;; esac; done | xargs)
      shift 2 ;;
    --tls-version) TLS_VERSION=$2; shift 2 ;;
    --servers) SERVERS=${2//,/ }; shift 2 ;;
    --pin)
      case $2 in unpinned|pinned) PIN_MODES=$2 ;; both) PIN_MODES="unpinned pinned" ;; *) usage; exit 2 ;; esac
      shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --baseline) BASELINE=$(cd "$2" && pwd); shift 2 ;;
    --clean) CLEAN=1; shift ;;
    --note) NOTE=$2; shift 2 ;;
    --work) WORK_BASE=$2; shift 2 ;;
    --clients) CLIENTS_SMALL=$2; shift 2 ;;
    --stream-clients) CLIENTS_STREAM=$2; shift 2 ;;
    --idle-clients) CLIENTS_IDLE=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; usage; exit 2 ;;
  esac
done
if [[ $QUICK == 1 ]]; then
  RUNS=1
  DURATION=2
  WARMUP=0.5
  [[ $CLIENTS_IDLE == 1000 ]] && CLIENTS_IDLE=200
  [[ -z $OUT ]] && OUT=$CACHE/quick/performance.md
fi
[[ -z $OUT ]] && OUT=$ROOT/docs/performance.md
for s in $SCENARIOS; do [[ " $ALL_SCENARIOS " == *" $s "* ]] || { echo "unknown scenario $s" >&2; exit 2; }; done
for s in $SERVERS; do [[ " $ALL_SERVERS $PY_SERVERS " == *" $s "* ]] || { echo "unknown server $s" >&2; exit 2; }; done
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 && $RUNS -le 50 ]] || { echo "--runs: 1..50" >&2; exit 2; }
[[ $TLS_VERSION == 1.2 || $TLS_VERSION == 1.3 ]] || { echo "--tls-version: 1.2 or 1.3" >&2; exit 2; }
is_tls() { [[ $1 == *-tls* ]]; }
WANT_TLS=0
for s in $SCENARIOS; do is_tls "$s" && WANT_TLS=1; done
for n in "$CLIENTS_SMALL" "$CLIENTS_STREAM" "$CLIENTS_IDLE"; do
  [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 20000 ]] || { echo "client counts: 1..20000" >&2; exit 2; }
done
[[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "--duration: seconds" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "compare.sh needs root (system user, cgroup, sysctl)" >&2; exit 2; }
WORK_BASE=${WORK_BASE:-$CACHE/uploads}
if [[ $CLEAN == 1 ]]; then
  echo "deleting $WORK_BASE (this can take minutes)" >&2
  rm -rf "$WORK_BASE"
  exit 0
fi

# One run per machine: every run shares the system user (its password lock and its home), the
# reserved passive range and the CPUs. A second run started meanwhile from another checkout
# locks the account or moves the home under the first one's servers (530, 550 in its results).
LOCK=/run/lock/feitp-compare.lock
exec 9>"$LOCK"
if ! flock -n 9; then
  echo "compare.sh: another bench/compare.sh is running on this machine (lock $LOCK); waiting up to 60 min" >&2
  flock -w 3600 9 || { echo "compare.sh: gave up waiting for $LOCK" >&2; exit 2; }
fi

BIN=$BUILD/bin
BENCH=$BIN/feitp-bench
LIMIT=$BIN/feitp-limit-responder
FEITPD=$BIN/feitpd
for b in "$BENCH" "$LIMIT"; do
  [[ -x $b ]] || { echo "missing $b: ninja -C $BUILD feitp-bench feitp-limit-responder" >&2; exit 2; }
done

log() { printf '[compare %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$CACHE/results/$STAMP
WORK=$WORK_BASE/$STAMP
LOGS=$RESULTS/logs
mkdir -p "$RESULTS" "$WORK" "$LOGS"
TSV=$RESULTS/results.tsv
printf 'round\tscenario\tserver\tpin\trc\ttransactions\trate\tmib_per_s\tp50_us\tp99_us\tmax_us\tfailures\tall_transactions\tall_bytes\tserver_cpu_us\tprocesses\tbench_cpu_pct\tkib_per_session\tfailure_kinds\tload1\ttls_version\ttls_ctrl_handshakes\ttls_ctrl_resume_wanted\ttls_ctrl_resumed\ttls_data_handshakes\ttls_data_resumed\n' >"$TSV"
CMDS=$RESULTS/commands.txt
: >"$CMDS"

# --- clean-up, whatever happens ---------------------------------------------------------------
SERVER_PID=""
SERVER_CG=""
BENCH_PID=""
RESERVED_SAVED=""
PAM_CREATED=""
CGROOT=""
USER_UNLOCKED=""
PG_DIR=""
PG_URI=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n $BENCH_PID ]] && kill -TERM "$BENCH_PID" 2>/dev/null
  stop_server || true
  [[ -n $RESERVED_SAVED ]] && unreserve_passive_range
  [[ -n $PAM_CREATED ]] && rm -f "$PAM_CREATED"
  [[ -n $USER_UNLOCKED ]] && usermod -p '!' -s /usr/sbin/nologin "$BENCH_USER" 2>/dev/null
  [[ -n $CGROOT ]] && remove_cgroups "$CGROOT/feitp-compare-$$"
  [[ -n $PG_DIR ]] && { /usr/bin/python3 "$ROOT/tests/integration/pg_fixture.py" stop "$PG_DIR" >/dev/null 2>&1; rm -rf "$PG_DIR"; }
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# --- peers ------------------------------------------------------------------------------------
APT_UPDATED=0
apt_update_once() { [[ $APT_UPDATED == 1 ]] || { apt-get update -qq >/dev/null 2>&1 || true; APT_UPDATED=1; }; }

# unpack PKG: dpkg -x of the package into $CACHE/PKG (the daemons conflict as packages)
unpack() {
  local pkg=$1
  [[ -d $CACHE/$pkg/usr ]] && return 0
  apt_update_once
  mkdir -p "$CACHE/debs"
  (cd "$CACHE/debs" && apt-get download "$pkg" >/dev/null 2>&1) || { log "apt-get download $pkg failed"; return 1; }
  dpkg -x "$(ls -t "$CACHE/debs/${pkg}"_*.deb | head -1)" "$CACHE/$pkg"
}

# missing shared libraries of a binary, installed as ordinary packages (they do not conflict)
ensure_libs() {
  local bin=$1; shift
  if ldd "$bin" | grep -q 'not found'; then
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 || true
  fi
  if ldd "$bin" | grep -q 'not found'; then
    log "$bin still misses: $(ldd "$bin" | grep 'not found' | tr -s ' \t' ' ')"
    return 1
  fi
}

VSFTPD="" PROFTPD="" PROFTPD_MODULES="" PUREFTPD="" HAVE_PYFTPDLIB=0 HAVE_PYOPENSSL=0
setup_peers() {
  if [[ " $SERVERS " == *" vsftpd "* ]]; then
    if unpack vsftpd && ensure_libs "$CACHE/vsftpd/usr/sbin/vsftpd" libwrap0; then
      VSFTPD=$CACHE/vsftpd/usr/sbin/vsftpd
    fi
  fi
  if [[ " $SERVERS " == *" proftpd "* ]]; then
    if unpack proftpd-core && ensure_libs "$CACHE/proftpd-core/usr/sbin/proftpd" \
        libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3; then
      PROFTPD=$CACHE/proftpd-core/usr/sbin/proftpd
    fi
    # mod_tls is in proftpd-mod-crypto, unpacked beside proftpd-core and loaded from there
    if [[ $WANT_TLS == 1 && -n $PROFTPD ]] && unpack proftpd-mod-crypto &&
        ensure_libs "$CACHE/proftpd-mod-crypto/usr/lib/proftpd/mod_tls.so" libsodium23; then
      PROFTPD_MODULES=$CACHE/proftpd-mod-crypto/usr/lib/proftpd
    fi
  fi
  if [[ " $SERVERS " == *" pureftpd "* ]]; then
    if unpack pure-ftpd && ensure_libs "$CACHE/pure-ftpd/usr/sbin/pure-ftpd"; then
      PUREFTPD=$CACHE/pure-ftpd/usr/sbin/pure-ftpd
    fi
  fi
  if [[ " $SERVERS " == *" pyftpdlib"* ]]; then
    if ! /usr/bin/python3 -c 'import pyftpdlib' 2>/dev/null; then
      apt_update_once
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pyftpdlib >/dev/null 2>&1 || true
    fi
    /usr/bin/python3 -c 'import pyftpdlib' 2>/dev/null && HAVE_PYFTPDLIB=1
    if [[ $WANT_TLS == 1 ]] && ! /usr/bin/python3 -c 'import OpenSSL' 2>/dev/null; then
      apt_update_once   # pyftpdlib's TLS_FTPHandler is built on pyOpenSSL
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-openssl >/dev/null 2>&1 || true
    fi
    /usr/bin/python3 -c 'import OpenSSL' 2>/dev/null && HAVE_PYOPENSSL=1
  fi
  if ! command -v gnuplot >/dev/null; then
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 || true
  fi
}

version_of() {  # package version of an unpacked or installed package
  local pkg=$1 deb
  deb=$(ls -t "$CACHE/debs/${pkg}"_*.deb 2>/dev/null | head -1)
  if [[ -n $deb ]]; then dpkg-deb -f "$deb" Version; else dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || echo "?"; fi
}

# --- the shared user, data and settings --------------------------------------------------------
HASH_FILE=$CACHE/bench-user.hash
setup_user() {
  if [[ ! -s $HASH_FILE ]]; then
    openssl passwd -6 -salt feitpbench4821 "$BENCH_PASSWORD" >"$HASH_FILE"
  fi
  HASH=$(cat "$HASH_FILE")
  if ! id "$BENCH_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir "$WORK" --shell /usr/sbin/nologin "$BENCH_USER"
  fi
  # Pure-FTPd admits only users whose shell is in /etc/shells: /bin/sh during the run; the
  # account is locked again (no password, nologin) on exit.
  usermod -p "$HASH" -s /bin/sh "$BENCH_USER"
  USER_UNLOCKED=1
  BENCH_UID=$(id -u "$BENCH_USER")
  BENCH_GID=$(id -g "$BENCH_USER")
  # vsftpd checks passwords through PAM only: a service file of its own, removed on exit.
  local pam=/etc/pam.d/feitp-bench-vsftpd
  printf 'auth required pam_unix.so\naccount required pam_unix.so\nsession required pam_permit.so\n' >"$pam"
  PAM_CREATED=$pam
}

# One self-signed RSA-2048 certificate for every TLS server of the run (made with the openssl
# CLI in the run's folder; the daemons read it as root before they drop privileges).
TLS_DIR=$RESULTS/tls
setup_tls() {
  [[ $WANT_TLS == 1 ]] || return 0
  mkdir -p "$TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" >/dev/null 2>&1
  cat "$TLS_DIR/cert.pem" "$TLS_DIR/key.pem" >"$TLS_DIR/both.pem"   # Pure-FTPd's one-file form
  chmod 600 "$TLS_DIR/key.pem" "$TLS_DIR/both.pem"
  TLS_CERT=$TLS_DIR/cert.pem
  TLS_KEY=$TLS_DIR/key.pem
}

DATA=$CACHE/data
setup_data() {
  # Read-only data shared by every server, made once and kept: a directory of
  # $LIST_ENTRIES files for LIST and one big file for RETR.
  mkdir -p "$DATA/listdir"
  local have
  have=$(find "$DATA/listdir" -maxdepth 1 -type f | wc -l)
  if [[ $have -lt $LIST_ENTRIES ]]; then
    log "creating $LIST_ENTRIES files in $DATA/listdir (once)"
    (cd "$DATA/listdir" && seq -f 'file%05g.bin' 0 $((LIST_ENTRIES - 1)) | xargs touch)
  fi
  if [[ ! -f $DATA/big.bin || $(stat -c %s "$DATA/big.bin") != "$BIG_SIZE" ]]; then
    log "creating $DATA/big.bin ($((BIG_SIZE >> 20)) MiB, once)"
    head -c "$BIG_SIZE" /dev/urandom >"$DATA/big.bin"
  fi
  chmod 755 "$CACHE" "$DATA" "$DATA/listdir"
  chmod 644 "$DATA/big.bin"
}

# The reserved list without our range (idempotent: a run that died cannot leave it behind
# for the next one to "restore").
reserved_without_ours() {
  tr ',' '\n' </proc/sys/net/ipv4/ip_local_reserved_ports | { grep -v -x -e "$PASV_MIN-$PASV_MAX" -e '' || true; } | paste -sd, -
}
reserve_passive_range() {
  local others
  others=$(reserved_without_ours)
  RESERVED_SAVED=1
  printf '%s\n' "${others:+$others,}$PASV_MIN-$PASV_MAX" >/proc/sys/net/ipv4/ip_local_reserved_ports
}
unreserve_passive_range() {
  printf '%s\n' "$(reserved_without_ours)" >/proc/sys/net/ipv4/ip_local_reserved_ports 2>/dev/null || true
}

remove_cgroups() {  # a cgroup and its children, once their processes are gone (bounded)
  local top=$1 i d
  [[ -d $top ]] || return 0
  for i in $(seq 1 30); do
    for d in "$top"/*/; do
      [[ -d $d ]] || continue
      [[ -f $d/cgroup.kill ]] && echo 1 >"$d/cgroup.kill" 2>/dev/null
      rmdir "$d" 2>/dev/null
    done
    rmdir "$top" 2>/dev/null && return 0
    sleep 0.1
  done
  log "could not remove $top"
}

setup_cgroup() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then CGROOT=/sys/fs/cgroup
  elif [[ -f /sys/fs/cgroup/unified/cgroup.controllers ]]; then CGROOT=/sys/fs/cgroup/unified
  fi
  local stale
  for stale in "$CGROOT"/feitp-compare-*; do
    [[ -n $CGROOT && -d $stale ]] || continue
    kill -0 "${stale##*-}" 2>/dev/null || remove_cgroups "$stale"
  done
  if [[ -n $CGROOT ]] && mkdir -p "$CGROOT/feitp-compare-$$" 2>/dev/null; then
    log "server CPU from cgroup v2 at $CGROOT/feitp-compare-$$"
  else
    CGROOT=""
    log "no cgroup v2: server CPU from /proc (process tree, reaped children included)"
  fi
}

# --- one server ---------------------------------------------------------------------------------
server_port() {
  local i=0 s
  for s in $ALL_SERVERS $PY_SERVERS; do
    [[ $s == "$1" ]] && { echo $((BASE_PORT + i)); return; }
    i=$((i + 1))
  done
}

# server_command SERVER HOME PORT DIR [tls]: writes SERVER's configuration into DIR and
# prints the command line that starts it; with "tls", the server also speaks explicit FTPS with
# the run's certificate, configured as an operator who turns TLS on would.
server_command() {
  local server=$1 home=$2 port=$3 dir=$4 tls=${5:-}
  case $server in
    limit)
      echo "$LIMIT --port $port --passive-ports $PASV_MIN-$PASV_MAX --retr-size $BIG_SIZE --list-lines $LIST_ENTRIES" ;;
    feitpd-1|feitpd-2|feitpd-base|feitpd-2m)
      # feitpd-2m: feitpd-2 with /metrics on (port + 1000), to show what metrics cost.
      local workers=${server#feitpd-} exe=$FEITPD extra=""
      workers=${workers%m}
      [[ $server == feitpd-2m ]] && extra="--metrics-listen 127.0.0.1:$((port + 1000))"
      if [[ $server == feitpd-base ]]; then
        # A baseline build may predate the defaults for a fleet behind NAT (no per-address cap):
        # it gets that one explicitly, so both builds admit the same 50 clients from 127.0.0.1.
        workers=1 exe=$BASELINE/bin/feitpd
      fi
      # Only what the README's quick start sets (listen, passive range, one user with write
      # permissions) plus the worker count: every limit, timeout and the log level stay at their
      # defaults, as a new user runs it. The user gets the same hash as the peers' users.
      cat >"$dir/feitpd.toml" <<EOF
[server]
listen = ["127.0.0.1:$port"]
workers = $workers
[passive]
ports = "$PASV_MIN-$PASV_MAX"
[users.$BENCH_USER]
password_hash = "$HASH"
home = "$home"
permissions = "elradfmwMT"
EOF
      [[ $server == feitpd-base ]] && printf '[limits]\nmax_per_ip = 0\n' >>"$dir/feitpd.toml"
      if [[ -n $tls ]]; then
        echo "$exe --config $dir/feitpd.toml --workers $workers $extra --tls-cert $TLS_CERT --tls-key $TLS_KEY"
      else
        echo "$exe --config $dir/feitpd.toml --workers $workers $extra"
      fi ;;
    feitpd-sqlite|feitpd-pg)
      # feitpd-1 with the same user (same SHA-512-crypt hash) in an account store instead of
      # the file; the home is the only thing that changes between runs.
      local store
      if [[ $server == feitpd-sqlite ]]; then store=sqlite:$dir/users.db; else store=$PG_URI; fi
      "$FEITPD" --accounts "$store" user del "$BENCH_USER" >/dev/null 2>&1 || true
      printf '%s\n' "$BENCH_PASSWORD" | "$FEITPD" --accounts "$store" user add "$BENCH_USER" \
        --home "$home" --permissions elradfmwMT --hash-method sha512 >/dev/null
      cat >"$dir/feitpd.toml" <<EOF
[server]
listen = ["127.0.0.1:$port"]
workers = 1
[passive]
ports = "$PASV_MIN-$PASV_MAX"
[accounts]
store = "$store"
homes = ["$home"]
EOF
      echo "$FEITPD --config $dir/feitpd.toml --workers 1" ;;
    feitpd-limits)
      # feitpd-1 with a quota and every bandwidth limit set, none of them reached: what the
      # accounting and the token buckets cost (docs/accounts.md).
      cat >"$dir/feitpd.toml" <<EOF
[server]
listen = ["127.0.0.1:$port"]
workers = 1
[passive]
ports = "$PASV_MIN-$PASV_MAX"
[limits]
upload_rate = 10000000000
download_rate = 10000000000
session_upload_rate = 10000000000
session_download_rate = 10000000000
[users.$BENCH_USER]
password_hash = "$HASH"
home = "$home"
permissions = "elradfmwMT"
quota_bytes = 1000000000000
quota_files = 100000000
upload_rate = 10000000000
download_rate = 10000000000
EOF
      echo "$FEITPD --config $dir/feitpd.toml --workers 1" ;;
    vsftpd)
      mkdir -p "$dir/empty"
      cat >"$dir/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=$home
pasv_enable=YES
pasv_min_port=$PASV_MIN
pasv_max_port=$PASV_MAX
connect_from_port_20=NO
xferlog_enable=NO
syslog_enable=NO
dual_log_enable=NO
vsftpd_log_file=/dev/null
max_clients=0
max_per_ip=0
idle_session_timeout=600
data_connection_timeout=600
pam_service_name=feitp-bench-vsftpd
secure_chroot_dir=$dir/empty
userlist_enable=NO
tcp_wrappers=NO
seccomp_sandbox=NO
EOF
      if [[ -n $tls ]]; then
        # TLS required for logins and data (vsftpd's defaults once ssl_enable is on), and the
        # data connection must resume the control session (require_ssl_reuse=YES, the default:
        # the defence against data-connection theft; feitp-bench resumes, as FileZilla and curl).
        cat >>"$dir/vsftpd.conf" <<EOF
ssl_enable=YES
rsa_cert_file=$TLS_CERT
rsa_private_key_file=$TLS_KEY
allow_anon_ssl=NO
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=YES
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
EOF
      fi
      echo "$VSFTPD $dir/vsftpd.conf" ;;
    proftpd)
      cat >"$dir/proftpd.conf" <<EOF
ServerType standalone
ServerName "feitp-bench proftpd"
DefaultServer on
UseIPv6 off
DefaultAddress 127.0.0.1
SocketBindTight on
Port $port
User nobody
Group nogroup
PidFile $dir/proftpd.pid
ScoreboardFile $dir/proftpd.scoreboard
WtmpLog off
TransferLog none
SystemLog none
MaxInstances none
MaxClients none
MaxClientsPerHost none
MaxLoginAttempts 1000
PassivePorts $PASV_MIN $PASV_MAX
RequireValidShell off
UseFtpUsers off
UseReverseDNS off
DelayEngine off
AuthOrder mod_auth_unix.c
DefaultChdir $home
TimeoutIdle 600
TimeoutNoTransfer 600
Umask 022
AllowOverwrite on
EOF
      if [[ -n $tls ]]; then
        # mod_tls as an operator turns it on: TLS required, TLS 1.2 and 1.3, session tickets on
        # (so a reconnect can resume), and the data connection must resume the control
        # session (mod_tls's default).
        cat >>"$dir/proftpd.conf" <<EOF
ModulePath $PROFTPD_MODULES
LoadModule mod_tls.c
TLSEngine on
TLSLog none
TLSProtocol TLSv1.2 TLSv1.3
TLSRSACertificateFile $TLS_CERT
TLSRSACertificateKeyFile $TLS_KEY
TLSVerifyClient off
TLSRequired on
TLSRenegotiate none
TLSSessionTickets on
EOF
      fi
      echo "$PROFTPD -n -q -c $dir/proftpd.conf" ;;
    pureftpd)
      if [[ -n $tls ]]; then
        # -Y 2: TLS required for the control connection (logins); -2: the certificate and key
        echo "$PUREFTPD -S 127.0.0.1,$port -l unix -E -H -f none -p $PASV_MIN:$PASV_MAX -c 5000 -C 5000 -I 600 -U 133:022 -Y 2 -2 $TLS_DIR/both.pem"
      else
        echo "$PUREFTPD -S 127.0.0.1,$port -l unix -E -H -f none -p $PASV_MIN:$PASV_MAX -c 5000 -C 5000 -I 600 -U 133:022"
      fi ;;
    pyftpdlib|pyftpdlib-2)
      local workers=1
      [[ $server == pyftpdlib-2 ]] && workers=2
      echo "/usr/bin/python3 $ROOT/bench/pyftpd_driver.py --port $port --home $home --user $BENCH_USER --password $BENCH_PASSWORD --passive-ports $PASV_MIN-$PASV_MAX --workers $workers${tls:+ --tls-cert $TLS_CERT --tls-key $TLS_KEY}" ;;
    pyftpdlib-cb|feitp-py|feitp-py-2|feitp-py-nocb)
      local impl=feitp workers=1 cb=list
      [[ $server == pyftpdlib-cb ]] && impl=pyftpdlib
      [[ $server == feitp-py-2 ]] && workers=2
      [[ $server == feitp-py-nocb ]] && cb=none
      echo "env PYTHONPATH=$BUILD/python /usr/bin/python3 $ROOT/bench/py_server.py --impl $impl --callback $cb --port $port --home $home --user $BENCH_USER --password $BENCH_PASSWORD --passive-ports $PASV_MIN-$PASV_MAX --workers $workers" ;;
  esac
}

# tls_available SERVER: can SERVER run the -tls scenarios here? (says why not on stdout)
tls_available() {
  case $1 in
    limit) echo "the limit responder has no TLS"; return 1 ;;
    feitpd-*) [[ $FEITPD_TLS == 1 ]] || { echo "this feitpd has no TLS (feitpd --help lists no --tls-cert)"; return 1; } ;;
    proftpd) [[ -n $PROFTPD_MODULES ]] || { echo "mod_tls (proftpd-mod-crypto) not available"; return 1; } ;;
    pyftpdlib*) [[ $HAVE_PYOPENSSL == 1 ]] || { echo "python3-openssl missing (TLS_FTPHandler)"; return 1; } ;;
  esac
  return 0
}

server_available() {
  case $1 in
    limit) return 0 ;;
    feitpd-base) [[ -n $BASELINE && -x $BASELINE/bin/feitpd ]] ;;
    feitpd-pg) [[ -x $FEITPD && -n $PG_URI ]] ;;
    feitpd-*) [[ -x $FEITPD ]] ;;
    vsftpd) [[ -n $VSFTPD ]] ;;
    proftpd) [[ -n $PROFTPD ]] ;;
    pureftpd) [[ -n $PUREFTPD ]] ;;
    pyftpdlib*) [[ $HAVE_PYFTPDLIB == 1 ]] ;;
    feitp-py*) compgen -G "$BUILD/python/feitp/_feitp*.so" >/dev/null ;;
  esac
}

# launch NAME PIN CMD: starts CMD in its own session and cgroup, optionally on CPU 0
launch() {
  local name=$1 pin=$2 cmd=$3 n=0
  local -a pre=()
  [[ $pin == pinned ]] && pre=(taskset -c 0)
  SERVER_CG=""
  if [[ -n $CGROOT ]]; then
    n=$((n + 1))
    SERVER_CG=$CGROOT/feitp-compare-$$/$name-$RANDOM
    mkdir "$SERVER_CG"
  fi
  # shellcheck disable=SC2086
  setsid bash -c '[[ -n $1 ]] && echo $$ >"$1/cgroup.procs"; shift; exec "$@"' _ "$SERVER_CG" "${pre[@]}" $cmd \
    </dev/null >"$LOGS/$name.log" 2>&1 &
  SERVER_PID=$!
}

# CPU time of the running server, microseconds: its cgroup, else its session's processes
# (utime+stime+cutime+cstime: children it reaped count in the parent)
server_cpu_us() {
  if [[ -n $SERVER_CG ]]; then
    awk '$1 == "usage_usec" { print $2 }' "$SERVER_CG/cpu.stat"
    return
  fi
  /usr/bin/python3 - "$SERVER_PID" <<'EOF'
import os, sys
sid = int(sys.argv[1]); hz = os.sysconf("SC_CLK_TCK"); total = 0
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if int(f[3]) == sid:   # session id
        total += sum(int(x) for x in f[11:15])
print(total * 1_000_000 // hz)
EOF
}

server_processes() {
  if [[ -n $SERVER_CG ]]; then wc -l <"$SERVER_CG/cgroup.procs"; else ps -o pid= -s "$SERVER_PID" | wc -l; fi
}

wait_port() {  # bounded: 10 s
  local port=$1 i
  for i in $(seq 1 100); do
    ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 30); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  if [[ -n $SERVER_CG && -d $SERVER_CG ]]; then
    [[ -f $SERVER_CG/cgroup.kill ]] && echo 1 >"$SERVER_CG/cgroup.kill" 2>/dev/null
    for i in $(seq 1 30); do
      [[ -s $SERVER_CG/cgroup.procs ]] || break
      sleep 0.1
    done
    rmdir "$SERVER_CG" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  SERVER_CG=""
}

set_home() {  # the system user's home: where vsftpd, ProFTPD and Pure-FTPd log in
  local home=$1 i
  for i in 1 2 3 4 5; do
    # password and shell again too: a compare.sh from a checkout without the run lock may have
    # locked the account when it ended
    usermod -d "$home" -p "$HASH" -s /bin/sh "$BENCH_USER" 2>/dev/null && return 0
    sleep 0.5
  done
  log "usermod -d $home failed"
  return 1
}

# --- one measurement ----------------------------------------------------------------------------
base_scenario() { local s=${1%-tls-resume}; echo "${s%-tls}"; }

scenario_args() {
  case $(base_scenario "$1") in
    seed|session|login) echo "--clients $CLIENTS_SMALL --min-size 1024 --max-size 4096" ;;
    list) echo "--clients $CLIENTS_STREAM --path listdir" ;;
    retr) echo "--clients $CLIENTS_STREAM --path big.bin" ;;
    stor) echo "--clients $CLIENTS_STREAM --size $STOR_SIZE" ;;
    idle) echo "--clients $CLIENTS_IDLE --connect-batch 50 --timeout 60" ;;
  esac
}

measure() {
  local round=$1 scenario=$2 server=$3 pin=$4
  local port home dir cmd json rc cpu0 cpu1 procs duration=$DURATION base tls=""
  base=$(base_scenario "$scenario")
  is_tls "$scenario" && tls=tls
  port=$(server_port "$server")
  dir=$WORK/r$round/$scenario/$server-$pin
  mkdir -p "$dir"
  case $base in
    list|retr) home=$DATA ;;
    *) home=$dir/home; mkdir -p "$home"; chown "$BENCH_UID:$BENCH_GID" "$home" ;;
  esac
  [[ $scenario == idle ]] && duration=1
  # feitpd logs its users in from its own config: it needs no system user's home (usermod
  # fails while another benchmark's peer runs as that user).
  [[ $server == feitpd-* ]] || set_home "$home" || return 0
  cmd=$(server_command "$server" "$home" "$port" "$dir" $tls)
  launch "$server" "$pin" "$cmd"
  if ! wait_port "$port"; then
    log "$server did not start (log: $LOGS/$server.log)"
    stop_server
    printf '%s\t%s\t%s\t%s\tnostart\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\tserver did not start\t-\n' \
      "$round" "$scenario" "$server" "$pin" >>"$TSV"
    return 0
  fi
  sleep 0.5   # workers up, start-up CPU spent
  # A compare.sh from a checkout without the lock above may still run beside this one: say so.
  local other
  for other in "$CGROOT"/feitp-compare-*; do
    [[ -n $CGROOT && -d $other && $other != "$CGROOT/feitp-compare-$$" ]] || continue
    if kill -0 "${other##*-}" 2>/dev/null; then
      log "warning: another compare.sh (pid ${other##*-}) runs beside this one: its user and home changes can fail this measurement"
    fi
  done
  local -a bench=()
  [[ $pin == pinned ]] && bench=(taskset -c 1)
  bench+=("$BENCH" --host 127.0.0.1 --port "$port" --user "$BENCH_USER" --password "$BENCH_PASSWORD"
          --scenario "$base" --duration "$duration" --json --no-progress)
  if [[ -n $tls ]]; then
    bench+=(--tls --tls-version "$TLS_VERSION")
    [[ $scenario == *-tls-resume ]] && bench+=(--tls-reconnect resume)
  fi
  [[ $scenario != idle ]] && bench+=(--warmup "$WARMUP")
  # shellcheck disable=SC2207
  bench+=($(scenario_args "$scenario"))
  case $base in
    seed|session|stor) [[ $server != limit ]] && bench+=(--verify-dir "$home") ;;
    idle) bench+=(--pid "$SERVER_PID") ;;
  esac
  if [[ $round == 1 ]] && ! grep -q "^$scenario $server $pin:" "$CMDS"; then
    local c1=${cmd//$WORK/\$WORK} c2=${bench[*]//$WORK/\$WORK}
    c1=${c1//$ROOT\//}; c2=${c2//$ROOT\//}
    { echo "$scenario $server $pin:"; echo "  server: $c1"; echo "  bench:  $c2"; } >>"$CMDS"
  fi
  procs=$(server_processes)
  local load1
  load1=$(cut -d' ' -f1 /proc/loadavg)
  cpu0=$(server_cpu_us)
  mkdir -p "$RESULTS/json"
  json=$RESULTS/json/r$round-$scenario-$server-$pin.json
  # In the background and waited for, so a signal to this script is handled at once.
  timeout --kill-after=5 $(( ${duration%.*} + 90 )) "${bench[@]}" >"$json" 2>"${json%.json}.err" &
  BENCH_PID=$!
  set +e
  wait "$BENCH_PID"
  rc=$?
  set -e
  BENCH_PID=""
  cpu1=$(server_cpu_us)
  local procs_after
  procs_after=$(server_processes)
  [[ $procs_after -gt $procs ]] && procs=$procs_after
  stop_server
  [[ $base == stor ]] && rm -f "$home"/fb*_big_* 2>/dev/null   # a few big files, not a tree
  /usr/bin/python3 - "$json" "$round" "$scenario" "$server" "$pin" "$rc" "$((cpu1 - cpu0))" "$procs" "$load1" >>"$TSV" <<'EOF'
import json, sys
path, rnd, scen, srv, pin, rc, cpu, procs, load1 = sys.argv[1:]
try:
    j = json.load(open(path))
except Exception as e:  # no JSON: the generator died or timed out
    print("\t".join([rnd, scen, srv, pin, rc] + ["0"] * 13 + [f"no result: {e}".replace("\t", " "), load1]
                     + ["-", "0", "0", "0", "0", "0"]))
    sys.exit(0)
idle = j.get("idle", {})
t = j.get("tls", {})
kinds = ",".join(f"{k}={v}" for k, v in j["failures"].items())
print("\t".join(str(x) for x in [
    rnd, scen, srv, pin, rc, j["transactions"], j["rate_per_s"], j["mib_per_s"],
    j["latency_us"]["p50"], j["latency_us"]["p99"], j["latency_us"]["max"], j["failures_total"],
    j["all_transactions"], j["all_bytes"], cpu, procs, j["bench_cpu_pct"],
    idle.get("kib_per_session", 0), kinds or "-", load1, t.get("version") or "-",
    t.get("ctrl_handshakes", 0), t.get("ctrl_resume_wanted", 0), t.get("ctrl_resumed", 0),
    t.get("data_handshakes", 0), t.get("data_resumed", 0)]))
EOF
  log "$(tail -1 "$TSV" | awk -F'\t' '{printf "r%s %-7s %-11s %-8s rc=%s tx=%s rate=%s MiB/s=%s fail=%s cpu_us=%s procs=%s kib/s=%s", $1,$2,$3,$4,$5,$6,$7,$8,$12,$15,$16,$18; if ($21 != "-" && $21 != "") printf " %s ctrl hs=%s resumed=%s data hs=%s resumed=%s", $21,$22,$24,$25,$26}')"
}

# --- main ---------------------------------------------------------------------------------------
mkdir -p "$CACHE"
setup_peers
setup_user
setup_data
setup_tls
setup_cgroup
reserve_passive_range
if [[ " $SERVERS " == *" feitpd-pg "* ]]; then
  # The same PostgreSQL the tests start (tests/integration/pg_fixture.py), unpinned, for the
  # whole run; its CPU is not in feitpd's cgroup.
  PG_DIR=$(mktemp -d /tmp/feitp-bench-pg.XXXXXX)
  if PG_URI=$(/usr/bin/python3 "$ROOT/tests/integration/pg_fixture.py" start "$PG_DIR" 2>"$LOGS/postgres-start.log"); then
    log "PostgreSQL at $PG_URI"
  else
    log "PostgreSQL did not start (log: $LOGS/postgres-start.log)"; PG_URI=""
  fi
fi

CPU_SOURCE="/proc process tree (utime+stime of live processes, cutime+cstime of reaped ones)"
[[ -n $CGROOT ]] && CPU_SOURCE="cgroup v2 cpu.stat usage_usec, one cgroup per server start"

ACTIVE=""
for s in $SERVERS; do
  if server_available "$s"; then ACTIVE="$ACTIVE $s"; else log "skipping $s: not available"; fi
done
ACTIVE=${ACTIVE# }

# feitpd's FTPS: --tls-cert/--tls-key, where this build has them; without, the -tls scenarios
# skip feitpd (and say so) and measure the peers.
FEITPD_TLS=0
if [[ -x $FEITPD ]] && "$FEITPD" --help 2>&1 | grep -q -- '--tls-cert'; then FEITPD_TLS=1; fi
TLS_NOTE=""
if [[ $WANT_TLS == 1 ]]; then
  for s in $ACTIVE; do
    if ! why=$(tls_available "$s"); then
      log "skipping $s in the TLS scenarios: $why"
      [[ $s == feitpd-* ]] && TLS_NOTE="feitpd was not measured in the TLS scenarios: $why."
    fi
  done
fi

# feitpd --workers: the flag arrives with the multi-process runtime; without it, 1 worker only.
FEITPD_NOTE=""
if [[ " $ACTIVE " == *" feitpd-2 "* ]] && ! "$FEITPD" --help 2>&1 | grep -q -- '--workers'; then
  ACTIVE=$(echo " $ACTIVE " | sed 's/ feitpd-2 / /; s/^ //; s/ $//')
  FEITPD_NOTE="feitpd rejected --workers: only feitpd with 1 worker was measured."
fi

# Upload folders of earlier runs slow file creation here (ext4 allocates inodes more slowly as
# they pile up, and for about 5 minutes after a big deletion): say so, and record it.
EARLIER=$(find "$WORK_BASE" -mindepth 1 -maxdepth 1 -type d ! -name "$STAMP" 2>/dev/null | wc -l)
if ((EARLIER > 0)); then
  log "warning: $EARLIER earlier upload folder(s) in $WORK_BASE slow down uploads; for figures to quote, run bench/compare.sh --clean and wait 5 minutes first"
fi

cat >"$RESULTS/meta.txt" <<EOF
earlier_uploads=$EARLIER
date=$(date -u +%Y-%m-%dT%H:%MZ)
cpu=$(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')
cores=$(nproc)
memory=$(free -g | awk '/Mem:/ { print $2 " GiB" }')
kernel=$(uname -r)
os=$(. /etc/os-release && echo "$PRETTY_NAME")
compiler=$(c++ --version | head -1)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
runs=$RUNS
duration=$DURATION
servers=$ACTIVE
scenarios=$SCENARIOS
pins=$PIN_MODES
cpu_source=$CPU_SOURCE
reserved_ports=$PASV_MIN-$PASV_MAX
local_port_range=$(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range)
vsftpd=$(version_of vsftpd)
proftpd=$(version_of proftpd-core)
pureftpd=$(version_of pure-ftpd)
pyftpdlib=$(dpkg-query -W -f '${Version}' python3-pyftpdlib 2>/dev/null || echo "?")
python=$(/usr/bin/python3 --version 2>&1)
feitpd_note=$FEITPD_NOTE
tls_note=$TLS_NOTE
tls_version=$TLS_VERSION
tls_certificate=$([[ $WANT_TLS == 1 ]] && echo "RSA-$(openssl x509 -in "$TLS_DIR/cert.pem" -noout -text | awk '/Public-Key:/ { gsub(/[()]/, ""); print $2; exit }'), self-signed, made for the run with the openssl CLI")
openssl=$(openssl version)
proftpd_mod_crypto=$(version_of proftpd-mod-crypto)
command=bench/compare.sh $ORIG_ARGS
note=$NOTE
clients=seed/session/login $CLIENTS_SMALL, list/retr/stor $CLIENTS_STREAM, idle $CLIENTS_IDLE
EOF

log "servers: $ACTIVE; scenarios: $SCENARIOS; $RUNS run(s) of ${DURATION}s; results in $RESULTS"
for round in $(seq 1 "$RUNS"); do
  for scenario in $SCENARIOS; do
    for server in $ACTIVE; do
      for pin in $PIN_MODES; do
        [[ $scenario == idle && $pin == pinned ]] && continue
        is_tls "$scenario" && ! tls_available "$server" >/dev/null && continue
        measure "$round" "$scenario" "$server" "$pin"
      done
    done
  done
done

mkdir -p "$(dirname "$OUT")"
/usr/bin/python3 "$ROOT/bench/report.py" --results "$RESULTS" --out "$OUT"
log "wrote $OUT"
log "upload folders kept in $WORK: delete them (bench/compare.sh --clean) when no benchmark is about to run"
