#include <pollux/uv/tcp.hpp>
#include <pollux/uv/udp.hpp>

// Issue 14: uv::Tcp treated EINTR from its non-blocking read and write as an
// error and closed the connection (libuv retries). These cases run under
// test/support/eintr_preload.cpp, which test/meson.build puts in LD_PRELOAD
// with POLLUX_EINTR_EVERY set, so that every Nth read, write, send, recv,
// sendmsg, recvmsg, sendto or recvfrom on a socket fails with EINTR. Each
// case moves enough traffic through both ends to be interrupted many times,
// requires that it was (so a run without the preload fails rather than
// passes vacuously), and that no callback saw an error, no connection was
// closed early and every byte arrived in order.

#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/join.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/timeout.hpp>
#include <pollux/uv/loop.hpp>

#include "support/loop_quiescent.hpp"
#include "support/result_string.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <dlfcn.h>
#include <memory>
#include <span>
#include <string>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;
namespace asio = boost::asio;

namespace {

// How many EINTRs the preload has injected so far in this process.
unsigned long injected_so_far() {
    void* fn = ::dlsym(RTLD_DEFAULT, "pollux_eintr_injected");
    if (fn == nullptr) {
        FAIL("test/support/eintr_preload is not loaded: run this test with `meson test eintr`, "
             "which sets LD_PRELOAD and POLLUX_EINTR_EVERY");
    }
    return reinterpret_cast<unsigned long (*)()>(fn)();
}

std::vector<char> pattern(std::size_t n) {
    std::vector<char> v(n);
    std::uint32_t x = 2463534242u;
    for (auto& b : v) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b = static_cast<char>(x);
    }
    return v;
}

// Generous: the traffic takes well under a second; only a lost byte or a
// connection closed early gets near this.
constexpr auto limit = 60s;

// A net::TcpStream client: writes `data` and shuts down its write side while
// it reads the echo. Returns what went wrong, or "" if the echo is `data`
// followed by end of stream. (No REQUIRE inside: a failure must still let
// the caller close its handles, or the loop would run on.)
Async<std::string> echo_client(asio::ip::tcp::endpoint server, const std::vector<char>& data) {
    auto c = co_await net::TcpStream::connect(server);
    if (!c) {
        co_return "connect: " + c.error().message();
    }
    std::vector<char> back(data.size());
    auto writer = [](net::TcpStream& s, const std::vector<char>& d) -> Async<Result<void>> {
        auto w = co_await io::write_all(s, asio::buffer(d));
        if (!w) {
            co_return w;
        }
        co_return co_await io::shutdown(s);
    };
    auto [wrote, read] = co_await join(writer(*c, data), io::read_exact(*c, asio::buffer(back)));
    if (!wrote) {
        co_return "write: " + wrote.error().message();
    }
    if (!read) {
        co_return "read: " + read.error().message(); // eof: the server closed early
    }
    if (back != data) {
        co_return "the echo differs from what was sent";
    }
    char extra = 0;
    auto eof = co_await io::read(*c, asio::buffer(&extra, 1));
    if (!eof || *eof != 0) {
        co_return "no end of stream after the echo";
    }
    co_return "";
}

// Runs echo_client with a time limit, then closes the server's handles that
// could still keep the loop running: the listener always, the peer only if
// the echo failed (after a good echo it closes itself once shut down).
Async<std::string> uv_client(uv::Tcp& listener,
                             std::unique_ptr<uv::Tcp>& peer,
                             const std::vector<char>& data,
                             int& close_cb_called) {
    auto server = listener.getsockname().value();
    Result<std::string> r = co_await time::timeout(limit, echo_client(server, data));
    std::string failure = r ? *r : "timed out";
    listener.close([&close_cb_called] { ++close_cb_called; });
    if (!failure.empty() && peer && !peer->is_closing()) {
        peer->close([&close_cb_called] { ++close_cb_called; });
    }
    co_return failure;
}

// Sends `count` datagrams from a net::UdpSocket to `echo`, one at a time,
// each awaited back, then closes `echo`. Returns how many came back intact
// before the first failure. One datagram in flight at a time, so loopback
// cannot drop one for want of buffer space: only a failed send or receive
// loses one, and a lost one is given up on after a generous wait.
Async<int> udp_client(uv::Udp& echo, int count, int& close_cb_called) {
    auto server = echo.getsockname().value();
    int ok = 0;
    auto s = net::UdpSocket::bind("127.0.0.1:0");
    for (int i = 0; s && i < count; ++i) {
        const std::string msg = "datagram " + std::to_string(i);
        auto sent = co_await s->send_to(asio::buffer(msg), server);
        if (!sent) {
            break;
        }
        char buf[64];
        auto got = co_await time::timeout(10s, s->recv_from(asio::buffer(buf)));
        if (!got || !*got || std::string(buf, (*got)->first) != msg) {
            break;
        }
        ++ok;
    }
    echo.close([&close_cb_called] { ++close_cb_called; });
    co_return ok;
}

} // namespace

TEST_CASE("uv Tcp echo survives injected EINTR with no connection closed and no byte lost",
          "[uv][tcp][eintr]") {
    Runtime rt;
    uv::Loop loop(rt.io_context());
    uv::Tcp listener(loop);
    std::unique_ptr<uv::Tcp> peer;
    std::vector<boost::system::error_code> errors; // every error a server callback saw
    int eof_cb_called = 0;
    int shutdown_cb_called = 0;
    int close_cb_called = 0;

    REQUIRE_FALSE(listener.bind({asio::ip::make_address("127.0.0.1"), 0}));
    REQUIRE_FALSE(listener.listen(8, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(peer);
        peer = std::make_unique<uv::Tcp>(loop);
        REQUIRE_FALSE(listener.accept(*peer));
        REQUIRE_FALSE(peer->read_start([&](boost::system::error_code rec, std::span<const char> d) {
            if (rec == asio::error::eof) {
                // Echoed all; the shutdown follows the queued writes.
                ++eof_cb_called;
                REQUIRE_FALSE(peer->shutdown([&](boost::system::error_code sec) {
                    ++shutdown_cb_called;
                    if (sec) {
                        errors.push_back(sec);
                    }
                    if (!peer->is_closing()) {
                        peer->close([&] { ++close_cb_called; });
                    }
                }));
                return;
            }
            if (rec) {
                errors.push_back(rec);
                if (!peer->is_closing()) {
                    peer->close([&] { ++close_cb_called; });
                }
                return;
            }
            // As samples/echo_server_callback does: what the kernel takes
            // now (try_write), then a queued copy of the rest (write).
            auto sent = peer->try_write(asio::buffer(d.data(), d.size()));
            if (!sent && sent.error() != asio::error::would_block) {
                errors.push_back(sent.error());
                if (!peer->is_closing()) {
                    peer->close([&] { ++close_cb_called; });
                }
                return;
            }
            auto rest = d.subspan(sent ? *sent : 0);
            if (!rest.empty()) {
                REQUIRE_FALSE(peer->write(std::string(rest.begin(), rest.end()),
                                          [&](boost::system::error_code wec) {
                                              if (wec) {
                                                  errors.push_back(wec);
                                              }
                                          }));
            }
        }));
    }));

    // The client is a task on the loop's io_context; loop.run() drives it
    // and the handles, and returns once uv_client closed what is left.
    const unsigned long before = injected_so_far();
    const std::vector<char> data = pattern(4 << 20);
    auto client =
        pollux::spawn(loop.io_context(), uv_client(listener, peer, data, close_cb_called));
    REQUIRE(loop.run() == 0);
    const unsigned long injected = injected_so_far() - before;
    INFO("EINTRs injected: " << injected);
    REQUIRE(client.is_finished());
    REQUIRE(block_on(std::move(client)) == "");
    REQUIRE(errors.empty());
    REQUIRE(eof_cb_called == 1);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(close_cb_called == 2);
    REQUIRE(injected > 0);
    peer.reset();
    require_loop_quiescent(loop);
}

TEST_CASE("net TcpStream echo survives injected EINTR with no connection closed and no byte lost",
          "[net][tcp][eintr]") {
    Runtime rt;
    const unsigned long before = injected_so_far();
    const std::vector<char> data = pattern(4 << 20);
    Result<std::string> failure = rt.block_on(time::timeout(limit, [&]() -> Async<std::string> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        // The server end: io::copy back until end of stream, then shut down.
        auto server = spawn([](net::TcpListener& listener) -> Async<Result<std::uint64_t>> {
            auto conn = co_await listener.accept();
            if (!conn) {
                co_return conn.error();
            }
            net::TcpStream s = std::move(conn->first);
            auto [rd, wr] = s.split();
            auto n = co_await io::copy(rd, wr);
            if (!n) {
                co_return n; // a connection closed early fails here
            }
            auto shut = co_await io::shutdown(s);
            if (!shut) {
                co_return shut.error();
            }
            co_return n;
        }(*l));
        std::string client = co_await echo_client(l->local_addr().value(), data);
        Result<std::uint64_t> copied = co_await server;
        if (!copied) {
            co_return "server: " + copied.error().message();
        }
        if (*copied != data.size()) {
            co_return "server copied " + std::to_string(*copied) + " bytes";
        }
        co_return client;
    }()));
    const unsigned long injected = injected_so_far() - before;
    INFO("EINTRs injected: " << injected);
    REQUIRE(failure.has_value()); // else timed out
    REQUIRE(*failure == "");
    REQUIRE(injected > 0);
}

TEST_CASE("uv Udp sends and receives survive injected EINTR with no datagram lost or failed",
          "[uv][udp][eintr]") {
    Runtime rt;
    uv::Loop loop(rt.io_context());
    uv::Udp echo(loop);
    std::vector<boost::system::error_code> errors; // every error a uv callback saw
    int close_cb_called = 0;
    REQUIRE_FALSE(echo.bind({asio::ip::make_address("127.0.0.1"), 0}));
    REQUIRE_FALSE(echo.recv_start(
        [&](boost::system::error_code ec, std::span<const char> d, const uv::Udp::Endpoint& from) {
            if (ec) {
                errors.push_back(ec);
                return;
            }
            REQUIRE_FALSE(echo.send(
                std::string(d.begin(), d.end()), from, [&](boost::system::error_code sec) {
                    if (sec) {
                        errors.push_back(sec);
                    }
                }));
        }));

    // The client is a task on the loop's io_context; loop.run() drives it
    // and the handle, and returns once udp_client closed the handle.
    constexpr int datagrams = 300;
    const unsigned long before = injected_so_far();
    auto client = pollux::spawn(loop.io_context(), udp_client(echo, datagrams, close_cb_called));
    REQUIRE(loop.run() == 0);
    const unsigned long injected = injected_so_far() - before;
    INFO("EINTRs injected: " << injected);
    REQUIRE(client.is_finished());
    REQUIRE(block_on(std::move(client)) == datagrams);
    REQUIRE(errors.empty());
    REQUIRE(close_cb_called == 1);
    REQUIRE(injected > 0);
    require_loop_quiescent(loop);
}
