#include <pollux/uv/pipe.hpp>

// uv::Pipe (libuv's uv_pipe_t) and what it shares with uv::Tcp through
// uv::Stream: UNIX-domain sockets by path and by abstract name, anonymous
// pipes and socketpairs opened by descriptor, IPC descriptor passing, and
// teardown with writes in flight. libuv's own pipe tests are ported in
// uv_libuv_pipe_test.cpp.

#include <pollux/uv/loop.hpp>
#include <pollux/uv/tcp.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/uv_tcp_port.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

using namespace pollux;
using pollux::test::require_loop_quiescent;

namespace {

std::string temp_path() {
    static std::atomic<int> n{0};
    return "/tmp/pollux-uv-pipe-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

boost::system::error_code sys_error(int e) {
    return {e, boost::system::system_category()};
}

bool fd_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}

// A UNIX-domain listener at `name` that accepts every connection into a new
// Pipe and hands it to on_peer.
struct PipeServer {
    uv::Pipe listener;
    std::vector<std::unique_ptr<uv::Pipe>> peers;
    std::function<void(uv::Pipe&)> on_peer;

    PipeServer(uv::Loop& loop, const std::string& name) : listener(loop) {
        REQUIRE_FALSE(listener.bind(name));
        REQUIRE_FALSE(listener.listen(16, [this, &loop](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            peers.push_back(std::make_unique<uv::Pipe>(loop));
            REQUIRE_FALSE(listener.accept(*peers.back()));
            if (on_peer) {
                on_peer(*peers.back());
            }
        }));
    }
};

// Echoes what it reads; closes at eof.
void echo(uv::Pipe& peer) {
    REQUIRE_FALSE(peer.read_start([&peer](boost::system::error_code ec, std::span<const char> d) {
        if (ec) {
            peer.close();
            return;
        }
        REQUIRE_FALSE(peer.write(std::string(d.begin(), d.end())));
    }));
}

// Runs one round trip of `msg` through `client` to an echoing server.
void round_trip(uv::Loop& loop, const std::string& name) {
    PipeServer server(loop, name);
    server.on_peer = echo;
    uv::Pipe client(loop);
    std::string got;
    int connect_cb_called = 0;
    REQUIRE_FALSE(client.connect(name, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connect_cb_called;
        auto peer = client.getpeername();
        REQUIRE(peer.has_value());
        REQUIRE(*peer == name);
        REQUIRE_FALSE(client.write(std::string("ping")));
        REQUIRE_FALSE(
            client.read_start([&](boost::system::error_code rec, std::span<const char> d) {
                REQUIRE_FALSE(rec);
                got.append(d.begin(), d.end());
                if (got.size() == 4) {
                    client.close();
                    server.listener.close();
                }
            }));
    }));
    REQUIRE(connect_cb_called == 0); // never inside connect()
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(got == "ping");
    REQUIRE(server.peers.size() == 1);
}

} // namespace

TEST_CASE("uv Pipe echo round trip over a UNIX-domain socket bound to a path", "[uv][pipe]") {
    uv::Loop loop;
    const std::string name = temp_path();
    round_trip(loop, name);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Pipe binds and connects in the abstract namespace (a name beginning with NUL)",
          "[uv][pipe]") {
    uv::Loop loop;
    std::string name =
        std::string(1, '\0') + "pollux-uv-pipe-abstract-" + std::to_string(::getpid());
    {
        uv::Pipe p(loop);
        REQUIRE_FALSE(p.bind(name));
        auto sn = p.getsockname();
        REQUIRE(sn.has_value());
        REQUIRE(*sn == name); // with its leading NUL, exact length
        p.close();
        loop.run();
    }
    round_trip(loop, name);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Pipe removes its bound path when closed", "[uv][pipe]") {
    uv::Loop loop;
    const std::string name = temp_path();
    uv::Pipe p(loop);
    REQUIRE_FALSE(p.bind(name));
    struct ::stat st {};
    REQUIRE(::stat(name.c_str(), &st) == 0);
    REQUIRE(S_ISSOCK(st.st_mode));
    p.close();
    REQUIRE(loop.run() == 0);
    REQUIRE(::stat(name.c_str(), &st) == -1);
    REQUIRE(errno == ENOENT);
}

TEST_CASE("uv Pipe bind of a name too long for sockaddr_un is invalid_argument", "[uv][pipe]") {
    uv::Loop loop;
    uv::Pipe p(loop);
    REQUIRE(p.bind(std::string(200, 'x')) == boost::asio::error::invalid_argument);
    REQUIRE(p.bind("") == boost::asio::error::invalid_argument);
    REQUIRE(p.fd() == -1);
}

TEST_CASE("uv pipe() gives close-on-exec descriptors, non-blocking only as asked", "[uv][pipe]") {
    auto fds = uv::pipe(0, uv::nonblock_pipe);
    REQUIRE(fds.has_value());
    for (int fd : *fds) {
        REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    }
    REQUIRE((::fcntl((*fds)[0], F_GETFL) & O_NONBLOCK) == 0);
    REQUIRE((::fcntl((*fds)[1], F_GETFL) & O_NONBLOCK) != 0);
    ::close((*fds)[0]);
    ::close((*fds)[1]);
    REQUIRE(uv::pipe(4, 0).error() == boost::asio::error::invalid_argument);
}

TEST_CASE("uv Pipe open of an anonymous pipe: the read end only reads, the write end only writes",
          "[uv][pipe]") {
    uv::Loop loop;
    auto fds = uv::pipe();
    REQUIRE(fds.has_value());
    uv::Pipe r(loop);
    uv::Pipe w(loop);
    REQUIRE_FALSE(r.open((*fds)[0]));
    REQUIRE_FALSE(w.open((*fds)[1]));
    REQUIRE((::fcntl((*fds)[0], F_GETFL) & O_NONBLOCK) != 0); // open made it non-blocking
    REQUIRE(r.is_readable());
    REQUIRE_FALSE(r.is_writable());
    REQUIRE(w.is_writable());
    REQUIRE_FALSE(w.is_readable());
    REQUIRE(r.write(std::string("x")) == boost::asio::error::broken_pipe);
    REQUIRE(w.read_start([](boost::system::error_code, std::span<const char>) {}) ==
            boost::asio::error::not_connected);
    REQUIRE(r.getpeername().error() == sys_error(ENOTSOCK));

    std::string got;
    int write_cb_called = 0;
    int eof = 0;
    REQUIRE_FALSE(w.write(std::string("through a pipe"), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++write_cb_called;
        w.close(); // the reader sees eof
    }));
    REQUIRE_FALSE(r.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        if (ec) {
            REQUIRE(ec == boost::asio::error::eof);
            ++eof;
            r.close();
            return;
        }
        got.append(d.begin(), d.end());
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(got == "through a pipe");
    REQUIRE(write_cb_called == 1);
    REQUIRE(eof == 1);
    REQUIRE_FALSE(fd_open((*fds)[0])); // owned and closed by the handles
    REQUIRE_FALSE(fd_open((*fds)[1]));
    require_loop_quiescent(loop);
}

TEST_CASE("uv Pipe open refuses a closed descriptor and a handle that has one", "[uv][pipe]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    uv::Pipe p(loop);
    const int closed = ::dup((*fds)[0]);
    ::close(closed);
    REQUIRE(p.open(closed) == boost::asio::error::bad_descriptor);
    REQUIRE_FALSE(p.open((*fds)[0]));
    REQUIRE(p.open((*fds)[1]) ==
            boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy));
    REQUIRE(fd_open((*fds)[1])); // still the caller's
    ::close((*fds)[1]);
}

TEST_CASE("uv Pipe over a socketpair: both ways, shutdown gives the peer eof", "[uv][pipe]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    uv::Pipe a(loop);
    uv::Pipe b(loop);
    REQUIRE_FALSE(a.open((*fds)[0]));
    REQUIRE_FALSE(b.open((*fds)[1]));
    REQUIRE(a.is_readable());
    REQUIRE(a.is_writable());
    std::string got;
    int shutdown_cb_called = 0;
    int eof = 0;
    REQUIRE_FALSE(a.write(std::string("one ")));
    REQUIRE_FALSE(a.write(std::string("two")));
    REQUIRE_FALSE(a.shutdown([&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++shutdown_cb_called;
    }));
    REQUIRE_FALSE(b.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        if (ec) {
            REQUIRE(ec == boost::asio::error::eof);
            ++eof;
            a.close();
            b.close();
            return;
        }
        got.append(d.begin(), d.end());
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(got == "one two");
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(eof == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Pipe shutdown of an anonymous pipe's write end reports not_a_socket, as libuv 1.44",
          "[uv][pipe]") {
    uv::Loop loop;
    auto fds = uv::pipe();
    REQUIRE(fds.has_value());
    uv::Pipe w(loop);
    REQUIRE_FALSE(w.open((*fds)[1]));
    boost::system::error_code got;
    int shutdown_cb_called = 0;
    REQUIRE_FALSE(w.shutdown([&](boost::system::error_code ec) {
        got = ec;
        ++shutdown_cb_called;
        w.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(shutdown_cb_called == 1);
    REQUIRE(got == sys_error(ENOTSOCK));
    ::close((*fds)[0]);
}

TEST_CASE("uv Stream write of several buffers (uv_write's array) arrives in order as one request",
          "[uv][pipe][stream]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    uv::Pipe a(loop);
    uv::Pipe b(loop);
    REQUIRE_FALSE(a.open((*fds)[0]));
    REQUIRE_FALSE(b.open((*fds)[1]));
    static const char p1[] = "alpha ";
    static const char p2[] = "beta ";
    static const char p3[] = "gamma";
    const std::array<boost::asio::const_buffer, 3> bufs = {
        boost::asio::buffer(p1, 6), boost::asio::buffer(p2, 5), boost::asio::buffer(p3, 5)};
    int write_cb_called = 0;
    REQUIRE_FALSE(a.write(bufs, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++write_cb_called;
    }));
    REQUIRE(a.write(std::span<const boost::asio::const_buffer>{}) ==
            boost::asio::error::invalid_argument);
    std::string got;
    REQUIRE_FALSE(b.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        REQUIRE_FALSE(ec);
        got.append(d.begin(), d.end());
        if (got.size() == 16) {
            a.close();
            b.close();
        }
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(write_cb_called == 1);
    REQUIRE(got == "alpha beta gamma");
    auto n = a.try_write(boost::asio::buffer(p1, 6)); // closed
    REQUIRE(n.error() == boost::asio::error::bad_descriptor);
}

TEST_CASE("uv Stream try_write of several buffers writes them in order", "[uv][pipe][stream]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    uv::Pipe a(loop);
    REQUIRE_FALSE(a.open((*fds)[0]));
    const std::array<boost::asio::const_buffer, 2> bufs = {boost::asio::buffer("ab", 2),
                                                           boost::asio::buffer("cd", 2)};
    auto n = a.try_write(bufs);
    REQUIRE(n.has_value());
    REQUIRE(*n == 4);
    char buf[8] = {};
    REQUIRE(::read((*fds)[1], buf, sizeof(buf)) == 4);
    REQUIRE(std::string(buf, 4) == "abcd");
    ::close((*fds)[1]);
}

TEST_CASE("uv Stream read callbacks of every stream of a loop are lent one loop-owned buffer",
          "[uv][pipe][stream]") {
    uv::Loop loop;
    auto f1 = uv::socketpair();
    auto f2 = uv::socketpair();
    REQUIRE(f1.has_value());
    REQUIRE(f2.has_value());
    uv::Pipe a(loop);
    uv::Pipe b(loop);
    REQUIRE_FALSE(a.open((*f1)[0]));
    REQUIRE_FALSE(b.open((*f2)[0]));
    REQUIRE(::write((*f1)[1], "a", 1) == 1);
    REQUIRE(::write((*f2)[1], "b", 1) == 1);
    const char* seen_a = nullptr;
    const char* seen_b = nullptr;
    REQUIRE_FALSE(a.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        REQUIRE_FALSE(ec);
        seen_a = d.data();
        a.close();
    }));
    REQUIRE_FALSE(b.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        REQUIRE_FALSE(ec);
        seen_b = d.data();
        b.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(seen_a != nullptr);
    REQUIRE(seen_a == seen_b);
    ::close((*f1)[1]);
    ::close((*f2)[1]);
}

TEST_CASE("uv Pipe connect to a path nobody listens on fails in its callback and leaves no stream",
          "[uv][pipe]") {
    uv::Loop loop;
    uv::Pipe p(loop);
    boost::system::error_code got;
    int connect_cb_called = 0;
    int write_cb_called = 0;
    REQUIRE_FALSE(p.connect(temp_path(), [&](boost::system::error_code ec) {
        got = ec;
        ++connect_cb_called;
    }));
    // Queued while connecting: fails with the connect.
    REQUIRE_FALSE(p.write(std::string("x"), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        ++write_cb_called;
    }));
    REQUIRE(p.connect("x", [](boost::system::error_code) {}) ==
            boost::asio::error::already_started);
    REQUIRE(loop.run() == 0);
    REQUIRE(connect_cb_called == 1);
    REQUIRE(write_cb_called == 1);
    REQUIRE(got == sys_error(ENOENT));
    REQUIRE(p.read_start([](boost::system::error_code, std::span<const char>) {}) ==
            boost::asio::error::not_connected);
    REQUIRE(p.write(std::string("x")) == boost::asio::error::broken_pipe);
    REQUIRE_FALSE(p.is_readable());
    REQUIRE_FALSE(p.is_writable());
}

TEST_CASE("uv Pipe accept takes only a Pipe: a Tcp client is invalid_argument", "[uv][pipe]") {
    uv::Loop loop;
    const std::string name = temp_path();
    uv::Pipe server(loop);
    REQUIRE_FALSE(server.bind(name));
    uv::Tcp wrong(loop);
    boost::system::error_code accept_ec;
    int connection_cb_called = 0;
    REQUIRE_FALSE(server.listen(4, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connection_cb_called;
        accept_ec = server.accept(wrong);
        server.close();
        wrong.close();
    }));
    uv::Pipe client(loop);
    REQUIRE_FALSE(client.connect(name, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        client.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connection_cb_called == 1);
    REQUIRE(accept_ec == boost::asio::error::invalid_argument);
}

TEST_CASE("uv Pipe chmod makes the bound path readable and writable by everyone", "[uv][pipe]") {
    uv::Loop loop;
    const std::string name = temp_path();
    uv::Pipe p(loop);
    REQUIRE(p.chmod(uv::Pipe::readable) == boost::asio::error::bad_descriptor);
    REQUIRE_FALSE(p.bind(name));
    REQUIRE(p.chmod(0) == boost::asio::error::invalid_argument);
    REQUIRE_FALSE(p.chmod(uv::Pipe::readable | uv::Pipe::writable));
    struct ::stat st {};
    REQUIRE(::stat(name.c_str(), &st) == 0);
    REQUIRE((st.st_mode & 0666) == 0666);
    p.close();
    loop.run();
}

// ---- IPC ------------------------------------------------------------------

TEST_CASE("uv Pipe IPC write2 passes a Tcp connection that accept takes into a Tcp",
          "[uv][pipe][ipc]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    uv::Pipe sender(loop, true);
    uv::Pipe receiver(loop, true);
    REQUIRE(sender.ipc());
    REQUIRE_FALSE(sender.open((*fds)[0]));
    REQUIRE_FALSE(receiver.open((*fds)[1]));

    // A TCP connection whose client end is sent; the server end answers.
    pollux::test::TcpServer server(loop);
    server.on_peer = [](uv::Tcp& peer) {
        REQUIRE_FALSE(peer.write(std::string("from the server")));
    };
    uv::Tcp to_send(loop);
    int write2_cb_called = 0;
    REQUIRE_FALSE(
        to_send.connect(server.listener.getsockname().value(), [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            REQUIRE_FALSE(sender.write2(
                boost::asio::buffer("h", 1), to_send, [&](boost::system::error_code wec) {
                    REQUIRE_FALSE(wec);
                    ++write2_cb_called;
                    to_send.close(); // the peer has its copy
                }));
        }));

    uv::Tcp received(loop);
    std::string got;
    REQUIRE_FALSE(receiver.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        REQUIRE_FALSE(ec);
        REQUIRE(std::string(d.begin(), d.end()) == "h");
        REQUIRE(receiver.pending_count() == 1);
        REQUIRE(receiver.pending_type() == uv::HandleType::tcp);
        REQUIRE_FALSE(receiver.accept(received));
        REQUIRE(receiver.pending_count() == 0);
        REQUIRE(receiver.pending_type() == uv::HandleType::unknown);
        REQUIRE(received.is_readable());
        REQUIRE_FALSE(
            received.read_start([&](boost::system::error_code rec, std::span<const char> rd) {
                REQUIRE_FALSE(rec);
                got.append(rd.begin(), rd.end());
                if (got.size() == 15) {
                    received.close();
                    receiver.close();
                    sender.close();
                    server.listener.close();
                    for (auto& p : server.peers) {
                        p->close();
                    }
                }
            }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(write2_cb_called == 1);
    REQUIRE(got == "from the server");
    require_loop_quiescent(loop);
}

TEST_CASE("uv Pipe IPC accept of a bound Tcp server gives a Tcp that listens and accepts",
          "[uv][pipe][ipc]") {
    // libuv's uv_accept of a received server socket, then uv_listen on it
    // (test-ipc.c's ipc_listen_* tests): it is no connected stream.
    uv::Loop loop;
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    uv::Pipe sender(loop, true);
    uv::Pipe receiver(loop, true);
    REQUIRE_FALSE(sender.open((*fds)[0]));
    REQUIRE_FALSE(receiver.open((*fds)[1]));
    uv::Tcp bound(loop);
    REQUIRE_FALSE(bound.bind(pollux::test::loopback4()));
    REQUIRE_FALSE(
        sender.write2(boost::asio::buffer("s", 1), bound, [&](boost::system::error_code ec) {
            REQUIRE_FALSE(ec);
            bound.close(); // the receiver has its copy
        }));
    uv::Tcp server(loop);
    uv::Tcp conn(loop);
    uv::Tcp client(loop);
    int connection_cb_called = 0;
    int connect_cb_called = 0;
    REQUIRE_FALSE(receiver.read_start([&](boost::system::error_code ec, std::span<const char>) {
        REQUIRE_FALSE(ec);
        REQUIRE(receiver.pending_type() == uv::HandleType::tcp);
        REQUIRE_FALSE(receiver.accept(server));
        REQUIRE_FALSE(server.is_readable());
        REQUIRE_FALSE(server.listen(SOMAXCONN, [&](boost::system::error_code lec) {
            REQUIRE_FALSE(lec);
            ++connection_cb_called;
            REQUIRE_FALSE(server.accept(conn));
            conn.close();
            server.close();
        }));
        REQUIRE_FALSE(
            client.connect(server.getsockname().value(), [&](boost::system::error_code cec) {
                REQUIRE_FALSE(cec);
                ++connect_cb_called;
                client.close();
            }));
        receiver.close();
        sender.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(connection_cb_called == 1);
    REQUIRE(connect_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Pipe write2 refuses a pipe that is not IPC and a handle without a descriptor",
          "[uv][pipe][ipc]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    uv::Pipe plain(loop);
    uv::Pipe ipc(loop, true);
    REQUIRE_FALSE(plain.open((*fds)[0]));
    REQUIRE_FALSE(ipc.open((*fds)[1]));
    uv::Tcp empty(loop);
    uv::Pipe other(loop);
    REQUIRE_FALSE(other.bind(temp_path()));
    REQUIRE(plain.write2(boost::asio::buffer("x", 1), other) ==
            boost::asio::error::invalid_argument);
    REQUIRE(ipc.write2(boost::asio::buffer("x", 1), empty) == boost::asio::error::bad_descriptor);
    REQUIRE(ipc.write2(boost::asio::const_buffer{}, other) == boost::asio::error::invalid_argument);
    uv::Pipe unopened(loop, true);
    REQUIRE(unopened.write2(boost::asio::buffer("x", 1), other) ==
            boost::asio::error::bad_descriptor);
}

TEST_CASE("uv Pipe IPC accept of a pending descriptor into the wrong kind keeps it pending",
          "[uv][pipe][ipc]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    auto passed = uv::socketpair();
    REQUIRE(fds.has_value());
    REQUIRE(passed.has_value());
    uv::Pipe sender(loop, true);
    uv::Pipe receiver(loop, true);
    uv::Pipe to_send(loop);
    REQUIRE_FALSE(sender.open((*fds)[0]));
    REQUIRE_FALSE(receiver.open((*fds)[1]));
    REQUIRE_FALSE(to_send.open((*passed)[0]));
    REQUIRE_FALSE(sender.write2(boost::asio::buffer("p", 1), to_send));
    uv::Tcp wrong(loop);
    uv::Pipe right(loop);
    int read_cb_called = 0;
    REQUIRE_FALSE(receiver.read_start([&](boost::system::error_code ec, std::span<const char>) {
        REQUIRE_FALSE(ec);
        ++read_cb_called;
        REQUIRE(receiver.pending_type() == uv::HandleType::named_pipe);
        REQUIRE(receiver.accept(wrong) == boost::asio::error::invalid_argument);
        REQUIRE(receiver.pending_count() == 1);
        REQUIRE_FALSE(receiver.accept(right));
        REQUIRE(right.is_writable());
        REQUIRE(receiver.accept(right) ==
                boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy));
        receiver.close();
        sender.close();
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(read_cb_called == 1);
    // The received copy works: what is written to it reaches the other end.
    REQUIRE(right.try_write(boost::asio::buffer("z", 1)).value() == 1);
    char c = 0;
    REQUIRE(::read((*passed)[1], &c, 1) == 1);
    REQUIRE(c == 'z');
    ::close((*passed)[1]);
}

TEST_CASE("uv Pipe IPC descriptors received and never accepted are closed with the handle",
          "[uv][pipe][ipc]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    auto passed = uv::socketpair();
    REQUIRE(fds.has_value());
    REQUIRE(passed.has_value());
    // Sent by hand, so that the receiver's copy is the only one left.
    char byte = 'q';
    ::iovec iov{&byte, 1};
    alignas(::cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    ::msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ::cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &(*passed)[0], sizeof(int));
    REQUIRE(::sendmsg((*fds)[0], &msg, 0) == 1);
    ::close((*passed)[0]);

    uv::Pipe receiver(loop, true);
    REQUIRE_FALSE(receiver.open((*fds)[1]));
    REQUIRE_FALSE(receiver.read_start([&](boost::system::error_code ec, std::span<const char>) {
        REQUIRE_FALSE(ec);
        REQUIRE(receiver.pending_count() == 1);
        receiver.close();
    }));
    REQUIRE(loop.run() == 0);
    // The last copy of (*passed)[0] went with the receiver: its peer reads eof.
    char buf = 0;
    REQUIRE(::read((*passed)[1], &buf, 1) == 0);
    ::close((*passed)[1]);
    ::close((*fds)[0]);
}

// ---- teardown ---------------------------------------------------------------

TEST_CASE("uv Pipe destroyed before the loop runs, with writes queued: no callback, fd closed",
          "[uv][pipe][teardown]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    int write_cb_called = 0;
    {
        uv::Pipe a(loop);
        REQUIRE_FALSE(a.open((*fds)[0]));
        REQUIRE_FALSE(a.write(std::string(1 << 20, 'x'),
                              [&](boost::system::error_code) { ++write_cb_called; }));
        REQUIRE(a.write_queue_size() > 0); // the kernel took only part
    }
    REQUIRE_FALSE(fd_open((*fds)[0]));
    REQUIRE(loop.run() == 0);
    REQUIRE(write_cb_called == 0);
    ::close((*fds)[1]);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Pipe closed while the loop runs, with writes in flight: they fail with "
          "operation_aborted before the close callback",
          "[uv][pipe][teardown]") {
    uv::Loop loop;
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    uv::Pipe a(loop);
    REQUIRE_FALSE(a.open((*fds)[0]));
    std::vector<std::string> order;
    REQUIRE_FALSE(a.write(std::string(1 << 20, 'x'), [&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        order.push_back("write");
    }));
    REQUIRE_FALSE(a.shutdown([&](boost::system::error_code ec) {
        REQUIRE(ec == boost::asio::error::operation_aborted);
        order.push_back("shutdown");
    }));
    uv::Timer t(loop);
    REQUIRE_FALSE(t.start(
        [&] {
            a.close([&] { order.push_back("close"); });
            t.close();
        },
        std::chrono::milliseconds(1)));
    REQUIRE(loop.run() == 0);
    REQUIRE(order == std::vector<std::string>{"write", "shutdown", "close"});
    ::close((*fds)[1]);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Pipe destroyed after the loop ran and stopped with a read started",
          "[uv][pipe][teardown]") {
    auto fds = uv::socketpair();
    REQUIRE(fds.has_value());
    {
        uv::Loop loop;
        auto a = std::make_unique<uv::Pipe>(loop);
        REQUIRE_FALSE(a->open((*fds)[0]));
        REQUIRE_FALSE(a->read_start([](boost::system::error_code, std::span<const char>) {}));
        REQUIRE_FALSE(a->write(std::string("pending")));
        REQUIRE(loop.run(uv::RunMode::NoWait) != 0); // still reading
        a.reset();
        REQUIRE(loop.run() == 0);
    }
    char buf[16];
    REQUIRE(::read((*fds)[1], buf, sizeof(buf)) == 7); // written before the handle went
    REQUIRE(::read((*fds)[1], buf, sizeof(buf)) == 0); // then closed: eof
    ::close((*fds)[1]);
}

TEST_CASE("uv Pipe writes larger than an anonymous pipe's buffer complete as the reader drains it",
          "[uv][pipe]") {
    uv::Loop loop;
    auto fds = uv::pipe();
    REQUIRE(fds.has_value());
    uv::Pipe r(loop);
    uv::Pipe w(loop);
    REQUIRE_FALSE(r.open((*fds)[0]));
    REQUIRE_FALSE(w.open((*fds)[1]));
    constexpr std::size_t total = 4 << 20;
    std::string data(total, '\0');
    for (std::size_t i = 0; i < total; ++i) {
        data[i] = static_cast<char>('a' + i % 26);
    }
    int write_cb_called = 0;
    REQUIRE_FALSE(w.write(boost::asio::buffer(data), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(w.write_queue_size() == 0);
        ++write_cb_called;
        w.close();
    }));
    REQUIRE(w.write_queue_size() > 0); // the kernel took only part at once
    std::string got;
    REQUIRE_FALSE(r.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        if (ec) {
            REQUIRE(ec == boost::asio::error::eof);
            r.close();
            return;
        }
        got.append(d.begin(), d.end());
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(write_cb_called == 1);
    REQUIRE(got == data);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Pipe open of a regular file reads it to its end (a file never waits)", "[uv][pipe]") {
    uv::Loop loop;
    const std::string path = temp_path();
    const int f = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    REQUIRE(f >= 0);
    REQUIRE(::write(f, "abc", 3) == 3);
    REQUIRE(::lseek(f, 0, SEEK_SET) == 0);
    uv::Pipe p(loop);
    REQUIRE_FALSE(p.open(f));
    std::string got;
    int eof = 0;
    REQUIRE_FALSE(p.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        if (ec) {
            REQUIRE(ec == boost::asio::error::eof);
            ++eof;
            p.close();
            return;
        }
        got.append(d.begin(), d.end());
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(got == "abc");
    REQUIRE(eof == 1);
    REQUIRE_FALSE(fd_open(f)); // closed with the handle
    ::unlink(path.c_str());
}
