#include <pollux/tls/tls_stream.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

// Teardown of TLS streams (COMMON: each new object dropped before, during
// and after its runtime's shutdown), and TLS on a multi-thread runtime
// (run under TSan by .ci/run).

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>
#include <pollux/tls/connector.hpp>

#include "support/open_fds.hpp"
#include "support/result_string.hpp"
#include "support/tls_certs.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <utility>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using net::UnixStream;
using test::open_fds;
using tls::Pem;
using tls::TlsAcceptor;
using tls::TlsConnector;
using tls::TlsOptions;
using tls::TlsStream;

namespace {

TlsAcceptor acceptor() {
    TlsOptions o;
    o.certificate_chain = Pem::memory(test::tls_certs().server.cert_pem);
    o.private_key = Pem::memory(test::tls_certs().server.key_pem);
    return TlsAcceptor::create(o).value();
}

TlsConnector connector() {
    TlsOptions o;
    o.ca = Pem::memory(test::tls_certs().ca.cert_pem);
    return TlsConnector::create(o).value();
}

using Streams = std::pair<TlsStream<UnixStream>, TlsStream<UnixStream>>;

// A client and a server stream, handshaken, made in a task of `rt`.
Streams tls_pair(Runtime& rt) {
    return rt.block_on([]() -> Async<Streams> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        auto [c, s] = co_await join(connector().connect("localhost", std::move(p->first)),
                                    acceptor().accept(std::move(p->second)));
        REQUIRE(c);
        REQUIRE(s);
        co_return Streams(std::move(*c), std::move(*s));
    }());
}

} // namespace

TEST_CASE("a TlsStream dropped before its Runtime's shutdown closes its transport",
          "[tls][lifetime]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        (void)tls_pair(rt); // the runtime's own descriptors now exist
        const std::size_t running = open_fds();
        {
            Streams s = tls_pair(rt);
            REQUIRE(open_fds() == running + 2);
        }
        REQUIRE(open_fds() == running);
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("a TlsStream dropped after its Runtime, with a read pending, closes its transport",
          "[tls][lifetime]") {
    const std::size_t before = open_fds();
    std::optional<Streams> streams;
    {
        Runtime rt;
        streams.emplace(tls_pair(rt));
        char buf[8];
        REQUIRE(rt.block_on(poll_fn<bool>([&](Context& cx) -> Poll<bool> {
            return Ready{streams->first.poll_read(cx, asio::buffer(buf)).is_pending()};
        })));
    }
    streams.reset();
    REQUIRE(open_fds() == before);
}

TEST_CASE("a TLS handshake left pending in a task is dropped by the Runtime's shutdown",
          "[tls][lifetime]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        rt.block_on([]() -> Async<void> {
            auto p = UnixStream::pair();
            REQUIRE(p);
            // The server waits for a ClientHello that never comes; the
            // client waits for a ServerHello: both mid-handshake.
            (void)spawn([](UnixStream s) -> Async<void> {
                (void)co_await acceptor().accept(std::move(s));
            }(std::move(p->second)));
            UnixStream silent = std::move(p->first);
            (void)spawn([](UnixStream s) -> Async<void> {
                char buf[8];
                (void)co_await io::read(s, asio::buffer(buf));
            }(std::move(silent)));
            auto p2 = UnixStream::pair();
            REQUIRE(p2);
            (void)spawn([](UnixStream s) -> Async<void> {
                (void)co_await connector().connect("localhost", std::move(s));
            }(std::move(p2->first)));
            (void)spawn([](UnixStream s) -> Async<void> {
                char buf[8];
                (void)co_await io::read(s, asio::buffer(buf)); // takes part of the hello
                char more[4096];
                (void)co_await io::read(s, asio::buffer(more));
                (void)co_await time::sleep(1h);
            }(std::move(p2->second)));
            co_await time::sleep(20ms); // every task is now parked
        }());
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("a TlsStream read left pending mid-record in a task is dropped by the Runtime's "
          "shutdown",
          "[tls][lifetime]") {
    const std::size_t before = open_fds();
    {
        Runtime rt;
        Streams s = tls_pair(rt);
        rt.block_on([](Streams s) -> Async<void> {
            // A record header announcing 256 bytes, and only 20 of them.
            unsigned char partial[5 + 20] = {0x17, 0x03, 0x03, 0x01, 0x00};
            auto w = co_await io::write_all(s.first.get_ref(), asio::buffer(partial));
            REQUIRE(w);
            (void)spawn([](TlsStream<UnixStream> t, TlsStream<UnixStream> peer) -> Async<void> {
                char buf[64];
                (void)co_await io::read(t, asio::buffer(buf));
                (void)peer;
            }(std::move(s.second), std::move(s.first)));
            co_await time::sleep(20ms);
        }(std::move(s)));
    }
    REQUIRE(open_fds() == before);
}

TEST_CASE("TLS echo on a multi-thread Runtime, streams dropped with it",
          "[tls][lifetime][threads]") {
    const std::size_t before = open_fds();
    {
        RuntimeOptions opts;
        opts.worker_threads = 2;
        Runtime rt(opts);
        rt.block_on([]() -> Async<void> {
            for (int i = 0; i < 8; ++i) {
                auto p = UnixStream::pair();
                REQUIRE(p);
                auto server = spawn([](UnixStream s) -> Async<std::size_t> {
                    auto t = co_await acceptor().accept(std::move(s));
                    if (!t) {
                        co_return 0;
                    }
                    auto [rd, wr] = io::split(*t);
                    auto n = co_await io::copy(rd, wr);
                    (void)co_await io::shutdown(*t);
                    co_return n ? *n : 0;
                }(std::move(p->second)));
                auto c = co_await connector().connect("localhost", std::move(p->first));
                REQUIRE(c);
                std::string msg(100000, static_cast<char>('a' + i));
                auto [w, got] = co_await join(
                    [](TlsStream<UnixStream>& c, const std::string& m) -> Async<bool> {
                        auto w = co_await io::write_all(c, asio::buffer(m));
                        auto s = co_await io::shutdown(c);
                        co_return w&& s;
                    }(*c, msg),
                    [](TlsStream<UnixStream>& c) -> Async<std::string> {
                        std::string out;
                        char buf[4096];
                        for (;;) {
                            auto n = co_await io::read(c, asio::buffer(buf));
                            if (!n || *n == 0) {
                                co_return out;
                            }
                            out.append(buf, *n);
                        }
                    }(*c));
                REQUIRE(w);
                REQUIRE(got == msg);
                auto echoed = co_await std::move(server);
                REQUIRE(echoed == msg.size());
            }
            // One more left mid-read on a worker when the Runtime goes.
            auto p = UnixStream::pair();
            REQUIRE(p);
            (void)spawn([](UnixStream s) -> Async<void> {
                auto t = co_await acceptor().accept(std::move(s));
                if (t) {
                    char buf[8];
                    (void)co_await io::read(*t, asio::buffer(buf));
                }
            }(std::move(p->second)));
            auto c = co_await connector().connect("localhost", std::move(p->first));
            REQUIRE(c);
            (void)spawn([](TlsStream<UnixStream> t) -> Async<void> {
                co_await time::sleep(1h);
                (void)t;
            }(std::move(*c)));
        }());
    }
    REQUIRE(open_fds() == before);
}
