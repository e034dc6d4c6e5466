// consumer: a program of a project that uses pollux as a Meson subproject.
//
// What it shows: an `Async` echo round trip over loopback TCP
// (`net::TcpListener`, `net::TcpStream`, `io::write_all`, `io::read_exact`),
// run by `pollux::run`, then a `uv::Timer` on a `uv::Loop`.
//
// Run:    ./consumer
// Prints: `echo: hello, pollux` and `timer: fired 3 times`; exits 0, or 1
//         with a message on stderr if anything went wrong.

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include <array>
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view message = "hello, pollux";

// Accepts one connection and echoes it until the peer shuts down its side.
pollux::Async<bool> serve_one(pollux::net::TcpListener& listener) {
    auto conn = co_await listener.accept();
    if (!conn) {
        std::cerr << "accept: " << conn.error().message() << '\n';
        co_return false;
    }
    auto& stream = conn->first;
    std::array<char, 256> buf;
    for (;;) {
        auto n = co_await pollux::io::read(stream, asio::buffer(buf));
        if (!n) {
            std::cerr << "server read: " << n.error().message() << '\n';
            co_return false;
        }
        if (*n == 0) {
            co_return true;
        }
        if (!co_await pollux::io::write_all(stream, asio::buffer(buf.data(), *n))) {
            co_return false;
        }
    }
}

pollux::Async<std::string> round_trip(pollux::net::TcpListener::endpoint addr) {
    auto stream = co_await pollux::net::TcpStream::connect(addr);
    if (!stream) {
        std::cerr << "connect: " << stream.error().message() << '\n';
        co_return std::string();
    }
    if (!co_await pollux::io::write_all(*stream, asio::buffer(message))) {
        co_return std::string();
    }
    std::string reply(message.size(), '\0');
    auto n = co_await pollux::io::read_exact(*stream, asio::buffer(reply));
    (void)co_await pollux::io::shutdown(*stream);
    co_return n ? reply : std::string();
}

pollux::Async<bool> echo() {
    auto listener = pollux::net::TcpListener::bind("127.0.0.1:0");
    if (!listener) {
        std::cerr << "bind: " << listener.error().message() << '\n';
        co_return false;
    }
    auto addr = listener->local_addr();
    if (!addr) {
        co_return false;
    }
    auto [served, reply] = co_await pollux::join(serve_one(*listener), round_trip(*addr));
    std::cout << "echo: " << reply << '\n';
    co_return served&& reply == message;
}

bool timer() {
    pollux::uv::Loop loop;
    int fired = 0;
    {
        pollux::uv::Timer t(loop);
        auto ec = t.start(
            [&] {
                if (++fired == 3) {
                    t.close();
                }
            },
            1ms,
            1ms);
        if (ec) {
            std::cerr << "timer start: " << ec.message() << '\n';
            return false;
        }
        loop.run();
    }
    std::cout << "timer: fired " << fired << " times\n";
    return fired == 3;
}

} // namespace

int main() {
    bool ok = pollux::run(echo());
    ok = timer() && ok;
    return ok ? 0 : 1;
}
