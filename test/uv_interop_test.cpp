// The callback API and futures on one io_context: a uv::Loop over a
// Runtime's io_context runs uv callbacks and spawned futures on one thread;
// a uv callback spawns a future, and the future drives uv handles.

#include <pollux/asio.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/uv.hpp>

#include "support/loop_quiescent.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::require_loop_quiescent;

namespace {

struct FutureLog {
    std::thread::id ran_on;
    int shutdown_cb_called = 0;
};

// Writes through pollux futures (use_future on the handle's socket), then
// drives the handle's callback API from inside the future.
Async<std::size_t> write_then_shutdown(uv::Tcp& peer, std::string text, FutureLog& log) {
    log.ran_on = std::this_thread::get_id();
    Result<std::size_t> n =
        co_await boost::asio::async_write(peer.socket(), boost::asio::buffer(text), use_future);
    REQUIRE(n.has_value());
    REQUIRE_FALSE(peer.shutdown([&log](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++log.shutdown_cb_called;
    }));
    co_return n.value();
}

} // namespace

TEST_CASE("uv Timer callback spawns a future that writes to an accepted peer, all in one run",
          "[uv][interop]") {
    Runtime rt;
    uv::Loop loop(rt.io_context());
    const auto loop_thread = std::this_thread::get_id();

    uv::Tcp listener(loop);
    uv::Tcp client(loop);
    uv::Timer timer(loop);
    std::unique_ptr<uv::Tcp> peer;
    std::optional<JoinHandle<std::size_t>> task;
    FutureLog log;
    int connection_cb_called = 0;
    int timer_cb_called = 0;
    int eof_cb_called = 0;
    int close_cb_called = 0;
    std::string got;

    REQUIRE_FALSE(listener.bind({boost::asio::ip::make_address("127.0.0.1"), 0}));
    REQUIRE_FALSE(listener.listen(8, [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        ++connection_cb_called;
        peer = std::make_unique<uv::Tcp>(loop);
        REQUIRE_FALSE(listener.accept(*peer));
        REQUIRE_FALSE(timer.start(
            [&] {
                ++timer_cb_called;
                REQUIRE(std::this_thread::get_id() == loop_thread);
                task.emplace(pollux::spawn(loop.io_context(),
                                           write_then_shutdown(*peer, "from a future", log)));
            },
            5ms));
    }));
    REQUIRE_FALSE(client.connect(listener.getsockname().value(), [&](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        REQUIRE_FALSE(
            client.read_start([&](boost::system::error_code rec, std::span<const char> d) {
                REQUIRE(std::this_thread::get_id() == loop_thread);
                if (rec) {
                    REQUIRE(rec == boost::asio::error::eof);
                    ++eof_cb_called;
                    auto count = [&] { ++close_cb_called; };
                    client.close(count);
                    peer->close(count);
                    listener.close(count);
                    timer.close(count);
                    return;
                }
                got.append(d.begin(), d.end());
            }));
    }));

    REQUIRE(loop.run() == 0);
    REQUIRE(got == "from a future");
    REQUIRE(connection_cb_called == 1);
    REQUIRE(timer_cb_called == 1);
    REQUIRE(eof_cb_called == 1);
    REQUIRE(close_cb_called == 4);
    REQUIRE(log.ran_on == loop_thread);
    REQUIRE(log.shutdown_cb_called == 1);
    REQUIRE(task.has_value());
    REQUIRE(task->is_finished());
    REQUIRE(pollux::block_on(std::move(*task)) == got.size());
    require_loop_quiescent(loop);
}
