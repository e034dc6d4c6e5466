#include <pollux/detail/task_state.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <thread>

// Each rule of the state machine comment in task_state.hpp, on the bare
// state word.

using namespace pollux::detail;
namespace ts = pollux::detail::task_state;

namespace {
// A task that ran once and is now idle.
constexpr std::uint32_t idle_word = ts::join_interest;
} // namespace

TEST_CASE("task state wake of an idle task submits it", "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::submit);
    REQUIRE(s.load() & ts::notified);
}

TEST_CASE("task state wake of a scheduled task does nothing", "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::submit);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::do_nothing);
}

TEST_CASE("task state wake while running makes idle resubmit", "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::submit);
    REQUIRE(s.transition_to_running() == TransitionToRunning::success);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::do_nothing);
    REQUIRE(s.transition_to_idle() == TransitionToIdle::resubmit);
    REQUIRE(s.transition_to_running() == TransitionToRunning::success);
    REQUIRE(s.transition_to_idle() == TransitionToIdle::ok);
}

TEST_CASE("task state wake after complete does nothing", "[scheduler][task_state]") {
    TaskState s(ts::notified);
    REQUIRE(s.transition_to_running() == TransitionToRunning::success);
    (void)s.transition_to_complete();
    REQUIRE(s.transition_to_notified() == TransitionToNotified::do_nothing);
    REQUIRE(s.transition_to_cancelled() == TransitionToCancelled::do_nothing);
    REQUIRE(s.transition_to_running() == TransitionToRunning::failed);
}

TEST_CASE("task state complete clears running and notified", "[scheduler][task_state]") {
    TaskState s(ts::notified);
    REQUIRE(s.transition_to_running() == TransitionToRunning::success);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::do_nothing);
    const auto prev = s.transition_to_complete();
    REQUIRE(prev & ts::running);
    REQUIRE(s.load() == ts::complete);
}

TEST_CASE("task state abort of an idle task submits it, and the run sees cancelled",
          "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_cancelled() == TransitionToCancelled::submit);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::do_nothing);
    REQUIRE(s.transition_to_running() == TransitionToRunning::cancelled);
}

TEST_CASE("task state abort of a running task is seen by idle", "[scheduler][task_state]") {
    TaskState s(ts::notified);
    REQUIRE(s.transition_to_running() == TransitionToRunning::success);
    REQUIRE(s.transition_to_cancelled() == TransitionToCancelled::do_nothing);
    REQUIRE(s.transition_to_idle() == TransitionToIdle::cancelled);
}

TEST_CASE("task state abort of a scheduled task posts nothing more", "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::submit);
    REQUIRE(s.transition_to_cancelled() == TransitionToCancelled::do_nothing);
    REQUIRE(s.transition_to_running() == TransitionToRunning::cancelled);
}

TEST_CASE("task state abort twice does nothing the second time", "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_cancelled() == TransitionToCancelled::submit);
    REQUIRE(s.transition_to_cancelled() == TransitionToCancelled::do_nothing);
}

TEST_CASE("task state join interest drop reports the previous word", "[scheduler][task_state]") {
    TaskState s;
    REQUIRE(s.drop_join_interest() & ts::join_interest);
    REQUIRE_FALSE(s.load() & ts::join_interest);
}

TEST_CASE("task state join waker is set and unset by the handle until the task completes",
          "[scheduler][task_state][join]") {
    TaskState s(idle_word);
    REQUIRE(s.set_join_waker() == SetJoinWaker::ok);
    REQUIRE(s.load() & ts::join_waker);
    REQUIRE(s.unset_join_waker() == UnsetJoinWaker::ok);
    REQUIRE_FALSE(s.load() & ts::join_waker);
    REQUIRE(s.set_join_waker() == SetJoinWaker::ok);
    (void)s.transition_to_complete();
    // The slot is the completer's now: the handle's unset fails.
    REQUIRE(s.unset_join_waker() == UnsetJoinWaker::complete);
    REQUIRE(s.load() & ts::join_waker);
}

TEST_CASE("task state join waker set fails once the task completed",
          "[scheduler][task_state][join]") {
    TaskState s(idle_word);
    (void)s.transition_to_complete();
    REQUIRE(s.set_join_waker() == SetJoinWaker::complete);
    REQUIRE_FALSE(s.load() & ts::join_waker);
}

TEST_CASE("task state completer hands the join slot back and sees whether the handle is gone",
          "[scheduler][task_state][join]") {
    TaskState s(idle_word);
    REQUIRE(s.set_join_waker() == SetJoinWaker::ok);
    const auto prev = s.transition_to_complete();
    REQUIRE(prev & ts::join_waker);
    SECTION("handle alive") {
        REQUIRE(s.unset_join_waker_after_complete() & ts::join_interest);
    }
    SECTION("handle dropped first: join_waker stays the completer's") {
        REQUIRE(s.drop_join_interest() & ts::join_waker);
        REQUIRE(s.load() & ts::join_waker);
        REQUIRE_FALSE(s.unset_join_waker_after_complete() & ts::join_interest);
    }
    REQUIRE_FALSE(s.load() & ts::join_waker);
}

TEST_CASE("task state join interest drop of a running task takes the join waker back",
          "[scheduler][task_state][join]") {
    TaskState s(idle_word);
    REQUIRE(s.set_join_waker() == SetJoinWaker::ok);
    REQUIRE(s.drop_join_interest() & ts::join_waker);
    REQUIRE_FALSE(s.load() & (ts::join_waker | ts::join_interest));
    // The completion then finds no waker to wake.
    REQUIRE_FALSE(s.transition_to_complete() & ts::join_waker);
}

TEST_CASE("task state shutdown marks complete and cancelled for good", "[scheduler][task_state]") {
    TaskState s(idle_word);
    const auto prev = s.shutdown();
    REQUIRE_FALSE(prev & ts::complete);
    REQUIRE(s.load() & ts::complete);
    REQUIRE(s.load() & ts::cancelled);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::do_nothing);
}

TEST_CASE("task state counts a won submit as scheduling until done_scheduling",
          "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::submit);
    REQUIRE((s.load() & ts::scheduling_mask) == ts::scheduling_one);
    s.done_scheduling();
    REQUIRE((s.load() & ts::scheduling_mask) == 0);
    REQUIRE(s.load() & ts::notified);
}

TEST_CASE("task state submit on the task's context is not counted as scheduling",
          "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_notified_on_context() == TransitionToNotified::submit);
    REQUIRE(s.load() & ts::notified);
    REQUIRE((s.load() & ts::scheduling_mask) == 0);
    // As a wake: a second merges, and the run clears it.
    REQUIRE(s.transition_to_notified_on_context() == TransitionToNotified::do_nothing);
    REQUIRE(s.transition_to_running() == TransitionToRunning::success);
    REQUIRE(s.transition_to_notified_on_context() == TransitionToNotified::do_nothing);
    REQUIRE(s.transition_to_idle() == TransitionToIdle::resubmit);
    (void)s.transition_to_complete();
    REQUIRE(s.transition_to_notified_on_context() == TransitionToNotified::do_nothing);
    REQUIRE((s.load() & ts::scheduling_mask) == 0);
}

TEST_CASE("task state counts an abort's submit as scheduling, and no merged wake",
          "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_cancelled() == TransitionToCancelled::submit);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::do_nothing);
    REQUIRE((s.load() & ts::scheduling_mask) == ts::scheduling_one);
    s.done_scheduling();
    REQUIRE((s.load() & ts::scheduling_mask) == 0);
}

TEST_CASE("task state shutdown waits for a scheduler that won its submit first",
          "[scheduler][task_state]") {
    TaskState s(idle_word);
    REQUIRE(s.transition_to_notified() == TransitionToNotified::submit);
    (void)s.shutdown();
    std::atomic<bool> done{false};
    std::thread scheduler([&] {
        done.store(true);
        s.done_scheduling();
    });
    s.wait_for_schedulers();
    CHECK(done.load());
    scheduler.join();
}
