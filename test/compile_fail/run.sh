#!/usr/bin/env bash
# Compile-fail checks (issue 16): each .cpp here is a common mistake that must
# not compile (or, for expect-warning, must warn), and the FIRST error (or
# warning) line the compiler prints must carry the message in its
# `// expect-...:` first line. g++ and clang both print a static_assert's
# message and a [[nodiscard]] reason on their first diagnostic line, so one
# expectation serves both. Cheap: -fsyntax-only, one file at a time.
#
# usage: run.sh <include dir> <compiler command...>
#   e.g. run.sh include g++, run.sh include ccache clang++-16
set -u
inc=${1:?include dir}
shift
cxx=("$@")
[ "${#cxx[@]}" -gt 0 ] || { echo "usage: run.sh <include dir> <compiler command...>" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
failed=0
for src in "$here"/*.cpp; do
    name=$(basename "$src")
    first=$(head -n 1 "$src")
    case "$first" in
    "// expect-error: "*) kind=error; want=${first#// expect-error: } ;;
    "// expect-warning: "*) kind=warning; want=${first#// expect-warning: } ;;
    *) echo "FAIL $name: no '// expect-error:' or '// expect-warning:' first line"; failed=1; continue ;;
    esac
    out=$("${cxx[@]}" -std=c++20 -fsyntax-only -Wall -Wextra -I"$inc" "$src" 2>&1)
    rc=$?
    if [ "$kind" = error ] && [ $rc -eq 0 ]; then
        echo "FAIL $name: compiled, expected an error"; failed=1; continue
    fi
    line=$(printf '%s\n' "$out" | grep -m 1 -E "(error|warning): ")
    case "$line" in
    *"$kind: "*"$want"*) echo "ok   $name: $line" ;;
    *) echo "FAIL $name: first diagnostic does not name the mistake:"
       echo "     want: $kind: ... $want"
       echo "     got:  $line"
       failed=1 ;;
    esac
done
exit $failed
