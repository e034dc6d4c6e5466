// echo_server_coro: a TCP echo server written with `Async` coroutines.
//
// What it shows: `net::TcpListener::bind` and `accept()`, one spawned task
// per connection (`pollux::spawn`) that echoes with `io::read` and
// `io::write_all`, and a graceful stop: `select` between the accept loop
// and SIGINT/SIGTERM (`pollux::signal`). When main's future returns, the
// Runtime drops every connection task, which closes its socket.
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
#include <iostream>
#include <memory>
#include <string>

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

// Echoes until the peer closes its write side, then closes ours. At most
// one buffer is in flight: while the peer does not read, we do not read
// either (backpressure), so a peer cannot make us buffer without bound.
//
// Memory: the coroutine frame lives as long as the connection, so it holds
// only a small buffer, enough for short messages; an idle connection costs
// about 1.5 KiB in all (docs/performance.md). The first read that fills it shows that the
// peer sends more: from then on the connection reads into a 16 KiB buffer,
// allocated once.
pollux::Async<> serve(pollux::net::TcpStream stream) {
    std::array<char, 128> small;
    std::unique_ptr<char[]> large;
    asio::mutable_buffer buf = asio::buffer(small);
    for (;;) {
        auto n = co_await pollux::io::read(stream, buf);
        if (!n || *n == 0) {
            break; // end of stream, or an error such as a reset
        }
        auto w = co_await pollux::io::write_all(stream, asio::buffer(buf.data(), *n));
        if (!w) {
            co_return;
        }
        if (!large && *n == small.size()) {
            large = std::make_unique_for_overwrite<char[]>(16 * 1024);
            buf = asio::buffer(large.get(), 16 * 1024);
        }
    }
    (void)co_await pollux::io::shutdown(stream);
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
