#!/usr/bin/env bash
# Configures and builds feitp with CMake + Ninja into ./build (binaries in build/bin/).
# BUILD_DIR and extra cmake arguments (e.g. -DFEITP_SANITIZE=ON) may be given.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
cmake -S "$repo" -B "$build" -G Ninja "$@"
ninja -C "$build"
