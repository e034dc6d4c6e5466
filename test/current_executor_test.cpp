#include <pollux/asio.hpp>
#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/current_executor.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/futures.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

using namespace pollux;
namespace asio = boost::asio;

namespace {

using IoExecutor = asio::io_context::executor_type;

// Records, when destroyed, whether a current executor was visible.
struct RecordsExecutorOnDrop {
    using Output = void;
    std::shared_ptr<std::optional<bool>> seen;
    explicit RecordsExecutorOnDrop(std::shared_ptr<std::optional<bool>> s) : seen(std::move(s)) {}
    RecordsExecutorOnDrop(RecordsExecutorOnDrop&&) noexcept = default;
    ~RecordsExecutorOnDrop() {
        if (seen) {
            *seen = try_current_executor().has_value();
        }
    }
    Poll<void> poll(Context&) { return Pending{}; }
};

Async<Result<void>> wait_on_timer_of_current_executor() {
    asio::steady_timer timer(current_executor());
    timer.expires_after(std::chrono::milliseconds(0));
    co_return co_await timer.async_wait(use_future);
}

} // namespace

TEST_CASE("current_executor outside a task throws logic_error naming the call",
          "[scheduler][current_executor]") {
    REQUIRE_THROWS_AS((void)current_executor(), std::logic_error);
    try {
        (void)current_executor();
    } catch (const std::logic_error& e) {
        REQUIRE(std::string(e.what()).find("pollux::current_executor() called outside a task") !=
                std::string::npos);
    }
}

TEST_CASE("try_current_executor outside a task is nullopt, also inside pollux::block_on",
          "[scheduler][current_executor]") {
    REQUIRE_FALSE(try_current_executor().has_value());
    auto body = []() -> Async<bool> { co_return try_current_executor().has_value(); };
    REQUIRE_FALSE(block_on(body()));
    bool on_other_thread = true;
    std::thread other([&on_other_thread] { on_other_thread = try_current_executor().has_value(); });
    other.join();
    REQUIRE_FALSE(on_other_thread);
}

TEST_CASE("current_executor inside Runtime::block_on is the runtime's io_context executor",
          "[scheduler][current_executor]") {
    Runtime rt;
    auto body = []() -> Async<asio::any_io_executor> { co_return current_executor(); };
    asio::any_io_executor ex = rt.block_on(body());
    const auto* io_ex = ex.target<IoExecutor>();
    REQUIRE(io_ex != nullptr);
    REQUIRE(*io_ex == rt.io_context().get_executor());
}

TEST_CASE("current_executor inside a strand-spawned task is that strand",
          "[scheduler][current_executor]") {
    asio::io_context io;
    auto strand = asio::make_strand(io);
    auto h = spawn(strand,
                   []() -> Async<asio::any_io_executor> { co_return *try_current_executor(); }());
    io.run();
    asio::any_io_executor ex = block_on(std::move(h));
    const auto* s = ex.target<asio::strand<IoExecutor>>();
    REQUIRE(s != nullptr);
    REQUIRE(*s == strand);
}

TEST_CASE("an Asio timer made with current_executor completes through use_future",
          "[scheduler][current_executor][asio]") {
    Runtime rt;
    Result<void> r = rt.block_on(wait_on_timer_of_current_executor());
    REQUIRE(r.has_value());
}

TEST_CASE("current_executor is visible in a future's destructor run by abort and by shutdown",
          "[scheduler][current_executor][lifetime]") {
    auto by_abort = std::make_shared<std::optional<bool>>();
    auto by_shutdown = std::make_shared<std::optional<bool>>();
    auto rt = std::make_unique<Runtime>();
    JoinHandle<void> a = rt->spawn(RecordsExecutorOnDrop(by_abort));
    JoinHandle<void> b = rt->spawn(RecordsExecutorOnDrop(by_shutdown));
    rt->block_on(yield_now());
    a.abort();
    while (!a.is_finished()) {
        rt->block_on(yield_now());
    }
    REQUIRE(*by_abort == std::optional<bool>(true));
    rt.reset();
    REQUIRE(*by_shutdown == std::optional<bool>(true));
}
