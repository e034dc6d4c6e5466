#include <pollux/uv/loop.hpp>
#include <pollux/uv/tcp.hpp>
#include <pollux/uv/timer.hpp>

#include "support/high_descriptors.hpp"
#include "support/loop_quiescent.hpp"
#include "support/open_fds.hpp"
#include "support/uv_tcp_port.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <netinet/in.h>
#include <span>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace pollux;
using pollux::test::require_loop_quiescent;
using Endpoint = boost::asio::ip::tcp::endpoint;

// The helpers libuv's ported TCP tests use too (test/support/uv_tcp_port.hpp).
using Server = pollux::test::TcpServer;

namespace {

Endpoint loopback(unsigned short port = 0) {
    return pollux::test::loopback4(port);
}

unsigned short closed_port() {
    return pollux::test::closed_tcp_port();
}

} // namespace

TEST_CASE("uv Tcp echo round trip between a server and a client on one loop", "[uv][tcp]") {
    uv::Loop loop;
    Server server(loop);
    int read_cb_called = 0;
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int close_cb_called = 0;
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE(peer.getpeername().has_value());
        REQUIRE_FALSE(peer.nodelay(true));
        REQUIRE_FALSE(peer.keepalive(true, std::chrono::seconds(30)));
        REQUIRE_FALSE(
            peer.read_start([&peer](boost::system::error_code ec, std::span<const char> d) {
                if (ec) {
                    REQUIRE(ec == boost::asio::error::eof);
                    peer.close();
                    return;
                }
                REQUIRE_FALSE(peer.write(std::string(d.begin(), d.end())));
            }));
    };

    uv::Tcp client(loop);
    std::string got;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        ++connect_cb_called;
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.write(std::string("hello, "), [&](boost::system::error_code wec) {
            REQUIRE_FALSE(wec);
            ++write_cb_called;
        }));
        static const char tail[] = "world";
        REQUIRE_FALSE(
            client.write(boost::asio::buffer(tail, 5), [&](boost::system::error_code wec) {
                REQUIRE_FALSE(wec);
                REQUIRE(write_cb_called == 1); // writes complete in order
                ++write_cb_called;
            }));
        REQUIRE_FALSE(
            client.read_start([&](boost::system::error_code rec, std::span<const char> d) {
                REQUIRE_FALSE(rec);
                ++read_cb_called;
                got.append(d.begin(), d.end());
                if (got.size() == 12) {
                    client.close([&] { ++close_cb_called; });
                    server.listener.close([&] { ++close_cb_called; });
                }
            }));
    }));
    REQUIRE(connect_cb_called == 0); // never inside connect()
    REQUIRE(loop.run() == 0);
    REQUIRE(got == "hello, world");
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 2);
    REQUIRE(read_cb_called >= 1);
    REQUIRE(close_cb_called == 2);
    REQUIRE(server.connection_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp connect to a closed port reports connection_refused", "[uv][tcp][connect]") {
    uv::Loop loop;
    uv::Tcp client(loop);
    int connect_cb_called = 0;
    boost::system::error_code got;
    REQUIRE_FALSE(client.connect(loopback(closed_port()), [&](boost::system::error_code ec) {
        ++connect_cb_called;
        got = ec;
    }));
    REQUIRE(client.connect(loopback(1), [](boost::system::error_code) {}) ==
            boost::asio::error::already_started);
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(got == boost::asio::error::connection_refused);
    client.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp bind from an \"address:port\" string binds that address", "[uv][tcp][bind]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.bind("127.0.0.1:0"));
    auto addr = server.getsockname();
    REQUIRE(addr);
    REQUIRE(addr->address() == boost::asio::ip::make_address("127.0.0.1"));
    REQUIRE(addr->port() != 0);
    server.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp bind from a string that is not an \"address:port\" is invalid_argument",
          "[uv][tcp][bind]") {
    const char* bad = GENERATE(
        "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000", "localhost:0", ":0");
    uv::Loop loop;
    uv::Tcp server(loop);
    INFO(bad);
    REQUIRE(server.bind(std::string_view(bad)) == boost::asio::error::invalid_argument);
    server.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp read callback gets eof at the end of the stream", "[uv][tcp][read]") {
    uv::Loop loop;
    Server server(loop);
    int shutdown_cb_called = 0;
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.write(std::string("bye")));
        REQUIRE_FALSE(peer.shutdown([&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            ++shutdown_cb_called;
        }));
        REQUIRE(peer.shutdown() == boost::asio::error::not_connected);
        REQUIRE(peer.write(std::string("late")) == boost::asio::error::broken_pipe);
    };
    uv::Tcp client(loop);
    std::string got;
    int eof_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(
            client.read_start([&](boost::system::error_code rec, std::span<const char> d) {
                if (rec) {
                    REQUIRE(rec == boost::asio::error::eof);
                    REQUIRE(d.empty());
                    ++eof_cb_called;
                    REQUIRE_FALSE(client.is_reading());
                    client.close([&] { ++close_cb_called; });
                    server.close_all();
                    return;
                }
                got.append(d.begin(), d.end());
            }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(got == "bye");
    REQUIRE(eof_cb_called == 1);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp write after close reports an error instead of crashing", "[uv][tcp][close]") {
    uv::Loop loop;
    uv::Tcp never_connected(loop);
    int write_cb_called = 0;
    REQUIRE(never_connected.write(std::string("x"), [&](boost::system::error_code) {
        ++write_cb_called;
    }) == boost::asio::error::bad_descriptor);

    Server server(loop);
    uv::Tcp client(loop);
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        client.close();
        REQUIRE(client.write(std::string("x"), [&](boost::system::error_code) {
            ++write_cb_called;
        }) == boost::asio::error::bad_descriptor);
        REQUIRE(client.read_start([](boost::system::error_code, std::span<const char>) {}) ==
                boost::asio::error::bad_descriptor);
        REQUIRE(client.shutdown() == boost::asio::error::bad_descriptor);
        never_connected.close();
        server.close_all();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(write_cb_called == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp close runs write callbacks with operation_aborted, then the close callback",
          "[uv][tcp][close]") {
    uv::Loop loop;
    Server server(loop); // accepts, never reads: the client's writes back up
    uv::Tcp client(loop);
    std::string order;
    const std::string big(32 * 1024 * 1024, 'x');
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.write(boost::asio::buffer(big), [&](boost::system::error_code wec) {
            REQUIRE(wec == boost::asio::error::operation_aborted);
            order += 'w';
        }));
        REQUIRE_FALSE(client.write(std::string("second"), [&](boost::system::error_code wec) {
            REQUIRE(wec == boost::asio::error::operation_aborted);
            order += 'W';
        }));
        // Backpressure is visible: the kernel did not take 32 MiB at once.
        REQUIRE(client.write_queue_size() > 0);
        REQUIRE(client.write_queue_size() <= big.size() + 6);
        REQUIRE(loop.active_requests() == 2);
        client.close([&] { order += 'c'; });
        server.close_all();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(order == "wWc");
    REQUIRE(client.write_queue_size() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp destroying a connection with a read and a write in flight calls nothing",
          "[uv][tcp][close]") {
    uv::Loop loop;
    Server server(loop);
    auto client = std::make_unique<uv::Tcp>(loop);
    int cb_called = 0;
    REQUIRE_FALSE(client->connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client->read_start(
            [&](boost::system::error_code, std::span<const char>) { ++cb_called; }));
        REQUIRE_FALSE(client->write(std::string(8 * 1024 * 1024, 'y'),
                                    [&](boost::system::error_code) { ++cb_called; }));
        client.reset();
        server.close_all();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(cb_called == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp accept without a waiting connection returns would_block", "[uv][tcp][accept]") {
    uv::Loop loop;
    Server server(loop);
    uv::Tcp other(loop);
    REQUIRE(server.listener.accept(other) == boost::asio::error::would_block);
    REQUIRE(server.listener.is_active());
    REQUIRE(server.endpoint().port() != 0);
    other.close();
    server.close_all();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Tcp read_stop stops reading at once and read_start resumes", "[uv][tcp][read]") {
    uv::Loop loop;
    Server server(loop);
    server.on_peer = [&](uv::Tcp& peer) { REQUIRE_FALSE(peer.write(std::string("abcdef"))); };
    uv::Tcp client(loop);
    uv::Tcp::ReadCallback on_read;
    std::string got;
    int read_cb_called = 0;
    on_read = [&](boost::system::error_code ec, std::span<const char> d) {
        REQUIRE_FALSE(ec);
        ++read_cb_called;
        got.append(d.begin(), d.end());
        client.read_stop();
        REQUIRE_FALSE(client.is_active());
        if (got.size() == 6) {
            client.close();
            server.close_all();
        }
    };
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.read_start(on_read));
    }));
    // Runs until the first chunk: then nothing keeps the loop alive but the
    // listener, so drive it step by step.
    while (read_cb_called == 0) {
        loop.run(uv::RunMode::Once);
    }
    REQUIRE(read_cb_called == 1);
    if (got.size() < 6) {
        REQUIRE_FALSE(client.read_start(on_read));
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(got == "abcdef");
    require_loop_quiescent(loop);
}

// As net_tcp's case of the same name: Asio's select reactor refuses to wait
// on a descriptor at or above FD_SETSIZE (fd_set_failure). A uv::Tcp used to
// wait again at once, a busy loop until the data came; now the read callback
// gets the reactor's error. On every other reactor the read just works.
TEST_CASE("uv Tcp read on a socket the reactor cannot wait on reports the reactor's error",
          "[uv][tcp][readiness]") {
    test::HighDescriptors high;
    if (!high.ok()) {
        WARN("the hard descriptor limit is below 1100: nothing to check here");
        return;
    }
    uv::Loop loop;
    Server server(loop);
    uv::Tcp client(loop, boost::asio::ip::tcp::v4()); // below 1024
    uv::Timer write_later(loop);
    uv::Timer guard(loop);
    high.fill_below_1024(); // the accepted socket is 1024 or above
    int read_cb_called = 0;
    boost::system::error_code read_ec;
    std::string got;
    auto finish = [&] {
        server.close_all();
        client.close();
        write_later.close();
        guard.close();
    };
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char> d) {
            ++read_cb_called;
            if (ec) {
                read_ec = ec;
                finish();
                return;
            }
            got.append(d.data(), d.size());
            if (got.size() == 5) {
                finish();
            }
        }));
    };
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        // The peer's read has started by now and must wait for the data.
        REQUIRE_FALSE(write_later.start(
            [&] {
                REQUIRE_FALSE(client.write(std::string("hello"), [](boost::system::error_code) {}));
            },
            std::chrono::milliseconds(100)));
    }));
    REQUIRE_FALSE(guard.start(
        [&] {
            FAIL_CHECK("the read neither completed nor failed within 20 s");
            finish();
        },
        std::chrono::seconds(20)));
    loop.run();
    if (test::select_reactor) {
        CHECK(read_cb_called == 1);
        CHECK(read_ec == boost::asio::error::fd_set_failure);
    } else {
        CHECK(read_ec == boost::system::error_code());
        CHECK(got == "hello");
    }
    require_loop_quiescent(loop);
}

// The listener's back-off (uv::Stream's class comment): out of descriptors,
// accept4 fails with EMFILE, which the connection callback gets; accepting
// then pauses on a 100 ms timer instead of spinning on a listener that stays
// readable, and resumes by itself once descriptors are free again.
TEST_CASE("uv Tcp listener out of descriptors reports EMFILE, backs off and accepts again "
          "afterwards",
          "[uv][tcp][accept]") {
    using Clock = std::chrono::steady_clock;
    using namespace std::chrono_literals;
    uv::Loop loop;
    uv::Tcp listener(loop);
    uv::Tcp peer(loop);
    uv::Timer release(loop);
    REQUIRE_FALSE(listener.bind(loopback()));
    int errors = 0;
    int accepted = 0;
    bool other_error = false;
    Clock::time_point first_error{};
    Clock::time_point released{};
    std::vector<int> filler;
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    auto free_descriptors = [&] {
        for (int fd : filler) {
            ::close(fd);
        }
        filler.clear();
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &old) == 0);
    };
    REQUIRE_FALSE(listener.listen(16, [&](boost::system::error_code ec) {
        if (ec) {
            if (ec == boost::system::errc::too_many_files_open) {
                if (errors++ == 0) {
                    first_error = Clock::now();
                    // Give the back-off time to pause at least twice.
                    REQUIRE_FALSE(release.start(
                        [&] {
                            released = Clock::now();
                            free_descriptors();
                        },
                        250ms,
                        0ms));
                }
            } else {
                other_error = true;
            }
            return;
        }
        ++accepted;
        REQUIRE_FALSE(listener.accept(peer));
        peer.close();
        listener.close();
        release.close();
    }));
    // A connection that completes in the backlog, then no descriptor left
    // for accept4.
    const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(client >= 0);
    const Endpoint ep = listener.getsockname().value();
    REQUIRE(::connect(client, ep.data(), static_cast<socklen_t>(ep.size())) == 0);
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(pollux::test::open_fds()) + 16;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (int fd; (fd = ::dup(client)) >= 0;) {
        filler.push_back(fd);
    }
    REQUIRE(loop.run() == 0);
    if (!filler.empty()) {
        free_descriptors(); // a failed check above left them
    }
    ::close(client);
    CHECK_FALSE(other_error);
    REQUIRE(accepted == 1);
    REQUIRE(errors >= 1);
    // One error per pause, not a busy loop: at most one more than the
    // 100 ms pauses that fit between the first error and the release.
    const auto paused_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(released - first_error).count();
    REQUIRE(errors <= paused_ms / 100 + 1);
    require_loop_quiescent(loop);
}
