#include <pollux/uv/pipe.hpp>

// libuv 1.44's pipe tests (test-pipe-*.c, test-ipc-send-recv.c) ported to
// uv::Pipe, in process: libuv's helper processes become a second loop on a
// thread (libuv's own *_inprocess variants) or a descriptor of this process.
// docs/callbacks.md's "libuv's own tests" has the table.

#include <pollux/uv/loop.hpp>
#include <pollux/uv/prepare.hpp>
#include <pollux/uv/tcp.hpp>

#include "support/loop_quiescent.hpp"
#include "support/uv_tcp_port.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <variant>

using namespace pollux;
using pollux::test::require_loop_quiescent;

namespace {

constexpr const char* bad_pipename = "/path/to/unix/socket/that/really/should/not/be/there";

std::string test_pipename() {
    static std::atomic<int> n{0};
    return "/tmp/pollux-uv-libuv-pipe-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

boost::system::error_code sys_error(int e) {
    return {e, boost::system::system_category()};
}

} // namespace

// ---- test-pipe-bind-error.c ---------------------------------------------------

TEST_CASE("pipe_bind_error_addrinuse: a second bind to the path is address_in_use and its listen "
          "invalid_argument",
          "[uv][pipe][libuv]") {
    uv::Loop loop;
    const std::string name = test_pipename();
    uv::Pipe server1(loop);
    uv::Pipe server2(loop);
    int close_cb_called = 0;
    REQUIRE_FALSE(server1.bind(name));
    REQUIRE(server2.bind(name) == boost::asio::error::address_in_use);
    REQUIRE_FALSE(server1.listen(SOMAXCONN, [](boost::system::error_code) {}));
    REQUIRE(server2.listen(SOMAXCONN, [](boost::system::error_code) {}) ==
            boost::asio::error::invalid_argument);
    server1.close([&] { ++close_cb_called; });
    server2.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 2);
}

TEST_CASE("pipe_bind_error_addrnotavail: a path in a directory that does not exist is "
          "permission_denied (EACCES)",
          "[uv][pipe][libuv]") {
    uv::Loop loop;
    uv::Pipe server(loop);
    int close_cb_called = 0;
    REQUIRE(server.bind(bad_pipename) == boost::asio::error::access_denied);
    server.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
}

TEST_CASE("pipe_bind_error_inval: binding a bound pipe again is invalid_argument",
          "[uv][pipe][libuv]") {
    uv::Loop loop;
    uv::Pipe server(loop);
    int close_cb_called = 0;
    REQUIRE_FALSE(server.bind(test_pipename()));
    REQUIRE(server.bind(test_pipename()) == boost::asio::error::invalid_argument);
    server.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
}

TEST_CASE("pipe_listen_without_bind: listen on an unbound pipe is invalid_argument",
          "[uv][pipe][libuv]") {
    uv::Loop loop;
    uv::Pipe server(loop);
    int close_cb_called = 0;
    REQUIRE(server.listen(SOMAXCONN, [](boost::system::error_code) {}) ==
            boost::asio::error::invalid_argument);
    server.close([&] { ++close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
}

TEST_CASE("pipe_bind_or_listen_error_after_close: bind and listen on a closing pipe are "
          "invalid_argument",
          "[uv][pipe][libuv]") {
    uv::Loop loop;
    uv::Pipe server(loop);
    server.close();
    REQUIRE(server.bind(test_pipename()) == boost::asio::error::invalid_argument);
    REQUIRE(server.listen(SOMAXCONN, [](boost::system::error_code) {}) ==
            boost::asio::error::invalid_argument);
    REQUIRE(loop.run() == 0);
}

// ---- test-pipe-connect-error.c --------------------------------------------------

TEST_CASE("pipe_connect_bad_name: the connect callback gets ENOENT", "[uv][pipe][libuv]") {
    uv::Loop loop;
    uv::Pipe client(loop);
    int close_cb_called = 0;
    int connect_cb_called = 0;
    REQUIRE_FALSE(client.connect(bad_pipename, [&](boost::system::error_code ec) {
        REQUIRE(ec == sys_error(ENOENT));
        client.close([&] { ++close_cb_called; });
        ++connect_cb_called;
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    REQUIRE(connect_cb_called == 1);
}

TEST_CASE("pipe_connect_to_file: the connect callback gets ENOTSOCK or ECONNREFUSED",
          "[uv][pipe][libuv]") {
    const std::string path = test_pipename();
    const int f = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(f >= 0);
    ::close(f);
    uv::Loop loop;
    uv::Pipe client(loop);
    int close_cb_called = 0;
    int connect_cb_called = 0;
    REQUIRE_FALSE(client.connect(path, [&](boost::system::error_code ec) {
        REQUIRE((ec == sys_error(ENOTSOCK) || ec == boost::asio::error::connection_refused));
        client.close([&] { ++close_cb_called; });
        ++connect_cb_called;
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 1);
    REQUIRE(connect_cb_called == 1);
    ::unlink(path.c_str());
}

// ---- test-pipe-connect-prepare.c ------------------------------------------------

TEST_CASE("pipe_connect_on_prepare: a connect from a prepare callback reports ENOENT once",
          "[uv][pipe][libuv]") {
    uv::Loop loop;
    uv::Pipe pipe_handle(loop);
    uv::Prepare prepare_handle(loop);
    int close_cb_called = 0;
    int connect_cb_called = 0;
    REQUIRE_FALSE(prepare_handle.start([&] {
        REQUIRE_FALSE(pipe_handle.connect(bad_pipename, [&](boost::system::error_code ec) {
            REQUIRE(ec == sys_error(ENOENT));
            ++connect_cb_called;
            prepare_handle.close([&] { ++close_cb_called; });
            pipe_handle.close([&] { ++close_cb_called; });
        }));
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(close_cb_called == 2);
    REQUIRE(connect_cb_called == 1);
}

// ---- test-pipe-getsockname.c ----------------------------------------------------

TEST_CASE("pipe_getsockname: names before bind, after bind, of a connecting and a connected "
          "client",
          "[uv][pipe][libuv]") {
    uv::Loop loop;
    const std::string name = test_pipename();
    uv::Pipe pipe_server(loop);
    uv::Pipe pipe_client(loop);
    int pipe_close_cb_called = 0;
    int pipe_client_connect_cb_called = 0;

    REQUIRE(pipe_server.getsockname().error() == boost::asio::error::bad_descriptor);
    REQUIRE(pipe_server.getpeername().error() == boost::asio::error::bad_descriptor);
    REQUIRE_FALSE(pipe_server.bind(name));
    REQUIRE(pipe_server.getsockname().value() == name);
    REQUIRE(pipe_server.getpeername().error() == boost::asio::error::not_connected);
    REQUIRE_FALSE(pipe_server.listen(0, [](boost::system::error_code ec) { REQUIRE_FALSE(ec); }));

    REQUIRE(pipe_client.getsockname().error() == boost::asio::error::bad_descriptor);
    REQUIRE(pipe_client.getpeername().error() == boost::asio::error::bad_descriptor);
    REQUIRE_FALSE(pipe_client.connect(name, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE(pipe_client.getpeername().value() == name);
        REQUIRE(pipe_client.getsockname().value().empty());
        ++pipe_client_connect_cb_called;
        pipe_client.close([&] { ++pipe_close_cb_called; });
        pipe_server.close([&] { ++pipe_close_cb_called; });
    }));
    // Connecting: the socket is connected already (a UNIX-domain connect does
    // not wait), as libuv's.
    REQUIRE(pipe_client.getsockname().value().empty());
    REQUIRE(pipe_client.getpeername().value() == name);

    REQUIRE(loop.run() == 0);
    REQUIRE(pipe_client_connect_cb_called == 1);
    REQUIRE(pipe_close_cb_called == 2);
}

TEST_CASE("pipe_getsockname_abstract: getsockname of an opened socket bound to an abstract name "
          "gives the name with its leading NUL",
          "[uv][pipe][libuv]") {
    const std::string abstract_pipe =
        std::string(1, '\0') + "pollux-test-pipe-" + std::to_string(::getpid());
    const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(sock != -1);
    ::sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, abstract_pipe.data(), abstract_pipe.size());
    REQUIRE(::bind(sock,
                   reinterpret_cast<const ::sockaddr*>(&sun),
                   static_cast<::socklen_t>(offsetof(::sockaddr_un, sun_path) +
                                            abstract_pipe.size())) == 0);
    uv::Loop loop;
    uv::Pipe pipe_server(loop);
    int pipe_close_cb_called = 0;
    REQUIRE_FALSE(pipe_server.open(sock));
    REQUIRE(pipe_server.getsockname().value() == abstract_pipe);
    pipe_server.close([&] { ++pipe_close_cb_called; });
    REQUIRE(loop.run() == 0);
    REQUIRE(pipe_close_cb_called == 1);
}

// ---- test-pipe-server-close.c ---------------------------------------------------

TEST_CASE("pipe_server_close: client and server closed from the connect callback",
          "[uv][pipe][libuv]") {
    uv::Loop loop;
    const std::string name = test_pipename();
    uv::Pipe pipe_server(loop);
    uv::Pipe pipe_client(loop);
    int pipe_close_cb_called = 0;
    int pipe_client_connect_cb_called = 0;
    REQUIRE_FALSE(pipe_server.bind(name));
    // May run or not, depending on which of accept and connect comes first.
    REQUIRE_FALSE(pipe_server.listen(0, [](boost::system::error_code ec) { REQUIRE_FALSE(ec); }));
    REQUIRE_FALSE(pipe_client.connect(name, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++pipe_client_connect_cb_called;
        pipe_client.close([&] { ++pipe_close_cb_called; });
        pipe_server.close([&] { ++pipe_close_cb_called; });
    }));
    REQUIRE(loop.run() == 0);
    REQUIRE(pipe_client_connect_cb_called == 1);
    REQUIRE(pipe_close_cb_called == 2);
    require_loop_quiescent(loop);
}

// ---- test-pipe-sendmsg.c --------------------------------------------------------

TEST_CASE("pipe_sendmsg: four descriptors of one sendmsg are pending and accepted into pipes",
          "[uv][pipe][libuv][ipc]") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    std::array<int, 4> send_fds{};
    for (std::size_t i = 0; i < send_fds.size(); i += 2) {
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, &send_fds[i]) == 0);
    }
    uv::Loop loop;
    uv::Pipe p(loop, true);
    REQUIRE_FALSE(p.open(fds[1]));

    std::array<std::unique_ptr<uv::Pipe>, 4> incoming;
    std::size_t incoming_count = 0;
    int close_called = 0;
    REQUIRE_FALSE(p.read_start([&](boost::system::error_code ec, std::span<const char>) {
        REQUIRE_FALSE(ec);
        while (p.pending_count() != 0) {
            REQUIRE(p.pending_type() == uv::HandleType::named_pipe);
            REQUIRE(incoming_count < incoming.size());
            incoming[incoming_count] = std::make_unique<uv::Pipe>(loop);
            REQUIRE_FALSE(p.accept(*incoming[incoming_count]));
            ++incoming_count;
        }
        if (incoming_count != incoming.size()) {
            return;
        }
        p.read_stop();
        p.close([&] { ++close_called; });
        for (auto& in : incoming) {
            in->close([&] { ++close_called; });
        }
    }));

    char x = 'X';
    ::iovec iov{&x, 1};
    alignas(::cmsghdr) char scratch[CMSG_SPACE(sizeof(int) * 4)] = {};
    ::msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = scratch;
    msg.msg_controllen = CMSG_LEN(sizeof(send_fds));
    ::cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = msg.msg_controllen;
    std::memcpy(CMSG_DATA(cmsg), send_fds.data(), sizeof(send_fds));
    ssize_t r = 0;
    do {
        r = ::sendmsg(fds[0], &msg, 0);
    } while (r == -1 && errno == EINTR);
    REQUIRE(r == 1);

    REQUIRE(loop.run() == 0);
    REQUIRE(incoming_count == incoming.size());
    REQUIRE(close_called == static_cast<int>(incoming.size()) + 1);
    ::close(fds[0]);
    for (int fd : send_fds) {
        ::close(fd);
    }
}

// ---- test-pipe-set-non-blocking.c -----------------------------------------------

TEST_CASE("pipe_set_non_blocking: try_write on a pipe made blocking writes every buffer whole",
          "[uv][pipe][libuv]") {
    auto fd = uv::pipe(0, 0);
    REQUIRE(fd.has_value());
    uv::Loop loop;
    uv::Pipe pipe_handle(loop);
    REQUIRE_FALSE(pipe_handle.open((*fd)[1]));
    REQUIRE_FALSE(pipe_handle.set_blocking(true));

    std::promise<void> started;
    std::atomic<std::size_t> read_total{0};
    std::atomic<ssize_t> last{-1};
    std::thread reader([&, rfd = (*fd)[0]] {
        started.set_value();
        // Make the writer block a little, as libuv's.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        char buf[4096];
        ssize_t n = 0;
        do {
            n = ::read(rfd, buf, sizeof(buf));
            if (n > 0) {
                read_total += static_cast<std::size_t>(n);
            }
        } while (n > 0 || (n == -1 && errno == EINTR));
        last = n;
    });
    started.get_future().wait();

    constexpr std::size_t nwrites = 10 << 20;
    char data[4096];
    std::memset(data, '.', sizeof(data));
    std::size_t nwritten = 0;
    while (nwritten < nwrites) {
        auto n = pipe_handle.try_write(boost::asio::buffer(data));
        REQUIRE(n.has_value());
        REQUIRE(*n == sizeof(data));
        nwritten += *n;
    }
    pipe_handle.close();
    REQUIRE(loop.run() == 0);
    reader.join();
    REQUIRE(last == 0);
    REQUIRE(read_total == nwritten);
    ::close((*fd)[0]);
}

// ---- test-pipe-close-stdout-read-stdin.c ----------------------------------------

TEST_CASE("pipe_close_stdout_read_stdin: reading a pipe whose writer closed ends in one "
          "iteration",
          "[uv][pipe][libuv]") {
    // In process: libuv forks a child that reads its stdin; here the read end
    // is opened directly once both copies of the write end are closed.
    auto fd = uv::pipe();
    REQUIRE(fd.has_value());
    ::close((*fd)[1]);
    uv::Loop loop;
    uv::Pipe stdin_pipe(loop);
    REQUIRE_FALSE(stdin_pipe.open((*fd)[0]));
    REQUIRE_FALSE(stdin_pipe.read_start([&](boost::system::error_code ec, std::span<const char>) {
        if (ec) {
            stdin_pipe.close();
        }
    }));
    // No event is left after one iteration.
    REQUIRE(loop.run(uv::RunMode::NoWait) == 0);
}

// ---- test-ipc-send-recv.c -------------------------------------------------------

namespace {

using AnyStream = std::variant<std::monostate, std::unique_ptr<uv::Pipe>, std::unique_ptr<uv::Tcp>>;

uv::Stream& stream_of(AnyStream& s) {
    if (auto* p = std::get_if<std::unique_ptr<uv::Pipe>>(&s)) {
        return **p;
    }
    return *std::get<std::unique_ptr<uv::Tcp>>(s);
}

// Accepts the pending descriptor of `pipe` into a new handle of its type.
AnyStream accept_pending(uv::Loop& loop, uv::Pipe& pipe) {
    AnyStream s;
    const auto pending = pipe.pending_type();
    if (pending == uv::HandleType::named_pipe) {
        s = std::make_unique<uv::Pipe>(loop);
    } else {
        REQUIRE(pending == uv::HandleType::tcp);
        s = std::make_unique<uv::Tcp>(loop);
    }
    REQUIRE_FALSE(pipe.accept(stream_of(s)));
    return s;
}

// libuv's ipc_send_recv_helper, in process: listens at `name`, accepts one
// IPC channel, and sends every handle it receives back where it came from.
// It runs on another thread, where Catch's assertions may not be used: it
// counts what went wrong in `failures` instead.
void send_recv_helper(const std::string& name,
                      std::promise<void>& listening,
                      std::atomic<int>& failures) {
    auto check = [&](bool ok) {
        if (!ok) {
            ++failures;
        }
    };
    uv::Loop loop;
    uv::Pipe listen(loop);
    uv::Pipe channel(loop, true);
    std::array<AnyStream, 2> recv;
    int read_cb_count = 0;
    int write2_cb_called = 0;
    check(!listen.bind(name));
    check(!listen.listen(SOMAXCONN, [&](boost::system::error_code ec) {
        check(!ec);
        check(!listen.accept(channel));
        check(channel.is_readable());
        check(channel.is_writable());
        check(!channel.is_closing());
        check(!channel.read_start([&](boost::system::error_code rec, std::span<const char>) {
            if (rec == boost::asio::error::eof || rec == boost::asio::error::connection_aborted) {
                return;
            }
            check(!rec);
            while (channel.pending_count() > 0 && read_cb_count < 2) {
                AnyStream& slot = recv[static_cast<std::size_t>(read_cb_count++)];
                if (channel.pending_type() == uv::HandleType::named_pipe) {
                    slot = std::make_unique<uv::Pipe>(loop);
                } else {
                    check(channel.pending_type() == uv::HandleType::tcp);
                    slot = std::make_unique<uv::Tcp>(loop);
                }
                check(!channel.accept(stream_of(slot)));
                check(!channel.write2(boost::asio::buffer(".", 1),
                                      stream_of(slot),
                                      [&](boost::system::error_code wec) {
                                          check(!wec);
                                          if (++write2_cb_called == 2) {
                                              stream_of(recv[0]).close();
                                              stream_of(recv[1]).close();
                                              channel.close();
                                              listen.close();
                                          }
                                      }));
            }
        }));
    }));
    listening.set_value();
    check(loop.run() == 0);
    check(write2_cb_called == 2);
}

// libuv's run_test(inprocess = 1): sends `send` and `send2` to the helper
// and accepts what comes back.
void run_send_recv_inprocess(uv::Loop& loop,
                             uv::Stream& send,
                             uv::Stream& send2,
                             uv::HandleType expected_type) {
    const std::string name3 = test_pipename();
    std::promise<void> listening;
    std::atomic<int> helper_failures{0};
    std::thread helper([&] { send_recv_helper(name3, listening, helper_failures); });
    listening.get_future().wait();

    uv::Pipe channel(loop, true);
    std::array<AnyStream, 2> recv;
    int recv_cb_count = 0;
    REQUIRE_FALSE(channel.connect(name3, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(channel.write2(boost::asio::buffer(".", 1), send));
        REQUIRE_FALSE(channel.write2(boost::asio::buffer(".", 1), send2));
        REQUIRE_FALSE(channel.read_start([&](boost::system::error_code rec, std::span<const char>) {
            if (rec == boost::asio::error::eof) {
                REQUIRE(recv_cb_count == 2); // only for the final read
                return;
            }
            REQUIRE_FALSE(rec);
            REQUIRE(channel.pending_count() > 0);
            while (channel.pending_count() > 0) {
                REQUIRE(channel.pending_type() == expected_type);
                recv[static_cast<std::size_t>(recv_cb_count++)] = accept_pending(loop, channel);
            }
            if (recv_cb_count == 2) {
                channel.close();
                send.close();
                send2.close();
                stream_of(recv[0]).close();
                stream_of(recv[1]).close();
            }
        }));
    }));
    REQUIRE(loop.run() == 0);
    helper.join();
    REQUIRE(helper_failures == 0);
    REQUIRE(recv_cb_count == 2);
}

} // namespace

TEST_CASE("ipc_send_recv_pipe_inprocess: two bound pipes sent over an IPC pipe to another loop "
          "come back as pipes",
          "[uv][pipe][libuv][ipc]") {
    uv::Loop loop;
    uv::Pipe send(loop, true);
    uv::Pipe send2(loop, true);
    REQUIRE_FALSE(send.bind(test_pipename()));
    REQUIRE_FALSE(send2.bind(test_pipename()));
    run_send_recv_inprocess(loop, send, send2, uv::HandleType::named_pipe);
    require_loop_quiescent(loop);
}

TEST_CASE("ipc_send_recv_tcp_inprocess: two bound TCP sockets sent over an IPC pipe to another "
          "loop come back as TCP",
          "[uv][pipe][libuv][ipc]") {
    uv::Loop loop;
    uv::Tcp send(loop);
    uv::Tcp send2(loop);
    REQUIRE_FALSE(send.bind(pollux::test::loopback4()));
    REQUIRE_FALSE(send2.bind(pollux::test::loopback4()));
    run_send_recv_inprocess(loop, send, send2, uv::HandleType::tcp);
    require_loop_quiescent(loop);
}
