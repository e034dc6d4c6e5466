#!/usr/bin/env bash
# Quick start, step 2: install what is missing, build, and run every test.
# Usage: bash scripts/test.sh [extra meson setup options...]
#   POLLUX_BUILD_DIR  build directory (default: build-test)
#   CXX               the compiler, e.g. clang++-16 (installed if missing);
#                     read when the build directory is set up, so a new
#                     compiler needs a new POLLUX_BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
pollux_install_deps

build=${POLLUX_BUILD_DIR:-build-test}
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dtests=enabled -Dsamples=enabled "$@"
fi
meson compile -C "$build"
meson test -C "$build" --print-errorlogs --num-processes "$(nproc)"
