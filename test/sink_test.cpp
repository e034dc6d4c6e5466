#include <pollux/core/sink.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/core/block_on.hpp>

#include "support/counted.hpp"
#include "support/mock_task.hpp"
#include "support/result_string.hpp"

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

using namespace pollux;

namespace {

// A sink of strings with a one-slot buffer: poll_ready is Pending while an
// item waits to be flushed and `open` is false; poll_flush moves the buffer
// to `out` when `open`. Counts every call.
struct MockSink {
    std::optional<std::string> slot;
    std::vector<std::string> out;
    bool open = true;
    bool closed = false;
    std::optional<boost::system::error_code> ready_error;
    int readies = 0, sends = 0, flushes = 0, closes = 0;

    Poll<Result<void>> poll_ready(Context& cx) {
        ++readies;
        if (ready_error) {
            return Ready<Result<void>>{Result<void>(boost::system::in_place_error, *ready_error)};
        }
        if (slot) {
            Poll<Result<void>> f = poll_flush(cx);
            if (f.is_pending()) {
                return Pending{};
            }
        }
        return Ready<Result<void>>{Result<void>()};
    }
    Result<void> start_send(std::string s) {
        ++sends;
        REQUIRE_FALSE(slot.has_value()); // only after a Ready poll_ready
        slot = std::move(s);
        return {};
    }
    Poll<Result<void>> poll_flush(Context& cx) {
        ++flushes;
        if (slot) {
            if (!open) {
                cx.waker().wake_by_ref(); // a test double: ready to retry at once
                return Pending{};
            }
            out.push_back(std::move(*slot));
            slot.reset();
        }
        return Ready<Result<void>>{Result<void>()};
    }
    Poll<Result<void>> poll_close(Context& cx) {
        ++closes;
        Poll<Result<void>> f = poll_flush(cx);
        if (f.is_pending()) {
            return Pending{};
        }
        closed = true;
        return f;
    }
};

static_assert(Sink<MockSink, std::string>);

} // namespace

TEST_CASE("send hands the item over once and flushes it", "[sink][send]") {
    MockSink s;
    REQUIRE(block_on(send(s, std::string("a"))));
    REQUIRE(s.out == std::vector<std::string>{"a"});
    REQUIRE(s.readies == 1);
    REQUIRE(s.sends == 1);
    REQUIRE(s.flushes == 1);
}

TEST_CASE("feed hands the item over without flushing", "[sink][feed]") {
    MockSink s;
    REQUIRE(block_on(feed(s, std::string("a"))));
    REQUIRE(s.slot == "a");
    REQUIRE(s.out.empty());
    REQUIRE(s.flushes == 0);
    REQUIRE(block_on(flush(s)));
    REQUIRE(s.out == std::vector<std::string>{"a"});
}

TEST_CASE("feed waits for poll_ready before handing the next item over", "[sink][feed]") {
    MockSink s;
    s.open = false;
    REQUIRE(block_on(feed(s, std::string("a"))));
    test::MockTask t(feed(s, std::string("b")));
    REQUIRE(t.poll().is_pending()); // "a" is not flushed yet
    REQUIRE(s.sends == 1);
    s.open = true;
    auto p = t.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value());
    REQUIRE(s.out == std::vector<std::string>{"a"});
    REQUIRE(s.slot == "b");
}

TEST_CASE("send dropped before the item was handed over leaves the sink untouched",
          "[sink][send][cancel]") {
    MockSink s;
    s.slot = "earlier";
    s.open = false;
    {
        test::MockTask t(send(s, std::string("b")));
        REQUIRE(t.poll().is_pending());
        REQUIRE_FALSE(t.future().handed_over());
        auto item = t.future().take_item();
        REQUIRE(item == "b"); // the caller can have it back
    }
    REQUIRE(s.sends == 0);
    REQUIRE(s.slot == "earlier");
}

TEST_CASE("send dropped while flushing leaves the item in the sink, neither lost nor duplicated",
          "[sink][send][cancel]") {
    MockSink s;
    {
        s.open = false;
        test::MockTask t(send(s, std::string("b")));
        REQUIRE(t.poll().is_pending()); // handed over, flush pending
        REQUIRE(t.future().handed_over());
        REQUIRE_FALSE(t.future().take_item().has_value());
    }
    REQUIRE(s.sends == 1);
    REQUIRE(s.slot == "b");
    s.open = true;
    REQUIRE(block_on(flush(s)));
    REQUIRE(s.out == std::vector<std::string>{"b"});
}

TEST_CASE("send reports poll_ready's error and keeps the item", "[sink][send][errors]") {
    MockSink s;
    s.ready_error = make_error_code(boost::system::errc::broken_pipe);
    test::MockTask t(send(s, std::string("b")));
    auto p = t.poll();
    REQUIRE(p.is_ready());
    REQUIRE(p.value().error() == boost::system::errc::broken_pipe);
    REQUIRE(s.sends == 0);
    REQUIRE(t.future().take_item() == "b");
}

TEST_CASE("send drops the item it could not hand over with the future", "[sink][send][cancel]") {
    test::Counted::reset();
    struct CountedSink {
        bool ready = false;
        Poll<Result<void>> poll_ready(Context&) {
            if (!ready) {
                return Pending{};
            }
            return Ready<Result<void>>{Result<void>()};
        }
        Result<void> start_send(test::Counted) { return {}; }
        Poll<Result<void>> poll_flush(Context&) { return Ready<Result<void>>{Result<void>()}; }
        Poll<Result<void>> poll_close(Context&) { return Ready<Result<void>>{Result<void>()}; }
    };
    CountedSink s;
    {
        test::MockTask t(send(s, test::Counted()));
        REQUIRE(t.poll().is_pending());
    }
    REQUIRE(test::Counted::alive() == 0);
    REQUIRE(test::Counted::copies == 0); // moved into the future, never copied
}

TEST_CASE("close flushes the buffered item, then closes", "[sink][close]") {
    MockSink s;
    REQUIRE(block_on(feed(s, std::string("a"))));
    REQUIRE(block_on(close(s)));
    REQUIRE(s.closed);
    REQUIRE(s.out == std::vector<std::string>{"a"});
    REQUIRE(s.closes == 1);
}

TEST_CASE("flush dropped while pending loses no item", "[sink][flush][cancel]") {
    MockSink s;
    REQUIRE(block_on(feed(s, std::string("a"))));
    s.open = false;
    {
        test::MockTask t(flush(s));
        REQUIRE(t.poll().is_pending());
    }
    REQUIRE(s.slot == "a");
    s.open = true;
    REQUIRE(block_on(flush(s)));
    REQUIRE(s.out == std::vector<std::string>{"a"});
}
