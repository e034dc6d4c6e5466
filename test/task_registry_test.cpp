#include <pollux/core/async.hpp>
#include <pollux/core/async_stream.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/yield_now.hpp>
#include <pollux/debug/dump.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

using namespace pollux;

namespace {

std::string file_of(const std::source_location& s) {
    return s.file_name();
}

bool is_this_file(const std::source_location& s) {
    return file_of(s).ends_with("task_registry_test.cpp");
}

// Finds the task with `id` in a snapshot; fails the test if it is absent.
debug::TaskInfo find(const std::vector<debug::TaskInfo>& tasks, std::uint64_t id) {
    for (const auto& t : tasks) {
        if (t.id == id) {
            return t;
        }
    }
    FAIL("task " << id << " not in the snapshot");
    return {};
}

unsigned yield_line = 0;
unsigned forever_line = 0;

Async<void> yield_then_wait_forever() {
    yield_line = __LINE__ + 1;
    co_await yield_now();
    forever_line = __LINE__ + 1;
    co_await pending<void>();
}

unsigned inner_line = 0;

Async<void> inner_waits_forever() {
    inner_line = __LINE__ + 1;
    co_await pending<void>();
}

Async<void> outer_awaits_inner() {
    co_await inner_waits_forever();
}

unsigned multi_line_await = 0;

Async<void> multi_line_co_await() {
    multi_line_await = __LINE__ + 3;
    // clang-format off
    int x = 1 +
            co_await pending<int>();
    // clang-format on
    (void)x;
}

Async<int> returns_seven() {
    co_return 7;
}

unsigned stream_line = 0;

AsyncStream<int> stream_that_waits() {
    stream_line = __LINE__ + 1;
    co_await pending<void>();
    co_yield 1;
}

Async<void> drain(AsyncStream<int> s) {
    while (auto item = co_await next(s)) {
        (void)item;
    }
}

} // namespace

TEST_CASE("spawn records the caller's file and line as the spawn site") {
    boost::asio::io_context io;
    const unsigned line = __LINE__ + 1;
    auto h = spawn(io.get_executor(), pending<void>());
    auto tasks = debug::tasks(io);
    REQUIRE(tasks.size() == 1);
    CHECK(is_this_file(tasks[0].spawn_site));
    CHECK(tasks[0].spawn_site.line() == line);
    h.abort();
    io.run();
}

TEST_CASE("every spawn overload records the caller's line") {
    Runtime rt;
    unsigned lines[5] = {};
    std::vector<JoinHandle<void>> handles;
    lines[0] = __LINE__ + 1;
    handles.push_back(spawn(rt.io_context(), pending<void>()));
    lines[1] = __LINE__ + 1;
    handles.push_back(spawn(rt.io_context().get_executor(), pending<void>(), "named"));
    lines[2] = __LINE__ + 1;
    handles.push_back(rt.spawn(pending<void>()));
    lines[3] = __LINE__ + 1;
    handles.push_back(rt.spawn(pending<void>(), "rt-named"));
    std::vector<debug::TaskInfo> seen;
    lines[4] = __LINE__ + 1;
    rt.block_on([](std::vector<debug::TaskInfo>& out, Runtime& r) -> Async<void> {
        auto inner = spawn(pending<void>(), "inner");
        out = r.tasks();
        inner.abort();
        co_return;
    }(seen, rt));
    REQUIRE(seen.size() == 6);
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(is_this_file(seen[i].spawn_site));
        CHECK(seen[i].spawn_site.line() == lines[i]);
    }
    CHECK(seen[4].name == "block_on");
    CHECK(seen[4].spawn_site.line() == lines[4]);
    CHECK(seen[5].name == "inner");
    CHECK(is_this_file(seen[5].spawn_site));
    for (auto& h : handles) {
        h.abort();
    }
}

TEST_CASE("a named spawn keeps its name; an unnamed one has none") {
    boost::asio::io_context io;
    auto a = spawn(io.get_executor(), pending<void>(), "acceptor");
    auto b = spawn(io.get_executor(), pending<void>());
    auto tasks = debug::tasks(io);
    CHECK(find(tasks, a.id()).name == "acceptor");
    CHECK(find(tasks, b.id()).name.empty());
    a.abort();
    b.abort();
    io.run();
}

TEST_CASE("task ids count up from 1 in spawn order") {
    boost::asio::io_context io;
    auto a = spawn(io.get_executor(), pending<void>());
    auto b = spawn(io.get_executor(), pending<void>());
    auto tasks = debug::tasks(io);
    REQUIRE(tasks.size() == 2);
    CHECK(tasks[0].id == 1);
    CHECK(tasks[1].id == 2);
    a.abort();
    b.abort();
    io.run();
}

TEST_CASE("the await site is the line of the co_await the task is suspended on") {
    boost::asio::io_context io;
    auto h = spawn(io.get_executor(), yield_then_wait_forever());
    io.run_one(); // first poll: suspends at the yield
    auto t = debug::tasks(io).at(0);
    CHECK(is_this_file(t.await_site));
    CHECK(t.await_site.line() == yield_line);
    io.run(); // the second poll suspends for good
    io.restart();
    t = debug::tasks(io).at(0);
    CHECK(t.await_site.line() == forever_line);
    CHECK(t.state == debug::TaskRunState::idle);
    CHECK(t.polls == 2);
    h.abort();
    io.run();
}

TEST_CASE("the await site of a nested coroutine is the innermost co_await") {
    boost::asio::io_context io;
    auto h = spawn(io.get_executor(), outer_awaits_inner());
    io.run();
    io.restart();
    auto t = debug::tasks(io).at(0);
    CHECK(t.await_site.line() == inner_line);
    h.abort();
    io.run();
}

TEST_CASE("a co_await spread over two lines records the line of the co_await keyword") {
    boost::asio::io_context io;
    auto h = spawn(io.get_executor(), multi_line_co_await());
    io.run();
    io.restart();
    CHECK(debug::tasks(io).at(0).await_site.line() == multi_line_await);
    h.abort();
    io.run();
}

TEST_CASE("an AsyncStream's co_await records its await site") {
    boost::asio::io_context io;
    auto h = spawn(io.get_executor(), drain(stream_that_waits()));
    io.run();
    io.restart();
    CHECK(debug::tasks(io).at(0).await_site.line() == stream_line);
    h.abort();
    io.run();
}

TEST_CASE("a task without coroutines has no await site") {
    boost::asio::io_context io;
    auto h = spawn(io.get_executor(), pending<void>());
    io.run();
    io.restart();
    auto t = debug::tasks(io).at(0);
    CHECK(t.await_site.line() == 0);
    CHECK(t.polls == 1);
    h.abort();
    io.run();
}

TEST_CASE("a finished task leaves the registry") {
    boost::asio::io_context io;
    auto h = spawn(io.get_executor(), returns_seven());
    CHECK(debug::tasks(io).size() == 1);
    io.run();
    CHECK(debug::tasks(io).empty());
    CHECK(h.is_finished());
}

TEST_CASE("an aborted task that has not run yet shows as cancelled") {
    boost::asio::io_context io;
    auto h = spawn(io.get_executor(), pending<void>());
    h.abort();
    auto t = debug::tasks(io).at(0);
    CHECK(t.cancelled);
    CHECK(t.state == debug::TaskRunState::scheduled);
    io.run();
    CHECK(debug::tasks(io).empty());
}

TEST_CASE("a task that woke itself shows as scheduled until its next poll") {
    // Whatever the scheduler does between the poll and the posted re-poll,
    // the dump says scheduled (docs/performance.md, the self-wake handoff).
    boost::asio::io_context io;
    auto h = spawn(io.get_executor(), yield_now());
    REQUIRE(io.run_one() == 1); // the first poll: woke itself
    auto t = debug::tasks(io).at(0);
    CHECK(t.state == debug::TaskRunState::scheduled);
    CHECK(t.polls == 1);
    io.run();
    CHECK(h.is_finished());
}

TEST_CASE("without detailed metrics no poll time is recorded") {
    boost::asio::io_context io;
    auto h = spawn(io.get_executor(), pending<void>());
    io.run();
    io.restart();
    auto t = debug::tasks(io).at(0);
    CHECK_FALSE(t.since_last_poll.has_value());
    CHECK(t.poll_time.count() == 0);
    h.abort();
    io.run();
}

TEST_CASE("with detailed metrics a dump shows the time since the last poll") {
    boost::asio::io_context io;
    debug::enable_detailed_metrics(io);
    auto h = spawn(io.get_executor(), pending<void>());
    io.run();
    io.restart();
    auto t = debug::tasks(io).at(0);
    REQUIRE(t.since_last_poll.has_value());
    CHECK(t.since_last_poll->count() >= 0);
    CHECK(debug::dump(io).find("last poll") != std::string::npos);
    h.abort();
    io.run();
}
