#include <pollux/sim/runtime.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/detail/random.hpp>
#include <pollux/detail/virtual_clock.hpp>
#include <pollux/sim/network.hpp>
#include <pollux/time/pause.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>

namespace pollux::sim {

namespace {

thread_local Runtime* current_runtime = nullptr;
thread_local HostId running_host = 0;

// Sets the thread's current simulation for the length of a loop and
// restores the previous one (null) after it.
class CurrentScope {
public:
    explicit CurrentScope(Runtime* rt) noexcept
        : prev_rt_(std::exchange(current_runtime, rt)), prev_host_(running_host) {}
    ~CurrentScope() {
        current_runtime = prev_rt_;
        running_host = prev_host_;
    }
    CurrentScope(const CurrentScope&) = delete;
    CurrentScope& operator=(const CurrentScope&) = delete;

private:
    Runtime* prev_rt_;
    HostId prev_host_;
};

std::string seed_text(std::uint64_t seed) {
    return "seed " + std::to_string(seed);
}

// Pauses the clock and returns the virtual instant it stopped at. Called
// first in the constructor, so that a failure leaves nothing to undo.
time::Instant pause_clock() {
    time::pause();
    return time::Clock::now();
}

} // namespace

namespace detail {

void enqueue(Runtime& rt, HostId host, std::unique_ptr<Handler> h) {
    POLLUX_ASSERT(std::this_thread::get_id() == rt.owner_,
                  "a pollux::sim task was woken from a thread other than the simulation's");
    rt.ready_.push_back(Runtime::Ready{std::move(h), host});
}

boost::asio::io_context& context_of(Runtime& rt) noexcept {
    return rt.io_context();
}

} // namespace detail

// The generators for the schedule and for the simulated code are separate
// streams of the seed, so a test that draws from rng() does not shift the
// schedule and the other way round.
Runtime::Runtime(std::uint64_t seed)
    : seed_(seed), owner_(std::this_thread::get_id()), schedule_rng_(Rng(seed).fork(1)),
      user_rng_(Rng(seed).fork(2)), time_limit_(std::chrono::hours(1)), start_(pause_clock()),
      io_(std::make_unique<boost::asio::io_context>(1)) {
    try {
        network_ = std::make_unique<Network>(*this);
    } catch (...) {
        time::resume();
        throw;
    }
    pollux::detail::seed_fast_random(Rng(seed).fork(3).next());
}

Runtime Runtime::from_env(std::uint64_t default_seed) {
    const char* env = std::getenv("POLLUX_SIM_SEED");
    if (env == nullptr || *env == '\0') {
        return Runtime(default_seed);
    }
    std::uint64_t seed = 0;
    const char* end = env + std::char_traits<char>::length(env);
    auto [ptr, ec] = std::from_chars(env, end, seed);
    if (ec != std::errc() || ptr != end) {
        throw std::invalid_argument(
            std::string("POLLUX_SIM_SEED is not a decimal 64-bit number: ") + env);
    }
    return Runtime(seed);
}

// Teardown order: the network first stops sending (streams destroyed below
// send nothing), then the io_context's shutdown drops every live task's
// future, which may queue more handlers; then the queued handlers are
// destroyed unrun, each releasing its task reference, until none is left
// (destroying one may queue another). The clock resumes last.
Runtime::~Runtime() {
    CurrentScope scope(this);
    network_->shut_down();
    io_.reset();
    while (!ready_.empty()) {
        std::vector<Ready> doomed = std::move(ready_);
        ready_.clear();
        doomed.clear();
    }
    network_.reset();
    time::resume();
}

Executor Runtime::executor(HostId host) {
    if (host >= network_->hosts()) {
        throw std::out_of_range("pollux::sim::Runtime: no host " + std::to_string(host));
    }
    return Executor(*this, host);
}

time::Instant Runtime::now() const noexcept {
    return time::Clock::now();
}

time::Duration Runtime::elapsed() const noexcept {
    return time::Clock::now() - start_;
}

Runtime* Runtime::current() noexcept {
    return current_runtime;
}

HostId Runtime::current_host() noexcept {
    return running_host;
}

// The simulation loop. Each turn does the first of:
// 1. If a handler is ready, run one, chosen uniformly by the schedule
//    generator (the order of the ready list is itself deterministic, so the
//    choice is a function of the seed and the history).
// 2. Else, if a timer waits on the virtual clock, move the clock to the
//    earliest deadline, which wakes its waiters (and queues their tasks).
// 3. Else nothing can ever happen again: a deadlock.
void Runtime::run_until(bool (*done)(const void*), const void* arg) {
    if (current_runtime == this) {
        throw std::logic_error("sim::Runtime::block_on called from inside the simulation");
    }
    CurrentScope scope(this);
    while (!done(arg)) {
        if (!ready_.empty()) {
            const auto i = static_cast<std::size_t>(schedule_rng_.below(ready_.size()));
            Ready next = std::move(ready_[i]);
            ready_[i] = std::move(ready_.back());
            ready_.pop_back();
            running_host = next.host;
            ++steps_;
            next.handler->run();
            running_host = 0;
            continue;
        }
        const std::optional<time::Instant> deadline = pollux::detail::next_paused_deadline();
        if (deadline) {
            if (*deadline - start_ > time_limit_) {
                throw TimeLimitExceeded(seed_,
                                        "time limit exceeded under " + seed_text(seed_) +
                                            ": the virtual clock would pass it with the "
                                            "main future unfinished");
            }
            pollux::detail::advance_paused_clock_to(*deadline);
            continue;
        }
        throw Deadlock(seed_,
                       "deadlock under " + seed_text(seed_) +
                           ": the main future waits, no task is ready and no timer "
                           "is pending");
    }
}

void Runtime::report_failure(std::exception_ptr e) const noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        std::fprintf(stderr,
                     "pollux::sim: seed %llu failed: %s\n",
                     static_cast<unsigned long long>(seed_),
                     ex.what());
    } catch (...) {
        std::fprintf(stderr,
                     "pollux::sim: seed %llu failed: a non-std::exception\n",
                     static_cast<unsigned long long>(seed_));
    }
}

} // namespace pollux::sim
