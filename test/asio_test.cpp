#include <pollux/asio.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/mock_task.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <thread>
#include <tuple>
#include <type_traits>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST_CASE("use_future maps completion signatures to outputs", "[asio][use_future]") {
    asio::io_context io;
    asio::steady_timer timer(io);
    asio::ip::tcp::socket sock(io);
    char buf[4];
    using Wait = decltype(timer.async_wait(use_future));
    using Read = decltype(sock.async_read_some(asio::buffer(buf), use_future));
    using Post = decltype(asio::post(io, use_future));
    STATIC_REQUIRE(Future<Wait>);
    STATIC_REQUIRE(std::is_same_v<output_t<Wait>, Result<void>>);
    STATIC_REQUIRE(std::is_same_v<output_t<Read>, Result<std::size_t>>);
    STATIC_REQUIRE(std::is_same_v<output_t<Post>, void>);
    STATIC_REQUIRE(
        std::is_same_v<detail::SignatureOutput<void(int, char)>::type, std::tuple<int, char>>);
    STATIC_REQUIRE(
        std::is_same_v<detail::SignatureOutput<void(boost::system::error_code, int, char)>::type,
                       Result<std::tuple<int, char>>>);
}

TEST_CASE("use_future starts nothing before the first poll", "[asio][use_future]") {
    asio::io_context io;
    asio::steady_timer timer(io, 0ms);
    auto fut = timer.async_wait(use_future);
    REQUIRE(io.poll() == 0); // no wait was initiated
    test::MockTask task(std::move(fut));
    REQUIRE(task.poll().is_pending());
    io.restart();
    REQUIRE(io.run() == 1); // now the wait completes
    REQUIRE(task.is_woken());
    REQUIRE(task.poll().value().has_value());
}

TEST_CASE("use_future timer wait completes inside a runtime", "[asio][use_future]") {
    Runtime rt;
    auto body = [](asio::io_context& io) -> Async<bool> {
        asio::steady_timer timer(io, 1ms);
        Result<void> r = co_await timer.async_wait(use_future);
        co_return r.has_value();
    };
    REQUIRE(rt.block_on(body(rt.io_context())));
}

TEST_CASE("use_future passes Asio's error codes through", "[asio][use_future]") {
    Runtime rt;
    auto body = [](asio::io_context& io) -> Async<bool> {
        asio::steady_timer timer(io, 1h);
        auto wait = timer.async_wait(use_future);
        auto canceller = spawn([](asio::steady_timer& t) -> Async<> {
            t.cancel();
            co_return;
        }(timer));
        Result<void> r = co_await wait;
        co_await canceller;
        co_return r.error() == asio::error::operation_aborted;
    };
    REQUIRE(rt.block_on(body(rt.io_context())));
}

TEST_CASE("use_future of a void() signature has a void output", "[asio][use_future]") {
    Runtime rt;
    auto body = [](asio::io_context& io) -> Async<int> {
        co_await asio::post(io, use_future);
        co_return 1;
    };
    REQUIRE(rt.block_on(body(rt.io_context())) == 1);
}

TEST_CASE("use_future dropped in flight cancels the operation and leaves no work",
          "[asio][use_future][cancel]") {
    asio::io_context io;
    asio::steady_timer timer(io, 1h);
    using Task = test::MockTask<decltype(timer.async_wait(use_future))>;
    std::optional<Task> task;
    task.emplace(timer.async_wait(use_future));
    REQUIRE(task->poll().is_pending());
    // Dropped on the executor's thread: terminal cancellation is emitted
    // inline. The aborted handler then runs and frees the block; nothing else
    // is left, so run() returns instead of waiting an hour.
    asio::post(io, [&] { task.reset(); });
    REQUIRE(io.run() == 2); // the dropper and the aborted handler
    REQUIRE(io.stopped());
}

TEST_CASE("use_future dropped on another thread cancels the operation on that thread",
          "[asio][use_future][cancel]") {
    asio::io_context io;
    asio::steady_timer timer(io, 1h);
    std::optional<test::MockTask<decltype(timer.async_wait(use_future))>> task;
    task.emplace(timer.async_wait(use_future));
    REQUIRE(task->poll().is_pending());
    std::thread([&] { task.reset(); }).join(); // emits the cancellation there
    REQUIRE(timer.cancel() == 0);              // so no wait is left
    REQUIRE(io.run() == 1);                    // only the aborted handler
}

TEST_CASE("use_future socket read dropped in flight completes with operation_aborted and "
          "leaves no work",
          "[asio][use_future][cancel]") {
    asio::io_context io;
    asio::local::stream_protocol::socket a(io), b(io);
    asio::local::connect_pair(a, b);
    char buf[16];
    using Task = test::MockTask<decltype(a.async_read_some(asio::buffer(buf), use_future))>;
    std::optional<Task> task;
    task.emplace(a.async_read_some(asio::buffer(buf), use_future));
    REQUIRE(task->poll().is_pending()); // nothing to read: the read is in flight
    asio::post(io, [&] { task.reset(); });
    REQUIRE(io.run() == 2); // the dropper and the aborted read handler
    // The socket is still usable afterwards: a new read sees new data.
    REQUIRE(asio::write(b, asio::buffer("x", 1)) == 1);
    test::MockTask again(a.async_read_some(asio::buffer(buf), use_future));
    REQUIRE(again.poll().is_pending());
    io.restart();
    io.run();
    auto p = again.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value().value() == 1);
}

namespace {

// Waits for `timer` (already expired) with use_future, then records that it
// resumed.
Async<void> wait_timer(boost::asio::steady_timer& timer, bool& resumed) {
    auto r = co_await timer.async_wait(use_future);
    REQUIRE(r.has_value());
    resumed = true;
}

} // namespace

TEST_CASE("use_future completion polls its task inside the completion handler",
          "[asio][use_future]") {
    boost::asio::io_context io;
    boost::asio::steady_timer timer(io, std::chrono::steady_clock::now());
    bool resumed = false;
    spawn(io.get_executor(), wait_timer(timer, resumed));
    REQUIRE(io.run_one() == 1); // the first poll starts the wait
    REQUIRE_FALSE(resumed);
    // The timer's completion handler polls the task: no second handler.
    REQUIRE(io.run_one() == 1);
    REQUIRE(resumed);
    REQUIRE(io.poll() == 0);
}

TEST_CASE("use_future completion on another io_context's thread posts the task's poll",
          "[asio][use_future]") {
    boost::asio::io_context task_io;
    boost::asio::io_context timer_io;
    boost::asio::steady_timer timer(timer_io, std::chrono::steady_clock::now());
    bool resumed = false;
    spawn(task_io.get_executor(), wait_timer(timer, resumed));
    REQUIRE(task_io.run_one() == 1); // starts the wait on timer_io
    // This thread runs timer_io, not task_io: the task must not be polled
    // here, only scheduled on its own io_context.
    REQUIRE(timer_io.run_one() == 1);
    REQUIRE_FALSE(resumed);
    task_io.restart(); // it stopped when its queue ran empty
    REQUIRE(task_io.run_one() == 1);
    REQUIRE(resumed);
}
