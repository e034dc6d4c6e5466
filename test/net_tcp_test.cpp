#include <pollux/net.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/select.hpp>
#include <pollux/io.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include "support/high_descriptors.hpp"
#include "support/open_fds.hpp"
#include "support/result_string.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using net::TcpListener;
using net::TcpStream;

namespace {

using pollux::test::open_fds;

std::vector<unsigned char> pattern(std::size_t n, unsigned seed) {
    std::vector<unsigned char> v(n);
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& b : v) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b = static_cast<unsigned char>(x);
    }
    return v;
}

// Accepts one connection and echoes it until end of stream, then shuts down.
Async<std::uint64_t> echo_once(TcpListener& listener) {
    auto conn = co_await listener.accept();
    REQUIRE(conn);
    TcpStream s = std::move(conn->first);
    auto [rd, wr] = s.split();
    auto n = co_await io::copy(rd, wr);
    REQUIRE(n);
    auto r1 = co_await io::shutdown(s);
    REQUIRE(r1);
    co_return *n;
}

} // namespace

TEST_CASE("TcpListener bind on port 0 reports the port the kernel picked", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto addr = l->local_addr();
        REQUIRE(addr);
        REQUIRE(addr->address().to_string() == "127.0.0.1");
        REQUIRE(addr->port() != 0);
        co_return;
    }());
}

TEST_CASE("TcpListener bind reports errors as values", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto a = TcpListener::bind("127.0.0.1:0");
        REQUIRE(a);
        // SO_REUSEADDR does not allow two listeners on one port.
        auto b = TcpListener::bind(*a->local_addr());
        REQUIRE_FALSE(b);
        REQUIRE(b.error() == asio::error::address_in_use);
        REQUIRE_FALSE(TcpListener::bind("no-port-here"));
        co_return;
    }());
}

TEST_CASE("TcpListener close frees the port; accept and local_addr then report bad_descriptor",
          "[net][tcp][close]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        REQUIRE(l->is_open());
        const auto addr = *l->local_addr();
        l->close();
        REQUIRE_FALSE(l->is_open());
        auto refused = co_await TcpStream::connect(addr);
        REQUIRE_FALSE(refused);
        REQUIRE(refused.error() == asio::error::connection_refused);
        auto accepted = co_await l->accept();
        REQUIRE_FALSE(accepted);
        REQUIRE(accepted.error() == asio::error::bad_descriptor);
        REQUIRE(l->local_addr().error() == asio::error::bad_descriptor);
        l->close(); // a second close does nothing
        REQUIRE_FALSE(l->is_open());
    }());
}

TEST_CASE("TcpListener close cancels a pending accept, whose next poll reports bad_descriptor",
          "[net][tcp][close]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto accept = l->accept();
        Context cx(Waker::noop());
        REQUIRE(accept.poll(cx).is_pending()); // no client: waits for readiness
        l->close();
        auto p = accept.poll(cx);
        REQUIRE(p.is_ready());
        REQUIRE(p.value().error() == asio::error::bad_descriptor);
        co_return;
    }());
}

TEST_CASE("TcpListener bind outside a task throws logic_error; with an executor it works",
          "[net][tcp]") {
    REQUIRE_THROWS_AS(TcpListener::bind("127.0.0.1:0"), std::logic_error);
    Runtime rt;
    auto l = TcpListener::bind("127.0.0.1:0", rt.io_context().get_executor());
    REQUIRE(l);
}

TEST_CASE("TcpStream connect and accept carry bytes both ways and end with EOF", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto server = spawn(echo_once(*l));
        auto c = co_await TcpStream::connect(*l->local_addr());
        REQUIRE(c);
        REQUIRE(c->peer_addr().value() == l->local_addr().value());
        auto data = pattern(300'000, 1);
        std::vector<unsigned char> back(data.size());
        // Write and read concurrently: the echo cannot hold 300 kB.
        auto writer = [](TcpStream& s, const std::vector<unsigned char>& d) -> Async<> {
            auto r2 = co_await io::write_all(s, asio::buffer(d));
            REQUIRE(r2);
            auto r3 = co_await io::shutdown(s);
            REQUIRE(r3);
        };
        auto [w, r] = co_await join(writer(*c, data), io::read_exact(*c, asio::buffer(back)));
        REQUIRE(r);
        REQUIRE(back == data);
        char extra;
        auto eof = co_await io::read(*c, asio::buffer(&extra, 1));
        REQUIRE(eof);
        REQUIRE(*eof == 0);
        auto r4 = co_await server;
        REQUIRE(r4 == data.size());
    }());
}

TEST_CASE("TcpStream connect with host:port and to a closed port", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto port = l->local_addr()->port();
        auto server = spawn(echo_once(*l));
        auto c = co_await TcpStream::connect("127.0.0.1:" + std::to_string(port));
        REQUIRE(c);
        auto r5 = co_await io::shutdown(*c);
        REQUIRE(r5);
        auto r6 = co_await server;
        REQUIRE(r6 == 0);
        l = TcpListener::bind("127.0.0.1:0"); // frees the old port
        auto refused = co_await TcpStream::connect(
            asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        REQUIRE_FALSE(refused);
        REQUIRE(refused.error() == asio::error::connection_refused);
        auto bad = co_await TcpStream::connect("nonsense");
        REQUIRE_FALSE(bad);
    }());
}

TEST_CASE("net::resolve finds literals and localhost", "[net][resolve]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto a = co_await net::resolve("127.0.0.1", "80");
        REQUIRE(a);
        REQUIRE(a->size() == 1);
        REQUIRE(a->front().port() == 80);
        auto b = co_await net::resolve("localhost", "8080");
        REQUIRE(b);
        REQUIRE_FALSE(b->empty());
        REQUIRE(b->front().address().is_loopback());
        auto hp = net::split_host_port("[::1]:443");
        REQUIRE(hp);
        REQUIRE(hp->first == "::1");
        REQUIRE(hp->second == "443");
    }());
}

TEST_CASE("TcpStream read under select with a repeating timer loses no byte",
          "[net][tcp][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        const auto data = pattern(200'000, 7);
        auto sender = spawn([](TcpListener& l, const std::vector<unsigned char>& d) -> Async<> {
            auto conn = co_await l.accept();
            REQUIRE(conn);
            // Dribble the bytes so that reads and timer ticks interleave.
            for (std::size_t off = 0; off < d.size(); off += 4096) {
                std::size_t n = std::min<std::size_t>(4096, d.size() - off);
                auto r7 = co_await io::write_all(conn->first, asio::buffer(d.data() + off, n));
                REQUIRE(r7);
                if (off % (16 * 4096) == 0) {
                    co_await time::sleep(1ms);
                }
            }
        }(*l, data));
        auto c = co_await TcpStream::connect(*l->local_addr());
        REQUIRE(c);
        std::vector<unsigned char> got;
        std::size_t timer_wins = 0;
        unsigned char buf[1500];
        for (;;) {
            auto v = co_await select(io::read(*c, asio::buffer(buf)), time::sleep(200us));
            if (v.index() == 1) {
                ++timer_wins; // the read was dropped: it must not have taken bytes
                continue;
            }
            auto& n = std::get<0>(v);
            REQUIRE(n);
            if (*n == 0) {
                break;
            }
            got.insert(got.end(), buf, buf + *n);
        }
        co_await sender;
        REQUIRE(got == data);
        INFO("timer won " << timer_wins << " times");
        REQUIRE(timer_wins > 0);
    }());
}

TEST_CASE("TcpListener accept under select with a repeating timer loses no connection",
          "[net][tcp][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        constexpr int clients = 20;
        auto connector = spawn([](asio::ip::tcp::endpoint ep) -> Async<std::vector<TcpStream>> {
            std::vector<TcpStream> out;
            for (int i = 0; i < clients; ++i) {
                auto c = co_await TcpStream::connect(ep);
                REQUIRE(c);
                out.push_back(std::move(*c));
                co_await time::sleep(1ms);
            }
            co_return out;
        }(*l->local_addr()));
        int accepted = 0;
        std::size_t timer_wins = 0;
        while (accepted < clients) {
            auto v = co_await select(l->accept(), time::sleep(300us));
            if (v.index() == 1) {
                ++timer_wins;
                continue;
            }
            REQUIRE(std::get<0>(v));
            ++accepted;
        }
        auto conns = co_await connector;
        REQUIRE(conns.size() == clients);
        // Nothing more is queued.
        auto none = co_await time::timeout(50ms, l->accept());
        REQUIRE_FALSE(none);
        REQUIRE(timer_wins > 0);
    }());
}

TEST_CASE("TcpStream may be moved between polls of a pending read", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto c = co_await TcpStream::connect(*l->local_addr());
        REQUIRE(c);
        auto s = co_await l->accept();
        REQUIRE(s);
        std::optional<TcpStream> a(std::move(*c));
        std::optional<TcpStream> b;
        int polls = 0;
        char byte = 0;
        auto writer = spawn([](TcpStream& peer) -> Async<> {
            co_await time::sleep(20ms);
            auto r8 = co_await io::write_all(peer, asio::buffer("x", 1));
            REQUIRE(r8);
        }(s->first));
        auto n =
            co_await poll_fn<Result<std::size_t>>([&](Context& cx) -> Poll<Result<std::size_t>> {
                ++polls;
                // Move the stream to the other slot on every poll.
                if (a) {
                    b.emplace(std::move(*a));
                    a.reset();
                    return b->poll_read(cx, asio::buffer(&byte, 1));
                }
                a.emplace(std::move(*b));
                b.reset();
                return a->poll_read(cx, asio::buffer(&byte, 1));
            });
        REQUIRE(n);
        REQUIRE(*n == 1);
        REQUIRE(byte == 'x');
        REQUIRE(polls >= 2);
        co_await writer;
    }());
}

TEST_CASE("TcpStream write to a reset peer is an error, not SIGPIPE", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto c = co_await TcpStream::connect(*l->local_addr());
        REQUIRE(c);
        {
            auto s = co_await l->accept();
            REQUIRE(s);
            s->first.socket().set_option(asio::socket_base::linger(true, 0));
        } // closed with RST
        REQUIRE(c->set_nodelay(true));
        REQUIRE(c->nodelay().value());
        std::vector<char> chunk(64 * 1024, 'a');
        Result<void> r;
        for (int i = 0; i < 100 && r; ++i) {
            r = co_await io::write_all(*c, asio::buffer(chunk));
        }
        REQUIRE_FALSE(r);
        REQUIRE(
            (r.error() == asio::error::broken_pipe || r.error() == asio::error::connection_reset));
    }());
}

TEST_CASE("Dropping tasks with pending socket I/O closes every descriptor", "[net][tcp]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        rt.block_on([]() -> Async<> {
            auto l = TcpListener::bind("127.0.0.1:0");
            REQUIRE(l);
            auto c = co_await TcpStream::connect(*l->local_addr());
            REQUIRE(c);
            auto s = co_await l->accept();
            REQUIRE(s);
            // A reader parked on the stream, aborted; another left to the
            // runtime's shutdown.
            auto reader = [](TcpStream s) -> Async<> {
                char b[16];
                (void)co_await io::read(s, asio::buffer(b));
            };
            auto h1 = spawn(reader(std::move(*c)));
            spawn(reader(std::move(s->first)));
            auto acceptor =
                spawn([](TcpListener l) -> Async<> { (void)co_await l.accept(); }(std::move(*l)));
            co_await time::sleep(10ms);
            h1.abort();
            co_await time::sleep(10ms);
        }());
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("TcpListener backs off while out of descriptors and accepts again afterwards",
          "[net][tcp][accept]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto c = co_await TcpStream::connect(*l->local_addr());
        REQUIRE(c); // completes in the backlog
        rlimit old{};
        REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
        rlimit low = old;
        low.rlim_cur = open_fds() + 16;
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
        std::vector<int> filler;
        for (int fd; (fd = ::dup(0)) >= 0;) {
            filler.push_back(fd);
        }
        auto starved = co_await time::timeout(300ms, l->accept());
        for (int fd : filler) {
            ::close(fd);
        }
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &old) == 0);
        REQUIRE_FALSE(starved); // EMFILE is not reported: the listener backs off
        REQUIRE(starved.error() == time::errc::elapsed);
        auto ok = co_await time::timeout(5s, l->accept());
        REQUIRE(ok);
        REQUIRE(*ok);
    }());
}

TEST_CASE("TcpStream echo works on a multi-threaded runtime", "[net][tcp][threads]") {
    Runtime rt(RuntimeOptions{.worker_threads = 2});
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        constexpr int clients = 16;
        // Only this task asserts: Catch's assertions are not thread-safe, and
        // the tasks run on both threads at once. The server counts the
        // connections that echoed everything.
        auto server = spawn([](TcpListener& l) -> Async<int> {
            std::vector<JoinHandle<std::uint64_t>> conns;
            for (int i = 0; i < clients; ++i) {
                auto c = co_await l.accept();
                if (!c) {
                    co_return -1;
                }
                conns.push_back(spawn([](TcpStream s) -> Async<std::uint64_t> {
                    auto [rd, wr] = s.split();
                    auto n = co_await io::copy(rd, wr);
                    auto sd = co_await io::shutdown(s);
                    co_return n&& sd ? *n : 0;
                }(std::move(c->first))));
            }
            int echoed = 0;
            for (auto& h : conns) {
                if (co_await h == 50'000) {
                    ++echoed;
                }
            }
            co_return echoed;
        }(*l));
        std::vector<JoinHandle<bool>> cs;
        for (int i = 0; i < clients; ++i) {
            cs.push_back(spawn([](asio::ip::tcp::endpoint ep, unsigned seed) -> Async<bool> {
                auto c = co_await TcpStream::connect(ep);
                if (!c) {
                    co_return false;
                }
                auto data = pattern(50'000, seed);
                std::vector<unsigned char> back(data.size());
                auto writer = [](TcpStream& s, const std::vector<unsigned char>& d) -> Async<bool> {
                    auto w = co_await io::write_all(s, asio::buffer(d));
                    auto sd = co_await io::shutdown(s);
                    co_return w&& sd;
                };
                auto [w, r] =
                    co_await join(writer(*c, data), io::read_exact(*c, asio::buffer(back)));
                co_return w&& r&& back == data;
            }(*l->local_addr(), static_cast<unsigned>(i))));
        }
        for (auto& h : cs) {
            auto ok = co_await h;
            REQUIRE(ok);
        }
        const int echoed = co_await server;
        REQUIRE(echoed == clients);
    }());
}

// Asio's select reactor (the portable readiness path's, docs/net.md) cannot
// wait on a descriptor at or above FD_SETSIZE: each wait fails at once with
// fd_set_failure. The poll used to take that for a spurious wake and wait
// again, a busy loop that burnt a core until the descriptor was ready; now
// the operation reports the error, as Asio's own operations do. On every
// other reactor such a descriptor works as any other.
TEST_CASE("a socket the reactor cannot wait on reports the reactor's error instead of busy-polling",
          "[net][tcp][readiness]") {
    test::HighDescriptors high;
    if (!high.ok()) {
        WARN("the hard descriptor limit is below 1100: nothing to check here");
        return;
    }
    Runtime rt;
    auto r = rt.block_on([&]() -> Async<Result<Result<std::size_t>>> {
        auto l = TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        const auto addr = *l->local_addr();
        high.fill_below_1024(); // the sockets made next are 1024 and up
        co_return co_await time::timeout(20s, [&]() -> Async<Result<std::size_t>> {
            auto c = co_await TcpStream::connect(addr);
            if (!c) {
                co_return c.error();
            }
            auto a = co_await l->accept();
            REQUIRE(a);
            // The read starts first, so it must wait for readiness; the
            // client writes a moment later.
            std::string msg = "hello";
            std::string got(msg.size(), '\0');
            auto [n, w] = co_await join(io::read_exact(a->first, asio::buffer(got)),
                                        [&]() -> Async<Result<void>> {
                                            co_await time::sleep(100ms);
                                            auto wr = co_await io::write_all(*c, asio::buffer(msg));
                                            if (!wr) {
                                                co_return wr.error();
                                            }
                                            co_return Result<void>();
                                        }());
            REQUIRE(w);
            if (!n) {
                co_return n.error();
            }
            co_return got.size();
        }());
    }());
    REQUIRE(r); // the hang guard's deadline did not pass
    if (test::select_reactor) {
        REQUIRE_FALSE(*r);
        CHECK(r->error() == boost::asio::error::fd_set_failure);
    } else {
        REQUIRE(*r);
        CHECK(**r == 5);
    }
}
