#include <pollux/net/tcp_socket.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/select.hpp>
#include <pollux/current_executor.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include "support/open_fds.hpp"
#include "support/result_string.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using net::TcpListener;
using net::TcpSocket;
using net::TcpStream;

namespace {

using pollux::test::open_fds;

const asio::ip::tcp::endpoint loopback_any{asio::ip::make_address("127.0.0.1"), 0};

int raw_int_option(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof(v);
    REQUIRE(::getsockopt(fd, level, name, &v, &len) == 0);
    return v;
}

bool fd_is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}

// Accepts until `want` connections were taken by the two listeners together,
// counting each one's share.
Async<> accept_count(TcpListener& l, int& mine, const int& total_a, const int& total_b, int want) {
    while (total_a + total_b < want) {
        auto c = co_await l.accept();
        REQUIRE(c);
        ++mine;
    }
}

} // namespace

TEST_CASE("TcpSocket new_v4 is non-blocking and close-on-exec, with no option set", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v4();
        REQUIRE(s);
        const int fd = s->native_handle();
        REQUIRE(fd >= 0);
        REQUIRE((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        REQUIRE(s->reuseaddr().value() == false);
        REQUIRE(s->reuseport().value() == false);
        REQUIRE(s->nodelay().value() == false);
        REQUIRE(s->keepalive().value() == false);
        REQUIRE(s->linger().value() == std::nullopt);
        co_return;
    }());
}

TEST_CASE("TcpSocket boolean options read back as set, from the kernel", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v4().value();
        REQUIRE(s.set_reuseaddr(true));
        REQUIRE(s.set_reuseport(true));
        REQUIRE(s.set_nodelay(true));
        REQUIRE(s.set_keepalive(true));
        const int fd = s.native_handle();
        REQUIRE(raw_int_option(fd, SOL_SOCKET, SO_REUSEADDR) != 0);
        REQUIRE(raw_int_option(fd, SOL_SOCKET, SO_REUSEPORT) != 0);
        REQUIRE(raw_int_option(fd, IPPROTO_TCP, TCP_NODELAY) != 0);
        REQUIRE(raw_int_option(fd, SOL_SOCKET, SO_KEEPALIVE) != 0);
        REQUIRE(s.reuseaddr().value());
        REQUIRE(s.reuseport().value());
        REQUIRE(s.nodelay().value());
        REQUIRE(s.keepalive().value());
        REQUIRE(s.set_reuseport(false));
        REQUIRE_FALSE(s.reuseport().value());
        co_return;
    }());
}

TEST_CASE("TcpSocket buffer sizes read back at least as large as set", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v4().value();
        REQUIRE(s.set_send_buffer_size(64 * 1024));
        REQUIRE(s.set_recv_buffer_size(96 * 1024));
        // Linux doubles the value for its bookkeeping (socket(7)).
        REQUIRE(s.send_buffer_size().value() >= 64u * 1024);
        REQUIRE(s.recv_buffer_size().value() >= 96u * 1024);
        REQUIRE(s.send_buffer_size().value() == static_cast<std::uint32_t>(raw_int_option(
                                                    s.native_handle(), SOL_SOCKET, SO_SNDBUF)));
        auto big = s.set_send_buffer_size(0x80000000u);
        REQUIRE_FALSE(big);
        REQUIRE(big.error() == asio::error::invalid_argument);
        co_return;
    }());
}

TEST_CASE("TcpSocket keepalive times read back through getsockopt", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v4().value();
        REQUIRE(s.set_keepalive(true));
        REQUIRE(s.set_keepalive_idle(37s));
        REQUIRE(s.set_keepalive_interval(11s));
        REQUIRE(s.set_keepalive_retries(5));
        const int fd = s.native_handle();
        REQUIRE(raw_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE) == 37);
        REQUIRE(raw_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL) == 11);
        REQUIRE(raw_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT) == 5);
        REQUIRE(s.keepalive_idle().value() == 37s);
        REQUIRE(s.keepalive_interval().value() == 11s);
        REQUIRE(s.keepalive_retries().value() == 5u);
        co_return;
    }());
}

TEST_CASE("TcpSocket keepalive times below one second are invalid_argument", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v4().value();
        auto idle = s.set_keepalive_idle(0s);
        REQUIRE_FALSE(idle);
        REQUIRE(idle.error() == asio::error::invalid_argument);
        auto intvl = s.set_keepalive_interval(-1s);
        REQUIRE_FALSE(intvl);
        REQUIRE(intvl.error() == asio::error::invalid_argument);
        auto cnt = s.set_keepalive_retries(0); // the kernel's refusal
        REQUIRE_FALSE(cnt);
        REQUIRE(cnt.error() == asio::error::invalid_argument);
        co_return;
    }());
}

TEST_CASE("TcpSocket linger reads back as set and nullopt when off", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v4().value();
        REQUIRE(s.set_linger(5s));
        REQUIRE(s.linger().value() == std::optional<std::chrono::seconds>(5s));
        REQUIRE(s.set_linger(0s));
        REQUIRE(s.linger().value() == std::optional<std::chrono::seconds>(0s));
        REQUIRE(s.set_linger(std::nullopt));
        REQUIRE(s.linger().value() == std::nullopt);
        auto neg = s.set_linger(-1s);
        REQUIRE_FALSE(neg);
        REQUIRE(neg.error() == asio::error::invalid_argument);
        co_return;
    }());
}

TEST_CASE("TcpSocket listen without bind picks an ephemeral port", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpSocket::new_v4().value().listen(16);
        REQUIRE(l);
        REQUIRE(l->local_addr().value().port() != 0);
        co_return;
    }());
}

TEST_CASE("TcpSocket listen keeps the options set before it", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v4().value();
        REQUIRE(s.set_reuseport(true));
        REQUIRE(s.set_recv_buffer_size(100 * 1024));
        REQUIRE(s.bind(loopback_any));
        auto l = std::move(s).listen(1024);
        REQUIRE(l);
        const int fd = l->acceptor().native_handle();
        REQUIRE(raw_int_option(fd, SOL_SOCKET, SO_REUSEPORT) != 0);
        REQUIRE(raw_int_option(fd, SOL_SOCKET, SO_RCVBUF) >= 100 * 1024);
        REQUIRE(raw_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN) != 0);
        REQUIRE((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        co_return;
    }());
}

TEST_CASE("TcpSocket with SO_REUSEPORT: two listeners on one port both accept", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto a = TcpSocket::new_v4().value();
        REQUIRE(a.set_reuseport(true));
        REQUIRE(a.bind(loopback_any));
        const auto ep = a.local_addr().value();
        auto b = TcpSocket::new_v4().value();
        REQUIRE(b.set_reuseport(true));
        auto bound = b.bind(ep);
        REQUIRE(bound);
        auto la = std::move(a).listen(128);
        auto lb = std::move(b).listen(128);
        REQUIRE(la);
        REQUIRE(lb);
        REQUIRE(lb->local_addr().value() == ep);
        // The kernel spreads connections by a hash of the 4-tuple: with 64
        // source ports, the chance that one listener gets none is 2^-63.
        constexpr int want = 64;
        int na = 0;
        int nb = 0;
        auto ha = spawn(accept_count(*la, na, na, nb, want));
        auto hb = spawn(accept_count(*lb, nb, na, nb, want));
        std::vector<TcpStream> clients;
        for (int i = 0; i < want; ++i) {
            auto c = co_await TcpStream::connect(ep);
            REQUIRE(c);
            clients.push_back(std::move(*c));
        }
        while (na + nb < want) {
            co_await time::sleep(1ms);
        }
        ha.abort();
        hb.abort();
        REQUIRE(na + nb == want);
        REQUIRE(na > 0);
        REQUIRE(nb > 0);
    }());
}

TEST_CASE("TcpSocket without SO_REUSEPORT cannot bind a port in use", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind(loopback_any).value();
        auto s = TcpSocket::new_v4().value();
        auto r = s.bind(l.local_addr().value());
        REQUIRE_FALSE(r);
        REQUIRE(r.error() == asio::error::address_in_use);
        co_return;
    }());
}

TEST_CASE("TcpSocket bind before connect: the connection leaves from the bound port",
          "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind(loopback_any).value();
        auto s = TcpSocket::new_v4().value();
        REQUIRE(s.set_nodelay(true));
        REQUIRE(s.bind(loopback_any));
        const auto local = s.local_addr().value();
        REQUIRE(local.port() != 0);
        auto c = co_await std::move(s).connect(l.local_addr().value());
        REQUIRE(c);
        REQUIRE(c->local_addr().value() == local);
        REQUIRE(c->nodelay().value()); // set on the socket, kept by the stream
        auto acc = co_await l.accept();
        REQUIRE(acc);
        REQUIRE(acc->second == local);
        // Bytes flow over it.
        REQUIRE((co_await io::write_all(*c, asio::buffer("hi", 2))));
        char buf[2];
        REQUIRE((co_await io::read_exact(acc->first, asio::buffer(buf))));
        REQUIRE(std::string(buf, 2) == "hi");
    }());
}

TEST_CASE("TcpSocket connect to a closed port fails with connection_refused", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        asio::ip::tcp::endpoint closed;
        {
            auto l = TcpListener::bind(loopback_any).value();
            closed = l.local_addr().value();
        }
        auto c = co_await TcpSocket::new_v4().value().connect(closed);
        REQUIRE_FALSE(c);
        REQUIRE(c.error() == asio::error::connection_refused);
    }());
}

TEST_CASE("TcpSocket consumed by listen or connect reports bad_descriptor when used again",
          "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v4().value();
        auto l = std::move(s).listen(8);
        REQUIRE(l);
        REQUIRE(s.native_handle() == -1); // NOLINT(bugprone-use-after-move): the contract
        auto again = std::move(s).listen(8);
        REQUIRE_FALSE(again);
        REQUIRE(again.error() == asio::error::bad_descriptor);
        auto c = co_await std::move(s).connect(l->local_addr().value());
        REQUIRE_FALSE(c);
        REQUIRE(c.error() == asio::error::bad_descriptor);
        auto opt = s.set_nodelay(true);
        REQUIRE_FALSE(opt);
        REQUIRE(opt.error() == asio::error::bad_descriptor);
    }());
}

TEST_CASE("TcpSocket listen on a port another socket listens on is address_in_use", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        // Both bound with SO_REUSEADDR (allowed while neither listens);
        // the second listen is refused, and consumes its socket.
        auto a = TcpSocket::new_v4().value();
        REQUIRE(a.set_reuseaddr(true));
        REQUIRE(a.bind(loopback_any));
        const auto ep = a.local_addr().value();
        auto b = TcpSocket::new_v4().value();
        REQUIRE(b.set_reuseaddr(true));
        REQUIRE(b.bind(ep));
        const int bfd = b.native_handle();
        auto la = std::move(a).listen(8);
        REQUIRE(la);
        auto lb = std::move(b).listen(8);
        REQUIRE_FALSE(lb);
        REQUIRE(lb.error() == asio::error::address_in_use);
        REQUIRE_FALSE(fd_is_open(bfd));
        co_return;
    }());
}

TEST_CASE("TcpStream with linger 0 resets: the peer reads connection_reset", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind(loopback_any).value();
        auto c = co_await TcpStream::connect(l.local_addr().value());
        REQUIRE(c);
        auto acc = co_await l.accept();
        REQUIRE(acc);
        REQUIRE(c->set_linger(0s));
        REQUIRE(c->linger().value() == std::optional<std::chrono::seconds>(0s));
        { TcpStream gone = std::move(*c); }
        char b[8];
        auto r = co_await io::read(acc->first, asio::buffer(b));
        REQUIRE_FALSE(r);
        REQUIRE(r.error() == asio::error::connection_reset);
    }());
}

TEST_CASE("TcpStream close_reset drops unsent bytes and the peer reads connection_reset",
          "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind(loopback_any).value();
        auto c = co_await TcpStream::connect(l.local_addr().value());
        REQUIRE(c);
        auto acc = co_await l.accept();
        REQUIRE(acc);
        c->close_reset();
        c->close_reset(); // nothing held: does nothing
        char b[8];
        auto r = co_await io::read(acc->first, asio::buffer(b));
        REQUIRE_FALSE(r);
        REQUIRE(r.error() == asio::error::connection_reset);
    }());
}

TEST_CASE("TcpStream without linger closes with FIN: the peer reads end of stream", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind(loopback_any).value();
        auto c = co_await TcpStream::connect(l.local_addr().value());
        REQUIRE(c);
        auto acc = co_await l.accept();
        REQUIRE(acc);
        REQUIRE(c->linger().value() == std::nullopt);
        { TcpStream gone = std::move(*c); }
        char b[8];
        auto r = co_await io::read(acc->first, asio::buffer(b));
        REQUIRE(r);
        REQUIRE(*r == 0);
    }());
}

TEST_CASE("TcpStream ttl and keepalive read back as set", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind(loopback_any).value();
        auto c = co_await TcpStream::connect(l.local_addr().value());
        REQUIRE(c);
        REQUIRE(c->set_ttl(17));
        REQUIRE(c->ttl().value() == 17u);
        REQUIRE(raw_int_option(c->socket().native_handle(), IPPROTO_IP, IP_TTL) == 17);
        auto bad = c->set_ttl(300);
        REQUIRE_FALSE(bad);
        REQUIRE(bad.error() == asio::error::invalid_argument);
        REQUIRE_FALSE(c->keepalive().value());
        REQUIRE(c->set_keepalive(true));
        REQUIRE(c->keepalive().value());
    }());
}

TEST_CASE("TcpSocket from_fd and release round trip one descriptor", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v4().value();
        REQUIRE(s.set_reuseaddr(true));
        const int fd = s.release();
        REQUIRE(s.native_handle() == -1);
        REQUIRE(fd_is_open(fd));
        auto back = TcpSocket::from_fd(fd);
        REQUIRE(back);
        REQUIRE(back->native_handle() == fd);
        REQUIRE(back->reuseaddr().value()); // the same socket
        auto l = std::move(*back).listen(8);
        REQUIRE(l);
        REQUIRE(l->acceptor().native_handle() == fd);
        co_return;
    }());
}

TEST_CASE("TcpSocket from_fd of a blocking descriptor makes it non-blocking and close-on-exec",
          "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        auto s = TcpSocket::from_fd(fd);
        REQUIRE(s);
        REQUIRE((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        co_return;
    }());
}

TEST_CASE("TcpSocket, TcpStream and TcpListener from_fd refuse what is not theirs and leave it "
          "open",
          "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(udp >= 0);
        auto a = TcpSocket::from_fd(udp);
        REQUIRE_FALSE(a);
        REQUIRE(a.error() == asio::error::invalid_argument);
        auto b = TcpStream::from_fd(udp);
        REQUIRE_FALSE(b);
        REQUIRE(b.error() == asio::error::invalid_argument);
        auto c = TcpListener::from_fd(udp);
        REQUIRE_FALSE(c);
        REQUIRE(c.error() == asio::error::invalid_argument);
        REQUIRE(fd_is_open(udp));
        ::close(udp);

        auto closed = TcpSocket::from_fd(-1);
        REQUIRE_FALSE(closed);
        REQUIRE(closed.error() == asio::error::bad_descriptor);

        int p[2];
        REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
        auto notsock = TcpListener::from_fd(p[0]);
        REQUIRE_FALSE(notsock);
        REQUIRE(notsock.error() == asio::error::not_socket);
        ::close(p[0]);
        ::close(p[1]);

        // A socket that does not listen is no listener; a listening one is
        // no stream.
        const int fresh = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        auto d = TcpListener::from_fd(fresh);
        REQUIRE_FALSE(d);
        REQUIRE(d.error() == asio::error::invalid_argument);
        REQUIRE(::listen(fresh, 4) == 0);
        auto e = TcpStream::from_fd(fresh);
        REQUIRE_FALSE(e);
        REQUIRE(e.error() == asio::error::invalid_argument);
        REQUIRE(fd_is_open(fresh));
        ::close(fresh);
        co_return;
    }());
}

TEST_CASE("TcpListener and TcpStream from_fd adopt descriptors made elsewhere", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        // A listener made with plain system calls, blocking.
        const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(lfd >= 0);
        REQUIRE(::bind(lfd, loopback_any.data(), static_cast<socklen_t>(loopback_any.size())) == 0);
        REQUIRE(::listen(lfd, 8) == 0);
        auto l = TcpListener::from_fd(lfd);
        REQUIRE(l);
        REQUIRE((::fcntl(lfd, F_GETFL) & O_NONBLOCK) != 0);
        const auto ep = l->local_addr().value();
        // A client connected with a blocking connect.
        const int cfd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(::connect(cfd, ep.data(), static_cast<socklen_t>(ep.size())) == 0);
        auto c = TcpStream::from_fd(cfd);
        REQUIRE(c);
        auto acc = co_await l->accept();
        REQUIRE(acc);
        REQUIRE(acc->second == c->local_addr().value());
        REQUIRE((co_await io::write_all(*c, asio::buffer("ok", 2))));
        char buf[2];
        REQUIRE((co_await io::read_exact(acc->first, asio::buffer(buf))));
        REQUIRE(std::string(buf, 2) == "ok");
    }());
}

TEST_CASE("TcpListener from_acceptor wraps a listening Asio acceptor", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto ex = pollux::current_executor();
        asio::ip::tcp::acceptor a(ex, loopback_any);
        auto l = TcpListener::from_acceptor(std::move(a));
        REQUIRE(l);
        auto c = co_await TcpStream::connect(l->local_addr().value());
        REQUIRE(c);
        auto acc = co_await l->accept();
        REQUIRE(acc);
    }());
}

TEST_CASE("TcpListener bind sets SO_REUSEADDR and not SO_REUSEPORT", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = TcpListener::bind(loopback_any).value();
        const int fd = l.acceptor().native_handle();
        REQUIRE(raw_int_option(fd, SOL_SOCKET, SO_REUSEADDR) != 0);
        REQUIRE(raw_int_option(fd, SOL_SOCKET, SO_REUSEPORT) == 0);
        REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        co_return;
    }());
}

TEST_CASE("TcpSocket new_v6 binds ::1 when the host has IPv6", "[net][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto s = TcpSocket::new_v6();
        if (!s && s.error() == asio::error::address_family_not_supported) {
            WARN("no IPv6 here: skipped");
            co_return;
        }
        REQUIRE(s);
        auto r = s->bind({asio::ip::make_address("::1"), 0});
        if (!r && r.error() == std::errc::address_not_available) {
            WARN("no ::1 here: skipped");
            co_return;
        }
        REQUIRE(r);
        REQUIRE(s->local_addr().value().address().is_v6());
        auto l = std::move(*s).listen(8);
        REQUIRE(l);
        auto c = co_await TcpStream::connect(l->local_addr().value());
        REQUIRE(c);
        REQUIRE(c->set_ttl(9));
        REQUIRE(c->ttl().value() == 9u);
    }());
}

TEST_CASE("TcpSocket dropped after its runtime is gone closes its descriptor", "[net][tcp]") {
    const std::size_t before = open_fds();
    std::optional<TcpSocket> s;
    {
        Runtime rt;
        s.emplace(TcpSocket::new_v4(rt.io_context().get_executor()).value());
        REQUIRE(open_fds() == before + 1);
    }
    s.reset();
    REQUIRE(open_fds() == before);
}

TEST_CASE("TcpSocket held by a task dropped at runtime shutdown closes its descriptor",
          "[net][tcp]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        rt.block_on([]() -> Async<> {
            spawn([](TcpSocket s) -> Async<> {
                (void)s.set_nodelay(true);
                co_await time::sleep(std::chrono::hours(1));
            }(TcpSocket::new_v4().value()));
            co_await time::sleep(1ms);
        }());
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("TcpSocket connect future dropped before and during the connect closes the socket",
          "[net][tcp]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        rt.block_on([]() -> Async<> {
            auto l = TcpListener::bind(loopback_any).value();
            {
                // Never polled.
                auto f = TcpSocket::new_v4().value().connect(l.local_addr().value());
            }
            {
                // Polled once, then dropped while the connect may still be in
                // flight.
                auto f = TcpSocket::new_v4().value().connect(l.local_addr().value());
                (void)co_await pollux::select(std::move(f), time::sleep(0ms));
            }
            co_return;
        }());
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("TcpSocket connect future left pending at runtime shutdown closes the socket",
          "[net][tcp]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        rt.block_on([]() -> Async<> {
            // A non-routable address: the connect stays in progress.
            auto f =
                TcpSocket::new_v4().value().connect({asio::ip::make_address("10.255.255.1"), 9});
            spawn([](net::TcpConnectFuture f) -> Async<> {
                (void)co_await std::move(f);
            }(std::move(f)));
            co_await time::sleep(5ms);
        }());
    }
    REQUIRE(open_fds() == before);
}
