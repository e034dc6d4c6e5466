#!/usr/bin/env bash
# CI's packaging checks, runnable alone:
#   1. test/subproject, a project that takes pollux as the subproject
#      subprojects/pollux (a copy of this working tree), builds with
#      warning_level=3 and werror=true, builds none of pollux's tests, samples
#      or benchmarks, and its program (a coroutine echo round trip and a
#      uv::Timer) runs;
#   2. `meson install` of a pollux build into a temporary directory gives
#      headers, the library and pollux.pc, and a one-file program built with
#      `pkg-config --cflags --libs pollux` against it runs;
#   3. when doxygen is installed, `meson compile docs` builds the API
#      reference.
#
# Usage: bash scripts/ci_package.sh [LIB_BUILD_DIR]
#   LIB_BUILD_DIR  a configured pollux build directory to install from; the
#                  default, build-package-lib, is set up (library only) and
#                  built if missing. .ci/run passes its plain build, built.
#   POLLUX_PACKAGE_DIR  scratch directory (default build-package), wiped first.
#   POLLUX_PACKAGE_CHECKS  which checks to run (default: subproject install docs).
#   CXX  the compiler for the parent project and the pkg-config program
#        (default: meson's choice, and g++).
#
# Writes POLLUX_PACKAGE_DIR/testlog.json, one line per check in meson's
# testlog format ({"name", "result": "OK"|"FAIL"}), for .ci/run's count, and
# exits non-zero if any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

lib_build=${1:-build-package-lib}
work=${POLLUX_PACKAGE_DIR:-build-package}
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
log="$work/testlog.json"
: >"$log"
status=0

record() { # name, exit status of the check
    local result=OK
    if [ "$2" -ne 0 ]; then
        result=FAIL
        status=1
    fi
    printf '{"name": "%s", "result": "%s"}\n' "$1" "$result" >>"$log"
    echo "=== package check: $1: $result ==="
}

# The parent project, with pollux copied in as subprojects/pollux: the
# tracked and untracked-but-not-ignored files of this working tree, so no
# build directory and no symlink loop come along.
check_subproject() {
    local parent="$work/parent"
    cp -r test/subproject "$parent" &&
        mkdir -p "$parent/subprojects/pollux" &&
        git ls-files -z --cached --others --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - 2>/dev/null |
            tar -xf - -C "$parent/subprojects/pollux" &&
        rm -rf "$parent/subprojects/pollux/test/subproject" &&
        # --force-fallback-for: the subproject even if a pollux.pc is on
        # PKG_CONFIG_PATH. No debug info and -O1 keep the library's build
        # short; -O1 still runs the flow analysis behind -Wmaybe-uninitialized.
        meson setup "$work/parent-build" "$parent" --force-fallback-for=pollux \
            -Dwarning_level=3 -Dwerror=true -Ddebug=false -Doptimization=1 >/dev/null &&
        meson compile -C "$work/parent-build" &&
        meson test -C "$work/parent-build" --no-rebuild --print-errorlogs
    record "subproject: consumer builds warning-free and runs" $?

    # pollux's own tests, samples and benchmarks must not be targets of the
    # parent: the only pollux target is the library.
    local extra ok=1
    if extra=$(meson introspect --targets "$work/parent-build" | python3 -c '
import json, sys
print(" ".join(t["name"] for t in json.load(sys.stdin)
               if t.get("subproject") == "pollux" and t["name"] != "pollux"))'); then
        if [ -z "$extra" ]; then
            ok=0
        else
            echo "pollux as a subproject has targets besides its library: $extra"
        fi
    fi
    record "subproject: pollux builds only its library" $ok
}

# Install into a DESTDIR and build a one-file program with pkg-config. The
# .pc file names the configured prefix; PKG_CONFIG_SYSROOT_DIR puts the
# DESTDIR in front of its -I and -L paths.
check_install() {
    local dest="$work/destdir"
    if [ ! -f "$lib_build/build.ninja" ]; then
        meson setup "$lib_build" -Dtests=disabled -Dsamples=disabled -Dbenchmarks=disabled \
            -Ddebug=false >/dev/null || {
            record "install: pkg-config program builds and runs" 1
            return
        }
    fi
    local pc libdir flags cxx=${CXX:-g++}
    meson compile -C "$lib_build" pollux &&
        meson install -C "$lib_build" --no-rebuild --destdir "$dest" >/dev/null &&
        pc=$(find "$dest" -name pollux.pc) && [ -n "$pc" ] &&
        libdir=$(dirname "$(dirname "$pc")") &&
        [ -n "$(find "$dest" -path '*/include/pollux/detail/task.hpp')" ] &&
        flags=$(PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$dest" \
            pkg-config --cflags --libs pollux) &&
        echo "pkg-config --cflags --libs pollux: $flags" &&
        # The compiler CXX names, as for the builds (g++ by default); $cxx
        # and $flags unquoted: they are command lines.
        $cxx -Wall -Wextra -Wpedantic -Werror -o "$work/installed_program" \
            test/subproject/installed_program.cpp $flags &&
        LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/installed_program"
    record "install: pkg-config program builds and runs" $?
}

# The API reference builds (about five seconds), when Doxygen is installed.
# Gaps in the doc comments are listed, not failed on.
check_docs() {
    if ! command -v doxygen >/dev/null; then
        echo "=== package check: API reference: skipped (no doxygen) ==="
        return
    fi
    local warnings="$lib_build/docs/doxygen-warnings.log"
    # A build directory set up before doxygen was installed has no docs
    # target yet.
    if [ ! -f "$lib_build/docs/Doxyfile" ]; then
        meson setup --reconfigure "$lib_build" >/dev/null
    fi
    rm -rf "$lib_build/docs/html"
    meson compile -C "$lib_build" docs >/dev/null &&
        [ -f "$lib_build/docs/html/index.html" ]
    local rc=$?
    if [ -f "$warnings" ]; then
        echo "API reference: $(grep -c 'is not documented' "$warnings") undocumented names" \
            "($warnings)"
    fi
    record "docs: meson compile docs builds the API reference" $rc
}

for check in ${POLLUX_PACKAGE_CHECKS:-subproject install docs}; do
    "check_$check"
done
exit $status
