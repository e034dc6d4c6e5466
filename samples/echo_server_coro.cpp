// echo_server_coro: a TCP echo server written with `Async` coroutines.
//
// What it shows: `net::TcpListener::bind` and `accept()`, one spawned task
// per connection (`pollux::spawn`) that echoes with `readable()`,
// `try_read` and `try_write` (falling back to `io::write_all`), and a
// graceful stop: `select` between the accept loop and SIGINT/SIGTERM
// (`pollux::signal`). When main's future returns, the Runtime drops every
// connection task, which closes its socket.
//
// Run:    ./echo_server_coro [--host 127.0.0.1] [--port 0]
// Prints: `listening on 127.0.0.1:PORT` (first stdout line, flushed), then
//         nothing until a signal; exits 0 after SIGINT or SIGTERM.
// Try:    ./echo_client --port PORT

#include <pollux/core/async.hpp>
#include <pollux/core/select.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct Options {
    std::string host = "127.0.0.1";
    std::string port = "0";
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--host" || a == "--port") && i + 1 < argc) {
            (a == "--host" ? o.host : o.port) = argv[++i];
        } else {
            std::cerr << "usage: " << argv[0] << " [--host H] [--port P]\n";
            return false;
        }
    }
    return true;
}

// The buffer every connection of this thread reads into. A connection uses
// it only between `readable()` and the end of its `try_write`, with no
// suspension in between, so the connections of one thread never share it at
// the same time.
asio::mutable_buffer shared_buffer() {
    static thread_local std::array<char, 16 * 1024> buf;
    return asio::buffer(buf);
}

bool would_block(const boost::system::error_code& ec) {
    return ec == asio::error::would_block;
}

// Reads what the socket holds into the shared buffer and echoes it with
// `try_write`, without waiting. False at end of stream or on an error (the
// caller then drops the stream, which closes it: a FIN after everything
// echoed). The bytes the kernel did not take are copied into `rest`, a
// buffer of the connection's own: the shared one is another connection's
// once this one waits. Nothing read (`readable()` may complete spuriously)
// is true with `rest` empty.
bool echo_available(pollux::net::TcpStream& stream, std::vector<char>& rest) {
    asio::mutable_buffer buf = shared_buffer();
    auto n = stream.try_read(buf);
    if (!n) {
        return would_block(n.error()); // else an error such as a reset
    }
    if (*n == 0) {
        return false; // end of stream
    }
    auto w = stream.try_write(asio::buffer(buf.data(), *n));
    if (!w && !would_block(w.error())) {
        return false;
    }
    const char* data = static_cast<const char*>(buf.data());
    rest.assign(data + (w ? *w : 0), data + *n);
    return true;
}

// The slow path, a coroutine of its own so that its write future lives in
// a frame that exists only while the peer reads slower than it sends.
pollux::Async<bool> write_rest(pollux::net::TcpStream& stream, std::vector<char> rest) {
    auto w = co_await pollux::io::write_all(stream, asio::buffer(rest));
    co_return w.has_value();
}

// Echoes until the peer closes its write side, then closes the connection.
// At most one buffer is in flight: while the peer does not read, we do not
// read either (backpressure), so a peer cannot make us buffer without bound.
//
// Memory: the coroutine frame lives as long as the connection, and most
// connections of a busy server are idle, so the frame holds no read buffer:
// tokio's pattern for many idle connections, `readable()` then `try_read`
// into a buffer the connection does not own while it waits (here one per
// thread, see shared_buffer), and `try_write`. Only when the kernel takes
// less does the connection get a buffer of its own, until it is written.
// The work between two waits is a plain function, so that its locals are
// not in the frame. An idle connection costs about 1.1 KiB in all
// (docs/performance.md).
pollux::Async<> serve(pollux::net::TcpStream stream) {
    for (;;) {
        if (!co_await stream.readable()) {
            co_return; // the reactor cannot wait on the socket
        }
        std::vector<char> rest;
        if (!echo_available(stream, rest)) {
            co_return;
        }
        if (!rest.empty()) {
            const bool written = co_await write_rest(stream, std::move(rest));
            if (!written) {
                co_return;
            }
        }
    }
}

pollux::Async<> accept_loop(pollux::net::TcpListener& listener) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (!conn) {
            // EMFILE and friends never get here: the listener backs off by
            // itself. What does is unexpected; don't spin on it.
            std::cerr << "accept: " << conn.error().message() << '\n';
            co_await pollux::time::sleep(100ms);
            continue;
        }
        pollux::spawn(serve(std::move(conn->first))); // detached
    }
}

pollux::Async<int> async_main(Options o) {
    // Register the signals before announcing the port, so a signal sent as
    // soon as the line is read is not lost.
    auto sigint = pollux::signal::signal(SIGINT);
    auto sigterm = pollux::signal::signal(SIGTERM);
    auto listener = pollux::net::TcpListener::bind(o.host + ":" + o.port);
    if (!listener) {
        std::cerr << "bind " << o.host << ":" << o.port << ": " << listener.error().message()
                  << '\n';
        co_return 1;
    }
    auto addr = listener->local_addr().value();
    std::cout << "listening on " << addr.address().to_string() << ":" << addr.port() << std::endl;
    (void)co_await pollux::select(accept_loop(*listener), sigint.recv(), sigterm.recv());
    co_return 0; // the Runtime drops the connection tasks, closing their sockets
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        return 2;
    }
    return pollux::run(async_main(o));
}
