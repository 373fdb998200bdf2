#!/usr/bin/env bash
# Builds the Debian packages feitpd and libfeitp-dev from a release build (build-release/,
# -DFEITP_PACKAGE=ON) into build/packages/:
#   build/packages/feitpd_VERSION-1_ARCH.deb        the daemon, its configuration and unit
#   build/packages/libfeitp-dev_VERSION-1_ARCH.deb  headers, static library, CMake package, .pc
# The build directory installs to /etc and /lib/systemd: never `cmake --install` it by hand.
# Needs dpkg-dev (dpkg-shlibdeps fills the daemon's Depends) and go-md2man (the man pages);
# scripts/setup.sh installs both. BUILD_DIR overrides build-release/; extra arguments go to cmake.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build-release}"
out="$repo/build/packages"

for tool in dpkg-shlibdeps go-md2man dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "package: $tool is missing: run ./scripts/setup.sh" >&2; exit 1; }
done

# /usr prefix: multiarch libdir (lib/x86_64-linux-gnu), /etc as sysconfdir. The tests are not
# built (they are not packaged); libsystemd is not used, so libfeitp.a needs no more than
# feitp.pc names (the runtime sends sd_notify's datagram itself).
cmake_args=()
if command -v ccache >/dev/null; then
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DFEITP_PACKAGE=ON -DFEITP_MAN=ON -DFEITP_BUILD_TESTS=OFF -DFEITP_SYSTEMD=OFF "${cmake_args[@]}" "$@"
ninja -C "$build" -j"${FEITP_JOBS:-2}" feitpd feitp feitp_man feitp_changelog

mkdir -p "$out"
rm -f "$out"/feitpd_*.deb "$out"/libfeitp-dev_*.deb
# CPack runs the install rules of the "daemon" and "dev" components only, so nothing else
# (examples, benchmark tools) has to be built for it.
(cd "$build" && cpack -G DEB -B "$out/cpack" >"$out/cpack.log" 2>&1) ||
  { cat "$out/cpack.log" >&2; echo "package: cpack failed" >&2; exit 1; }
mv "$out"/cpack/*.deb "$out"/
rm -rf "$out/cpack"
for deb in "$out"/*.deb; do
  echo "package: $deb"
  dpkg-deb --field "$deb" Package Version Architecture Depends | sed 's/^/  /'
done
