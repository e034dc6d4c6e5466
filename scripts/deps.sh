#!/usr/bin/env bash
# Installs the Debian 12 packages pollux builds with, if any is missing.
# Sourced by scripts/demo.sh, scripts/test.sh and .ci/run. Needs root (or
# sudo) only when something is missing.
set -euo pipefail

# The Debian package of the compiler that CXX names, if it names one this
# knows ("clang++-16", "ccache clang++-16", "g++-12"); nothing otherwise.
pollux_cxx_package() {
    local word
    for word in ${CXX:-}; do # unquoted: CXX is a command line
        case "$(basename "$word")" in
        ccache) ;;
        clang++-[0-9]*) echo "clang-${word##*clang++-}"; return ;;
        clang++) echo clang; return ;;
        g++-[0-9]*) echo "g++-${word##*g++-}"; return ;;
        *) return ;;
        esac
    done
}

# Installs the packages every build needs, the compiler CXX names (when set)
# and the packages given as arguments.
pollux_install_deps() {
    local cxx_package
    cxx_package=$(pollux_cxx_package)
    local wanted=(g++ meson ninja-build pkg-config libboost1.81-dev catch2 libssl-dev openssl
        liburing-dev
        ${cxx_package:+"$cxx_package"} "$@")
    local missing=()
    local p
    for p in "${wanted[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    echo "pollux: installing ${missing[*]}" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# Like pollux_install_deps, for packages only some steps need (doxygen for the
# API reference): a failed install is reported, not fatal; the steps that
# need the package check for it and skip.
pollux_install_optional_deps() {
    if ! (pollux_install_deps "$@"); then
        echo "pollux: could not install $*; the steps that need it are skipped" >&2
    fi
}
