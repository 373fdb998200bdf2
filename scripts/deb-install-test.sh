#!/usr/bin/env bash
# Proves that the Debian packages install and serve on a freshly made minimal Debian 12
# (bookworm) root, as an operator would use them:
#   1. builds the .debs (scripts/package.sh) unless FEITP_DEB_DIR names a folder holding them;
#   2. unpacks a minimal root (mmdebstrap --variant=apt, the cached tarball that
#      scripts/fresh-root-test.sh makes and shares), and there `apt-get install ./feitpd_*.deb`
#      (apt resolves the Depends from Debian); checks the user, the directories, the modes, the
#      man pages, and that the installed configuration passes --check;
#   3. adds a user to /etc/feitpd/feitpd.toml (the documented way: feitpd --hash-password),
#      points listen at 127.0.0.1:PORT, and starts /usr/sbin/feitpd as feitpd.service does
#      (there is no systemd in the root): user feitpd, the ambient capability to bind below
#      1024 and nothing else, no_new_privs. PORT is below 1024, so the capability is tested;
#   4. from this host over loopback with curl: a wrong password, then login, upload, download,
#      the bytes compared, the file on disk owned by feitpd; the worker processes hold no
#      capability; the installed fail2ban filter matches the failed login in the installed log
#      (fail2ban-regex of this host); SIGUSR1 reopens a rotated log; SIGHUP reload brings in a
#      second user; SIGTERM stops;
#  4b. installs systemd in the root, `systemctl enable feitpd`, boots the root with
#      systemd-nspawn (host network) and checks the shipped unit for real: active with its
#      Type=notify status, upload and download, `systemctl reload`, workers without capabilities
#      under seccomp, `systemd-analyze security` at most 2.0, logrotate with the shipped file,
#      stop; then `apt-get purge`;
#   5. libfeitp-dev: installed with a compiler and cmake, then examples/upload_log is built out
#      of tree with find_package(feitp), and a program with `pkg-config feitp`, and both run.
#
# Needs root on the host (chroot, bind mounts). The root shares the host's network.
# Environment:
#   FEITP_DEB_DIR           folder with feitpd_*.deb and libfeitp-dev_*.deb (default: build them
#                           with scripts/package.sh into build/packages)
#   FEITP_DEB_PORT          control port on 127.0.0.1, below 1024 (default 921)
#   FEITP_DEB_DEV=0         skip step 5 (the compiler download is the slowest part)
#   FEITP_DEB_SYSTEMD=0     skip booting the root with systemd-nspawn (step 4b)
#   FEITP_FRESH_CACHE, FEITP_FRESH_CACHE_DAYS, FEITP_FRESH_WORK, FEITP_FRESH_KEEP=1
#                           as in scripts/fresh-root-test.sh (the same cache)
set -euo pipefail
# shellcheck disable=SC2317  # cleanup and its helpers run from the EXIT trap
main() {
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${FEITP_DEB_PORT:-921}"
debs="${FEITP_DEB_DIR:-}"
dev="${FEITP_DEB_DEV:-1}"
boot="${FEITP_DEB_SYSTEMD:-1}"
cache="${FEITP_FRESH_CACHE-/var/cache/feitp-fresh-root}"
cache_days="${FEITP_FRESH_CACHE_DAYS:-7}"
work_parent="${FEITP_FRESH_WORK:-/var/tmp}"
release=bookworm
variant=apt

say() { printf 'deb-install: %s\n' "$*"; }
die() { printf 'deb-install: FAILED: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it uses chroot and bind mounts)"
if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 1023)); then
  die "FEITP_DEB_PORT=$port: give a port below 1024 (it tests the capability to bind one)"
fi
for tool in curl fail2ban-regex; do
  command -v "$tool" >/dev/null || die "$tool is missing on this host: run ./scripts/setup.sh"
done

t_start=$SECONDS
timings=()
phase_start=$SECONDS
phase_done() { timings+=("$(printf '%-30s %5ds' "$1" $((SECONDS - phase_start)))"); phase_start=$SECONDS; }

# --- 1. the packages ----------------------------------------------------------------------------
if [[ -z "$debs" ]]; then
  say "building the packages (scripts/package.sh)"
  "$repo/scripts/package.sh" >"${TMPDIR:-/tmp}/feitp-package.log" 2>&1 ||
    { tail -n 60 "${TMPDIR:-/tmp}/feitp-package.log" >&2; die "scripts/package.sh failed (log above)"; }
  debs="$repo/build/packages"
fi
shopt -s nullglob
daemon_debs=("$debs"/feitpd_*.deb)
dev_debs=("$debs"/libfeitp-dev_*.deb)
shopt -u nullglob
((${#daemon_debs[@]} == 1)) || die "expected one feitpd_*.deb in $debs, found ${#daemon_debs[@]}"
((${#dev_debs[@]} == 1)) || die "expected one libfeitp-dev_*.deb in $debs, found ${#dev_debs[@]}"
phase_done "packages"

if ! command -v mmdebstrap >/dev/null; then
  say "installing mmdebstrap on the host"
  DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed on the host"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap \
    || die "could not install mmdebstrap on the host"
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  die "port $port on 127.0.0.1 is in use on this host; free it or set FEITP_DEB_PORT"
fi

# --- the root: the same mirrors, options and cache as scripts/fresh-root-test.sh ---------------
# shellcheck disable=SC2016  # $(...) here is apt's format syntax, not the shell's
mapfile -t mirrors < <(
  apt-get indextargets --no-release-info \
    --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' 2>/dev/null |
    awk -v r="$release" '$1 == "deb" && ($3 == r || $3 == r "-updates" || $3 == r "-security" ||
                         $3 == r "/updates") {
        key = $2 " " $3
        if (!(key in comps)) { order[++n] = key; comps[key] = $4 }
        else if (index(" " comps[key] " ", " " $4 " ") == 0) comps[key] = comps[key] " " $4
      }
      END { for (i = 1; i <= n; i++) print "deb " order[i] " " comps[order[i]] }')
((${#mirrors[@]})) || die "this machine's apt has no '$release' source; cannot tell how Debian is reached"
aptopts=()
for kind in http https; do
  proxy="$(apt-config dump --no-empty --format '%v%n' "Acquire::$kind::Proxy" 2>/dev/null | head -n1)"
  [[ -n "$proxy" && "$proxy" != DIRECT ]] && aptopts+=("--aptopt=Acquire::$kind::Proxy \"$proxy\"")
done

work="$(mktemp -d "$work_parent/feitp-deb-root.XXXXXX")"
root="$work/root"
server_pid=""
fg_pid=""
tmp_tar=""
nspawn_pid=""

mounts_under_root() {
  awk -v r="$root/" 'index($5 "/", r) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

cleanup() {
  local rc=$? m i
  set +e
  ((${#timings[@]})) && { echo "deb-install: timings:"; printf '  %s\n' "${timings[@]}"; }
  [[ -n "$tmp_tar" ]] && rm -f "$tmp_tar"
  if [[ -n "$nspawn_pid" ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid" # nspawn asks the container's systemd to shut down
    for i in $(seq 1 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn_pid" 2>/dev/null
  fi
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for i in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [[ -n "$fg_pid" ]]; then
    kill -TERM "$fg_pid" 2>/dev/null
    wait "$fg_pid" 2>/dev/null
  fi
  for m in /proc/[0-9]*; do
    [[ "$(readlink "$m/root" 2>/dev/null)" == "$root" ]] && kill -KILL "${m#/proc/}" 2>/dev/null
  done
  for m in $(mounts_under_root); do umount "$m" 2>/dev/null || umount -l "$m"; done
  if [[ -n "$(mounts_under_root)" ]]; then
    echo "deb-install: could not unmount everything under $root; NOT deleting it:" >&2
    mounts_under_root >&2
    rc=1
  elif [[ "${FEITP_FRESH_KEEP:-0}" == 1 ]]; then
    echo "deb-install: root kept at $root"
  else
    rm -rf --one-file-system "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT

# bounded, mmdebstrap_to and make_root: the minimal root, cached (read now, like this main).
# shellcheck source=scripts/lib/debian-root.sh
source "$repo/scripts/lib/debian-root.sh"
trap 'exit 130' INT
trap 'exit 143' TERM

make_root
phase_done "root (mmdebstrap or cache)"

mount_root() {
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
}
mount_root
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$root/pkgs"
cp "${daemon_debs[0]}" "${dev_debs[0]}" "$root/pkgs/"
daemon_deb="/pkgs/$(basename "${daemon_debs[0]}")"
dev_deb="/pkgs/$(basename "${dev_debs[0]}")"

in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# --- 2. install ---------------------------------------------------------------------------------
say "apt-get install $daemon_deb"
bounded 900 chroot "$root" /usr/bin/env -i HOME=/root DEBIAN_FRONTEND=noninteractive \
  PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c \
  "apt-get update -q >/tmp/apt.log 2>&1 && apt-get install -y -q --no-install-recommends $daemon_deb >>/tmp/apt.log 2>&1" ||
  { tail -n 40 "$root/tmp/apt.log" >&2; die "apt-get install $daemon_deb failed (log above)"; }
phase_done "apt install feitpd"

[[ -x "$root/usr/sbin/feitpd" ]] || die "/usr/sbin/feitpd is not installed"
in_root getent passwd feitpd >/dev/null || die "the package did not create the user feitpd"
fuid="$(in_root id -u feitpd)"
expect_stat() { # path "owner:group mode"
  local got
  got="$(in_root stat -c '%U:%G %a' "$1")" || die "$1 is missing"
  [[ "$got" == "$2" ]] || die "$1 is $got, expected $2"
}
expect_stat /etc/feitpd/feitpd.toml "root:feitpd 640"
expect_stat /srv/feitpd "feitpd:feitpd 750"
expect_stat /var/log/feitpd "feitpd:feitpd 750"
for f in /lib/systemd/system/feitpd.service /etc/logrotate.d/feitpd \
  /etc/fail2ban/filter.d/feitpd.conf /usr/share/doc/feitpd/examples/fail2ban-jail-feitpd.conf \
  /usr/share/man/man8/feitpd.8.gz /usr/share/man/man5/feitpd.toml.5.gz; do
  [[ -f "$root$f" ]] || die "$f is not installed"
done
grep -qx 'ExecStart=/usr/sbin/feitpd --config /etc/feitpd/feitpd.toml' "$root/lib/systemd/system/feitpd.service" ||
  die "the unit's ExecStart is not /usr/sbin/feitpd --config /etc/feitpd/feitpd.toml"
for c in /etc/feitpd/feitpd.toml /etc/logrotate.d/feitpd /etc/fail2ban/filter.d/feitpd.conf; do
  in_root dpkg-query --control-show feitpd conffiles | grep -qx "$c" || die "$c is not a conffile"
done
# (grep reads to the end: grep -q would quit at the match and zcat die of SIGPIPE under pipefail)
zcat "$root/usr/share/man/man8/feitpd.8.gz" | grep '^\.TH FEITPD 8' >/dev/null || die "feitpd(8) is not a man page"
zcat "$root/usr/share/man/man5/feitpd.toml.5.gz" | grep '^\.TH FEITPD.TOML 5' >/dev/null || die "feitpd.toml(5) is not a man page"

# As the service: user feitpd, one capability (setpriv is in util-linux, in every root).
# shellcheck disable=SC2054  # the commas belong to setpriv's capability lists
as_service=(setpriv --reuid=feitpd --regid=feitpd --init-groups
  --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service
  --bounding-set=-all,+net_bind_service --no-new-privs --)
# As shipped nobody can log in: --check says so in one line, and the postinst said what to do.
if in_root "${as_service[@]}" /usr/sbin/feitpd --config /etc/feitpd/feitpd.toml --check >"$root/tmp/check.out" 2>&1; then
  die "the shipped configuration passes --check, but it has no user (the service would serve nobody)"
fi
grep -q "no one can log in" "$root/tmp/check.out" || { cat "$root/tmp/check.out" >&2; die "--check of the shipped configuration: unexpected error"; }
grep -q "systemctl enable --now feitpd" "$root/tmp/apt.log" || die "the postinst did not say how to start the service"
say "installed: /usr/sbin/feitpd, user feitpd ($fuid), conffiles, modes, man pages; no user yet (--check says so)"

# --- 3. a user, a port, and the daemon started as the unit starts it --------------------------
pass="deb-Test-$RANDOM$RANDOM"
hash="$(printf '%s\n' "$pass" | in_root /usr/sbin/feitpd --hash-password)" || die "feitpd --hash-password failed"
conf="$root/etc/feitpd/feitpd.toml"
sed -i "s|^listen = .*|listen = [\"127.0.0.1:$port\"]|" "$conf"
sed -i 's|^ports = .*|ports = "40000-40999"|' "$conf"
cat >>"$conf" <<EOF

[users.tester]
password_hash = "$hash"
home = "/srv/feitpd/tester"
permissions = "elradfmwMT"
EOF
grep -q "^listen = \[\"127.0.0.1:$port\"\]" "$conf" || die "could not set listen in the installed configuration"
in_root "${as_service[@]}" /usr/sbin/feitpd --config /etc/feitpd/feitpd.toml --check >"$root/tmp/check.out" 2>&1 ||
  { cat "$root/tmp/check.out" >&2; die "the edited configuration fails --check"; }

# The unit's ExecStart, with its User=, AmbientCapabilities= and NoNewPrivileges=.
exec_start="$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/feitpd.service")"
say "starting $exec_start as user feitpd with CAP_NET_BIND_SERVICE only, on 127.0.0.1:$port"
# shellcheck disable=SC2086  # the unit's command line, split as systemd splits it (no quotes)
setsid chroot "$root" /usr/bin/env -i HOME=/srv/feitpd PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  "${as_service[@]}" $exec_start >"$root/tmp/feitpd.out" 2>&1 </dev/null &
server_pid=$!
log="$root/var/log/feitpd/feitpd.log"
url="ftp://127.0.0.1:$port"
for i in $(seq 1 100); do
  grep -q "workers serving" "$log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$root/tmp/feitpd.out" "$log" >&2; die "feitpd exited at start (output above)"; }
  ((i < 100)) || { cat "$root/tmp/feitpd.out" "$log" >&2; die "feitpd did not say it serves within 20 s"; }
  sleep 0.2
done
phase_done "configure and start"

# --- 4. a real client from the host ---------------------------------------------------------------
code="$(curl -s -o /dev/null -w '%{response_code}' --max-time 20 -u "tester:wrong-$RANDOM" "$url/" || true)"
[[ "$code" == 530 ]] || die "a wrong password got reply $code, expected 530"
payload="$work/payload.bin"
head -c 1500000 /dev/urandom >"$payload"
curl -sS --max-time 30 -u "tester:$pass" -T "$payload" "$url/up.bin" || die "upload with curl failed"
curl -sS --max-time 30 -u "tester:$pass" -o "$work/back.bin" "$url/up.bin" || die "download with curl failed"
cmp -s "$payload" "$work/back.bin" || die "the download differs from the upload"
cmp -s "$payload" "$root/srv/feitpd/tester/up.bin" || die "/srv/feitpd/tester/up.bin is not the uploaded bytes"
[[ "$(stat -c '%u' "$root/srv/feitpd/tester/up.bin")" == "$fuid" ]] || die "the uploaded file is not owned by feitpd"
curl -sS --max-time 20 -u "tester:$pass" "$url/" | grep -q ' up.bin$' || die "the listing does not show up.bin"
say "curl: wrong password 530; login, upload, listing, download of 1500000 bytes OK; file owned by feitpd"

# Every process: user feitpd; the master holds CAP_NET_BIND_SERVICE only, the workers nothing.
master="$(pgrep -P "$server_pid" -x feitpd || true)"
[[ -z "$master" ]] && master="$server_pid"
workers=0
for p in $(pgrep -x feitpd-worker || true); do
  [[ "$(readlink "/proc/$p/root")" == "$root" ]] || continue
  workers=$((workers + 1))
  [[ "$(awk '/^Uid:/ {print $2}' "/proc/$p/status")" == "$fuid" ]] || die "worker $p does not run as feitpd"
  for f in CapEff CapPrm CapAmb CapInh; do
    v="$(awk -v f="$f:" '$1 == f {print $2}' "/proc/$p/status")"
    [[ "$v" =~ ^0+$ ]] || die "worker $p has $f $v (expected none)"
  done
done
((workers > 0)) || die "no feitpd-worker process found in the root"
for p in $(pgrep -x feitpd || true); do
  [[ "$(readlink "/proc/$p/root")" == "$root" ]] || continue
  [[ "$(awk '/^Uid:/ {print $2}' "/proc/$p/status")" == "$fuid" ]] || die "the master $p does not run as feitpd"
  v="$(awk '$1 == "CapEff:" {print $2}' "/proc/$p/status")"
  [[ "$v" == 0000000000000400 ]] || die "the master has CapEff $v, expected CAP_NET_BIND_SERVICE only (400)"
  master=$p
done
grep -q "serving: uid $fuid, no capabilities" "$log" || die "no worker says 'serving: uid $fuid, no capabilities' in the log"
say "processes: master and $workers workers as feitpd; master CAP_NET_BIND_SERVICE only, workers none"

# fail2ban: the installed filter finds exactly the one failed login in the installed log.
f2b="$(fail2ban-regex "$log" "$root/etc/fail2ban/filter.d/feitpd.conf" 2>&1)" || { echo "$f2b" >&2; die "fail2ban-regex failed"; }
grep -Eq '^Failregex: 1 total' <<<"$f2b" || { echo "$f2b" >&2; die "the fail2ban filter did not match the one failed login"; }
grep -Eq '127\.0\.0\.1' <<<"$(fail2ban-regex -v "$log" "$root/etc/fail2ban/filter.d/feitpd.conf" 2>&1)" ||
  die "the fail2ban filter did not report 127.0.0.1"
say "fail2ban-regex: the installed filter matches the failed login (127.0.0.1)"

# logrotate's way: move the log away, SIGUSR1, and the daemon writes a new file.
mv "$log" "$log.1"
kill -USR1 "$master"
for i in $(seq 1 50); do
  [[ -f "$log" ]] && grep -q "reopened" "$log" && break
  ((i < 50)) || die "no new $log after SIGUSR1"
  sleep 0.2
done
[[ "$(stat -c '%u' "$log")" == "$fuid" ]] || die "the reopened log is not owned by feitpd"
grep -q "tester" "$root/var/log/feitpd/xferlog" || die "the transfer log has no line for tester"
say "SIGUSR1: the log was reopened as a new file; the xferlog has the transfers"

# systemctl reload's way: a second user, SIGHUP, and the new user logs in.
pass2="deb-Two-$RANDOM$RANDOM"
hash2="$(printf '%s\n' "$pass2" | in_root /usr/sbin/feitpd --hash-password)"
printf '\n[users.second]\npassword_hash = "%s"\nhome = "/srv/feitpd/second"\npermissions = "elr"\n' "$hash2" >>"$conf"
kill -HUP "$master"
for i in $(seq 1 50); do
  curl -s --max-time 10 -u "second:$pass2" "$url/" -o /dev/null && break
  ((i < 50)) || { tail -n 20 "$log" >&2; die "the user added before SIGHUP cannot log in"; }
  sleep 0.2
done
if ! curl -sS --max-time 30 -u "tester:$pass" -o "$work/back2.bin" "$url/up.bin" ||
  ! cmp -s "$payload" "$work/back2.bin"; then
  die "tester's download after the reload failed"
fi
say "SIGHUP: reloaded; the new user logs in, the first still downloads"

kill -TERM "$master"
for i in $(seq 1 100); do
  kill -0 "$server_pid" 2>/dev/null || break
  ((i < 100)) || die "feitpd did not stop within 20 s of SIGTERM"
  sleep 0.2
done
wait "$server_pid" 2>/dev/null || true
server_pid=""
phase_done "serve, signals, fail2ban"

# --- under systemd: the unit as shipped, in the root booted with systemd-nspawn ---------------
if [[ "$boot" == 1 ]]; then
  if ! command -v systemd-nspawn >/dev/null; then
    say "installing systemd-container (systemd-nspawn) on the host"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd-container \
      >/dev/null || die "could not install systemd-container on the host"
  fi
  bounded 900 chroot "$root" /usr/bin/env -i HOME=/root DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c \
    "apt-get install -y -q --no-install-recommends systemd logrotate >/tmp/apt-systemd.log 2>&1" ||
    { tail -n 40 "$root/tmp/apt-systemd.log" >&2; die "apt-get install systemd in the root failed"; }
  # What the postinst's note says to do once a user is in the file.
  in_root systemctl enable feitpd >/dev/null 2>&1 || die "systemctl enable feitpd failed"
  for m in $(mounts_under_root); do umount "$m" 2>/dev/null || umount -l "$m"; done
  say "booting the root with systemd-nspawn (host network): feitpd.service as shipped"
  setsid systemd-nspawn --quiet -D "$root" -b --register=no --keep-unit --console=pipe \
    >"$work/nspawn.log" 2>&1 </dev/null &
  nspawn_pid=$!
  # The container's systemd: a process named systemd descending from this nspawn. (Its
  # /proc/PID/root does not show $root: it lives in its own mount namespace.)
  descends_from_nspawn() {
    local q=$1
    while [[ -n "$q" && "$q" -gt 1 ]]; do
      [[ "$q" == "$nspawn_pid" ]] && return 0
      q="$(awk '$1 == "PPid:" {print $2}' "/proc/$q/status" 2>/dev/null)"
    done
    return 1
  }
  init=""
  for i in $(seq 1 150); do
    for p in $(pgrep -x systemd || true); do
      descends_from_nspawn "$p" && init=$p && break
    done
    [[ -n "$init" ]] && break
    kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/nspawn.log" >&2; die "systemd-nspawn exited (output above)"; }
    ((i < 150)) || { cat "$work/nspawn.log" >&2; die "no systemd started in the container within 30 s"; }
    sleep 0.2
  done
  in_ns() { nsenter -t "$init" -m -u -i -p -r -w -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
  state=""
  for i in $(seq 1 300); do
    state="$(in_ns systemctl is-active feitpd.service 2>/dev/null || true)"
    [[ "$state" == active || "$state" == failed ]] && break
    kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/nspawn.log" >&2; die "the container stopped"; }
    sleep 0.2
  done
  if [[ "$state" != active ]]; then
    in_ns systemctl status feitpd.service --no-pager >&2 || true
    in_ns journalctl -u feitpd.service --no-pager -n 40 >&2 || true
    die "feitpd.service is '$state' under systemd, not active"
  fi
  status="$(in_ns systemctl show -p StatusText --value feitpd.service)"
  [[ "$status" == "serving with "* ]] || die "feitpd.service's status is '$status' (Type=notify sends 'serving with N workers')"
  if ! curl -sS --max-time 30 -u "tester:$pass" -T "$payload" "$url/under-systemd.bin" ||
    ! curl -sS --max-time 30 -u "tester:$pass" -o "$work/back3.bin" "$url/under-systemd.bin" ||
    ! cmp -s "$payload" "$work/back3.bin"; then
    in_ns journalctl -u feitpd.service --no-pager -n 40 >&2 || true
    die "upload and download through feitpd.service failed"
  fi
  in_ns systemctl reload feitpd.service || die "systemctl reload feitpd failed"
  curl -sS --max-time 30 -u "second:$pass2" "$url/" -o /dev/null || die "no login after systemctl reload"
  cworkers=0
  for p in $(pgrep -x feitpd-worker || true); do
    [[ "$(readlink "/proc/$p/ns/pid")" == "$(readlink "/proc/$init/ns/pid")" ]] || continue
    cworkers=$((cworkers + 1))
    v="$(awk '$1 == "CapEff:" {print $2}' "/proc/$p/status")"
    [[ "$v" =~ ^0+$ ]] || die "a worker under systemd has CapEff $v"
    [[ "$(awk '$1 == "Seccomp:" {print $2}' "/proc/$p/status")" == 2 ]] || die "a worker under systemd has no seccomp filter"
  done
  ((cworkers > 0)) || die "no feitpd-worker process found in the container"
  score="$(in_ns systemd-analyze security feitpd.service --no-pager 2>&1 | sed -n 's/.*Overall exposure level for feitpd.service: \([0-9.]*\).*/\1/p')"
  if [[ -z "$score" ]] || ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    die "systemd-analyze security feitpd.service: exposure '$score', expected 2.0 or less"
  fi
  # logrotate with the shipped file: the log is renamed and reopened (SIGUSR1 through
  # systemctl kill), the transfer log copied and truncated; both are written to afterwards.
  in_ns logrotate -f /etc/logrotate.d/feitpd >"$work/logrotate.out" 2>&1 ||
    { cat "$work/logrotate.out" >&2; die "logrotate -f /etc/logrotate.d/feitpd failed"; }
  logdir="$root/var/log/feitpd"
  [[ -f "$logdir/feitpd.log.1" && -f "$logdir/xferlog.1" ]] || { ls -l "$logdir" >&2; die "logrotate made no feitpd.log.1 and xferlog.1"; }
  for i in $(seq 1 50); do
    grep -q "reopened" "$logdir/feitpd.log" 2>/dev/null && break
    ((i < 50)) || { ls -l "$logdir" >&2; die "feitpd did not reopen its log after logrotate"; }
    sleep 0.2
  done
  [[ ! -s "$logdir/xferlog" ]] || die "logrotate left the transfer log with content (copytruncate)"
  curl -sS --max-time 30 -u "tester:$pass" -o /dev/null "$url/under-systemd.bin" || die "download after logrotate failed"
  for i in $(seq 1 50); do
    grep -q "under-systemd.bin" "$logdir/xferlog" && break
    ((i < 50)) || die "no transfer-log line after logrotate"
    sleep 0.2
  done
  in_ns systemctl stop feitpd.service || die "systemctl stop feitpd failed"
  [[ "$(in_ns systemctl is-active feitpd.service 2>/dev/null || true)" == inactive ]] || die "feitpd.service did not stop"
  say "systemd: feitpd.service active (status '$status'), upload+download, reload, workers without capabilities under seccomp, exposure $score, logrotate, stop"
  in_ns systemctl poweroff >/dev/null 2>&1 || kill -TERM "$nspawn_pid"
  for i in $(seq 1 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$nspawn_pid" 2>/dev/null && die "the container did not power off within 30 s"
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
  mount_root
  phase_done "under systemd (nspawn)"
fi

in_root apt-get purge -y -q feitpd >"$root/tmp/purge.log" 2>&1 || { cat "$root/tmp/purge.log" >&2; die "apt-get purge feitpd failed"; }
[[ ! -e "$root/usr/sbin/feitpd" && ! -e "$root/etc/feitpd/feitpd.toml" && ! -e "$root/var/log/feitpd" ]] ||
  die "purge left /usr/sbin/feitpd, /etc/feitpd/feitpd.toml or /var/log/feitpd behind"
[[ -f "$root/srv/feitpd/tester/up.bin" ]] || die "purge removed the users' files"
say "apt-get purge: daemon, configuration and logs gone, the users' files kept"

# --- 5. libfeitp-dev ----------------------------------------------------------------------------
if [[ "$dev" == 1 ]]; then
  say "apt-get install $dev_deb g++ cmake make libcli11-dev (to build against the package)"
  bounded 1200 chroot "$root" /usr/bin/env -i HOME=/root DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c \
    "apt-get install -y -q --no-install-recommends $dev_deb g++ cmake make libcli11-dev >/tmp/apt-dev.log 2>&1" ||
    { tail -n 40 "$root/tmp/apt-dev.log" >&2; die "apt-get install $dev_deb failed (log above)"; }
  phase_done "apt install libfeitp-dev"
  mkdir -p "$root/ex"
  cp -r "$repo/examples/upload_log" "$root/ex/"
  cat >"$root/ex/pc.cpp" <<'EOF'
#include <feitp/feitp.hpp>
#include <cstdio>
int main() {
  feitp::Options opts;
  const std::string hash = feitp::hash_password("pc-test");
  std::printf("feitp linked: max_connections %u, hash %.4s\n", static_cast<unsigned>(opts.max_connections),
              hash.c_str());
  return hash.empty() ? 1 : 0;
}
EOF
  # shellcheck disable=SC2016  # the inner shell expands $(pkg-config ...)
  bounded 1200 chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c '
    set -e; cd /ex
    cmake -S upload_log -B build -DCMAKE_BUILD_TYPE=Release
    grep -q "^feitp_DIR:PATH=/usr/lib/.*/cmake/feitp$" build/CMakeCache.txt
    cmake --build build -j2
    g++ -std=c++20 -O1 -o pc pc.cpp $(pkg-config --cflags --libs feitp)
    ./pc' >"$root/tmp/dev-build.log" 2>&1 ||
    { tail -n 60 "$root/tmp/dev-build.log" >&2; die "building against libfeitp-dev failed (log above)"; }
  grep -q "feitp linked" "$root/tmp/dev-build.log" || die "the pkg-config program did not run"
  # The example serves: start it, upload with curl, and read its line about the upload.
  mkdir -p "$root/ex/data"
  setsid chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin /ex/build/upload_log \
    --listen 127.0.0.1:0 --user ex:ex-Pass-1 --root /ex/data >"$root/tmp/example.out" 2>&1 </dev/null &
  server_pid=$!
  ex_port=""
  for i in $(seq 1 100); do
    ex_port="$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$root/tmp/example.out" | head -n1)"
    [[ -n "$ex_port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$root/tmp/example.out" >&2; die "upload_log exited (output above)"; }
    ((i < 100)) || { cat "$root/tmp/example.out" >&2; die "upload_log printed no port"; }
    sleep 0.1
  done
  curl -sS --max-time 30 -u ex:ex-Pass-1 -T "$payload" "ftp://127.0.0.1:$ex_port/ex.bin" ||
    die "upload to examples/upload_log failed"
  cmp -s "$payload" "$root/ex/data/ex.bin" || die "examples/upload_log stored other bytes"
  for i in $(seq 1 50); do
    grep -q '"path":"/ex.bin","bytes":1500000,.*"complete":true' "$root/tmp/example.out" && break
    ((i < 50)) || { cat "$root/tmp/example.out" >&2; die "examples/upload_log printed no line for the upload"; }
    sleep 0.1
  done
  say "built against libfeitp-dev: examples/upload_log (find_package) serves an upload; pkg-config program runs"
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  phase_done "build against libfeitp-dev"
fi

say "all passed in $((SECONDS - t_start))s"
exit 0
}

main "$@"
