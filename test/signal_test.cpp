#include <pollux/core/async.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/timeout.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

// Every ::raise here happens while a Signal (or a registered ctrl_c future)
// for that number is alive, so Asio's handler catches it; otherwise the default
// disposition would end the test process.

using namespace pollux;
using namespace std::chrono_literals;
namespace sig = pollux::signal;

namespace {

// Polls the borrowed future `*f` exactly once; true if that poll was Ready
// (whose output is then dropped).
template <Future F>
struct PollOnce {
    using Output = bool;
    F* f;
    Poll<bool> poll(Context& cx) { return Ready{f->poll(cx).is_ready()}; }
};

template <Future F>
PollOnce<F> poll_once(F& f) {
    return PollOnce<F>{&f};
}

// Waits on `f`, but gives up after a few seconds, so a lost signal fails the
// test instead of hanging it.
template <Future F>
auto bounded(F&& f) {
    return time::timeout(10s, std::forward<F>(f));
}

} // namespace

TEST_CASE("signal types are a Future of Result<int>, a Stream of int and a Future of Result<void>",
          "[signal]") {
    STATIC_REQUIRE(std::is_same_v<output_t<sig::Recv>, Result<int>>);
    STATIC_REQUIRE(Stream<sig::Signal>);
    STATIC_REQUIRE(std::is_same_v<item_t<sig::Signal>, int>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<sig::Signal>);
    STATIC_REQUIRE(std::is_same_v<output_t<sig::CtrlC>, Result<void>>);
}

TEST_CASE("signal recv returns the number of a signal raised after registration",
          "[signal][recv]") {
    Runtime rt;
    auto body = []() -> Async<int> {
        auto usr1 = sig::signal(SIGUSR1);
        if (usr1.signum() != SIGUSR1) {
            co_return -1;
        }
        ::raise(SIGUSR1);
        Result<Result<int>> r = co_await bounded(usr1.recv());
        co_return r.value().value();
    };
    REQUIRE(rt.block_on(body()) == SIGUSR1);
}

TEST_CASE("signal keeps two raises made before one recv for two recvs", "[signal][recv]") {
    Runtime rt;
    auto body = []() -> Async<int> {
        auto usr1 = sig::signal(SIGUSR1);
        ::raise(SIGUSR1);
        ::raise(SIGUSR1); // raise() runs the handler at once: two deliveries
        int got = 0;
        for (int i = 0; i < 2; ++i) {
            Result<Result<int>> r = co_await bounded(usr1.recv());
            got += r.value().value() == SIGUSR1;
        }
        co_return got;
    };
    REQUIRE(rt.block_on(body()) == 2);
}

TEST_CASE("signal delivers distinct signals to their own registrations", "[signal][recv]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto usr1 = sig::signal(SIGUSR1);
        auto usr2 = sig::signal(SIGUSR2);
        ::raise(SIGUSR2);
        ::raise(SIGUSR1);
        Result<Result<int>> a = co_await bounded(usr1.recv());
        Result<Result<int>> b = co_await bounded(usr2.recv());
        co_return a.value().value() == SIGUSR1&& b.value().value() == SIGUSR2;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("signal delivers one raise to every live registration of that number", "[signal][recv]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto a = sig::signal(SIGUSR1);
        auto b = sig::signal(SIGUSR1);
        ::raise(SIGUSR1);
        Result<Result<int>> ra = co_await bounded(a.recv());
        Result<Result<int>> rb = co_await bounded(b.recv());
        co_return ra.value().value() == SIGUSR1&& rb.value().value() == SIGUSR1;
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("signal recv dropped while pending loses no signal", "[signal][recv][cancel]") {
    Runtime rt;
    auto body = []() -> Async<int> {
        auto usr1 = sig::signal(SIGUSR1);
        {
            auto r = usr1.recv();
            if (co_await poll_once(r)) {
                co_return -1; // nothing was raised yet
            }
        } // dropped while its wait is in flight
        ::raise(SIGUSR1);
        Result<Result<int>> r = co_await bounded(usr1.recv());
        co_return r.value().value();
    };
    REQUIRE(rt.block_on(body()) == SIGUSR1);
}

TEST_CASE("signal is a Stream of signal numbers", "[signal][stream]") {
    Runtime rt;
    auto body = []() -> Async<int> {
        auto usr2 = sig::signal(SIGUSR2);
        ::raise(SIGUSR2);
        Result<std::optional<int>> n = co_await bounded(next(usr2));
        co_return n.value().value();
    };
    REQUIRE(rt.block_on(body()) == SIGUSR2);
}

TEST_CASE("signal may be moved while a wait is in flight", "[signal][recv]") {
    Runtime rt;
    auto body = []() -> Async<int> {
        auto first = sig::signal(SIGUSR1);
        {
            auto r = first.recv();
            (void)co_await poll_once(r);
        }
        sig::Signal moved(std::move(first));
        ::raise(SIGUSR1);
        Result<Result<int>> r = co_await bounded(moved.recv());
        co_return r.value().value();
    };
    REQUIRE(rt.block_on(body()) == SIGUSR1);
}

TEST_CASE("signal called outside a task throws std::logic_error", "[signal]") {
    REQUIRE_THROWS_AS(sig::signal(SIGUSR1), std::logic_error);
}

TEST_CASE("signal with an explicit executor registers outside a task", "[signal]") {
    boost::asio::io_context io;
    auto usr1 = sig::signal(io.get_executor(), SIGUSR1);
    ::raise(SIGUSR1);
    auto handle = spawn(io, [](sig::Signal& s) -> Async<int> {
        Result<int> r = co_await s.recv();
        co_return r.value();
    }(usr1));
    io.run();
    REQUIRE(block_on(std::move(handle)) == SIGUSR1);
}

TEST_CASE("signal with a number Asio cannot register throws system_error", "[signal]") {
    boost::asio::io_context io;
    REQUIRE_THROWS_AS(sig::signal(io.get_executor(), -1), boost::system::system_error);
    REQUIRE_THROWS_AS(sig::signal(io.get_executor(), SIGKILL), boost::system::system_error);
}

TEST_CASE("signal dropped while waiting leaves the io_context with no work", "[signal][cancel]") {
    boost::asio::io_context io;
    auto body = []() -> Async<bool> {
        auto usr1 = sig::signal(SIGUSR1);
        auto r = usr1.recv();
        co_return !co_await poll_once(r); // both dropped here, the wait in flight
    };
    auto handle = spawn(io, body());
    io.run(); // returns: no wait is left behind
    REQUIRE(block_on(std::move(handle)));
}

TEST_CASE("signal leaves the disposition at SIG_DFL once the last registration is gone",
          "[signal]") {
    struct sigaction before {};
    ::sigaction(SIGUSR2, nullptr, &before);
    REQUIRE(before.sa_handler == SIG_DFL);
    {
        boost::asio::io_context io;
        auto usr2 = sig::signal(io.get_executor(), SIGUSR2);
        struct sigaction during {};
        ::sigaction(SIGUSR2, nullptr, &during);
        REQUIRE(during.sa_handler != SIG_DFL); // Asio's handler
    }
    struct sigaction after {};
    ::sigaction(SIGUSR2, nullptr, &after);
    REQUIRE(after.sa_handler == SIG_DFL);
}

TEST_CASE("ctrl_c completes at the next SIGINT", "[signal][ctrl_c]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto c = sig::ctrl_c();
        if (co_await poll_once(c)) {
            co_return false; // nothing was raised yet
        }
        ::raise(SIGINT); // SIGINT is registered since that first poll
        Result<Result<void>> r = co_await bounded(std::move(c));
        co_return r.value().has_value();
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("ctrl_c made inside a task sees a SIGINT raised before its first poll",
          "[signal][ctrl_c]") {
    Runtime rt;
    auto body = []() -> Async<bool> {
        auto c = sig::ctrl_c(); // registers SIGINT here, not at the first poll
        ::raise(SIGINT);        // before the first poll: must neither kill us nor be lost
        Result<Result<void>> r = co_await bounded(std::move(c));
        co_return r.value().has_value();
    };
    REQUIRE(rt.block_on(body()));
}

TEST_CASE("ctrl_c with an explicit executor registers outside a task", "[signal][ctrl_c]") {
    boost::asio::io_context io;
    auto c = sig::ctrl_c(io.get_executor());
    ::raise(SIGINT);
    auto handle = spawn(io, [](sig::CtrlC c) -> Async<bool> {
        Result<void> r = co_await std::move(c);
        co_return r.has_value();
    }(std::move(c)));
    io.run();
    REQUIRE(block_on(std::move(handle)));
}

// Catch2 installs its own SIGINT handler while a test case runs, so the
// ctrl_c cases below compare the disposition with the one they started
// with rather than with SIG_DFL. Asio's handler replaces it while SIGINT is
// registered, and Asio sets SIG_DFL when the registration goes.
namespace {

void (*sigint_handler())(int) {
    struct sigaction now {};
    ::sigaction(SIGINT, nullptr, &now);
    return now.sa_handler;
}

} // namespace

TEST_CASE("ctrl_c dropped before its first poll unregisters SIGINT", "[signal][ctrl_c][cancel]") {
    auto* const before = sigint_handler();
    Runtime rt;
    auto body = [](void (*before)(int)) -> Async<bool> {
        bool registered = false;
        {
            // Dropped at the end of this block, never polled.
            auto c = sig::ctrl_c();
            registered = sigint_handler() != before; // Asio's handler
        }
        co_return registered;
    };
    REQUIRE(rt.block_on(body(before)));
    REQUIRE(sigint_handler() == SIG_DFL);
}

TEST_CASE("ctrl_c made outside a task registers on its first poll", "[signal][ctrl_c]") {
    auto* const before = sigint_handler();
    auto c = sig::ctrl_c(); // no task here: nothing to register on yet
    REQUIRE(sigint_handler() == before);
    Runtime rt;
    auto body = [](sig::CtrlC& c) -> Async<bool> {
        if (co_await poll_once(c)) {
            co_return false; // nothing was raised yet
        }
        ::raise(SIGINT); // registered by that first poll
        Result<Result<void>> r = co_await bounded(std::move(c));
        co_return r.value().has_value();
    };
    REQUIRE(rt.block_on(body(c)));
}

TEST_CASE("ctrl_c polled outside a task throws std::logic_error", "[signal][ctrl_c]") {
    REQUIRE_THROWS_AS(block_on(sig::ctrl_c()), std::logic_error);
}

TEST_CASE("signal still waiting when its Runtime is destroyed is freed", "[signal][cancel]") {
    {
        Runtime rt;
        auto waiter = rt.spawn([]() -> Async<> {
            auto usr1 = sig::signal(SIGUSR1);
            (void)co_await usr1.recv();
        }());
        rt.block_on(time::sleep(1ms)); // the waiter registered and is waiting
    }
    // Nothing else to assert: ASan/LSan builds catch a leak or a use after
    // free, and the disposition is back to the default.
    struct sigaction after {};
    ::sigaction(SIGUSR1, nullptr, &after);
    REQUIRE(after.sa_handler == SIG_DFL);
}
