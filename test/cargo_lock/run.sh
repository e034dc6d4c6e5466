#!/usr/bin/env bash
# Every Cargo.lock under bench/ must be readable by Debian 12's cargo
# (1.65), which builds the tokio, hyper and tokio-openssl baselines offline
# from Debian's crates: lock file format version 3 at most. A newer cargo
# (rustup's) writes version 4 for a project that has no lock file yet and
# keeps the version of one it finds, so a version 4 file here was made by a
# newer cargo and makes Debian's refuse the whole baseline ("lock file
# version `4` was found"): the bench scripts then leave it out.
#
# Usage: run.sh SOURCE_ROOT
set -euo pipefail
root=${1:?usage: run.sh SOURCE_ROOT}
status=0
found=0
while IFS= read -r -d '' lock; do
    found=$((found + 1))
    version=$(sed -n 's/^version = \([0-9]*\)$/\1/p' "$lock" | head -n 1)
    if [ -z "$version" ]; then
        echo "${lock#"$root"/}: no 'version = N' line (format 1 or 2: regenerate with cargo 1.65)" >&2
        status=1
    elif [ "$version" -gt 3 ]; then
        echo "${lock#"$root"/}: lock file version $version; Debian 12's cargo reads up to 3" >&2
        status=1
    fi
done < <(find "$root/bench" -name Cargo.lock -print0)
if [ "$found" -eq 0 ]; then
    echo "no Cargo.lock under $root/bench" >&2
    exit 1
fi
if [ "$status" -eq 0 ]; then
    echo "$found lock files, all version 3 or older"
fi
exit "$status"
