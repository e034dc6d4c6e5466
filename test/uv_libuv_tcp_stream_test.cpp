#include <pollux/uv/tcp.hpp>
// Own header first: this proves it is self-contained.

// libuv 1.44's tests of reading, writing, shutting down and closing TCP
// streams (test-tcp-close*.c, test-tcp-write*.c, test-tcp-try-write*.c,
// test-tcp-read-stop*.c, test-tcp-unexpected-read.c, test-tcp-oob.c,
// test-tcp-rst.c, test-shutdown-*.c, test-delayed-accept.c,
// test-multiple-listen.c, test-getsockname.c, test-callback-stack.c,
// test-ping-pong.c, test-ref.c), ported to pollux::uv. libuv's echo server
// (another process) is a uv::Tcp echo server on the same loop here.
// docs/callbacks.md's table maps each libuv test.

#include <pollux/uv/check.hpp>
#include <pollux/uv/idle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/uv_tcp_port.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/socket_base.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <sys/socket.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::closed_tcp_port;
using pollux::test::loopback4;
using pollux::test::loopback6;
using pollux::test::require_loop_quiescent;
using pollux::test::TcpEndpoint;
using pollux::test::TcpServer;

namespace {

// libuv's echo server, per connection: echo what is read; at eof, shut the
// write side down, then close.
void echo_peer(uv::Tcp& peer) {
    REQUIRE_FALSE(peer.read_start([&peer](boost::system::error_code ec, std::span<const char> d) {
        if (ec) {
            REQUIRE(ec == boost::asio::error::eof);
            REQUIRE_FALSE(peer.shutdown([&peer](boost::system::error_code) { peer.close(); }));
            return;
        }
        REQUIRE_FALSE(peer.write(std::string(d.begin(), d.end())));
    }));
}

// Resets the connection (SO_LINGER 0, then close): the peer reads
// connection_reset.
void reset(uv::Tcp& tcp) {
    tcp.socket().set_option(boost::asio::socket_base::linger(true, 0));
    tcp.close();
}

} // namespace

// ---- the fixes: read_start twice, writes after a read error --------------

TEST_CASE("shutdown_eof: read_start on a reading handle is already_started and keeps the "
          "first callback",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [&](uv::Tcp& peer) { REQUIRE_FALSE(peer.write(std::string("x"))); };
    uv::Tcp client(loop);
    int first_cb_called = 0;
    int second_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.read_start([&](boost::system::error_code rec, std::span<const char>) {
            REQUIRE_FALSE(rec);
            ++first_cb_called;
            client.close();
            server.close_all();
        }));
        REQUIRE(client.read_start([&](boost::system::error_code, std::span<const char>) {
            ++second_cb_called;
        }) == boost::asio::error::already_started);
        REQUIRE(client.is_reading());
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(first_cb_called == 1);
    REQUIRE(second_cb_called == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_rst: a reset stops reading with connection_reset; then write is broken_pipe, "
          "shutdown and read_start are not_connected",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    // libuv's echo server resets the connection on "QSH".
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char> d) {
            REQUIRE_FALSE(ec);
            REQUIRE(std::string(d.begin(), d.end()) == "QSH");
            reset(peer);
            server.listener.close();
        }));
    };
    uv::Tcp client(loop);
    int connect_cb_called = 0;
    int read_cb_called = 0;
    int write_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        REQUIRE_FALSE(client.read_start([&](boost::system::error_code rec,
                                            std::span<const char> d) {
            ++read_cb_called;
            REQUIRE(rec == boost::asio::error::connection_reset);
            REQUIRE(d.empty());
            REQUIRE_FALSE(client.is_reading());
            REQUIRE(client.socket().is_open());
            REQUIRE_FALSE(client.is_readable());
            REQUIRE_FALSE(client.is_writable());
            // libuv's uv__read clears UV_HANDLE_READABLE and WRITABLE.
            REQUIRE(client.write(std::string("late"), [&](boost::system::error_code) {
                ++write_cb_called;
            }) == boost::asio::error::broken_pipe);
            REQUIRE(client.try_write(boost::asio::buffer("late", 4)).error() ==
                    boost::asio::error::broken_pipe);
            REQUIRE(client.shutdown() == boost::asio::error::not_connected);
            REQUIRE(client.read_start([](boost::system::error_code, std::span<const char>) {}) ==
                    boost::asio::error::not_connected);
            client.close([&] { ++close_cb_called; });
        }));
        REQUIRE(client.try_write(boost::asio::buffer("QSH", 3)).value() == 3);
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(read_cb_called == 1);
    REQUIRE(write_cb_called == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("shutdown_eof: after eof the handle stays readable (read_start reads eof again) and "
          "writable",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    std::string got;
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char> d) {
            if (ec) {
                REQUIRE(ec == boost::asio::error::eof);
                server.close_all();
                return;
            }
            got.append(d.begin(), d.end());
        }));
        REQUIRE_FALSE(peer.shutdown());
    };
    uv::Tcp client(loop);
    int eof_cb_called = 0;
    int write_cb_called = 0;
    // Not inside REQUIRE_FALSE: Catch2 would stringify the whole lambda, longer
    // than the 65,536 characters a string literal may have (clang's
    // -Woverlength-strings).
    const auto connect_ec = client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.read_start([&](boost::system::error_code rec, std::span<const char>) {
            REQUIRE(rec == boost::asio::error::eof);
            ++eof_cb_called;
            REQUIRE_FALSE(client.is_reading());
            REQUIRE(client.is_readable());
            REQUIRE(client.is_writable());
            // Checked against libuv 1.44: uv_read_start after UV_EOF is 0,
            // and the next read is UV_EOF again.
            REQUIRE_FALSE(
                client.read_start([&](boost::system::error_code again, std::span<const char> d) {
                    REQUIRE(again == boost::asio::error::eof);
                    REQUIRE(d.empty());
                    ++eof_cb_called;
                }));
            // Half-closed by the peer: this side still writes.
            REQUIRE_FALSE(
                client.write(std::string("after eof"), [&](boost::system::error_code wec) {
                    REQUIRE_FALSE(wec);
                    ++write_cb_called;
                    REQUIRE_FALSE(
                        client.shutdown([&](boost::system::error_code) { client.close(); }));
                }));
        }));
    });
    REQUIRE_FALSE(connect_ec);
    REQUIRE(loop.run() == 0);
    REQUIRE(eof_cb_called == 2);
    REQUIRE(write_cb_called == 1);
    REQUIRE(got == "after eof");
    require_loop_quiescent(loop);
}

// ---- closing ---------------------------------------------------------------

TEST_CASE("tcp_close: closing a handle with writes queued runs every write callback before "
          "the close callback",
          "[uv][libuv][tcp]") {
    constexpr int num_write_reqs = 32;
    uv::Loop loop;
    TcpServer server(loop);
    server.listener.unref();
    uv::Tcp client(loop);
    int write_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        for (int i = 0; i < num_write_reqs; ++i) {
            REQUIRE_FALSE(client.write(std::string("PING"), [&](boost::system::error_code) {
                REQUIRE(close_cb_called == 0);
                ++write_cb_called;
            }));
        }
        client.close([&] { ++close_cb_called; });
    }));
    REQUIRE(write_cb_called == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(write_cb_called == num_write_reqs);
    REQUIRE(close_cb_called == 1);
    server.close_all();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_close_accept: a connect on a descriptor just freed by a closed peer gets no "
          "stale readiness",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.bind(loopback4()));
    const TcpEndpoint addr = server.getsockname().value();
    constexpr std::size_t n = 2;
    uv::Tcp outgoing[n] = {uv::Tcp(loop), uv::Tcp(loop)};
    std::vector<std::unique_ptr<uv::Tcp>> incoming;
    uv::Tcp check(loop);
    std::size_t got_connections = 0;
    int close_cb_called = 0;
    int write_cb_called = 0;
    int read_cb_called = 0;
    int check_connect_cb_called = 0;
    auto on_close = [&] { ++close_cb_called; };
    std::function<void(std::size_t, boost::system::error_code, std::span<const char>)> read_cb;
    read_cb = [&](std::size_t pending, boost::system::error_code ec, std::span<const char> d) {
        REQUIRE_FALSE(ec);
        REQUIRE(d.size() == 1);
        incoming[pending]->read_stop();
        ++read_cb_called;
        for (std::size_t i = 0; i < got_connections; ++i) {
            if (i != pending) {
                incoming[i]->close(on_close);
            }
        }
        server.close(on_close);
        // Likely on the descriptor of a closed incoming handle.
        REQUIRE_FALSE(check.connect(addr, [&, pending](boost::system::error_code cec) {
            REQUIRE(cec); // refused: nobody listens any more
            ++check_connect_cb_called;
            incoming[pending]->close(on_close);
            check.close(on_close);
        }));
        REQUIRE_FALSE(check.read_start([](boost::system::error_code rec, std::span<const char>) {
            REQUIRE(rec); // the failed socket reads eof or its error
        }));
    };
    REQUIRE_FALSE(server.listen(static_cast<int>(n), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        if (got_connections == n) {
            return; // the check connection: left unaccepted
        }
        incoming.push_back(std::make_unique<uv::Tcp>(loop));
        REQUIRE_FALSE(server.accept(*incoming.back()));
        if (++got_connections != n) {
            return;
        }
        for (std::size_t i = 0; i < n; ++i) {
            REQUIRE_FALSE(
                incoming[i]->read_start([&, i](boost::system::error_code rec,
                                               std::span<const char> d) { read_cb(i, rec, d); }));
        }
    }));
    for (auto& client : outgoing) {
        REQUIRE_FALSE(client.connect(addr, [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            REQUIRE_FALSE(client.write(std::string("x"), [&](boost::system::error_code wec) {
                REQUIRE_FALSE(wec);
                ++write_cb_called;
            }));
        }));
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(got_connections == n);
    REQUIRE(close_cb_called == static_cast<int>(n) + 2);
    REQUIRE(write_cb_called == static_cast<int>(n));
    REQUIRE(read_cb_called == 1);
    REQUIRE(check_connect_cb_called == 1);
    for (auto& client : outgoing) {
        client.close();
    }
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_close_after_read_timeout: closing a reading client from a timer gives the peer "
          "eof and the client no read callback",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    uv::Tcp client(loop);
    uv::Tcp connection(loop);
    uv::Timer timer(loop);
    int read_cb_called = 0;
    int close_cb_called = 0;
    auto on_close = [&] { ++close_cb_called; };
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE_FALSE(server.listen(128, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(server.accept(connection));
        REQUIRE_FALSE(
            connection.read_start([&](boost::system::error_code rec, std::span<const char>) {
                REQUIRE(rec == boost::asio::error::eof);
                ++read_cb_called;
                connection.close(on_close);
            }));
    }));
    server.unref();
    REQUIRE_FALSE(client.connect(server.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.read_start(
            [&](boost::system::error_code, std::span<const char>) { ++read_cb_called; }));
        REQUIRE_FALSE(timer.start(
            [&] {
                REQUIRE(read_cb_called == 0);
                client.read_stop();
                client.close(on_close);
                timer.close(on_close);
            },
            100ms));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(read_cb_called == 1);
    REQUIRE(close_cb_called == 3);
    server.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

// ---- writing -------------------------------------------------------------

TEST_CASE("tcp_writealot: many writes, a shutdown on drain and reading the echo all complete",
          "[uv][libuv][tcp]") {
    constexpr std::size_t writes = 1280;
    constexpr std::size_t chunk = 10 * 1024;
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    uv::Tcp client(loop);
    const std::string data(chunk, 'a');
    std::size_t bytes_sent_done = 0;
    std::size_t bytes_received_done = 0;
    std::size_t write_cb_called = 0;
    int shutdown_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        for (std::size_t i = 0; i < writes; ++i) {
            REQUIRE_FALSE(
                client.write(boost::asio::buffer(data), [&](boost::system::error_code wec) {
                    REQUIRE_FALSE(wec);
                    bytes_sent_done += chunk;
                    ++write_cb_called;
                }));
        }
        REQUIRE_FALSE(client.shutdown([&](boost::system::error_code sec) {
            REQUIRE_FALSE(sec);
            REQUIRE(client.write_queue_size() == 0);
            REQUIRE(write_cb_called == writes);
            ++shutdown_cb_called;
        }));
        REQUIRE_FALSE(
            client.read_start([&](boost::system::error_code rec, std::span<const char> d) {
                if (rec) {
                    REQUIRE(rec == boost::asio::error::eof);
                    client.close([&] { ++close_cb_called; });
                    server.listener.close();
                    return;
                }
                bytes_received_done += d.size();
            }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(write_cb_called == writes);
    REQUIRE(close_cb_called == 1);
    REQUIRE(bytes_sent_done == writes * chunk);
    REQUIRE(bytes_received_done == writes * chunk);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_write_queue_order: closing with a long queue completes the sent writes, then "
          "cancels the rest, in order",
          "[uv][libuv][tcp]") {
    constexpr int req_count = 10000;
    uv::Loop loop;
    uv::Tcp server(loop);
    uv::Tcp client(loop);
    uv::Tcp incoming(loop);
    uv::Timer timer(loop);
    int connect_cb_called = 0;
    int connection_cb_called = 0;
    int close_cb_called = 0;
    int write_callbacks = 0;
    int write_cancelled_callbacks = 0;
    int write_error_callbacks = 0;
    bool order_kept = true;
    auto on_close = [&] { ++close_cb_called; };
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE_FALSE(server.listen(128, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(server.accept(incoming));
        ++connection_cb_called;
        REQUIRE_FALSE(timer.start(
            [&] {
                client.close(on_close);
                server.close(on_close);
                incoming.close(on_close);
                timer.close();
            },
            100ms));
    }));
    static const std::string base(1024, 'x');
    REQUIRE_FALSE(client.connect(server.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        for (int i = 0; i < req_count; ++i) {
            REQUIRE_FALSE(
                client.write(boost::asio::buffer(base), [&](boost::system::error_code wec) {
                    if (!wec) {
                        // No success after a cancelled write: queue order.
                        order_kept = order_kept && write_cancelled_callbacks == 0;
                        ++write_callbacks;
                    } else if (wec == boost::asio::error::operation_aborted) {
                        ++write_cancelled_callbacks;
                    } else {
                        ++write_error_callbacks;
                    }
                }));
        }
    }));
    client.socket().set_option(boost::asio::socket_base::send_buffer_size(16 * 1024));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(connection_cb_called == 1);
    REQUIRE(write_callbacks > 0);
    REQUIRE(write_cancelled_callbacks > 0);
    REQUIRE(write_callbacks + write_error_callbacks + write_cancelled_callbacks == req_count);
    REQUIRE(order_kept);
    REQUIRE(close_cb_called == 3);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_shutdown_after_write: a write then a shutdown from a timer both succeed",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    uv::Tcp conn(loop);
    uv::Timer timer(loop);
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int shutdown_cb_called = 0;
    int conn_close_cb_called = 0;
    int timer_close_cb_called = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            timer.close([&] { ++timer_close_cb_called; });
            REQUIRE_FALSE(conn.write(std::string("TEST"), [&](boost::system::error_code ec) {
                REQUIRE_FALSE(ec);
                ++write_cb_called;
            }));
            REQUIRE_FALSE(conn.shutdown([&](boost::system::error_code ec) {
                REQUIRE_FALSE(ec);
                ++shutdown_cb_called;
                conn.close([&] { ++conn_close_cb_called; });
                server.listener.close();
            }));
        },
        125ms));
    REQUIRE_FALSE(conn.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        REQUIRE_FALSE(conn.read_start([](boost::system::error_code, std::span<const char>) {}));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 1);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(conn_close_cb_called == 1);
    REQUIRE(timer_close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_try_write: try_write sends what the kernel takes, and an empty try_write is 0",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    std::size_t bytes_read = 0;
    std::size_t bytes_written = 0;
    int close_cb_called = 0;
    auto on_close = [&] { ++close_cb_called; };
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char> d) {
            if (ec) {
                peer.close(on_close);
                server.listener.close(on_close);
                return;
            }
            bytes_read += d.size();
        }));
    };
    uv::Tcp client(loop);
    int connect_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        for (;;) {
            auto n = client.try_write(boost::asio::buffer("PING", 4));
            REQUIRE((n || n.error() == boost::asio::error::would_block));
            if (n && *n > 0) {
                bytes_written += *n;
                break;
            }
        }
        REQUIRE(client.try_write(boost::asio::const_buffer()).value() == 0);
        client.close(on_close);
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(close_cb_called == 3);
    REQUIRE(server.connection_cb_called == 1);
    REQUIRE(bytes_written > 0);
    REQUIRE(bytes_read == bytes_written);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_try_write_error: try_write to a closed peer ends with broken_pipe, "
          "connection_aborted or connection_reset and queues nothing",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    uv::Tcp client(loop);
    uv::Tcp incoming(loop);
    int connect_cb_called = 0;
    int connection_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE_FALSE(server.listen(128, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(server.accept(incoming));
        ++connection_cb_called;
        incoming.close([&] {
            ++close_cb_called;
            boost::system::error_code err;
            for (;;) {
                auto n = client.try_write(boost::asio::buffer("meow", 4));
                if (!n && n.error() != boost::asio::error::would_block) {
                    err = n.error();
                    break;
                }
            }
            REQUIRE((err == boost::asio::error::broken_pipe ||
                     err == boost::asio::error::connection_aborted ||
                     err == boost::asio::error::connection_reset));
            REQUIRE(client.write_queue_size() == 0);
        });
        server.close([&] { ++close_cb_called; });
    }));
    REQUIRE_FALSE(client.connect(server.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
    }));
    REQUIRE(loop.run() == 0);
    client.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(close_cb_called == 3);
    REQUIRE(connection_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_write_fail: a write on a socket whose write side is gone fails in its callback",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    uv::Tcp client(loop);
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        // libuv closes the descriptor behind the handle's back; Asio's
        // reactor must not lose a descriptor it watches, so this shuts it
        // down for writing behind the handle's back instead.
        REQUIRE(::shutdown(client.socket().native_handle(), SHUT_WR) == 0);
        REQUIRE_FALSE(client.write(std::string("hello\n"), [&](boost::system::error_code wec) {
            REQUIRE(wec == boost::asio::error::broken_pipe);
            ++write_cb_called;
            client.close([&] { ++close_cb_called; });
            server.close_all();
        }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_write_to_half_open_connection: writing to a peer that closed succeeds at "
          "first and reading then ends with eof or connection_reset",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    int write_cb_called = 0;
    int read_cb_called = 0;
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char>) {
            if (ec) {
                REQUIRE(
                    (ec == boost::asio::error::connection_reset || ec == boost::asio::error::eof));
                server.close_all();
            }
            ++read_cb_called;
        }));
        REQUIRE_FALSE(peer.write(std::string("hello\n"), [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            ++write_cb_called;
        }));
    };
    uv::Tcp client(loop);
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        client.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(write_cb_called > 0);
    REQUIRE(read_cb_called > 0);
    require_loop_quiescent(loop);
}

// ---- reading -------------------------------------------------------------

TEST_CASE("tcp_read_stop: after read_stop no read callback runs though the echo arrives",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    uv::Tcp tcp(loop);
    uv::Timer timer(loop);
    int write_cb_called = 0;
    REQUIRE_FALSE(tcp.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(timer.start(
            [&] {
                REQUIRE_FALSE(tcp.write(std::string("PING"), [&](boost::system::error_code) {
                    ++write_cb_called;
                    timer.close();
                    tcp.close();
                    server.listener.close();
                }));
                tcp.read_stop();
                REQUIRE_FALSE(tcp.is_reading());
            },
            50ms));
        REQUIRE_FALSE(tcp.read_start([](boost::system::error_code, std::span<const char>) {
            FAIL("read callback after read_stop");
        }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(write_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_read_stop_start: read_stop then read_start inside a read callback switches "
          "callbacks, and the second sees the end",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    uv::Tcp connection(loop);
    uv::Tcp client(loop);
    int read_cb_called = 0;
    uv::Tcp::ReadCallback on_read2 = [&](boost::system::error_code ec, std::span<const char>) {
        if (!ec) {
            return; // the rest of the data, if it came in two reads
        }
        connection.close();
        server.close();
        ++read_cb_called;
    };
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE_FALSE(server.listen(10, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(server.accept(connection));
        REQUIRE_FALSE(
            connection.read_start([&](boost::system::error_code rec, std::span<const char>) {
                REQUIRE_FALSE(rec);
                // A write on a half-open connection (libuv forces Windows'
                // WSAECONNABORTED with it).
                REQUIRE_FALSE(connection.write(std::string("1234578")));
                connection.read_stop();
                REQUIRE_FALSE(connection.read_start(on_read2));
                ++read_cb_called;
            }));
    }));
    REQUIRE_FALSE(client.connect(server.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.write(std::string("1234578"), [&](boost::system::error_code wec) {
            REQUIRE_FALSE(wec);
            client.close(); // at once
        }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(read_cb_called >= 2);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_unexpected_read: data for a handle that is not reading does not make the loop "
          "spin",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Check check(loop);
    uv::Timer timer(loop);
    uv::Tcp server(loop);
    uv::Tcp client(loop);
    uv::Tcp peer(loop);
    unsigned long ticks = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            check.close();
            timer.close();
            server.close();
            client.close();
            peer.close();
        },
        1000ms));
    REQUIRE_FALSE(check.start([&] { ++ticks; }));
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE_FALSE(server.listen(1, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(server.accept(peer));
        REQUIRE_FALSE(peer.read_start([](boost::system::error_code, std::span<const char>) {
            FAIL("the client sends nothing");
        }));
        REQUIRE_FALSE(peer.write(std::string("PING"),
                                 [](boost::system::error_code wec) { REQUIRE_FALSE(wec); }));
    }));
    REQUIRE_FALSE(client.connect(server.getsockname().value(),
                                 [](boost::system::error_code ec) { REQUIRE_FALSE(ec); }));
    REQUIRE(loop.run() == 0);
    // Inexact, as libuv's: a handful of iterations for the connection, not
    // one per readiness report of unread data.
    REQUIRE(ticks <= 20);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_oob: urgent data does not make the loop spin or hang", "[uv][libuv][tcp]") {
    constexpr int max_ticks = 10;
    uv::Loop loop;
    uv::Tcp server(loop);
    uv::Tcp client(loop);
    uv::Tcp peer(loop);
    uv::Idle idle(loop);
    int ticks = 0;
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE_FALSE(server.listen(1, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(server.accept(peer));
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code rec, std::span<const char>) {
            REQUIRE_FALSE(rec);
            REQUIRE_FALSE(idle.start([&] {
                if (++ticks < max_ticks) {
                    return;
                }
                server.close();
                client.close();
                peer.close();
                idle.close();
            }));
            // Flush the urgent byte out, as libuv's test does.
            char lbuf[12];
            (void)::recv(peer.socket().native_handle(), lbuf, sizeof lbuf, MSG_OOB);
        }));
        // Two separate urgent messages.
        const int fd = client.socket().native_handle();
        REQUIRE(::send(fd, "hello", 5, MSG_OOB) == 5);
        REQUIRE(::send(fd, "hello", 5, MSG_OOB) == 5);
    }));
    REQUIRE_FALSE(client.connect(server.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(client.nodelay(true));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(ticks == max_ticks);
    require_loop_quiescent(loop);
}

// ---- shutdown (test-shutdown-*.c) ----------------------------------------

TEST_CASE("shutdown_close_tcp: a shutdown then a close in the connect callback each call back "
          "once",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    uv::Tcp h(loop);
    int connect_cb_called = 0;
    int shutdown_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(h.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(h.shutdown([&](boost::system::error_code sec) {
            REQUIRE((!sec || sec == boost::asio::error::operation_aborted));
            REQUIRE(close_cb_called == 0);
            ++shutdown_cb_called;
        }));
        REQUIRE_FALSE(h.is_closing());
        h.close([&] { ++close_cb_called; });
        REQUIRE(h.is_closing());
        ++connect_cb_called;
        server.listener.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("shutdown_eof: the echo's eof after a shutdown does not close the handle for the "
          "user",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    uv::Tcp tcp(loop);
    uv::Timer timer(loop);
    bool got_q = false;
    bool got_eof = false;
    int called_connect_cb = 0;
    int called_shutdown_cb = 0;
    int called_tcp_close_cb = 0;
    int called_timer_close_cb = 0;
    int called_timer_cb = 0;
    REQUIRE_FALSE(timer.start(
        [&] {
            timer.close([&] { ++called_timer_close_cb; });
            // The test's point: eof did not close the handle.
            REQUIRE(called_tcp_close_cb == 0);
            REQUIRE_FALSE(tcp.is_closing());
            tcp.close([&] {
                REQUIRE(got_q);
                REQUIRE(got_eof);
                REQUIRE(called_timer_cb == 1);
                ++called_tcp_close_cb;
            });
            ++called_timer_cb;
        },
        100ms));
    REQUIRE_FALSE(tcp.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(tcp.read_start([&](boost::system::error_code rec, std::span<const char> d) {
            if (!got_q) {
                REQUIRE_FALSE(rec);
                REQUIRE(std::string(d.begin(), d.end()) == "Q");
                got_q = true;
            } else {
                REQUIRE(rec == boost::asio::error::eof);
                got_eof = true;
                server.listener.close();
            }
        }));
        REQUIRE(tcp.read_start([](boost::system::error_code, std::span<const char>) {}) ==
                boost::asio::error::already_started);
        REQUIRE_FALSE(tcp.write(std::string("Q")));
        REQUIRE_FALSE(tcp.shutdown([&](boost::system::error_code sec) {
            REQUIRE_FALSE(sec);
            REQUIRE(called_connect_cb == 1);
            REQUIRE_FALSE(got_eof);
            REQUIRE(called_tcp_close_cb == 0);
            REQUIRE(called_timer_cb == 0);
            ++called_shutdown_cb;
        }));
        ++called_connect_cb;
        REQUIRE(called_shutdown_cb == 0);
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(called_connect_cb == 1);
    REQUIRE(called_shutdown_cb == 1);
    REQUIRE(got_eof);
    REQUIRE(got_q);
    REQUIRE(called_tcp_close_cb == 1);
    REQUIRE(called_timer_close_cb == 1);
    REQUIRE(called_timer_cb == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("shutdown_simultaneous: both ends shutting down at once both see eof",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    // The echo server's "QQSS": echo, then shut down its side.
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.read_start([&](boost::system::error_code ec, std::span<const char> d) {
            if (ec) {
                REQUIRE(ec == boost::asio::error::eof);
                server.close_all();
                return;
            }
            REQUIRE_FALSE(peer.write(std::string(d.begin(), d.end())));
            REQUIRE_FALSE(peer.shutdown());
        }));
    };
    uv::Tcp tcp(loop);
    bool got_q = false;
    bool got_eof = false;
    int called_connect_cb = 0;
    int called_shutdown_cb = 0;
    REQUIRE_FALSE(tcp.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(tcp.read_start([&](boost::system::error_code rec, std::span<const char> d) {
            if (!got_q) {
                REQUIRE_FALSE(rec);
                REQUIRE(std::string(d.begin(), d.end()) == "QQSS");
                got_q = true;
                // Our end, at the same time as the peer's.
                REQUIRE_FALSE(tcp.shutdown([&](boost::system::error_code) {
                    REQUIRE(called_connect_cb == 1);
                    ++called_shutdown_cb;
                }));
            } else {
                REQUIRE(rec == boost::asio::error::eof);
                got_eof = true;
                tcp.close();
            }
        }));
        REQUIRE(tcp.read_start([](boost::system::error_code, std::span<const char>) {}) ==
                boost::asio::error::already_started);
        REQUIRE(tcp.try_write(boost::asio::buffer("QQSS", 4)).value() == 4);
        ++called_connect_cb;
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(called_connect_cb == 1);
    REQUIRE(called_shutdown_cb == 1);
    REQUIRE(got_eof);
    REQUIRE(got_q);
    require_loop_quiescent(loop);
}

TEST_CASE("shutdown_twice: a second shutdown is not_connected and only the first calls back",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    uv::Tcp h(loop);
    int shutdown_cb_called = 0;
    REQUIRE_FALSE(h.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(h.shutdown([&](boost::system::error_code sec) {
            REQUIRE_FALSE(sec);
            ++shutdown_cb_called;
            h.close();
            server.listener.close();
        }));
        REQUIRE(h.shutdown([&](boost::system::error_code) { ++shutdown_cb_called; }) ==
                boost::asio::error::not_connected);
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(shutdown_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("not_writable_after_shutdown: a handle is not writable once a shutdown was "
          "requested, and stays readable",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    uv::Tcp socket(loop);
    int shutdown_cb_called = 0;
    REQUIRE_FALSE(socket.is_writable());
    REQUIRE_FALSE(socket.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(socket.is_writable());
        REQUIRE(socket.is_readable());
        REQUIRE_FALSE(socket.shutdown([&](boost::system::error_code) {
            ++shutdown_cb_called;
            socket.close();
            server.listener.close();
        }));
        REQUIRE_FALSE(socket.is_writable());
        REQUIRE(socket.is_readable());
        REQUIRE(socket.write(std::string("x")) == boost::asio::error::broken_pipe);
    }));
    // Connecting: writes are queued, so writable.
    REQUIRE(socket.is_writable());
    REQUIRE(socket.is_readable());
    REQUIRE(loop.run() == 0);
    REQUIRE(shutdown_cb_called == 1);
    require_loop_quiescent(loop);
}

// ---- accepting -----------------------------------------------------------

TEST_CASE("delayed_accept: connections accepted later, from timers, are handed out in turn",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    std::vector<std::unique_ptr<uv::Timer>> timers;
    std::vector<std::unique_ptr<uv::Tcp>> accepted;
    std::vector<std::unique_ptr<uv::Tcp>> clients;
    int connection_cb_called = 0;
    int do_accept_called = 0;
    int close_cb_called = 0;
    int connect_cb_called = 0;
    auto on_close = [&] { ++close_cb_called; };
    REQUIRE_FALSE(server.bind(loopback4()));
    REQUIRE_FALSE(server.listen(128, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        timers.push_back(std::make_unique<uv::Timer>(loop));
        uv::Timer& t = *timers.back();
        REQUIRE_FALSE(t.start(
            [&] {
                accepted.push_back(std::make_unique<uv::Tcp>(loop));
                REQUIRE_FALSE(server.accept(*accepted.back()));
                ++do_accept_called;
                accepted.back()->close(on_close); // at once
                if (do_accept_called == 2) {
                    server.close(on_close);
                }
                t.close(on_close);
            },
            100ms));
        ++connection_cb_called;
    }));
    for (int i = 0; i < 2; ++i) {
        clients.push_back(std::make_unique<uv::Tcp>(loop));
        uv::Tcp& c = *clients.back();
        REQUIRE_FALSE(c.connect(server.getsockname().value(), [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            REQUIRE_FALSE(c.read_start([&](boost::system::error_code rec, std::span<const char>) {
                REQUIRE(rec == boost::asio::error::eof); // the server sends nothing
                c.close(on_close);
            }));
            ++connect_cb_called;
        }));
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(connection_cb_called == 2);
    REQUIRE(do_accept_called == 2);
    REQUIRE(connect_cb_called == 2);
    REQUIRE(close_cb_called == 7);
    require_loop_quiescent(loop);
}

TEST_CASE("multiple_listen: listen twice succeeds and connections still arrive",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    uv::Tcp client(loop);
    int connection_cb_called = 0;
    int connect_cb_called = 0;
    int close_cb_called = 0;
    REQUIRE_FALSE(server.bind(loopback4()));
    auto connection_cb = [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        server.close([&] { ++close_cb_called; });
        ++connection_cb_called;
    };
    REQUIRE_FALSE(server.listen(128, connection_cb));
    REQUIRE_FALSE(server.listen(128, connection_cb));
    REQUIRE_FALSE(client.connect(server.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        client.close([&] { ++close_cb_called; });
        ++connect_cb_called;
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connection_cb_called == 1);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("getsockname_tcp: the listener, the accepted peer and the client report their "
          "addresses",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    int getsocknamecount = 0;
    int getpeernamecount = 0;
    const TcpEndpoint server_ep = server.endpoint();
    REQUIRE(server_ep.address() == boost::asio::ip::make_address("127.0.0.1"));
    ++getsocknamecount;
    REQUIRE(server.listener.getpeername().error() == boost::asio::error::not_connected);
    uv::Tcp client(loop);
    server.on_peer = [&](uv::Tcp& peer) {
        REQUIRE(peer.getsockname().value() == server_ep);
        ++getsocknamecount;
        REQUIRE(peer.getpeername().value() == client.getsockname().value());
        ++getpeernamecount;
        if (getpeernamecount == 2) {
            server.close_all();
            client.close();
        }
    };
    REQUIRE_FALSE(client.connect(server_ep, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(client.getpeername().value() == server_ep);
        ++getpeernamecount;
        REQUIRE(client.getsockname()->address() == boost::asio::ip::make_address("127.0.0.1"));
        ++getsocknamecount;
        if (getpeernamecount == 2) {
            server.close_all();
            client.close();
        }
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(getsocknamecount == 3);
    REQUIRE(getpeernamecount == 2);
    require_loop_quiescent(loop);
}

// ---- callback_stack (test-callback-stack.c) ------------------------------

TEST_CASE("callback_stack: every callback runs from a fresh stack, never inside the call that "
          "caused it",
          "[uv][libuv][tcp]") {
    static const std::string message = "Failure is for the weak. Everyone dies alone.";
    uv::Loop loop;
    TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    uv::Tcp client(loop);
    uv::Timer timer(loop);
    int nested = 0;
    int close_cb_called = 0;
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int timer_cb_called = 0;
    int shutdown_cb_called = 0;
    std::size_t bytes_received = 0;
    auto close_cb = [&] {
        REQUIRE(nested == 0);
        ++close_cb_called;
    };
    auto read_cb = [&](boost::system::error_code ec, std::span<const char> d) {
        REQUIRE(nested == 0);
        if (ec) {
            REQUIRE(ec == boost::asio::error::eof);
            ++nested;
            client.close(close_cb);
            --nested;
            server.listener.close();
            return;
        }
        bytes_received += d.size();
        if (bytes_received == message.size()) {
            ++nested;
            REQUIRE_FALSE(client.shutdown([&](boost::system::error_code sec) {
                REQUIRE_FALSE(sec);
                REQUIRE(nested == 0);
                ++shutdown_cb_called;
            }));
            --nested;
        }
    };
    ++nested;
    REQUIRE_FALSE(client.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(nested == 0);
        ++nested;
        REQUIRE_FALSE(client.write(message, [&](boost::system::error_code wec) {
            REQUIRE_FALSE(wec);
            REQUIRE(nested == 0);
            // Wait, so that the echo is in the receive buffer when reading
            // starts: the temptation to call read_cb inside read_start.
            ++nested;
            REQUIRE_FALSE(timer.start(
                [&] {
                    REQUIRE(nested == 0);
                    ++nested;
                    REQUIRE_FALSE(client.read_start(read_cb));
                    --nested;
                    ++timer_cb_called;
                    timer.close(close_cb);
                },
                100ms));
            --nested;
            ++write_cb_called;
        }));
        --nested;
        ++connect_cb_called;
    }));
    --nested;
    REQUIRE(loop.run() == 0);
    REQUIRE(nested == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 1);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(bytes_received == message.size());
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(close_cb_called == 2);
    require_loop_quiescent(loop);
}

// ---- ping-pong (test-ping-pong.c) ----------------------------------------

namespace {

// libuv's pinger: writes "PING\n", counts the echoed "PING\n"s, and writes
// again after each, until num_pings; then closes. `vectored`: each PING is
// one write of five one-byte buffers (libuv's *_vec tests).
void ping_pong(const TcpEndpoint& listen_at, bool vectored = false) {
    constexpr int num_pings = 1000;
    static const std::string ping = "PING\n";
    uv::Loop loop;
    TcpServer server(loop, listen_at);
    server.on_peer = [](uv::Tcp& peer) { echo_peer(peer); };
    uv::Tcp pinger(loop);
    int pongs = 0;
    std::size_t state = 0;
    int close_cb_called = 0;
    std::array<boost::asio::const_buffer, 5> bufs;
    for (std::size_t i = 0; i < bufs.size(); ++i) {
        bufs[i] = boost::asio::buffer(ping.data() + i, 1);
    }
    auto send_ping = [&] {
        if (vectored) {
            REQUIRE_FALSE(pinger.write(bufs));
        } else {
            REQUIRE_FALSE(pinger.write(ping));
        }
    };
    REQUIRE_FALSE(pinger.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        send_ping();
        REQUIRE_FALSE(
            pinger.read_start([&](boost::system::error_code rec, std::span<const char> d) {
                REQUIRE_FALSE(rec);
                for (char c : d) {
                    REQUIRE(c == ping[state]);
                    state = (state + 1) % ping.size();
                    if (state != 0) {
                        continue;
                    }
                    ++pongs;
                    if (pongs < num_pings) {
                        send_ping();
                    } else {
                        pinger.close([&] { ++close_cb_called; });
                        server.listener.close();
                        return;
                    }
                }
            }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(pongs == num_pings);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

} // namespace

TEST_CASE("tcp_ping_pong: 1000 ping-pongs with an echo server over IPv4", "[uv][libuv][tcp]") {
    ping_pong(loopback4());
}

TEST_CASE("tcp6_ping_pong: 1000 ping-pongs with an echo server over IPv6", "[uv][libuv][tcp]") {
    if (!pollux::test::have_ipv6_loopback()) {
        WARN("no ::1 here");
        return;
    }
    ping_pong(loopback6());
}

TEST_CASE("tcp_ping_pong_vec: 1000 ping-pongs, each PING one write of five buffers",
          "[uv][libuv][tcp]") {
    ping_pong(loopback4(), true);
}

TEST_CASE("tcp6_ping_pong_vec: as tcp_ping_pong_vec over IPv6", "[uv][libuv][tcp]") {
    if (!pollux::test::have_ipv6_loopback()) {
        WARN("no ::1 here");
        return;
    }
    ping_pong(loopback6(), true);
}

// ---- ref counting (test-ref.c) ---------------------------------------------

TEST_CASE("tcp_ref: an unreferenced fresh handle does not keep run() going", "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp h(loop);
    h.unref();
    REQUIRE(loop.run() == 0);
    h.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_ref2: an unreferenced listening handle does not keep run() going",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp h(loop);
    REQUIRE_FALSE(h.listen(128, [](boost::system::error_code) { FAIL("no connection"); }));
    h.unref();
    REQUIRE(loop.run() == 0);
    h.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_ref2b: closing an unreferenced listening handle still runs its close callback",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    uv::Tcp h(loop);
    REQUIRE_FALSE(h.listen(128, [](boost::system::error_code) { FAIL("no connection"); }));
    h.unref();
    int close_cb_called = 0;
    h.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_ref3: a connect on an unreferenced handle keeps run() going until its callback",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.listener.unref();
    uv::Tcp h(loop);
    int connect_cb_called = 0;
    int shutdown_cb_called = 0;
    REQUIRE_FALSE(h.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        REQUIRE_FALSE(h.shutdown([&](boost::system::error_code sec) {
            REQUIRE_FALSE(sec);
            ++shutdown_cb_called;
        }));
    }));
    h.unref();
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(shutdown_cb_called == 1);
    h.close();
    server.close_all();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("tcp_ref4: a write and a shutdown on an unreferenced handle keep run() going until "
          "their callbacks",
          "[uv][libuv][tcp]") {
    uv::Loop loop;
    TcpServer server(loop);
    server.listener.unref();
    uv::Tcp h(loop);
    int connect_cb_called = 0;
    int write_cb_called = 0;
    int shutdown_cb_called = 0;
    REQUIRE_FALSE(h.connect(server.endpoint(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        REQUIRE_FALSE(h.write(std::string("PING"), [&](boost::system::error_code wec) {
            REQUIRE_FALSE(wec);
            ++write_cb_called;
        }));
        REQUIRE_FALSE(h.shutdown([&](boost::system::error_code sec) {
            REQUIRE_FALSE(sec);
            ++shutdown_cb_called;
        }));
    }));
    h.unref();
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 1);
    REQUIRE(shutdown_cb_called == 1);
    h.close();
    server.close_all();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}
