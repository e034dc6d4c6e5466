#include <pollux/tls.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/select.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/sim.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include "support/result_string.hpp"
#include "support/tls_certs.hpp"

#include <boost/asio/ssl/context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <openssl/ssl.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using net::UnixStream;
using tls::Pem;
using tls::TlsAcceptor;
using tls::TlsConnector;
using tls::TlsOptions;
using tls::TlsStream;

namespace {

const test::TlsCerts& certs() {
    return test::tls_certs();
}

TlsOptions server_options(const test::TlsIdentity& id = certs().server) {
    TlsOptions o;
    o.certificate_chain = Pem::memory(id.cert_pem);
    o.private_key = Pem::memory(id.key_pem);
    return o;
}

TlsOptions client_options() {
    TlsOptions o;
    o.ca = Pem::memory(certs().ca.cert_pem);
    return o;
}

TlsAcceptor make_acceptor(const TlsOptions& o = server_options()) {
    auto a = TlsAcceptor::create(o);
    REQUIRE(a);
    return *a;
}

TlsConnector make_connector(const TlsOptions& o = client_options()) {
    auto c = TlsConnector::create(o);
    REQUIRE(c);
    return *c;
}

using Pair = std::pair<Result<TlsStream<UnixStream>>, Result<TlsStream<UnixStream>>>;

// Both handshakes over a socketpair, concurrently: {client, server}.
Async<Pair> handshake_pair(TlsConnector connector, TlsAcceptor acceptor, std::string domain) {
    auto p = UnixStream::pair();
    REQUIRE(p);
    auto [c, s] = co_await join(connector.connect(domain, std::move(p->first)),
                                acceptor.accept(std::move(p->second)));
    co_return Pair(std::move(c), std::move(s));
}

template <class S>
Async<std::string> read_all(S& s) {
    std::string out;
    char buf[4096];
    for (;;) {
        auto n = co_await io::read(s, asio::buffer(buf));
        REQUIRE(n);
        if (*n == 0) {
            co_return out;
        }
        out.append(buf, *n);
    }
}

// A pipe pair's two ends as one duplex transport.
struct PipeDuplex {
    net::pipe::Receiver rx;
    net::pipe::Sender tx;
    Poll<Result<std::size_t>> poll_read(Context& cx, asio::mutable_buffer b) {
        return rx.poll_read(cx, b);
    }
    Poll<Result<std::size_t>> poll_write(Context& cx, asio::const_buffer b) {
        return tx.poll_write(cx, b);
    }
    Poll<Result<void>> poll_flush(Context& cx) { return tx.poll_flush(cx); }
    Poll<Result<void>> poll_shutdown(Context& cx) { return tx.poll_shutdown(cx); }
};

// A transport that hands out at most 5 bytes per read, and is Pending
// (having woken itself) on every other read, so that a TLS record arrives
// over many polls.
template <class S>
struct Trickle {
    S inner;
    bool pend = false;
    Poll<Result<std::size_t>> poll_read(Context& cx, asio::mutable_buffer b) {
        pend = !pend;
        if (pend) {
            cx.waker().wake_by_ref();
            return Pending{};
        }
        return inner.poll_read(cx, asio::buffer(b.data(), std::min<std::size_t>(b.size(), 5)));
    }
    Poll<Result<std::size_t>> poll_write(Context& cx, asio::const_buffer b) {
        return inner.poll_write(cx, b);
    }
    Poll<Result<void>> poll_flush(Context& cx) { return inner.poll_flush(cx); }
    Poll<Result<void>> poll_shutdown(Context& cx) { return inner.poll_shutdown(cx); }
};

// A transport that takes at most `limit` bytes per write, so that a TLS
// record leaves over several polls.
template <class S>
struct Chunked {
    S inner;
    std::size_t limit;
    Poll<Result<std::size_t>> poll_read(Context& cx, asio::mutable_buffer b) {
        return inner.poll_read(cx, b);
    }
    Poll<Result<std::size_t>> poll_write(Context& cx, asio::const_buffer b) {
        return inner.poll_write(cx, asio::buffer(b.data(), std::min(b.size(), limit)));
    }
    Poll<Result<void>> poll_flush(Context& cx) { return inner.poll_flush(cx); }
    Poll<Result<void>> poll_shutdown(Context& cx) { return inner.poll_shutdown(cx); }
};

// A transport whose next write throws once `armed` is set.
template <class S>
struct ThrowOnWrite {
    S inner;
    bool armed = false;
    Poll<Result<std::size_t>> poll_read(Context& cx, asio::mutable_buffer b) {
        return inner.poll_read(cx, b);
    }
    Poll<Result<std::size_t>> poll_write(Context& cx, asio::const_buffer b) {
        if (armed) {
            armed = false;
            throw std::runtime_error("transport write");
        }
        return inner.poll_write(cx, b);
    }
    Poll<Result<void>> poll_flush(Context& cx) { return inner.poll_flush(cx); }
    Poll<Result<void>> poll_shutdown(Context& cx) { return inner.poll_shutdown(cx); }
};

// Catch's macros name their expression twice (once unevaluated), and g++
// 12 evaluates a co_await even there: await first, then check.
#define CO_REQUIRE(...)                                                                            \
    do {                                                                                           \
        auto co_require_result_ = co_await __VA_ARGS__;                                            \
        REQUIRE(co_require_result_);                                                               \
    } while (false)
#define CO_CHECK_EQ(expr, expected)                                                                \
    do {                                                                                           \
        auto co_check_result_ = co_await expr;                                                     \
        CHECK(co_check_result_ == expected);                                                       \
    } while (false)

} // namespace

TEST_CASE("TlsStream is AsyncRead and AsyncWrite over any transport", "[tls]") {
    STATIC_REQUIRE(io::AsyncRead<TlsStream<UnixStream>>);
    STATIC_REQUIRE(io::AsyncWrite<TlsStream<UnixStream>>);
    STATIC_REQUIRE(io::AsyncRead<TlsStream<net::TcpStream>>);
    STATIC_REQUIRE(io::AsyncWrite<TlsStream<PipeDuplex>>);
    STATIC_REQUIRE(tls::Transport<TlsStream<UnixStream>>); // TLS in TLS
}

TEST_CASE("TlsConnector and TlsAcceptor handshake over a UnixStream and echo", "[tls]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        CHECK(c->protocol_version() == "TLSv1.3");
        CHECK(s->server_name() == "localhost");
        CHECK(c->server_name() == "localhost");
        CHECK_FALSE(c->session_reused());
        CHECK_FALSE(c->alpn_protocol());
        auto cert = c->peer_certificate();
        REQUIRE(cert);
        CHECK(cert->subject() == "CN=localhost");
        CHECK(cert->issuer() == "CN=pollux test CA");
        CHECK_FALSE(cert->der().empty());
        CHECK_FALSE(s->peer_certificate()); // the client sent none

        CO_REQUIRE(io::write_all(*c, asio::buffer(std::string_view("hello tls"))));
        CO_REQUIRE(io::flush(*c));
        char buf[9];
        CO_REQUIRE(io::read_exact(*s, asio::buffer(buf)));
        CHECK(std::string_view(buf, 9) == "hello tls");

        // shutdown sends close_notify: the peer reads end of stream.
        CO_REQUIRE(io::shutdown(*c));
        CO_CHECK_EQ(read_all(*s), "");
        CO_REQUIRE(io::shutdown(*s));
        CO_CHECK_EQ(read_all(*c), "");
    }());
}

TEST_CASE("TlsStream over TcpStream connects to an IP address and checks it", "[tls][tcp]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto addr = l->local_addr().value();
        auto server = spawn([](net::TcpListener& l, TlsAcceptor a) -> Async<> {
            auto conn = co_await l.accept();
            REQUIRE(conn);
            auto s = co_await a.accept(std::move(conn->first));
            REQUIRE(s);
            auto [rd, wr] = io::split(*s);
            CO_REQUIRE(io::copy(rd, wr));
            CO_REQUIRE(io::shutdown(*s));
        }(*l, make_acceptor()));
        auto tcp = co_await net::TcpStream::connect(addr);
        REQUIRE(tcp);
        auto c = co_await make_connector().connect("127.0.0.1", std::move(*tcp));
        REQUIRE(c);
        CHECK_FALSE(c->server_name()); // no SNI for an IP address (RFC 6066)
        std::string big(1 << 20, 'x');
        for (std::size_t i = 0; i < big.size(); ++i) {
            big[i] = static_cast<char>('a' + i % 26);
        }
        auto [w, echoed] = co_await join(
            [](TlsStream<net::TcpStream>& c, const std::string& big) -> Async<Result<void>> {
                auto w = co_await io::write_all(c, asio::buffer(big));
                if (!w) {
                    co_return w;
                }
                co_return co_await io::shutdown(c);
            }(*c, big),
            read_all(*c));
        REQUIRE(w);
        CHECK(echoed == big);
        co_await std::move(server);
    }());
}

TEST_CASE("TlsStream moves a megabyte each way over a transport that writes 1,000 bytes at a "
          "time",
          "[tls]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        // Records leave in pieces, so the output buffer's unsent bytes sit
        // part-way along it when the next record comes; the reader gets
        // several records per read of its transport.
        Chunked<UnixStream> client{std::move(p->first), 1000};
        Chunked<UnixStream> server{std::move(p->second), 1000};
        auto [c, s] = co_await join(make_connector().connect("localhost", std::move(client)),
                                    make_acceptor().accept(std::move(server)));
        REQUIRE(c);
        REQUIRE(s);
        std::string big(1 << 20, 'x');
        for (std::size_t i = 0; i < big.size(); ++i) {
            big[i] = static_cast<char>('a' + i % 251);
        }
        auto send = [](TlsStream<Chunked<UnixStream>>& t,
                       const std::string& data) -> Async<Result<void>> {
            auto w = co_await io::write_all(t, asio::buffer(data));
            if (!w) {
                co_return w;
            }
            co_return co_await io::shutdown(t);
        };
        auto [wc, ws, at_s, at_c] =
            co_await join(send(*c, big), send(*s, big), read_all(*s), read_all(*c));
        REQUIRE(wc);
        REQUIRE(ws);
        CHECK(at_s == big);
        CHECK(at_c == big);
    }());
}

TEST_CASE("TlsStream runs over a pair of pipes", "[tls][pipe]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p1 = net::pipe::pipe(); // client -> server
        auto p2 = net::pipe::pipe(); // server -> client
        REQUIRE(p1);
        REQUIRE(p2);
        PipeDuplex client{std::move(p2->second), std::move(p1->first)};
        PipeDuplex server{std::move(p1->second), std::move(p2->first)};
        auto [c, s] = co_await join(make_connector().connect("localhost", std::move(client)),
                                    make_acceptor().accept(std::move(server)));
        REQUIRE(c);
        REQUIRE(s);
        CO_REQUIRE(io::write_all(*s, asio::buffer(std::string_view("over pipes"))));
        CO_REQUIRE(io::shutdown(*s));
        CO_CHECK_EQ(read_all(*c), "over pipes");
    }());
}

TEST_CASE("TlsConnector refuses a certificate for another hostname", "[tls][verify]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(), "example.com");
        REQUIRE_FALSE(c);
        CHECK(c.error().category() == tls::verify_category());
        CHECK(c.error().value() == X509_V_ERR_HOSTNAME_MISMATCH);
        CHECK(c.error().message().find("hostname mismatch") != std::string::npos);
        REQUIRE_FALSE(s); // the client's alert
        CHECK(s.error().category() == tls::openssl_category());
    }());
}

TEST_CASE("TlsConnector refuses an expired certificate", "[tls][verify]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(
            make_connector(), make_acceptor(server_options(certs().expired)), "localhost");
        REQUIRE_FALSE(c);
        CHECK(c.error().category() == tls::verify_category());
        CHECK(c.error().value() == X509_V_ERR_CERT_HAS_EXPIRED);
        CHECK(c.error().message().find("expired") != std::string::npos);
        CHECK_FALSE(s);
    }());
}

TEST_CASE("TlsConnector refuses a certificate from an unknown issuer", "[tls][verify]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(
            make_connector(), make_acceptor(server_options(certs().self_signed)), "localhost");
        REQUIRE_FALSE(c);
        CHECK(c.error().category() == tls::verify_category());
        CHECK(c.error().value() == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
        CHECK_FALSE(s);
    }());
}

TEST_CASE("TlsConnector with verify_peer off accepts any certificate", "[tls][verify]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TlsOptions o;
        o.verify_peer = false;
        auto [c, s] = co_await handshake_pair(
            make_connector(o), make_acceptor(server_options(certs().self_signed)), "");
        REQUIRE(c);
        REQUIRE(s);
    }());
}

TEST_CASE("TlsConnector::connect with verification and no domain is invalid_argument", "[tls]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        auto c = co_await make_connector().connect("", std::move(p->first));
        REQUIRE_FALSE(c);
        CHECK(c.error() == boost::system::errc::invalid_argument);
    }());
}

TEST_CASE("TlsAcceptor::accept fails on a plain-text client with OpenSSL's reason", "[tls][bad]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        CO_REQUIRE(io::write_all(
            p->first, asio::buffer(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))));
        auto s = co_await make_acceptor().accept(std::move(p->second));
        REQUIRE_FALSE(s);
        CHECK(s.error().category() == tls::openssl_category());
        CHECK(s.error().message() == "http request");
    }());
}

TEST_CASE("TlsAcceptor::accept fails with stream_truncated when the client closes "
          "mid-handshake",
          "[tls][bad]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        SECTION("before sending anything") {
            auto p = UnixStream::pair();
            REQUIRE(p);
            p->first = std::move(UnixStream::pair()->first); // drops (closes) the client end
            auto s = co_await make_acceptor().accept(std::move(p->second));
            REQUIRE_FALSE(s);
            CHECK(s.error() == tls::errc::stream_truncated);
        }
        SECTION("after half a ClientHello") {
            // The first bytes a real client sends, cut short.
            auto p = UnixStream::pair();
            REQUIRE(p);
            auto client = make_connector().connect("localhost", std::move(p->first));
            auto raw = UnixStream::pair();
            REQUIRE(raw);
            // A record header announcing 512 bytes, then only 10.
            const unsigned char hello[] = {
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0, 0};
            CO_REQUIRE(io::write_all(raw->first, asio::buffer(hello)));
            CO_REQUIRE(io::shutdown(raw->first));
            auto s = co_await make_acceptor().accept(std::move(raw->second));
            REQUIRE_FALSE(s);
            CHECK(s.error() == tls::errc::stream_truncated);
        }
    }());
}

TEST_CASE("TlsConnector::connect fails with stream_truncated when the server closes "
          "mid-handshake",
          "[tls][bad]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        auto [c, n] = co_await join(make_connector().connect("localhost", std::move(p->first)),
                                    [](UnixStream s) -> Async<int> {
                                        // Reads the hello, then ends its side.
                                        char buf[64];
                                        (void)co_await io::read(s, asio::buffer(buf));
                                        (void)co_await io::shutdown(s);
                                        for (;;) {
                                            auto n = co_await io::read(s, asio::buffer(buf));
                                            if (!n || *n == 0) {
                                                co_return 0;
                                            }
                                        }
                                    }(std::move(p->second)));
        (void)n;
        REQUIRE_FALSE(c);
        CHECK(c.error() == tls::errc::stream_truncated);
    }());
}

TEST_CASE("a stalled handshake ends with time::timeout", "[tls][bad]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        // The client never sends anything.
        auto s = co_await time::timeout(50ms, make_acceptor().accept(std::move(p->second)));
        REQUIRE_FALSE(s);
        CHECK(s.error() == time::errc::elapsed);
    }());
}

TEST_CASE("TlsStream read of garbage records after the handshake is an OpenSSL error",
          "[tls][bad]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        // An application-data record of 32 random bytes, written past TLS.
        unsigned char record[5 + 32] = {0x17, 0x03, 0x03, 0x00, 0x20};
        for (int i = 5; i < 37; ++i) {
            record[i] = static_cast<unsigned char>(i * 37);
        }
        CO_REQUIRE(io::write_all(c->get_ref(), asio::buffer(record)));
        char buf[64];
        auto n = co_await io::read(*s, asio::buffer(buf));
        REQUIRE_FALSE(n);
        CHECK(n.error().category() == tls::openssl_category());
        CHECK_FALSE(n.error().message().empty());
    }());
}

TEST_CASE("TlsStream read after an OpenSSL error fails again at once", "[tls][bad]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        unsigned char record[5 + 32] = {0x17, 0x03, 0x03, 0x00, 0x20};
        for (int i = 5; i < 37; ++i) {
            record[i] = static_cast<unsigned char>(i * 37);
        }
        CO_REQUIRE(io::write_all(c->get_ref(), asio::buffer(record)));
        char buf[64];
        auto n = co_await io::read(*s, asio::buffer(buf));
        REQUIRE_FALSE(n);
        // The connection is dead, with no byte waiting anywhere: the next
        // read is an error too, not a wait for ciphertext that the open
        // transport would never bring (the timeout is only a hang guard).
        auto again = co_await time::timeout(10s, io::read(*s, asio::buffer(buf)));
        REQUIRE(again);
        CHECK_FALSE(*again);
    }());
}

TEST_CASE("TlsStream read after the peer's close_notify is end of stream again", "[tls]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        CO_REQUIRE(io::write_all(*c, asio::buffer(std::string_view("abc"))));
        CO_REQUIRE(io::shutdown(*c)); // close_notify, then FIN
        auto got = co_await read_all(*s);
        CHECK(got == "abc");
        // No byte is left anywhere and the transport is at its end: the
        // close_notify read decides, not the transport's end of stream.
        char buf[64];
        CO_CHECK_EQ(io::read(*s, asio::buffer(buf)), Result<std::size_t>(std::size_t{0}));
        CO_CHECK_EQ(io::read(*s, asio::buffer(buf)), Result<std::size_t>(std::size_t{0}));
    }());
}

TEST_CASE("TlsStream read of a transport end of stream without close_notify is "
          "stream_truncated",
          "[tls][bad]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        CO_REQUIRE(io::write_all(*c, asio::buffer(std::string_view("abc"))));
        CO_REQUIRE(io::flush(*c));
        CO_REQUIRE(io::shutdown(c->get_ref())); // FIN, no close_notify
        char buf[64];
        auto n = co_await io::read(*s, asio::buffer(buf));
        REQUIRE(n);
        CHECK(*n == 3);
        n = co_await io::read(*s, asio::buffer(buf));
        REQUIRE_FALSE(n);
        CHECK(n.error() == tls::errc::stream_truncated);
    }());
}

TEST_CASE("TlsStream read dropped mid-record loses no byte", "[tls][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        // Named, not a braced temporary inside the co_await: g++ 12 destroys
        // such a temporary twice (and the socket is closed twice).
        Trickle<UnixStream> trickle{std::move(p->first)};
        auto [c, s] = co_await join(make_connector().connect("localhost", std::move(trickle)),
                                    make_acceptor().accept(std::move(p->second)));
        REQUIRE(c);
        REQUIRE(s);
        std::string sent;
        for (int i = 0; i < 3000; ++i) {
            sent += std::to_string(i) + ",";
        }
        // Several records of different sizes.
        for (std::size_t off = 0; off < sent.size(); off += 1000) {
            auto part = std::string_view(sent).substr(off, 1000);
            CO_REQUIRE(io::write_all(*s, asio::buffer(part)));
            CO_REQUIRE(io::flush(*s));
        }
        CO_REQUIRE(io::shutdown(*s));
        // Each read races a yield: most are dropped after a poll or two,
        // part-way through a record; small buffers leave decrypted bytes
        // behind.
        std::string got;
        int dropped = 0;
        for (;;) {
            char buf[7];
            auto r = co_await select(io::read(*c, asio::buffer(buf)), yield_now());
            if (r.index() == 1) {
                ++dropped;
                continue;
            }
            auto& n = std::get<0>(r);
            REQUIRE(n);
            if (*n == 0) {
                break;
            }
            got.append(buf, *n);
        }
        CHECK(dropped > 100);
        CHECK(got == sent);
    }());
}

TEST_CASE("TlsConnector resumes the session of its previous connection", "[tls][session]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TlsConnector connector = make_connector();
        TlsAcceptor acceptor = make_acceptor();
        for (int i = 0; i < 2; ++i) {
            auto [c, s] = co_await handshake_pair(connector, acceptor, "localhost");
            REQUIRE(c);
            REQUIRE(s);
            CHECK(c->session_reused() == (i == 1));
            CHECK(s->session_reused() == (i == 1));
            // TLS 1.3 hands out its tickets after the handshake: the client
            // takes them in while reading. OpenSSL keeps a session
            // resumable only if the client sent its close_notify.
            CO_REQUIRE(io::shutdown(*s));
            CO_CHECK_EQ(read_all(*c), "");
            CO_REQUIRE(io::shutdown(*c));
        }
    }());
}

TEST_CASE("TlsConnector and TlsAcceptor agree on an ALPN protocol", "[tls][alpn]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TlsOptions so = server_options();
        so.alpn = {"h2", "http/1.1"};
        TlsOptions co = client_options();
        co.alpn = {"http/1.1", "h2"};
        auto [c, s] = co_await handshake_pair(make_connector(co), make_acceptor(so), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        CHECK(c->alpn_protocol() == "h2"); // the server's preference
        CHECK(s->alpn_protocol() == "h2");
    }());
}

TEST_CASE("TlsAcceptor refuses a client whose ALPN protocols it does not speak", "[tls][alpn]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TlsOptions so = server_options();
        so.alpn = {"h2"};
        TlsOptions co = client_options();
        co.alpn = {"spdy/1"};
        auto [c, s] = co_await handshake_pair(make_connector(co), make_acceptor(so), "localhost");
        REQUIRE_FALSE(s);
        REQUIRE_FALSE(c);
        CHECK(c.error().message().find("no application protocol") != std::string::npos);
    }());
}

TEST_CASE("TlsAcceptor with ClientAuth::require checks the client's certificate",
          "[tls][client_auth]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TlsOptions so = server_options();
        so.client_auth = tls::ClientAuth::require;
        so.ca = Pem::memory(certs().ca.cert_pem);
        SECTION("a client with a certificate is accepted") {
            TlsOptions co = client_options();
            co.certificate_chain = Pem::memory(certs().client.cert_pem);
            co.private_key = Pem::memory(certs().client.key_pem);
            auto [c, s] =
                co_await handshake_pair(make_connector(co), make_acceptor(so), "localhost");
            REQUIRE(c);
            REQUIRE(s);
            auto cert = s->peer_certificate();
            REQUIRE(cert);
            CHECK(cert->subject() == "CN=pollux client");
        }
        SECTION("a client without one is refused") {
            auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(so), "localhost");
            REQUIRE_FALSE(s);
            CHECK(s.error().category() == tls::openssl_category());
            // TLS 1.3: the client learns of it at its first read.
            if (c) {
                char buf[8];
                auto n = co_await io::read(*c, asio::buffer(buf));
                REQUIRE_FALSE(n);
            }
        }
    }());
}

TEST_CASE("TlsStream::key_update sends a KeyUpdate the peer reads on through",
          "[tls][key_update]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        static int key_updates_seen = 0;
        key_updates_seen = 0;
        SSL_set_msg_callback(
            s->native_handle(),
            [](int write_p, int, int content_type, const void* buf, size_t len, SSL*, void*) {
                if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
                    static_cast<const unsigned char*>(buf)[0] == SSL3_MT_KEY_UPDATE) {
                    ++key_updates_seen;
                }
            });
        CO_REQUIRE(c->key_update());
        CO_REQUIRE(io::write_all(*c, asio::buffer(std::string_view("after"))));
        CO_REQUIRE(io::flush(*c));
        char buf[5];
        CO_REQUIRE(io::read_exact(*s, asio::buffer(buf)));
        CHECK(std::string_view(buf, 5) == "after");
        CHECK(key_updates_seen == 1);
        // The server answers with its own update (requested) on its next
        // write; the client reads through it.
        CO_REQUIRE(io::write_all(*s, asio::buffer(std::string_view("back"))));
        CO_REQUIRE(io::flush(*s));
        CO_REQUIRE(io::read_exact(*c, asio::buffer(buf, 4)));
        CHECK(std::string_view(buf, 4) == "back");
    }());
}

TEST_CASE("TlsStream read sends a key update scheduled through native_handle() after "
          "a read that found nothing",
          "[tls][key_update]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        static int key_updates_seen = 0;
        key_updates_seen = 0;
        SSL_set_msg_callback(
            c->native_handle(),
            [](int write_p, int, int content_type, const void* buf, size_t len, SSL*, void*) {
                if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
                    static_cast<const unsigned char*>(buf)[0] == SSL3_MT_KEY_UPDATE) {
                    ++key_updates_seen;
                }
            });
        char buf[16];
        // A read with nothing to read: the stream learns OpenSSL is idle
        // and waits on the transport (dropped when yield_now wins).
        auto r = co_await select(io::read(*s, asio::buffer(buf)), yield_now());
        REQUIRE(r.index() == 1);
        // The caller schedules a key update on the SSL itself; the next
        // read must run OpenSSL (which sends it) rather than trust what it
        // learned before.
        REQUIRE(SSL_key_update(s->native_handle(), SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
        r = co_await select(io::read(*s, asio::buffer(buf)), yield_now());
        REQUIRE(r.index() == 1);
        // The client reads the KeyUpdate record (no application data yet).
        auto cr = co_await select(io::read(*c, asio::buffer(buf)), yield_now());
        REQUIRE(cr.index() == 1);
        CHECK(key_updates_seen == 1);
        // Both go on under the new keys.
        CO_REQUIRE(io::write_all(*s, asio::buffer(std::string_view("new"))));
        CO_REQUIRE(io::flush(*s));
        CO_REQUIRE(io::read_exact(*c, asio::buffer(buf, 3)));
        CHECK(std::string_view(buf, 3) == "new");
    }());
}

TEST_CASE("TlsAcceptor handshake with a certificate chain larger than the stream's output "
          "buffer completes",
          "[tls]") {
    // The CA's certificate 200 times after the leaf: a server flight of
    // about 80 KB (PEM is about 1.4 times DER, so the PEM is over twice
    // the buffer), more than the engine's output buffer holds, so
    // OpenSSL's BIO finds it full mid-flight and says "retry" until the
    // stream has sent the front (the BIO's "no room" path).
    TlsOptions o = server_options();
    std::string chain = certs().server.cert_pem;
    for (int i = 0; i < 200; ++i) {
        chain += certs().ca.cert_pem;
    }
    REQUIRE(chain.size() > 3 * detail::TlsEngine::out_capacity);
    o.certificate_chain = Pem::memory(chain);
    Runtime rt;
    rt.block_on([o]() -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(o), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        CO_REQUIRE(io::write_all(*c, asio::buffer(std::string_view("ping"))));
        CO_REQUIRE(io::flush(*c));
        char buf[4];
        CO_REQUIRE(io::read_exact(*s, asio::buffer(buf)));
        CHECK(std::string_view(buf, 4) == "ping");
    }());
}

TEST_CASE("TlsStream write rethrows its transport's exception, and the record goes out "
          "with the next flush",
          "[tls]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        ThrowOnWrite<UnixStream> transport{std::move(p->first)};
        auto [c, s] = co_await join(make_connector().connect("localhost", std::move(transport)),
                                    make_acceptor().accept(std::move(p->second)));
        REQUIRE(c);
        REQUIRE(s);
        // The record is sent from inside OpenSSL's write: the exception
        // must not cross OpenSSL's frames, and must still reach the writer.
        c->get_ref().armed = true;
        Context cx(Waker::noop());
        std::string_view ping("ping");
        REQUIRE_THROWS_WITH(c->poll_write(cx, asio::buffer(ping)), "transport write");
        // OpenSSL took the bytes before the transport threw (as when a send
        // after the write throws): the record waits in the output buffer.
        CO_REQUIRE(io::flush(*c));
        char buf[4];
        CO_REQUIRE(io::read_exact(*s, asio::buffer(buf)));
        CHECK(std::string_view(buf, 4) == "ping");
    }());
}

TEST_CASE("TlsConnector and TlsAcceptor take a boost::asio::ssl::context", "[tls][asio]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        asio::ssl::context server_ctx(asio::ssl::context::tls_server);
        server_ctx.use_certificate_chain(asio::buffer(certs().server.cert_pem));
        server_ctx.use_private_key(asio::buffer(certs().server.key_pem), asio::ssl::context::pem);
        asio::ssl::context client_ctx(asio::ssl::context::tls_client);
        client_ctx.set_verify_mode(asio::ssl::verify_peer);
        client_ctx.add_certificate_authority(asio::buffer(certs().ca.cert_pem));
        SECTION("verifying the hostname") {
            auto [c, s] = co_await handshake_pair(
                TlsConnector(client_ctx), TlsAcceptor(server_ctx), "localhost");
            REQUIRE(c);
            REQUIRE(s);
        }
        SECTION("refusing another hostname") {
            auto [c, s] = co_await handshake_pair(
                TlsConnector(client_ctx), TlsAcceptor(server_ctx), "pollux.invalid");
            REQUIRE_FALSE(c);
            CHECK(c.error().value() == X509_V_ERR_HOSTNAME_MISMATCH);
        }
    }());
}

TEST_CASE("TlsOptions reads PEM files, and a missing file is an error", "[tls][options]") {
    auto dir =
        std::filesystem::temp_directory_path() / ("pollux_tls_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    test::write_file((dir / "cert.pem").string(), certs().server.cert_pem + certs().ca.cert_pem);
    test::write_file((dir / "key.pem").string(), certs().server.key_pem);
    test::write_file((dir / "ca.pem").string(), certs().ca.cert_pem);
    TlsOptions so;
    so.certificate_chain = Pem::file((dir / "cert.pem").string());
    so.private_key = Pem::file((dir / "key.pem").string());
    TlsOptions co;
    co.ca = Pem::file((dir / "ca.pem").string());
    Runtime rt;
    rt.block_on([](TlsOptions so, TlsOptions co) -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(co), make_acceptor(so), "localhost");
        REQUIRE(c);
        REQUIRE(s);
    }(so, co));
    TlsOptions missing;
    missing.certificate_chain = Pem::file((dir / "nope.pem").string());
    missing.private_key = Pem::file((dir / "key.pem").string());
    auto a = TlsAcceptor::create(missing);
    REQUIRE_FALSE(a);
    CHECK(a.error().category() == tls::openssl_category());
    TlsOptions mismatched = server_options();
    mismatched.private_key = Pem::memory(certs().client.key_pem);
    auto m = TlsAcceptor::create(mismatched);
    REQUIRE_FALSE(m);
    CHECK(m.error().message().find("mismatch") != std::string::npos);
    TlsOptions no_key;
    no_key.certificate_chain = Pem::memory(certs().server.cert_pem);
    CHECK(TlsAcceptor::create(no_key).error() == boost::system::errc::invalid_argument);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a TLS server loop serves a good client after a bad one", "[tls][bad]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto l = net::TcpListener::bind("127.0.0.1:0");
        REQUIRE(l);
        auto addr = l->local_addr().value();
        static int failed_handshakes = 0;
        failed_handshakes = 0;
        auto server = spawn([](net::TcpListener& l, TlsAcceptor a) -> Async<> {
            for (;;) {
                auto conn = co_await l.accept();
                REQUIRE(conn);
                spawn([](net::TcpStream tcp, TlsAcceptor a) -> Async<> {
                    auto s = flatten(co_await time::timeout(10s, a.accept(std::move(tcp))));
                    if (!s) {
                        ++failed_handshakes;
                        co_return;
                    }
                    auto [rd, wr] = io::split(*s);
                    (void)co_await io::copy(rd, wr);
                    (void)co_await io::shutdown(*s);
                }(std::move(conn->first), a));
            }
        }(*l, make_acceptor()));
        {
            // The bad client: plain text, then it waits for the server to hang up.
            auto bad = co_await net::TcpStream::connect(addr);
            REQUIRE(bad);
            CO_REQUIRE(io::write_all(*bad, asio::buffer(std::string_view("hello?\n"))));
            char buf[256];
            for (;;) {
                auto n = co_await io::read(*bad, asio::buffer(buf));
                if (!n || *n == 0) {
                    break;
                }
            }
        }
        auto tcp = co_await net::TcpStream::connect(addr);
        REQUIRE(tcp);
        auto c = co_await make_connector().connect("localhost", std::move(*tcp));
        REQUIRE(c);
        CO_REQUIRE(io::write_all(*c, asio::buffer(std::string_view("good"))));
        CO_REQUIRE(io::shutdown(*c));
        CO_CHECK_EQ(read_all(*c), "good");
        CHECK(failed_handshakes == 1);
        server.abort();
    }());
}

TEST_CASE("TlsOptions max_version TLS 1.2 negotiates TLS 1.2, where key_update is an error",
          "[tls][options]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TlsOptions so = server_options();
        so.max_version = tls::Version::tls1_2;
        auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(so), "localhost");
        REQUIRE(c);
        REQUIRE(s);
        CHECK(c->protocol_version() == "TLSv1.2");
        CO_REQUIRE(io::write_all(*c, asio::buffer(std::string_view("twelve"))));
        CO_REQUIRE(io::shutdown(*c));
        CO_CHECK_EQ(read_all(*s), "twelve");
        auto k = co_await s->key_update();
        REQUIRE_FALSE(k);
        CHECK(k.error().category() == tls::openssl_category());
    }());
}

namespace {

const auto sim_server_ip = boost::asio::ip::make_address("10.0.0.2");

Async<void> sim_tls_echo_server(TlsAcceptor acceptor) {
    auto l = sim::TcpListener::bind(asio::ip::tcp::endpoint(asio::ip::address_v4::any(), 443));
    REQUIRE(l);
    auto conn = co_await l->accept();
    REQUIRE(conn);
    auto s = co_await acceptor.accept(std::move(conn->first));
    REQUIRE(s);
    auto [rd, wr] = io::split(*s);
    CO_REQUIRE(io::copy(rd, wr));
    CO_REQUIRE(io::shutdown(*s));
}

Async<std::string> sim_tls_client(TlsConnector connector, std::string msg) {
    auto tcp = co_await sim::TcpStream::connect(asio::ip::tcp::endpoint(sim_server_ip, 443));
    REQUIRE(tcp);
    auto c = co_await connector.connect("localhost", std::move(*tcp));
    REQUIRE(c);
    auto [w, got] = co_await join(
        [](TlsStream<sim::TcpStream>& c, const std::string& m) -> Async<bool> {
            auto w = co_await io::write_all(c, asio::buffer(m));
            auto s = co_await io::shutdown(c);
            co_return w&& s;
        }(*c, msg),
        read_all(*c));
    REQUIRE(w);
    co_return got;
}

} // namespace

TEST_CASE("TlsStream runs over the simulated network's sim::TcpStream", "[tls][sim]") {
    sim::Runtime rt(7);
    const auto server = rt.network().add_host(sim_server_ip);
    rt.spawn_on(server, sim_tls_echo_server(make_acceptor()));
    std::string msg(200000, 'z');
    for (std::size_t i = 0; i < msg.size(); ++i) {
        msg[i] = static_cast<char>('a' + i % 23);
    }
    REQUIRE(rt.block_on(sim_tls_client(make_connector(), msg)) == msg);
}

TEST_CASE("TlsAcceptor with ClientAuth::request accepts a client without a certificate",
          "[tls][client_auth]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        TlsOptions so = server_options();
        so.client_auth = tls::ClientAuth::request;
        so.ca = Pem::memory(certs().ca.cert_pem);
        SECTION("without one") {
            auto [c, s] = co_await handshake_pair(make_connector(), make_acceptor(so), "localhost");
            REQUIRE(c);
            REQUIRE(s);
            CHECK_FALSE(s->peer_certificate());
        }
        SECTION("with one") {
            TlsOptions co = client_options();
            co.certificate_chain = Pem::memory(certs().client.cert_pem);
            co.private_key = Pem::memory(certs().client.key_pem);
            auto [c, s] =
                co_await handshake_pair(make_connector(co), make_acceptor(so), "localhost");
            REQUIRE(c);
            REQUIRE(s);
            auto cert = s->peer_certificate();
            REQUIRE(cert);
            CHECK(cert->subject() == "CN=pollux client");
        }
        SECTION("with a certificate the server does not trust") {
            TlsOptions co = client_options();
            co.certificate_chain = Pem::memory(certs().self_signed.cert_pem);
            co.private_key = Pem::memory(certs().self_signed.key_pem);
            auto [c, s] =
                co_await handshake_pair(make_connector(co), make_acceptor(so), "localhost");
            REQUIRE_FALSE(s);
            CHECK(s.error().category() == tls::verify_category());
        }
    }());
}

TEST_CASE("TlsOptions ca_dir verifies against a hashed certificate directory", "[tls][options]") {
    auto dir =
        std::filesystem::temp_directory_path() / ("pollux_tls_cadir_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    // The name `openssl rehash` would give: the subject hash, ".0".
    BIO* bio =
        BIO_new_mem_buf(certs().ca.cert_pem.data(), static_cast<int>(certs().ca.cert_pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    REQUIRE(ca != nullptr);
    char name[16];
    std::snprintf(name, sizeof name, "%08lx.0", X509_subject_name_hash(ca));
    X509_free(ca);
    BIO_free(bio);
    test::write_file((dir / name).string(), certs().ca.cert_pem);
    TlsOptions co;
    co.ca_dir = dir.string();
    Runtime rt;
    rt.block_on([](TlsOptions co) -> Async<> {
        auto [c, s] = co_await handshake_pair(make_connector(co), make_acceptor(), "localhost");
        REQUIRE(c);
        REQUIRE(s);
    }(co));
    std::filesystem::remove_all(dir);
}
