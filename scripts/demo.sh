#!/usr/bin/env bash
# Quick start, step 1: install what is missing, build, and run the demo.
# Usage: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
pollux_install_deps

build=${POLLUX_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dtests=disabled
fi
meson compile -C "$build" hello_future
exec "$build/samples/hello_future"
