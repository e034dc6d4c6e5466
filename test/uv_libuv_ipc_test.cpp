#include <pollux/uv/process.hpp>

// libuv 1.44's IPC tests that need a spawned child (test-ipc.c, and
// test-ipc-send-recv.c's ipc_send_recv_pipe/_tcp) ported to uv::Pipe and
// uv::Process. libuv's helper is its own test runner run as
// `ipc_helper_*`; ours is test/uv_libuv_ipc_helper.cpp, a small program
// built beside this test (its path is POLLUX_UV_IPC_HELPER), run with the
// helper's name. Its descriptor 0 is the parent's IPC channel (a
// create_pipe socket pair), 1 and 2 are ours; it exits 0 when everything
// went as libuv's helper asserts. docs/callbacks.md's "libuv's own tests"
// has the table.

#include <pollux/uv/loop.hpp>
#include <pollux/uv/pipe.hpp>
#include <pollux/uv/tcp.hpp>
#include <pollux/uv/timer.hpp>

#include "support/child_scan.hpp"
#include "support/loop_quiescent.hpp"
#include "support/open_fds.hpp"
#include "support/uv_tcp_port.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <signal.h>
#include <span>
#include <string>
#include <string_view>
#include <unistd.h>
#include <variant>
#include <vector>

#ifndef POLLUX_UV_IPC_HELPER
#error "test/meson.build defines POLLUX_UV_IPC_HELPER, the helper's path"
#endif

using namespace pollux;
using pollux::test::require_loop_quiescent;

namespace {

constexpr int backlog = 128;
constexpr int conn_count = 100;

std::string_view text(std::span<const char> data) {
    return {data.data(), data.size()};
}

std::string test_pipename() {
    static std::atomic<int> n{0};
    return "/tmp/pollux-uv-libuv-ipc-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

// libuv's spawn_helper: the helper `mode` with `channel` (an IPC pipe) as
// its descriptor 0 and our 1 and 2; its exit callback expects status 0 and
// no signal, and closes the process.
void spawn_helper(uv::Process& process, uv::Pipe& channel, const char* mode, int& exit_cb_called) {
    REQUIRE(channel.ipc());
    uv::ProcessOptions o;
    o.file = POLLUX_UV_IPC_HELPER;
    o.args = {o.file, mode};
    o.stdio = {{uv::StdioContainer::create_pipe | uv::StdioContainer::readable_pipe |
                    uv::StdioContainer::writable_pipe,
                -1,
                &channel},
               {uv::StdioContainer::inherit_fd, 1},
               {uv::StdioContainer::inherit_fd, 2}};
    o.exit_cb = [&process, &exit_cb_called](std::int64_t exit_status, int term_signal) {
        ++exit_cb_called;
        REQUIRE(exit_status == 0);
        REQUIRE(term_signal == 0);
        process.close();
    };
    REQUIRE_FALSE(process.spawn(o));
}

// libuv's make_many_connections: conn_count connects to `port`, each closed
// in its callback whatever the outcome.
void make_many_connections(uv::Loop& loop,
                           std::vector<std::unique_ptr<uv::Tcp>>& conns,
                           unsigned short port) {
    for (int i = 0; i < conn_count; ++i) {
        auto& c = conns.emplace_back(std::make_unique<uv::Tcp>(loop));
        uv::Tcp* p = c.get();
        REQUIRE_FALSE(p->connect(pollux::test::loopback4(port),
                                 [p](boost::system::error_code) { p->close(); }));
    }
}

// libuv's ipc_listen_before_write / ipc_listen_after_write: the child's
// bound TCP server comes with "hello\n"; this side listens on it too, writes
// "foobar\n" and connects conn_count times, so that both processes accept.
// Each side closes its server after its first connection; the child reports
// its own with "accepted_connection\n", upon which the channel closes.
void run_listen_test(const char* mode) {
    uv::Loop loop;
    uv::Pipe channel(loop, true);
    uv::Process process(loop);
    uv::Tcp tcp_server(loop);
    std::unique_ptr<uv::Tcp> conn;
    std::vector<std::unique_ptr<uv::Tcp>> conns;
    int exit_cb_called = 0;
    int read_cb_called = 0;
    bool tcp_server_listening = false;
    int local_conn_accepted = 0;
    int remote_conn_accepted = 0;
    spawn_helper(process, channel, mode, exit_cb_called);
    auto on_connection = [&](boost::system::error_code ec) {
        if (local_conn_accepted != 0) {
            return;
        }
        REQUIRE_FALSE(ec);
        conn = std::make_unique<uv::Tcp>(loop);
        REQUIRE_FALSE(tcp_server.accept(*conn));
        conn->close();
        tcp_server.close();
        local_conn_accepted = 1;
    };
    REQUIRE_FALSE(channel.read_start([&](boost::system::error_code ec, std::span<const char> data) {
        if (ec == boost::asio::error::eof) {
            return;
        }
        REQUIRE_FALSE(ec);
        if (data.empty()) {
            return;
        }
        if (!tcp_server_listening) {
            REQUIRE(channel.pending_count() == 1);
            REQUIRE(channel.pending_type() == uv::HandleType::tcp);
            ++read_cb_called;
            REQUIRE_FALSE(channel.accept(tcp_server));
            REQUIRE_FALSE(tcp_server.listen(backlog, on_connection));
            tcp_server_listening = true;
            // The data comes with the descriptor, unmixed.
            REQUIRE(text(data) == "hello\n");
            REQUIRE_FALSE(channel.write(std::string("foobar\n")));
            auto local = tcp_server.getsockname();
            REQUIRE(local.has_value());
            make_many_connections(loop, conns, local->port());
        } else if (text(data) == "accepted_connection\n") {
            REQUIRE(channel.pending_count() == 0);
            REQUIRE(channel.pending_type() == uv::HandleType::unknown);
            remote_conn_accepted = 1;
            channel.close();
        }
    }));
    REQUIRE(loop.run() == 0);
    CHECK(local_conn_accepted == 1);
    CHECK(remote_conn_accepted == 1);
    CHECK(read_cb_called == 1);
    CHECK(exit_cb_called == 1);
    require_loop_quiescent(loop);
}

using AnyStream = std::variant<std::monostate, std::unique_ptr<uv::Pipe>, std::unique_ptr<uv::Tcp>>;

uv::Stream& stream_of(AnyStream& s) {
    if (auto* p = std::get_if<std::unique_ptr<uv::Pipe>>(&s)) {
        return **p;
    }
    return *std::get<std::unique_ptr<uv::Tcp>>(s);
}

// libuv's run_test(inprocess = 0): `send` and `send2` go to the spawned
// ipc_send_recv_helper, which sends each back; both are accepted here.
void run_send_recv(uv::Loop& loop, uv::Stream& send, uv::Stream& send2, uv::HandleType expected) {
    uv::Pipe channel(loop, true);
    uv::Process process(loop);
    std::array<AnyStream, 2> recv;
    int recv_cb_count = 0;
    int exit_cb_called = 0;
    spawn_helper(process, channel, "send_recv", exit_cb_called);
    REQUIRE_FALSE(channel.write2(boost::asio::buffer(".", 1), send));
    REQUIRE_FALSE(channel.write2(boost::asio::buffer(".", 1), send2));
    REQUIRE_FALSE(channel.read_start([&](boost::system::error_code ec, std::span<const char>) {
        if (ec == boost::asio::error::eof) {
            // Only the final read may find the child gone.
            REQUIRE(recv_cb_count == 2);
            return;
        }
        REQUIRE_FALSE(ec);
        REQUIRE(channel.pending_count() > 0);
        while (channel.pending_count() > 0) {
            REQUIRE(channel.pending_type() == expected);
            AnyStream& slot = recv[static_cast<std::size_t>(recv_cb_count++)];
            if (expected == uv::HandleType::named_pipe) {
                slot = std::make_unique<uv::Pipe>(loop);
            } else {
                slot = std::make_unique<uv::Tcp>(loop);
            }
            REQUIRE_FALSE(channel.accept(stream_of(slot)));
        }
        if (recv_cb_count == 2) {
            channel.close();
            send.close();
            send2.close();
            stream_of(recv[0]).close();
            stream_of(recv[1]).close();
        }
    }));
    REQUIRE(loop.run() == 0);
    CHECK(recv_cb_count == 2);
    CHECK(exit_cb_called == 1);
}

} // namespace

// ---- test-ipc-send-recv.c -----------------------------------------------------

TEST_CASE("ipc_send_recv_pipe: two bound pipes sent to a spawned child over its IPC stdin come "
          "back as pipes",
          "[uv][pipe][process][libuv][ipc]") {
    uv::Loop loop;
    uv::Pipe send(loop, true);
    uv::Pipe send2(loop, true);
    REQUIRE_FALSE(send.bind(test_pipename()));
    REQUIRE_FALSE(send2.bind(test_pipename()));
    run_send_recv(loop, send, send2, uv::HandleType::named_pipe);
    require_loop_quiescent(loop);
}

TEST_CASE("ipc_send_recv_tcp: two bound TCP sockets sent to a spawned child over its IPC stdin "
          "come back as TCP",
          "[uv][pipe][process][libuv][ipc]") {
    uv::Loop loop;
    uv::Tcp send(loop);
    uv::Tcp send2(loop);
    REQUIRE_FALSE(send.bind(pollux::test::loopback4()));
    REQUIRE_FALSE(send2.bind(pollux::test::loopback4()));
    run_send_recv(loop, send, send2, uv::HandleType::tcp);
    require_loop_quiescent(loop);
}

// ---- test-ipc.c ---------------------------------------------------------------

TEST_CASE("ipc_listen_before_write: a TCP server the child listens on before sending it accepts "
          "connections in both processes",
          "[uv][pipe][process][libuv][ipc]") {
    run_listen_test("listen_before_write");
}

TEST_CASE("ipc_listen_after_write: a TCP server the child listens on after sending it accepts "
          "connections in both processes",
          "[uv][pipe][process][libuv][ipc]") {
    run_listen_test("listen_after_write");
}

TEST_CASE("ipc_tcp_connection: a TCP connection the child accepted and sent carries data both "
          "ways from the parent",
          "[uv][pipe][process][libuv][ipc]") {
    uv::Loop loop;
    uv::Pipe channel(loop, true);
    uv::Process process(loop);
    uv::Tcp tcp_connection(loop);
    int exit_cb_called = 0;
    int read_cb_called = 0;
    int tcp_write_cb_called = 0;
    int tcp_read_cb_called = 0;
    spawn_helper(process, channel, "tcp_connection", exit_cb_called);
    REQUIRE_FALSE(channel.read_start([&](boost::system::error_code ec, std::span<const char> data) {
        if (ec == boost::asio::error::eof) {
            return;
        }
        REQUIRE_FALSE(ec);
        if (data.empty()) {
            return;
        }
        REQUIRE(channel.pending_count() == 1);
        REQUIRE(channel.pending_type() == uv::HandleType::tcp);
        ++read_cb_called;
        REQUIRE_FALSE(channel.accept(tcp_connection));
        REQUIRE(text(data) == "hello\n");
        REQUIRE_FALSE(
            tcp_connection.write(std::string("world\n"), [&](boost::system::error_code wec) {
                REQUIRE_FALSE(wec);
                ++tcp_write_cb_called;
            }));
        REQUIRE_FALSE(tcp_connection.read_start(
            [&](boost::system::error_code rec, std::span<const char> got) {
                REQUIRE_FALSE(rec);
                REQUIRE(text(got) == "hello again\n");
                ++tcp_read_cb_called;
                tcp_connection.close();
                channel.close();
            }));
    }));
    REQUIRE(loop.run() == 0);
    CHECK(read_cb_called == 1);
    CHECK(tcp_write_cb_called == 1);
    CHECK(tcp_read_cb_called == 1);
    CHECK(exit_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("ipc_listen_after_bind_twice: of two received TCP sockets bound to one address only the "
          "first listens; the second is address_in_use",
          "[uv][pipe][process][libuv][ipc]") {
    uv::Loop loop;
    uv::Pipe channel(loop, true);
    uv::Process process(loop);
    uv::Tcp tcp_server(loop);
    uv::Tcp tcp_server2(loop);
    int exit_cb_called = 0;
    int read_cb_called = 0;
    auto no_connection = [](boost::system::error_code) { FAIL("no connection is made"); };
    spawn_helper(process, channel, "bind_twice", exit_cb_called);
    REQUIRE_FALSE(channel.read_start([&](boost::system::error_code ec, std::span<const char> data) {
        if (ec == boost::asio::error::eof) {
            return;
        }
        REQUIRE_FALSE(ec);
        if (data.empty()) {
            return;
        }
        REQUIRE(channel.pending_count() > 0);
        REQUIRE(channel.pending_type() == uv::HandleType::tcp);
        ++read_cb_called;
        if (read_cb_called == 1) {
            REQUIRE_FALSE(channel.accept(tcp_server));
            REQUIRE_FALSE(tcp_server.listen(backlog, no_connection));
        } else if (read_cb_called == 2) {
            REQUIRE_FALSE(channel.accept(tcp_server2));
            REQUIRE(tcp_server2.listen(backlog, no_connection) ==
                    boost::asio::error::address_in_use);
            tcp_server.close();
            tcp_server2.close();
            REQUIRE(channel.pending_count() == 0);
            channel.close();
        }
    }));
    REQUIRE(loop.run() == 0);
    CHECK(read_cb_called == 2);
    CHECK(exit_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("ipc_send_zero: a zero-length write of the child reads here as nothing or end of file",
          "[uv][pipe][process][libuv][ipc]") {
    uv::Loop loop;
    uv::Pipe channel(loop, true);
    uv::Process process(loop);
    int exit_cb_called = 0;
    int eof_called = 0;
    spawn_helper(process, channel, "send_zero", exit_cb_called);
    REQUIRE_FALSE(channel.read_start([&](boost::system::error_code ec, std::span<const char> data) {
        if (ec == boost::asio::error::eof) {
            ++eof_called;
            return;
        }
        REQUIRE_FALSE(ec);
        REQUIRE(data.empty());
    }));
    REQUIRE(loop.run() == 0);
    CHECK(exit_cb_called == 1);
    CHECK(eof_called == 1);
    channel.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

// ---- pollux's own: teardown ---------------------------------------------------

TEST_CASE("uv ipc: a child killed while it sends handles leaves the loop serving and no "
          "descriptor behind",
          "[uv][pipe][process][ipc]") {
    // A first child sets up what spawning keeps for the whole process (the
    // reaper's descriptors), so that the count compares like with like.
    {
        uv::Loop loop;
        uv::Pipe channel(loop, true);
        uv::Process process(loop);
        int exit_cb_called = 0;
        spawn_helper(process, channel, "send_zero", exit_cb_called);
        REQUIRE_FALSE(channel.read_start([&](boost::system::error_code ec, std::span<const char>) {
            if (ec) {
                channel.close();
            }
        }));
        REQUIRE(loop.run() == 0);
        REQUIRE(exit_cb_called == 1);
    }
    const std::size_t fds_before = pollux::test::open_fds();
    {
        uv::Loop loop;
        uv::Pipe channel(loop, true);
        uv::Process process(loop);
        int exit_cb_called = 0;
        int term_signal_seen = 0;
        int reads_with_handles = 0;
        bool killed = false;
        bool channel_ended = false;
        uv::ProcessOptions o;
        o.file = POLLUX_UV_IPC_HELPER;
        o.args = {o.file, "flood"};
        o.stdio = {{uv::StdioContainer::create_pipe | uv::StdioContainer::readable_pipe |
                        uv::StdioContainer::writable_pipe,
                    -1,
                    &channel},
                   {uv::StdioContainer::inherit_fd, 1},
                   {uv::StdioContainer::inherit_fd, 2}};
        o.exit_cb = [&](std::int64_t, int term_signal) {
            ++exit_cb_called;
            term_signal_seen = term_signal;
            process.close();
        };
        REQUIRE_FALSE(process.spawn(o));
        // The received descriptors are never accepted: the channel's close
        // must close them. The child is killed mid-stream, after the first
        // read that brought descriptors; the channel then ends (eof or
        // reset) and closes.
        REQUIRE_FALSE(channel.read_start([&](boost::system::error_code ec, std::span<const char>) {
            if (ec) {
                REQUIRE(
                    (ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset));
                channel_ended = true;
                channel.close();
                return;
            }
            if (channel.pending_count() > 0) {
                ++reads_with_handles;
            }
            if (!killed && reads_with_handles > 0) {
                killed = true;
                REQUIRE_FALSE(process.kill(SIGKILL));
            }
        }));
        REQUIRE(loop.run() == 0);
        REQUIRE(killed);
        REQUIRE(channel_ended);
        REQUIRE(exit_cb_called == 1);
        REQUIRE(term_signal_seen == SIGKILL);

        // The loop still serves: a timer and another child run to the end.
        uv::Timer timer(loop);
        int timer_cb_called = 0;
        REQUIRE_FALSE(timer.start(
            [&] {
                ++timer_cb_called;
                timer.close();
            },
            std::chrono::milliseconds(1)));
        uv::Pipe channel2(loop, true);
        uv::Process process2(loop);
        int exit2_cb_called = 0;
        spawn_helper(process2, channel2, "send_zero", exit2_cb_called);
        REQUIRE_FALSE(channel2.read_start([&](boost::system::error_code ec, std::span<const char>) {
            if (ec) {
                channel2.close();
            }
        }));
        REQUIRE(loop.run() == 0);
        REQUIRE(timer_cb_called == 1);
        REQUIRE(exit2_cb_called == 1);
        require_loop_quiescent(loop);
    }
    REQUIRE(pollux::test::zombie_children() == 0);
    REQUIRE(pollux::test::open_fds() == fds_before);
}
