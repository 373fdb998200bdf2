# shellcheck shell=bash
# shellcheck disable=SC2154  # release, variant, aptopts, mirrors, root, cache, cache_days: the caller's
# The minimal Debian root of scripts/fresh-root-test.sh and scripts/deb-install-test.sh, made with
# mmdebstrap and cached as a tarball. Sourced by them, inside their main: they define say, die,
# and set release, variant, aptopts, mirrors, root, cache (empty: no cache) and cache_days; their
# EXIT trap kills fg_pid (a bounded command still running) and removes tmp_tar (a half-written
# tarball).

# Runs a long command (at most $1 seconds) in the background and waits for it: bash runs a
# trap only between foreground commands, and a TERM (a CI timeout) must tear down at once.
bounded() {
  local secs=$1 rc=0
  shift
  timeout --kill-after=30 "$secs" "$@" &
  fg_pid=$!
  wait "$fg_pid" || rc=$?
  fg_pid=""
  return $rc
}

mmdebstrap_to() { # target (a directory or a .tar)
  bounded 1800 mmdebstrap --quiet --mode=root --variant="$variant" "${aptopts[@]}" \
    "$release" "$1" "${mirrors[@]}" || die "mmdebstrap failed (or took over 30 min)"
}

# Makes $root: unpacked from the cached tarball when there is one younger than cache_days,
# else made with mmdebstrap (and cached when cache is set).
make_root() {
  mkdir "$root"
  if [[ -n "$cache" ]]; then
    local key tarball
    key="$(printf '%s\n' "$release" "$variant" "${mirrors[@]}" | md5sum | cut -c1-12)"
    tarball="$cache/$release-$variant-$key.tar"
    mkdir -p "$cache"
    if [[ -f "$tarball" ]] && [[ -z "$(find "$tarball" -mtime "+$cache_days")" ]]; then
      say "using cached root $tarball"
    else
      say "making a $release root ($variant variant) with mmdebstrap, cached as $tarball"
      tmp_tar="$tarball.$$.tmp.tar"
      mmdebstrap_to "$tmp_tar"
      mv -f "$tmp_tar" "$tarball"
      tmp_tar=""
    fi
    tar -xpf "$tarball" --numeric-owner -C "$root" || die "could not unpack $tarball"
  else
    say "making a $release root ($variant variant) with mmdebstrap"
    mmdebstrap_to "$root"
  fi
}
