# shellcheck shell=bash
# Helpers shared by the echo benchmark scripts (sourced, not run).
# shellcheck disable=SC2034 # ECHO_SERVERS and PORT are for the scripts

# The servers compared: the raw Asio baseline first (the ratios are to it),
# then the tokio baseline, then pollux's samples. echo_build drops
# tokio_echo_server when it cannot build it.
ECHO_SERVERS=(asio_echo_server tokio_echo_server echo_server_coro echo_server_poll
    echo_server_callback)

# Configures (release, benchmarks and samples on, tests off) and builds the
# echo servers and the load generator in $BUILD (default build-bench).
# Extra arguments are more targets to build. The tokio server builds with
# $CARGO (default cargo) offline from Debian's packaged crates, into
# $BUILD/tokio; without cargo or librust-tokio-dev it is left out, with a
# message on stderr.
echo_build() {
    BUILD=${BUILD:-build-bench}
    if [ ! -f "$BUILD/build.ninja" ]; then
        meson setup "$BUILD" -Dbuildtype=release -Dbenchmarks=enabled -Dsamples=enabled \
            -Dtests=disabled >/dev/null
    fi
    local log
    log=$(mktemp)
    # Regenerate first if a meson.build changed, so new targets are known.
    if ! {
        ninja -C "$BUILD" build.ninja &&
            meson compile -C "$BUILD" -j 2 bench/asio_echo_server samples/echo_server_coro \
                samples/echo_server_poll samples/echo_server_callback samples/echo_client "$@"
    } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        echo "build failed in $BUILD" >&2
        return 1
    fi
    rm -f "$log"
    echo_build_tokio
}

# Builds tokio_echo_server (release) into $BUILD/tokio, or drops it from
# ECHO_SERVERS. The folder's .cargo/config.toml, which replaces crates-io
# with Debian's registry, is read from the working directory: cargo runs
# there.
echo_build_tokio() {
    local cargo=${CARGO:-cargo} target log
    target=$(cd "$BUILD" && pwd)/tokio
    log=$(mktemp)
    if ! command -v "$cargo" >/dev/null; then
        echo "no cargo: leaving tokio_echo_server out (apt-get install cargo librust-tokio-dev)" >&2
    elif ! (cd bench/echo/tokio_echo_server &&
        "$cargo" build --release --offline --target-dir "$target") >"$log" 2>&1; then
        tail -n 10 "$log" >&2
        echo "tokio_echo_server did not build: leaving it out (it needs librust-tokio-dev)" >&2
    else
        rm -f "$log"
        return 0
    fi
    rm -f "$log"
    local s kept=()
    for s in "${ECHO_SERVERS[@]}"; do
        [ "$s" = tokio_echo_server ] || kept+=("$s")
    done
    ECHO_SERVERS=("${kept[@]}")
}

# The path of server $1's executable.
echo_server_path() {
    if [ "$1" = asio_echo_server ]; then
        echo "$BUILD/bench/asio_echo_server"
    elif [ "$1" = tokio_echo_server ]; then
        echo "$BUILD/tokio/release/tokio_echo_server"
    else
        echo "$BUILD/samples/$1"
    fi
}

# start_server OUT CMD...: runs CMD in the background with its stdout in OUT
# and waits (up to 60 s: valgrind starts slowly) for its `listening on` line.
# Sets SERVER_PID (the pid of CMD; for a wrapper such as strace, its child is
# the server) and PORT.
start_server() {
    local out=$1
    shift
    : >"$out"
    "$@" >"$out" &
    SERVER_PID=$!
    for _ in $(seq 600); do
        # A whole first line (ending in a newline), not a partial write.
        if [ "$(wc -l <"$out")" -ge 1 ] && head -n 1 "$out" | grep -q '^listening on .*:[0-9]*$'; then
            PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out" | head -n 1)
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "server did not start: $*" >&2
    return 1
}

# stop_server [PID]: SIGINT to the server (PID, default SERVER_PID), then
# waits for SERVER_PID (the wrapper, when there is one) to exit.
stop_server() {
    kill -INT "${1:-$SERVER_PID}"
    wait "$SERVER_PID" || true
}

# rss_kib PID: the resident set size of PID in KiB.
rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
