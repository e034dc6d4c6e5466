#include <pollux/net/incoming.hpp>
#include <pollux/sync/broadcast_stream.hpp>
#include <pollux/sync/watch_stream.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync.hpp>

#include "support/mock_task.hpp"
#include "support/result_string.hpp"

#include <boost/asio/buffer.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

// Streams over other pollux objects: a listener's incoming connections
// (tokio-stream's TcpListenerStream/UnixListenerStream), and broadcast and
// watch receivers (tokio-stream's BroadcastStream/WatchStream).

using namespace pollux;
using net::TcpListener;
using net::TcpStream;
namespace asio = boost::asio;
namespace broadcast = sync::broadcast;
namespace watch = sync::watch;

namespace {

Async<> connect_and_send(TcpStream::endpoint ep, char c) {
    auto s = co_await TcpStream::connect(ep);
    REQUIRE(s);
    auto w = co_await io::write_all(*s, asio::buffer(&c, 1));
    REQUIRE(w);
}

Async<std::string> accept_three(TcpListener& l) {
    auto conns = l.incoming();
    std::string got;
    for (int i = 0; i < 3; ++i) {
        auto c = co_await next(conns);
        REQUIRE(c);
        REQUIRE(*c);
        char ch = 0;
        auto r = co_await io::read_exact(**c, asio::buffer(&ch, 1));
        REQUIRE(r);
        got += ch;
    }
    co_return got;
}

Async<> incoming_case() {
    auto l = TcpListener::bind("127.0.0.1:0");
    REQUIRE(l);
    auto ep = *l->local_addr();
    auto [got, a, b, c] = co_await join(accept_three(*l),
                                        connect_and_send(ep, 'a'),
                                        connect_and_send(ep, 'b'),
                                        connect_and_send(ep, 'c'));
    (void)a;
    (void)b;
    (void)c;
    std::sort(got.begin(), got.end());
    CHECK(got == "abc");
}

Async<> incoming_ends_case() {
    auto l = TcpListener::bind("127.0.0.1:0");
    REQUIRE(l);
    auto conns = l->incoming();
    l->close();
    CHECK(!(co_await next(conns)));
}

Async<> incoming_cancel_case() {
    auto l = TcpListener::bind("127.0.0.1:0");
    REQUIRE(l);
    auto conns = l->incoming();
    {
        // A next() polled once (Pending: nobody connected yet), then dropped.
        test::MockTask t(next(conns));
        CHECK(t.poll().is_pending());
    }
    auto s = co_await TcpStream::connect(*l->local_addr());
    REQUIRE(s);
    // The connection was not taken by the dropped future: accept() gets it.
    auto c = co_await l->accept();
    REQUIRE(c);
    CHECK(*c->first.peer_addr() == *s->local_addr());
}

} // namespace

TEST_CASE("incoming: the streams are Streams of Result<stream>", "[stream][incoming]") {
    STATIC_REQUIRE(Stream<net::Incoming<TcpListener, TcpStream>>);
    STATIC_REQUIRE(
        std::is_same_v<item_t<net::Incoming<TcpListener, TcpStream>>, Result<TcpStream>>);
    STATIC_REQUIRE(std::is_same_v<item_t<net::Incoming<net::UnixListener, net::UnixStream>>,
                                  Result<net::UnixStream>>);
    STATIC_REQUIRE(Stream<sync::BroadcastStream<int>>);
    STATIC_REQUIRE(
        std::is_same_v<item_t<sync::BroadcastStream<int>>, Result<int, broadcast::RecvError>>);
    STATIC_REQUIRE(Stream<sync::WatchStream<std::string>>);
    STATIC_REQUIRE(std::is_same_v<item_t<sync::WatchStream<std::string>>, std::string>);
}

TEST_CASE("TcpListener::incoming yields each accepted connection, usable", "[stream][incoming]") {
    Runtime rt;
    rt.block_on(incoming_case());
}

TEST_CASE("TcpListener::incoming ends once the listener is closed", "[stream][incoming]") {
    Runtime rt;
    rt.block_on(incoming_ends_case());
}

TEST_CASE("TcpListener::incoming is cancel safe: a dropped next() takes no connection",
          "[stream][incoming][cancel]") {
    Runtime rt;
    rt.block_on(incoming_cancel_case());
}

namespace {

Async<> unix_incoming_case(std::string path) {
    auto l = net::UnixListener::bind(path);
    REQUIRE(l);
    auto conns = l->incoming();
    auto [c, s] = co_await join(next(conns), net::UnixStream::connect(path));
    REQUIRE(c);
    REQUIRE(*c);
    REQUIRE(s);
    auto w = co_await io::write_all(*s, asio::buffer("u", 1));
    REQUIRE(w);
    char ch = 0;
    auto r = co_await io::read_exact(**c, asio::buffer(&ch, 1));
    REQUIRE(r);
    CHECK(ch == 'u');
}

} // namespace

TEST_CASE("UnixListener::incoming yields an accepted connection", "[stream][incoming]") {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("pollux_incoming_" + std::to_string(::getpid()) + ".sock"))
                                 .string();
    std::filesystem::remove(path);
    Runtime rt;
    rt.block_on(unix_incoming_case(path));
    std::filesystem::remove(path);
}

TEST_CASE("BroadcastStream yields the values in order and ends when the senders are gone "
          "(tokio-stream)",
          "[stream][broadcast]") {
    auto [tx, rx] = broadcast::channel<int>(8);
    sync::BroadcastStream<int> s(std::move(rx));
    (void)tx.send(1);
    (void)tx.send(2);
    { auto gone = std::move(tx); }
    CHECK(**block_on(next(s)) == 1);
    CHECK(**block_on(next(s)) == 2);
    CHECK(!block_on(next(s)));
}

TEST_CASE("BroadcastStream: a receiver that fell behind gets one lagged item with the count, then "
          "the oldest value held (tokio-stream's Lagged)",
          "[stream][broadcast]") {
    auto [tx, rx] = broadcast::channel<int>(2);
    sync::BroadcastStream<int> s(std::move(rx));
    for (int i = 1; i <= 5; ++i) {
        (void)tx.send(i);
    }
    auto lag = block_on(next(s));
    REQUIRE(lag);
    REQUIRE(!*lag);
    CHECK(lag->error().is_lagged());
    CHECK(lag->error().lagged_by() == 3);
    CHECK(**block_on(next(s)) == 4);
    CHECK(**block_on(next(s)) == 5);
}

TEST_CASE("BroadcastStream is cancel safe: a dropped next() takes no value",
          "[stream][broadcast]") {
    auto [tx, rx] = broadcast::channel<int>(4);
    sync::BroadcastStream<int> s(std::move(rx));
    {
        test::MockTask t(next(s));
        CHECK(t.poll().is_pending());
        (void)tx.send(7);
        CHECK(t.is_woken());
    }
    CHECK(**block_on(next(s)) == 7);
}

TEST_CASE("BroadcastStream: a task's wait is woken by a send from another thread",
          "[stream][broadcast][thread]") {
    Runtime rt;
    auto [tx, rx] = broadcast::channel<int>(4);
    sync::BroadcastStream<int> s(std::move(rx));
    std::thread sender([tx = std::move(tx)] { (void)tx.send(42); });
    auto v = rt.block_on(next(s));
    sender.join();
    REQUIRE(v);
    CHECK(**v == 42);
}

TEST_CASE("WatchStream yields the current value at once, then each change, and ends with the "
          "sender (tokio-stream's WatchStream::new)",
          "[stream][watch]") {
    auto [tx, rx] = watch::channel<std::string>("init");
    sync::WatchStream<std::string> s(std::move(rx));
    CHECK(*block_on(next(s)) == "init");
    {
        test::MockTask t(next(s));
        CHECK(t.poll().is_pending());
        (void)tx.send("one");
        CHECK(t.is_woken());
        auto p = t.poll();
        REQUIRE(p.is_ready());
        CHECK(*p.value() == "one");
    }
    (void)tx.send("two");
    { auto gone = std::move(tx); }
    CHECK(*block_on(next(s)) == "two");
    CHECK(!block_on(next(s)));
}

TEST_CASE("WatchStream::from_changes skips the current value", "[stream][watch]") {
    auto [tx, rx] = watch::channel<int>(0);
    auto s = sync::WatchStream<int>::from_changes(std::move(rx));
    test::MockTask t(next(s));
    CHECK(t.poll().is_pending());
    (void)tx.send(1);
    auto p = t.poll();
    REQUIRE(p.is_ready());
    CHECK(*p.value() == 1);
}

TEST_CASE("WatchStream yields only the latest of values sent between polls", "[stream][watch]") {
    auto [tx, rx] = watch::channel<int>(0);
    auto s = sync::WatchStream<int>::from_changes(std::move(rx));
    (void)tx.send(1);
    (void)tx.send(2);
    (void)tx.send(3);
    CHECK(*block_on(next(s)) == 3);
    test::MockTask t(next(s));
    CHECK(t.poll().is_pending());
}

TEST_CASE("WatchStream: a task's wait is woken by a send from another thread",
          "[stream][watch][thread]") {
    Runtime rt;
    auto [tx, rx] = watch::channel<int>(0);
    auto s = sync::WatchStream<int>::from_changes(std::move(rx));
    std::thread sender([tx = std::move(tx)] { (void)tx.send(9); });
    auto v = rt.block_on(next(s));
    sender.join();
    REQUIRE(v);
    CHECK(*v == 9);
}

namespace {

Async<> drain_broadcast(sync::BroadcastStream<int> s) {
    // Not `while (co_await next(s)) {}` as the last statement: g++ 12
    // miscompiles that coroutine (it traps on resume, and crashes when the
    // frame is destroyed at that suspend point); an explicit co_return is fine.
    for (;;) {
        auto v = co_await next(s);
        if (!v) {
            co_return;
        }
    }
}

Async<> drain_watch(sync::WatchStream<int> s) {
    // Not `while (co_await next(s)) {}` as the last statement: g++ 12
    // miscompiles that coroutine (it traps on resume, and crashes when the
    // frame is destroyed at that suspend point); an explicit co_return is fine.
    for (;;) {
        auto v = co_await next(s);
        if (!v) {
            co_return;
        }
    }
}

} // namespace

TEST_CASE("Broadcast and watch streams waiting in tasks are dropped by the runtime's shutdown; "
          "later sends wake nothing harmful",
          "[stream][teardown]") {
    auto [btx, brx] = broadcast::channel<int>(4);
    auto [wtx, wrx] = watch::channel<int>(0);
    {
        RuntimeOptions o;
        o.worker_threads = 2;
        Runtime rt(o);
        (void)rt.spawn(drain_broadcast(sync::BroadcastStream<int>(std::move(brx))));
        (void)rt.spawn(drain_watch(sync::WatchStream<int>(std::move(wrx))));
        rt.block_on([]() -> Async<> { co_return; }());
    }
    // The streams (and their receivers) died with the tasks.
    CHECK(btx.receiver_count() == 0);
    CHECK(wtx.is_closed());
    (void)btx.send(1);
    (void)wtx.send(1);
}
