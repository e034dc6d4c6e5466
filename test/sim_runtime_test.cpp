#include <pollux/sim/runtime.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/select.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/sim/network.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/clock.hpp>
#include <pollux/time/interval.hpp>
#include <pollux/time/pause.hpp>
#include <pollux/time/sleep.hpp>
#include <pollux/time/timeout.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
namespace sim = pollux::sim;

namespace {

// Each worker appends "<id>.<step>" to the trace and yields between steps,
// so the trace is the order in which the scheduler ran the tasks.
pollux::Async<void> worker(std::vector<std::string>* trace, int id) {
    for (int step = 0; step < 3; ++step) {
        trace->push_back(std::to_string(id) + "." + std::to_string(step));
        co_await pollux::yield_now();
    }
}

pollux::Async<void> spawn_workers(std::vector<std::string>* trace) {
    std::vector<pollux::JoinHandle<void>> handles;
    for (int id = 0; id < 5; ++id) {
        handles.push_back(pollux::spawn(worker(trace, id)));
    }
    for (auto& h : handles) {
        co_await std::move(h);
    }
}

std::vector<std::string> trace_of(std::uint64_t seed) {
    std::vector<std::string> trace;
    sim::Runtime rt(seed);
    rt.block_on(spawn_workers(&trace));
    return trace;
}

// The planted ordering bug: a read-modify-write of a shared counter split
// by an await. Correct only if one task finishes before the other reads.
pollux::Async<void> increment(int* counter) {
    int v = *counter;
    co_await pollux::yield_now();
    *counter = v + 1;
}

pollux::Async<int> two_increments() {
    int counter = 0;
    auto a = pollux::spawn(increment(&counter));
    auto b = pollux::spawn(increment(&counter));
    co_await std::move(a);
    co_await std::move(b);
    co_return counter;
}

pollux::Async<void> checked_two_increments() {
    int counter = co_await two_increments();
    if (counter != 2) {
        throw std::runtime_error("lost update: counter is " + std::to_string(counter));
    }
}

int counter_under(std::uint64_t seed) {
    sim::Runtime rt(seed);
    return rt.block_on(two_increments());
}

pollux::Async<void> sleep_for(pollux::time::Duration d) {
    co_await pollux::time::sleep(d);
}

pollux::Async<bool> times_out_after(pollux::time::Duration d) {
    auto r = co_await pollux::time::timeout(d, pollux::pending<int>());
    co_return !r && r.error() == pollux::time::errc::elapsed;
}

// Which branch of a select of two ready futures wins, 32 times: select
// polls a pseudo-randomly chosen branch first.
pollux::Async<std::vector<std::size_t>> select_winners() {
    std::vector<std::size_t> out;
    for (int i = 0; i < 32; ++i) {
        auto v = co_await pollux::select(pollux::ready(0), pollux::ready(1));
        out.push_back(v.index());
    }
    co_return out;
}

std::vector<std::size_t> select_winners_under(std::uint64_t seed) {
    sim::Runtime rt(seed);
    return rt.block_on(select_winners());
}

// The virtual instants, from the start, of the first `n` ticks of a 1 s interval.
pollux::Async<std::vector<pollux::time::Duration>> interval_ticks(int n) {
    const auto start = pollux::time::Clock::now();
    auto every = pollux::time::interval(1s);
    std::vector<pollux::time::Duration> out;
    for (int i = 0; i < n; ++i) {
        out.push_back(co_await every.tick() - start);
    }
    co_return out;
}

// Redirects stderr to a file for the scope, then returns what was written.
class StderrCapture {
public:
    StderrCapture() {
        std::fflush(stderr);
        saved_ = ::dup(2);
        std::FILE* f = std::fopen(path_.c_str(), "w");
        REQUIRE(f != nullptr);
        ::dup2(::fileno(f), 2);
        std::fclose(f);
    }
    ~StderrCapture() {
        restore();
        std::remove(path_.c_str());
    }
    std::string text() {
        restore();
        std::string out;
        {
            std::ifstream in(path_);
            out.assign(std::istreambuf_iterator<char>(in), {});
        }
        std::remove(path_.c_str());
        return out;
    }

private:
    void restore() {
        if (saved_ >= 0) {
            std::fflush(stderr);
            ::dup2(saved_, 2);
            ::close(saved_);
            saved_ = -1;
        }
    }
    std::string path_ = (std::filesystem::temp_directory_path() /
                         ("pollux_sim_runtime_test_stderr." + std::to_string(::getpid())))
                            .string();
    int saved_ = -1;
};

} // namespace

TEST_CASE("sim::Executor is an Asio executor that any_io_executor accepts", "[sim][runtime]") {
    STATIC_REQUIRE(boost::asio::execution::executor<sim::Executor>);
    sim::Runtime rt(1);
    boost::asio::any_io_executor ex(rt.executor());
    REQUIRE(&boost::asio::query(ex, boost::asio::execution::context) == &rt.io_context());
    REQUIRE(ex.target<sim::Executor>() != nullptr);
}

TEST_CASE("sim::Runtime runs the same schedule for the same seed", "[sim][runtime]") {
    const auto first = trace_of(42);
    REQUIRE(first.size() == 15);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(trace_of(42) == first);
    }
}

TEST_CASE("sim::Runtime runs different schedules for different seeds", "[sim][runtime]") {
    std::set<std::vector<std::string>> traces;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        traces.insert(trace_of(seed));
    }
    REQUIRE(traces.size() > 1);
}

TEST_CASE("sim::Runtime finds the planted ordering bug, replays it, and passes under another seed",
          "[sim][runtime]") {
    std::optional<std::uint64_t> failing;
    std::optional<std::uint64_t> passing;
    for (std::uint64_t seed = 0; seed < 1000 && !(failing && passing); ++seed) {
        const int counter = counter_under(seed);
        if (counter != 2 && !failing) {
            failing = seed;
        }
        if (counter == 2 && !passing) {
            passing = seed;
        }
    }
    REQUIRE(failing.has_value());
    REQUIRE(passing.has_value());
    INFO("failing seed " << *failing << ", passing seed " << *passing);

    for (int replay = 0; replay < 3; ++replay) {
        sim::Runtime rt(*failing);
        REQUIRE_THROWS_WITH(rt.block_on(checked_two_increments()), "lost update: counter is 1");
    }
    for (int replay = 0; replay < 3; ++replay) {
        sim::Runtime rt(*passing);
        REQUIRE_NOTHROW(rt.block_on(checked_two_increments()));
    }
}

TEST_CASE("sim::Runtime::from_env replays a failing seed given in POLLUX_SIM_SEED",
          "[sim][runtime]") {
    std::optional<std::uint64_t> failing;
    for (std::uint64_t seed = 0; seed < 1000 && !failing; ++seed) {
        if (counter_under(seed) != 2) {
            failing = seed;
        }
    }
    REQUIRE(failing.has_value());
    ::setenv("POLLUX_SIM_SEED", std::to_string(*failing).c_str(), 1);
    for (int replay = 0; replay < 3; ++replay) {
        // The environment overrides the default seed.
        auto rt = sim::Runtime::from_env(*failing + 1);
        REQUIRE(rt.seed() == *failing);
        REQUIRE_THROWS_WITH(rt.block_on(checked_two_increments()), "lost update: counter is 1");
    }
    ::unsetenv("POLLUX_SIM_SEED");
}

TEST_CASE("sim::Runtime::block_on prints the seed of a failing run", "[sim][runtime]") {
    std::optional<std::uint64_t> failing;
    for (std::uint64_t seed = 0; seed < 1000 && !failing; ++seed) {
        if (counter_under(seed) != 2) {
            failing = seed;
        }
    }
    REQUIRE(failing.has_value());
    StderrCapture capture;
    {
        sim::Runtime rt(*failing);
        REQUIRE_THROWS_AS(rt.block_on(checked_two_increments()), std::runtime_error);
    }
    REQUIRE(capture.text() == "pollux::sim: seed " + std::to_string(*failing) +
                                  " failed: lost update: counter is 1\n");
}

TEST_CASE("sim::Runtime::from_env takes the seed from POLLUX_SIM_SEED", "[sim][runtime]") {
    ::unsetenv("POLLUX_SIM_SEED");
    {
        auto rt = sim::Runtime::from_env(7);
        REQUIRE(rt.seed() == 7);
    }
    ::setenv("POLLUX_SIM_SEED", "123456789012", 1);
    {
        auto rt = sim::Runtime::from_env(7);
        REQUIRE(rt.seed() == 123456789012u);
    }
    ::setenv("POLLUX_SIM_SEED", "12x", 1);
    REQUIRE_THROWS_AS(sim::Runtime::from_env(7), std::invalid_argument);
    REQUIRE_FALSE(pollux::time::is_paused()); // the failed constructor undid nothing it did
    ::unsetenv("POLLUX_SIM_SEED");
}

TEST_CASE("sim::Runtime runs a 30 s sleep at once on the virtual clock", "[sim][runtime][time]") {
    const auto wall_start = std::chrono::steady_clock::now();
    sim::Runtime rt(3);
    REQUIRE(pollux::time::is_paused());
    rt.block_on(sleep_for(30s));
    REQUIRE(rt.elapsed() >= 30s);
    REQUIRE(rt.elapsed() < 31s);
    REQUIRE(std::chrono::steady_clock::now() - wall_start < 5s);
}

TEST_CASE("sim::Runtime runs a 30 s timeout at once on the virtual clock", "[sim][runtime][time]") {
    const auto wall_start = std::chrono::steady_clock::now();
    sim::Runtime rt(4);
    REQUIRE(rt.block_on(times_out_after(30s)));
    REQUIRE(rt.elapsed() == 30s);
    REQUIRE(std::chrono::steady_clock::now() - wall_start < 5s);
}

TEST_CASE("sim::Runtime seeds select's choice of a first branch", "[sim][runtime]") {
    const auto first = select_winners_under(12);
    REQUIRE(select_winners_under(12) == first);
    REQUIRE(std::set<std::size_t>(first.begin(), first.end()).size() == 2);
}

TEST_CASE("sim::Runtime runs an interval on the virtual clock", "[sim][runtime][time]") {
    sim::Runtime rt(13);
    const auto ticks = rt.block_on(interval_ticks(5));
    REQUIRE(ticks == std::vector<pollux::time::Duration>{0s, 1s, 2s, 3s, 4s});
    REQUIRE(rt.elapsed() == 4s);
}

TEST_CASE("sim::Runtime resumes the clock when destroyed", "[sim][runtime][time]") {
    {
        sim::Runtime rt(5);
        REQUIRE(pollux::time::is_paused());
    }
    REQUIRE_FALSE(pollux::time::is_paused());
}

TEST_CASE("sim::Runtime refuses to start while the clock is paused", "[sim][runtime][time]") {
    sim::Runtime rt(6);
    REQUIRE_THROWS_AS(sim::Runtime(7), std::logic_error);
}

TEST_CASE("sim::Runtime::block_on throws sim::Deadlock when nothing can wake the main future",
          "[sim][runtime]") {
    sim::Runtime rt(99);
    try {
        rt.block_on(pollux::pending<int>());
        FAIL("block_on returned");
    } catch (const sim::Deadlock& e) {
        REQUIRE(e.seed() == 99);
        REQUIRE(std::string(e.what()).find("seed 99") != std::string::npos);
    }
}

TEST_CASE("sim::Runtime::block_on throws sim::TimeLimitExceeded past the virtual time limit",
          "[sim][runtime][time]") {
    sim::Runtime rt(8);
    rt.set_time_limit(1min);
    REQUIRE_THROWS_AS(rt.block_on(sleep_for(2min)), sim::TimeLimitExceeded);
    REQUIRE(rt.elapsed() < 1min);
}

TEST_CASE("sim::Runtime::spawn_on runs the task with its host's executor", "[sim][runtime]") {
    sim::Runtime rt(9);
    const sim::HostId host = rt.network().add_host("10.0.0.2");
    REQUIRE_THROWS_AS(rt.executor(host + 1), std::out_of_range);
    auto h = rt.spawn_on(host, pollux::poll_fn<sim::HostId>([](pollux::Context&) {
                             return pollux::Poll<sim::HostId>(
                                 pollux::Ready<sim::HostId>{sim::Runtime::current_host()});
                         }));
    REQUIRE(rt.block_on(std::move(h)) == host);
}
