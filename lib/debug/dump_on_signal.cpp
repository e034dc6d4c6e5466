#include <pollux/core/async.hpp>
#include <pollux/debug/dump.hpp>
#include <pollux/debug/dump_on_signal.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/query.hpp>

#include <cstdio>
#include <string>

namespace pollux::debug {

namespace {

// Writes one dump per delivery; ends if the signal's stream ends (a failed
// wait, which Asio documents only for cancellation).
Async<void> dump_loop(signal::Signal sig, boost::asio::execution_context* ctx) {
    while (auto delivered = co_await sig.recv()) {
        const std::string text = dump(*ctx);
        std::fwrite(text.data(), 1, text.size(), stderr);
        std::fflush(stderr);
    }
}

} // namespace

JoinHandle<void>
dump_on_signal(const boost::asio::any_io_executor& ex, int signum, std::source_location site) {
    auto& ctx = boost::asio::query(ex, boost::asio::execution::context);
    signal::Signal sig = signal::signal(ex, signum);
    return detail::spawn_task(ex,
                              dump_loop(std::move(sig), &ctx),
                              detail::TaskOrigin{site, "pollux::debug::dump_on_signal"});
}

JoinHandle<void> dump_on_signal(int signum, std::source_location site) {
    detail::TaskHeader& current =
        detail::current_task_or_throw("pollux::debug::dump_on_signal called outside a task");
    return dump_on_signal(current.executor(), signum, site);
}

} // namespace pollux::debug
