// The child of test/uv_libuv_ipc_test.cpp: libuv 1.44's IPC helpers
// (test-ipc.c's ipc_helper*, test-ipc-send-recv.c's ipc_send_recv_helper),
// run as `uv_libuv_ipc_helper <mode>` with descriptor 0 the parent's IPC
// channel. It exits 0 when everything went as libuv's helper asserts, else
// 1 after printing what failed to stderr (the parent checks the status).

#include <pollux/uv/loop.hpp>
#include <pollux/uv/pipe.hpp>
#include <pollux/uv/tcp.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>

#include <array>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <unistd.h>
#include <variant>

using namespace pollux;

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "uv_libuv_ipc_helper: check failed: %s\n", what);
        ++failures;
    }
}

#define CHECK(cond) check((cond), #cond)

constexpr int backlog = 128;

uv::Tcp::Endpoint loopback(unsigned short port = 0) {
    return {boost::asio::ip::make_address("127.0.0.1"), port};
}

// Descriptor 0 as the IPC channel, as libuv's helpers open it.
void open_channel(uv::Pipe& channel) {
    CHECK(!channel.open(0));
    CHECK(channel.is_readable());
    CHECK(channel.is_writable());
    CHECK(!channel.is_closing());
}

// libuv's ipc_helper: a bound TCP server goes to the parent with "hello\n"
// (listening before or after the write2); the first connection this side
// accepts is closed and reported with "accepted_connection\n", then the
// server and the channel close.
int listen_and_send_server(bool listen_after_write) {
    uv::Loop loop;
    uv::Pipe channel(loop, true);
    uv::Tcp server(loop);
    std::unique_ptr<uv::Tcp> conn;
    int connection_accepted = 0;
    int close_cb_called = 0;
    open_channel(channel);
    CHECK(!server.bind(loopback()));
    auto on_connection = [&](boost::system::error_code ec) {
        if (connection_accepted != 0) {
            return;
        }
        CHECK(!ec);
        conn = std::make_unique<uv::Tcp>(loop);
        CHECK(!server.accept(*conn));
        conn->close([&] { ++close_cb_called; });
        CHECK(!channel.write(std::string("accepted_connection\n"), [&](boost::system::error_code) {
            server.close([&] { ++close_cb_called; });
            channel.close([&] { ++close_cb_called; });
        }));
        connection_accepted = 1;
    };
    if (!listen_after_write) {
        CHECK(!server.listen(backlog, on_connection));
    }
    CHECK(!channel.write2(boost::asio::buffer("hello\n", 6), server));
    if (listen_after_write) {
        CHECK(!server.listen(backlog, on_connection));
    }
    CHECK(loop.run() == 0);
    CHECK(connection_accepted == 1);
    CHECK(close_cb_called == 3);
    return failures == 0 ? 0 : 1;
}

// libuv's ipc_helper_tcp_connection: connects to its own server, sends the
// accepted end to the parent with "hello\n", reads "world\n" (written by the
// parent on that end) on the connecting end, answers "hello again\n" and
// closes everything.
int tcp_connection() {
    uv::Loop loop;
    uv::Pipe channel(loop, true);
    uv::Tcp server(loop);
    uv::Tcp client(loop);
    uv::Tcp accepted(loop);
    int close_cb_called = 0;
    int read_cb_called = 0;
    int write_cb_called = 0;
    open_channel(channel);
    CHECK(!server.bind(loopback()));
    CHECK(!server.listen(backlog, [&](boost::system::error_code ec) {
        CHECK(!ec);
        CHECK(!server.accept(accepted));
        // libuv closes its copy right after uv_write2; pollux's send_handle
        // must stay open until the write2 callback.
        CHECK(!channel.write2(
            boost::asio::buffer("hello\n", 6), accepted, [&](boost::system::error_code wec) {
                CHECK(!wec);
                accepted.close([&] { ++close_cb_called; });
            }));
    }));
    auto port = server.getsockname();
    CHECK(port.has_value());
    CHECK(!client.connect(loopback(port ? port->port() : 0), [&](boost::system::error_code ec) {
        CHECK(!ec);
        CHECK(!client.read_start([&](boost::system::error_code rec, std::span<const char> data) {
            if (rec == boost::asio::error::eof) {
                return;
            }
            CHECK(!rec);
            CHECK(std::string_view(data.data(), data.size()) == "world\n");
            ++read_cb_called;
            CHECK(!client.write(std::string("hello again\n"), [&](boost::system::error_code wec) {
                CHECK(!wec);
                ++write_cb_called;
                client.close([&] { ++close_cb_called; });
                channel.close([&] { ++close_cb_called; });
                server.close([&] { ++close_cb_called; });
            }));
        }));
    }));
    CHECK(loop.run() == 0);
    CHECK(read_cb_called == 1);
    CHECK(write_cb_called == 1);
    CHECK(close_cb_called == 4);
    return failures == 0 ? 0 : 1;
}

// libuv's ipc_helper_bind_twice: two TCP sockets bound to one address
// (SO_REUSEADDR, neither listening), each sent with "hello\n".
int bind_twice() {
    uv::Loop loop;
    uv::Pipe channel(loop, true);
    uv::Tcp server(loop);
    uv::Tcp server2(loop);
    int write_cb_called = 0;
    open_channel(channel);
    CHECK(!server.bind(loopback()));
    auto port = server.getsockname();
    CHECK(port.has_value());
    CHECK(!server2.bind(loopback(port ? port->port() : 0)));
    auto done = [&](boost::system::error_code ec) {
        CHECK(!ec);
        if (++write_cb_called == 2) {
            server.close();
            server2.close();
            channel.close();
        }
    };
    CHECK(!channel.write2(boost::asio::buffer("hello\n", 6), server, done));
    CHECK(!channel.write2(boost::asio::buffer("hello\n", 6), server2, done));
    CHECK(loop.run() == 0);
    CHECK(write_cb_called == 2);
    return failures == 0 ? 0 : 1;
}

// libuv's ipc_helper_send_zero: a zero-length write on a non-IPC channel.
int send_zero() {
    uv::Loop loop;
    uv::Pipe channel(loop, false);
    int send_zero_write = 0;
    open_channel(channel);
    CHECK(!channel.write(boost::asio::const_buffer(nullptr, 0), [&](boost::system::error_code ec) {
        CHECK(!ec);
        ++send_zero_write;
    }));
    CHECK(loop.run() == 0);
    CHECK(send_zero_write == 1);
    return failures == 0 ? 0 : 1;
}

using AnyStream = std::variant<std::monostate, std::unique_ptr<uv::Pipe>, std::unique_ptr<uv::Tcp>>;

uv::Stream& stream_of(AnyStream& s) {
    if (auto* p = std::get_if<std::unique_ptr<uv::Pipe>>(&s)) {
        return **p;
    }
    return *std::get<std::unique_ptr<uv::Tcp>>(s);
}

// libuv's ipc_send_recv_helper over descriptor 0: every handle received is
// sent back; after the second, everything closes.
int send_recv() {
    uv::Loop loop;
    uv::Pipe channel(loop, true);
    std::array<AnyStream, 2> recv;
    int read_cb_count = 0;
    int write2_cb_called = 0;
    open_channel(channel);
    CHECK(!channel.read_start([&](boost::system::error_code rec, std::span<const char>) {
        if (rec == boost::asio::error::eof) {
            return;
        }
        CHECK(!rec);
        while (channel.pending_count() > 0 && read_cb_count < 2) {
            AnyStream& slot = recv[static_cast<std::size_t>(read_cb_count++)];
            if (channel.pending_type() == uv::HandleType::named_pipe) {
                slot = std::make_unique<uv::Pipe>(loop);
            } else {
                CHECK(channel.pending_type() == uv::HandleType::tcp);
                slot = std::make_unique<uv::Tcp>(loop);
            }
            CHECK(!channel.accept(stream_of(slot)));
            CHECK(!channel.write2(
                boost::asio::buffer(".", 1), stream_of(slot), [&](boost::system::error_code wec) {
                    CHECK(!wec);
                    if (++write2_cb_called == 2) {
                        stream_of(recv[0]).close();
                        stream_of(recv[1]).close();
                        channel.close();
                    }
                }));
        }
    }));
    CHECK(loop.run() == 0);
    CHECK(write2_cb_called == 2);
    return failures == 0 ? 0 : 1;
}

// For the teardown test: sends a bound TCP socket with each write until it
// is killed (or the channel fails).
int flood() {
    uv::Loop loop;
    uv::Pipe channel(loop, true);
    uv::Tcp server(loop);
    open_channel(channel);
    CHECK(!server.bind(loopback()));
    std::function<void(boost::system::error_code)> again = [&](boost::system::error_code ec) {
        if (ec) {
            channel.close();
            server.close();
            return;
        }
        CHECK(!channel.write2(boost::asio::buffer("flood\n", 6), server, again));
    };
    again({});
    loop.run();
    return 1; // only the parent's kill ends it as expected
}

} // namespace

int main(int argc, char** argv) {
    // A parent that fails (or is killed) mid-test takes the helper with it:
    // the helpers that listen would otherwise wait for a connection forever,
    // holding the test's stdout open.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        return 3;
    }
    if (argc != 2) {
        std::fprintf(stderr, "usage: uv_libuv_ipc_helper <mode>\n");
        return 2;
    }
    const std::string_view mode = argv[1];
    if (mode == "listen_before_write") {
        return listen_and_send_server(false);
    }
    if (mode == "listen_after_write") {
        return listen_and_send_server(true);
    }
    if (mode == "tcp_connection") {
        return tcp_connection();
    }
    if (mode == "bind_twice") {
        return bind_twice();
    }
    if (mode == "send_zero") {
        return send_zero();
    }
    if (mode == "send_recv") {
        return send_recv();
    }
    if (mode == "flood") {
        return flood();
    }
    std::fprintf(stderr, "uv_libuv_ipc_helper: unknown mode %s\n", argv[1]);
    return 2;
}
