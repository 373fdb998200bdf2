#!/usr/bin/env bash
# Proves that the README's two commands work on a freshly made minimal Debian 12 (bookworm):
# makes a root with mmdebstrap (variant "apt": the Essential packages plus apt, nothing else),
# copies this repository into it, and inside it, as root,
#   1. runs ./scripts/quickstart.sh, waits for the login it prints, lists, uploads and downloads
#      a file with curl over loopback and compares the bytes; then again from another directory
#      (the data folder exists by then) and checks the first upload is still served;
#   2. runs ./scripts/test.sh (or only a part of it, see FEITP_FRESH_SUITE).
# A package missing from scripts/setup.sh shows up here as a failed build or test.
#
# Needs root on the host (chroot, bind mounts). The root reaches Debian through the same mirrors
# as this machine's apt (read from its apt configuration at run time). The chroot shares the
# host's network, so the quickstart port must be free on the host.
#
# Environment:
#   FEITP_PORT                 quickstart port (default 2121)
#   FEITP_FRESH_SUITE          full (default): ./scripts/test.sh; quick: the build, the unit tests
#                              and a chosen integration subset; none: only the quickstart check
#   FEITP_FRESH_CACHE          directory for a cached mmdebstrap tarball (default
#                              /var/cache/feitp-fresh-root; empty: no cache)
#   FEITP_FRESH_CACHE_DAYS     rebuild a cached tarball older than this (default 7)
#   FEITP_FRESH_WORK           where the root is made (default /var/tmp)
#   FEITP_FRESH_KEEP=1         keep the root afterwards (mounts are removed anyway)
#   FEITP_FRESH_QUICKSTART_TIMEOUT, FEITP_FRESH_TEST_TIMEOUT   seconds (default 2400, 5400)
set -euo pipefail
# Everything runs inside main, which bash reads whole before running any of it: editing or
# checking out this file during the long run cannot change what the run does.
# shellcheck disable=SC2317  # cleanup and its helpers run from the EXIT trap
main() {
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${FEITP_PORT:-2121}"
suite="${FEITP_FRESH_SUITE:-full}"
cache="${FEITP_FRESH_CACHE-/var/cache/feitp-fresh-root}"
cache_days="${FEITP_FRESH_CACHE_DAYS:-7}"
work_parent="${FEITP_FRESH_WORK:-/var/tmp}"
qs_timeout="${FEITP_FRESH_QUICKSTART_TIMEOUT:-2400}"
test_timeout="${FEITP_FRESH_TEST_TIMEOUT:-5400}"
release=bookworm
variant=apt

# The integration files run by FEITP_FRESH_SUITE=quick: logins, transfers with every client the
# setup installs, the audit's regression tests, and the ones that need the most of the system
# (installing and compiling against the library, workers that drop privileges, a tmpfs).
quick_tests=(test_login.py test_transfers.py test_security.py test_curl.py test_lftp.py
  test_wget.py test_examples.py test_runtime.py test_diskfull.py)

say() { printf 'fresh-root: %s\n' "$*"; }
die() { printf 'fresh-root: FAILED: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it uses chroot and bind mounts)"
if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
  die "FEITP_PORT=$port is not a port number"
fi
case "$suite" in full | quick | none) ;; *) die "FEITP_FRESH_SUITE=$suite: use full, quick or none" ;; esac

t_start=$SECONDS
timings=()
phase_start=$SECONDS
phase_done() { timings+=("$(printf '%-28s %5ds' "$1" $((SECONDS - phase_start)))"); phase_start=$SECONDS; }

# --- host tools -----------------------------------------------------------------------------
if ! command -v mmdebstrap >/dev/null; then
  say "installing mmdebstrap on the host"
  DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed on the host"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap \
    || die "could not install mmdebstrap on the host"
fi

# The chroot shares the host's network: the quickstart's port must be free here.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  die "port $port on 127.0.0.1 is in use on this host; free it or set FEITP_PORT to a free port"
fi

# --- the mirrors this machine's apt uses (never a hard-coded host) ---------------------------
# apt itself resolves sources.list and sources.list.d (skipping disabled files); keep the
# binary entries of the release, its updates and its security suite, components merged.
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
((${#mirrors[@]})) || die "this machine's apt has no '$release' source (see /etc/apt/sources.list and sources.list.d); cannot tell how Debian is reached"
say "mirrors (from this machine's apt configuration):"
printf '  %s\n' "${mirrors[@]}"

# A proxy the host's apt needs is needed inside too (passed on, not printed).
aptopts=()
for kind in http https; do
  proxy="$(apt-config dump --no-empty --format '%v%n' "Acquire::$kind::Proxy" 2>/dev/null | head -n1)"
  [[ -n "$proxy" && "$proxy" != DIRECT ]] && aptopts+=("--aptopt=Acquire::$kind::Proxy \"$proxy\"")
done

# --- teardown: always, whatever happened --------------------------------------------------------
work="$(mktemp -d "$work_parent/feitp-fresh-root.XXXXXX")"
root="$work/root"
qs_pid=""
fg_pid=""
tmp_tar=""

mounts_under_root() {
  # Mount points at or below $root, deepest first (/proc/self/mountinfo field 5 is the point;
  # octal escapes such as \040 are left as they are, which our paths never contain).
  awk -v r="$root/" 'index($5 "/", r) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

stop_group() { # pid: TERM its whole process group, then KILL what is left after 10 s
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do kill -0 -- "-$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? m
  set +e
  ((${#timings[@]})) && { echo "fresh-root: timings:"; printf '  %s\n' "${timings[@]}"; }
  [[ -n "$tmp_tar" ]] && rm -f "$tmp_tar"
  [[ -n "$qs_pid" ]] && stop_group "$qs_pid"
  if [[ -n "$fg_pid" ]]; then # timeout passes the TERM on, and KILLs 30 s later
    kill -TERM "$fg_pid" 2>/dev/null
    wait "$fg_pid" 2>/dev/null
  fi
  # Anything still running inside the root (a stray server of a killed test) must go before
  # its mounts can.
  for m in /proc/[0-9]*; do
    [[ "$(readlink "$m/root" 2>/dev/null)" == "$root" ]] && kill -KILL "${m#/proc/}" 2>/dev/null
  done
  for m in $(mounts_under_root); do umount "$m" 2>/dev/null || umount -l "$m"; done
  if [[ -n "$(mounts_under_root)" ]]; then
    echo "fresh-root: could not unmount everything under $root; NOT deleting it:" >&2
    mounts_under_root >&2
    rc=1
  elif [[ "${FEITP_FRESH_KEEP:-0}" == 1 ]]; then
    echo "fresh-root: root kept at $root"
  else
    rm -rf --one-file-system "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT

# --- the root -----------------------------------------------------------------------------------
# bounded, mmdebstrap_to and make_root: the minimal root, cached (read now, like this main).
# shellcheck source=scripts/lib/debian-root.sh
source "$repo/scripts/lib/debian-root.sh"
trap 'exit 130' INT
trap 'exit 143' TERM

make_root
phase_done "mmdebstrap (or cache)"

# The repository as a fresh clone would have it, plus uncommitted edits: the tracked and the
# untracked-but-not-ignored files of the work tree (no build directories). Without git: a copy
# without build*/ and .git.
mkdir "$root/src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # shellcheck disable=SC2016  # "$f" is expanded by the inner sh, per file
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 -r sh -c 'for f; do if [ -e "$f" ]; then printf "%s\0" "$f"; fi; done' sh |
    tar --null -T - -cf -) | tar -xpf - -C "$root/src" || die "could not copy the repository"
else
  tar -C "$repo" --exclude='./build*' --exclude=./.git --exclude=./feitp-data -cf - . |
    tar -xpf - -C "$root/src" || die "could not copy the repository"
fi
say "copied the repository to /src in the root ($(du -sh "$root/src" | cut -f1))"

mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
# Resolving names (apt-get inside) needs the host's resolver configuration.
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

# Runs a command in the root as root with the environment of a fresh login, nothing from ours.
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# --- 1. the quickstart --------------------------------------------------------------------------
# Starts ./scripts/quickstart.sh (from directory $1) in its own process group, waits (bounded)
# for the password it prints, then lists, uploads and downloads with curl and checks the bytes.
quickstart_round() { # cwd script label put_name expect_existing
  local cwd=$1 script=$2 label=$3 put=$4 expect=$5 log pass deadline url i
  log="$root/tmp/quickstart-$label.log"
  say "quickstart ($label): cd $cwd && $script (waiting up to ${qs_timeout}s for the login)"
  # shellcheck disable=SC2016  # $1/$2 belong to the inner bash
  setsid chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb FEITP_PORT="$port" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c 'cd "$1" && exec "$2"' bash "$cwd" "$script" >"$log" 2>&1 </dev/null &
  qs_pid=$!
  deadline=$((SECONDS + qs_timeout))
  pass=""
  while [[ -z "$pass" ]]; do
    pass="$(sed -n 's/^ *password: *\([^ ]*\)$/\1/p' "$log" | head -n1)"
    [[ -n "$pass" ]] && break
    if ! kill -0 "$qs_pid" 2>/dev/null; then
      tail -n 60 "$log" >&2
      die "quickstart ($label) exited before printing a login (log above)"
    fi
    ((SECONDS < deadline)) || { tail -n 60 "$log" >&2; die "quickstart ($label) printed no login within ${qs_timeout}s"; }
    sleep 2
  done
  grep -q "curl ftp://demo:$pass@127.0.0.1:$port/" "$log" ||
    { cat "$log" >&2; die "quickstart ($label) does not print a curl line for port $port"; }
  url="ftp://demo:$pass@127.0.0.1:$port"
  # The server may still be binding: wait (bounded) for the first listing.
  for i in $(seq 1 30); do
    in_root curl -sS --max-time 10 "$url/" >"$root/tmp/list-$label" 2>"$root/tmp/curl-$label.err" && break
    kill -0 "$qs_pid" 2>/dev/null || { tail -n 40 "$log" >&2; die "quickstart ($label): the server stopped (log above)"; }
    ((i < 30)) || { cat "$root/tmp/curl-$label.err" >&2; tail -n 40 "$log" >&2; die "quickstart ($label): cannot list $url/ with curl"; }
    sleep 1
  done
  if [[ -n "$expect" ]]; then
    grep -q " $expect\$" "$root/tmp/list-$label" || { cat "$root/tmp/list-$label" >&2; die "quickstart ($label): $expect from the first run is not listed"; }
    in_root curl -sS --max-time 30 -o "/tmp/$expect.back" "$url/$expect" ||
      die "quickstart ($label): cannot download $expect"
    cmp -s "$root/tmp/$expect.payload" "$root/tmp/$expect.back" ||
      die "quickstart ($label): $expect came back with other bytes"
  fi
  head -c 300000 /dev/urandom >"$root/tmp/$put.payload"
  in_root curl -sS --max-time 30 -T "/tmp/$put.payload" "$url/$put" ||
    die "quickstart ($label): upload of $put with curl failed"
  if ! cmp -s "$root/tmp/$put.payload" "$root/src/feitp-data/$put"; then
    die "quickstart ($label): the upload is not in /src/feitp-data/$put with the same bytes"
  fi
  in_root curl -sS --max-time 30 -o "/tmp/$put.back" "$url/$put" ||
    die "quickstart ($label): download of $put with curl failed"
  cmp -s "$root/tmp/$put.payload" "$root/tmp/$put.back" ||
    die "quickstart ($label): $put came back with other bytes"
  # lftp with its default settings tries AUTH TLS first: the quick start must let it go on.
  in_root env HOME=/tmp lftp -c "set net:max-retries 1; set net:timeout 10; open -u demo,$pass -p $port 127.0.0.1; get $put -o /tmp/$put.lftp" ||
    die "quickstart ($label): lftp with its default settings could not download $put"
  cmp -s "$root/tmp/$put.payload" "$root/tmp/$put.lftp" ||
    die "quickstart ($label): $put came back from lftp with other bytes"
  say "quickstart ($label): login, listing, upload and download of $put (300000 bytes, curl and lftp) OK"
  stop_group "$qs_pid"
  wait "$qs_pid" 2>/dev/null || true
  qs_pid=""
}

quickstart_round /src ./scripts/quickstart.sh first first.bin ""
phase_done "quickstart (setup+build)"
# Again from another directory, with the data folder and the build already there.
quickstart_round /tmp /src/scripts/quickstart.sh second second.bin first.bin
phase_done "quickstart again"

# --- 2. the tests -------------------------------------------------------------------------------
case "$suite" in
  full)
    say "running ./scripts/test.sh in the root (up to ${test_timeout}s)"
    bounded "$test_timeout" chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      /bin/bash -c 'cd /src && exec ./scripts/test.sh' </dev/null ||
      die "./scripts/test.sh failed in the fresh root (or took over ${test_timeout}s)"
    ;;
  quick)
    say "running setup, build, unit tests and ${quick_tests[*]} in the root"
    bounded "$test_timeout" chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      /bin/bash -c 'set -e; cd /src; ./scripts/setup.sh; ./scripts/build.sh
        ctest --test-dir build --output-on-failure --timeout 300
        cd tests/integration
        FEITPD=/src/build/bin/feitpd /usr/bin/python3 -m pytest -ra -p no:cacheprovider \
          --timeout=300 "$@"' bash "${quick_tests[@]}" </dev/null ||
      die "the quick test run failed in the fresh root (or took over ${test_timeout}s)"
    ;;
  none) say "tests skipped (FEITP_FRESH_SUITE=none)" ;;
esac
phase_done "tests ($suite)"

say "all passed in $((SECONDS - t_start))s"
exit 0 # here, so bash never reads on in this file after main
}

main "$@"
