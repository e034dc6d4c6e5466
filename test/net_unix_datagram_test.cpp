#include <pollux/net/unix_datagram.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/select.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include "support/open_fds.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <utility>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using net::UnixDatagram;
using test::open_fds;

namespace {

template <class F>
bool poll_once_in(Runtime& rt, F once) {
    return rt.block_on(poll_fn<bool>([&](Context& cx) -> Poll<bool> { return Ready{once(cx)}; }));
}

// A socket path of this process, removed when it goes out of scope.
struct TempPath {
    std::string path;
    explicit TempPath(const char* what)
        : path((std::filesystem::temp_directory_path() /
                ("pollux_dgram_" + std::to_string(::getpid()) + "_" + what + ".sock"))
                   .string()) {
        std::filesystem::remove(path);
    }
    TempPath(const TempPath&) = delete;
    TempPath& operator=(const TempPath&) = delete;
    ~TempPath() { std::filesystem::remove(path); }
};

} // namespace

TEST_CASE("UnixDatagram send_to and recv_from exchange datagrams with their sender's path",
          "[net][unix_datagram]") {
    TempPath a_path("a");
    TempPath b_path("b");
    Runtime rt;
    rt.block_on([](std::string ap, std::string bp) -> Async<> {
        auto a = UnixDatagram::bind(ap);
        REQUIRE(a);
        auto b = UnixDatagram::bind(bp);
        REQUIRE(b);
        REQUIRE(a->local_addr().value().path() == ap);
        auto s = co_await a->send_to(asio::buffer("ping", 4), bp);
        REQUIRE(s);
        REQUIRE(*s == 4);
        char buf[16];
        auto r = co_await b->recv_from(asio::buffer(buf));
        REQUIRE(r);
        REQUIRE(std::string(buf, r->first) == "ping");
        REQUIRE(r->second.path() == ap);
        auto back = co_await b->send_to(asio::buffer("pong", 4), r->second);
        REQUIRE(back);
        auto r2 = co_await a->recv_from(asio::buffer(buf));
        REQUIRE(r2);
        REQUIRE(std::string(buf, r2->first) == "pong");
        REQUIRE(r2->second.path() == bp);
    }(a_path.path, b_path.path));
}

TEST_CASE("UnixDatagram keeps datagram boundaries and truncates one larger than the buffer",
          "[net][unix_datagram]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixDatagram::pair();
        REQUIRE(p);
        auto& [a, b] = *p;
        {
            auto sent_ = co_await a.send(asio::buffer("one", 3));
            REQUIRE(sent_);
        }
        {
            auto sent_ = co_await a.send(asio::buffer("twotwo", 6));
            REQUIRE(sent_);
        }
        char buf[4];
        auto r1 = co_await b.recv(asio::buffer(buf));
        REQUIRE(r1);
        REQUIRE(std::string(buf, *r1) == "one");
        auto r2 = co_await b.recv(asio::buffer(buf));
        REQUIRE(r2);
        REQUIRE(std::string(buf, *r2) == "twot"); // the rest is discarded
        {
            auto sent_ = co_await a.send(asio::buffer("3", 1));
            REQUIRE(sent_);
        }
        auto r3 = co_await b.recv(asio::buffer(buf));
        REQUIRE(r3);
        REQUIRE(std::string(buf, *r3) == "3");
    }());
}

TEST_CASE("UnixDatagram sends and receives a 0-byte datagram", "[net][unix_datagram]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixDatagram::pair();
        REQUIRE(p);
        auto& [a, b] = *p;
        auto s = co_await a.send(asio::const_buffer());
        REQUIRE(s);
        REQUIRE(*s == 0);
        {
            auto sent_ = co_await a.send(asio::buffer("x", 1));
            REQUIRE(sent_);
        }
        char buf[4];
        auto r1 = co_await b.recv_from(asio::buffer(buf));
        REQUIRE(r1);
        REQUIRE(r1->first == 0);
        REQUIRE(r1->second.path().empty()); // a pair's sockets are unnamed
        auto r2 = co_await b.recv(asio::buffer(buf));
        REQUIRE(r2);
        REQUIRE(*r2 == 1);
    }());
}

TEST_CASE("UnixDatagram unbound sends to a bound socket, which sees an empty sender address",
          "[net][unix_datagram]") {
    TempPath path("server");
    Runtime rt;
    rt.block_on([](std::string path) -> Async<> {
        auto server = UnixDatagram::bind(path);
        REQUIRE(server);
        auto client = UnixDatagram::unbound();
        REQUIRE(client);
        REQUIRE(client->local_addr().value().path().empty());
        {
            auto sent_ = co_await client->send_to(asio::buffer("hi", 2), path);
            REQUIRE(sent_);
        }
        char buf[8];
        auto r = co_await server->recv_from(asio::buffer(buf));
        REQUIRE(r);
        REQUIRE(r->first == 2);
        REQUIRE(r->second.path().empty());
    }(path.path));
}

TEST_CASE("UnixDatagram connect sets the peer for send and recv", "[net][unix_datagram]") {
    TempPath path("connected");
    Runtime rt;
    rt.block_on([](std::string path) -> Async<> {
        auto server = UnixDatagram::bind(path);
        REQUIRE(server);
        auto client = UnixDatagram::unbound();
        REQUIRE(client);
        auto none = client->peer_addr();
        REQUIRE_FALSE(none);
        REQUIRE(none.error() == boost::system::errc::not_connected);
        auto unsent = co_await client->send(asio::buffer("x", 1));
        REQUIRE_FALSE(unsent);
        REQUIRE(client->connect(path));
        REQUIRE(client->peer_addr().value().path() == path);
        {
            auto sent_ = co_await client->send(asio::buffer("abc", 3));
            REQUIRE(sent_);
        }
        char buf[8];
        auto r = co_await server->recv(asio::buffer(buf));
        REQUIRE(r);
        REQUIRE(std::string(buf, *r) == "abc");
    }(path.path));
}

TEST_CASE("UnixDatagram binds and reaches a name in the abstract namespace",
          "[net][unix_datagram]") {
    const std::string name = std::string(1, '\0') + "pollux_dgram_" + std::to_string(::getpid());
    Runtime rt;
    rt.block_on([](std::string name) -> Async<> {
        auto server = UnixDatagram::bind(name);
        REQUIRE(server);
        REQUIRE(server->local_addr().value().path() == name);
        REQUIRE_FALSE(std::filesystem::exists(name.substr(1)));
        auto client = UnixDatagram::unbound();
        REQUIRE(client);
        {
            auto sent_ = co_await client->send_to(asio::buffer("abs", 3), name);
            REQUIRE(sent_);
        }
        char buf[8];
        auto r = co_await server->recv(asio::buffer(buf));
        REQUIRE(r);
        REQUIRE(std::string(buf, *r) == "abs");
    }(name));
}

TEST_CASE("UnixDatagram bind to a path too long fails with name_too_long", "[net][unix_datagram]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        const std::string longp = "/tmp/" + std::string(200, 'x');
        auto s = UnixDatagram::bind(longp);
        REQUIRE_FALSE(s);
        REQUIRE(s.error() == boost::system::errc::filename_too_long);
        auto c = UnixDatagram::unbound();
        REQUIRE(c);
        auto conn = c->connect(longp);
        REQUIRE_FALSE(conn);
        REQUIRE(conn.error() == boost::system::errc::filename_too_long);
        auto sent = co_await c->send_to(asio::buffer("x", 1), longp);
        REQUIRE_FALSE(sent);
        REQUIRE(sent.error() == boost::system::errc::filename_too_long);
    }());
}

TEST_CASE("UnixDatagram bind to a path in use fails with address_in_use", "[net][unix_datagram]") {
    TempPath path("in_use");
    Runtime rt;
    rt.block_on([](std::string path) -> Async<> {
        auto a = UnixDatagram::bind(path);
        REQUIRE(a);
        auto b = UnixDatagram::bind(path);
        REQUIRE_FALSE(b);
        REQUIRE(b.error() == asio::error::address_in_use);
        co_return;
    }(path.path));
}

TEST_CASE("UnixDatagram send_to a missing path fails with no_such_file_or_directory",
          "[net][unix_datagram]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto c = UnixDatagram::unbound();
        REQUIRE(c);
        auto s = co_await c->send_to(asio::buffer("x", 1), "/nonexistent/pollux_dgram.sock");
        REQUIRE_FALSE(s);
        REQUIRE(s.error() == boost::system::errc::no_such_file_or_directory);
    }());
}

TEST_CASE("UnixDatagram send_to a peer whose queue is full completes once the peer reads",
          "[net][unix_datagram]") {
    // Linux queues at most net.unix.max_dgram_qlen (10 by default)
    // datagrams for a receiver; an unconnected sender past that gets
    // EAGAIN while its own socket stays writable.
    TempPath path("full");
    Runtime rt;
    rt.block_on([](std::string path) -> Async<> {
        auto server = UnixDatagram::bind(path);
        REQUIRE(server);
        auto client = UnixDatagram::unbound();
        REQUIRE(client);
        constexpr int count = 100;
        auto sender = spawn([](UnixDatagram& c, std::string path) -> Async<> {
            for (int i = 0; i < count; ++i) {
                const std::string msg = std::to_string(i);
                auto s = co_await c.send_to(asio::buffer(msg), path);
                REQUIRE(s);
            }
        }(*client, path));
        co_await time::sleep(2ms);
        char buf[16];
        for (int i = 0; i < count; ++i) {
            auto r = co_await server->recv(asio::buffer(buf));
            REQUIRE(r);
            REQUIRE(std::string(buf, *r) == std::to_string(i));
        }
        co_await sender;
    }(path.path));
}

TEST_CASE("UnixDatagram sockets are close-on-exec and non-blocking", "[net][unix_datagram]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixDatagram::pair();
        REQUIRE(p);
        auto u = UnixDatagram::unbound();
        REQUIRE(u);
        for (UnixDatagram* s : {&p->first, &p->second, &*u}) {
            const int fd = s->socket().native_handle();
            REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
            REQUIRE((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        }
        co_return;
    }());
}

TEST_CASE("UnixDatagram recv under select with a timer loses no datagram",
          "[net][unix_datagram][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixDatagram::pair();
        REQUIRE(p);
        auto& [a, b] = *p;
        auto sender = spawn([](UnixDatagram& a) -> Async<> {
            for (int i = 0; i < 50; ++i) {
                const std::string msg = std::to_string(i);
                {
                    auto sent_ = co_await a.send(asio::buffer(msg));
                    REQUIRE(sent_);
                }
                co_await time::sleep(200us);
            }
        }(a));
        char buf[16];
        for (int i = 0; i < 50;) {
            auto v = co_await select(b.recv(asio::buffer(buf)), time::sleep(100us));
            if (v.index() == 1) {
                continue;
            }
            auto& n = std::get<0>(v);
            REQUIRE(n);
            REQUIRE(std::string(buf, *n) == std::to_string(i));
            ++i;
        }
        co_await sender;
    }());
}

TEST_CASE("UnixDatagram recv future dropped while pending loses no datagram",
          "[net][unix_datagram][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixDatagram::pair();
        REQUIRE(p);
        auto& [a, b] = *p;
        char buf[8];
        {
            auto pending = b.recv(asio::buffer(buf));
            auto first = co_await poll_fn<bool>(
                [&](Context& cx) -> Poll<bool> { return Ready{pending.poll(cx).is_pending()}; });
            REQUIRE(first);
        } // dropped with its wait armed
        {
            auto sent_ = co_await a.send(asio::buffer("kept", 4));
            REQUIRE(sent_);
        }
        auto n = co_await b.recv(asio::buffer(buf));
        REQUIRE(n);
        REQUIRE(std::string(buf, *n) == "kept");
    }());
}

TEST_CASE("UnixDatagram send to a closed pair peer fails with connection_refused",
          "[net][unix_datagram]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixDatagram::pair();
        REQUIRE(p);
        auto a = std::move(p->first);
        { [[maybe_unused]] auto gone = std::move(p->second); }
        auto s = co_await a.send(asio::buffer("x", 1));
        REQUIRE_FALSE(s);
        REQUIRE(s.error() == boost::system::errc::connection_refused);
    }());
}

TEST_CASE("UnixDatagram bind outside a task throws logic_error", "[net][unix_datagram]") {
    REQUIRE_THROWS_AS(UnixDatagram::unbound(), std::logic_error);
    REQUIRE_THROWS_AS(UnixDatagram::pair(), std::logic_error);
}

// ---- Lifetimes (no descriptor leaks) ------------------------------------------

TEST_CASE("a UnixDatagram dropped before its Runtime closes its descriptor",
          "[net][unix_datagram][io_lifetime]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        std::optional<std::pair<UnixDatagram, UnixDatagram>> p;
        char c;
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            p.emplace(UnixDatagram::pair(rt.io_context().get_executor()).value());
            return p->first.poll_recv(cx, asio::buffer(&c, 1)).is_pending();
        }));
        p.reset();
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("a UnixDatagram left pending in a task is dropped by the Runtime's shutdown",
          "[net][unix_datagram][io_lifetime]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        std::optional<UnixDatagram> peer;
        rt.block_on([&]() -> Async<> {
            auto p = UnixDatagram::pair();
            REQUIRE(p);
            peer.emplace(std::move(p->first));
            (void)spawn([](UnixDatagram s) -> Async<> {
                char c;
                (void)co_await s.recv(asio::buffer(&c, 1)); // never sent
            }(std::move(p->second)));
            co_await time::sleep(1ms); // the task is now parked on its recv
        }());
        peer.reset();
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("a UnixDatagram dropped after its Runtime closes its descriptor",
          "[net][unix_datagram][io_lifetime]") {
    const std::size_t before = open_fds();
    std::optional<std::pair<UnixDatagram, UnixDatagram>> p;
    {
        Runtime rt;
        char c;
        REQUIRE(poll_once_in(rt, [&](Context& cx) {
            p.emplace(UnixDatagram::pair(rt.io_context().get_executor()).value());
            return p->first.poll_recv(cx, asio::buffer(&c, 1)).is_pending(); // a wait in flight
        }));
    }
    p.reset();
    REQUIRE(open_fds() == before);
}
