#include <pollux/uv/loop.hpp>
#include <pollux/uv/mailbox.hpp>

#include "support/loop_quiescent.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace pollux;
using pollux::test::require_loop_quiescent;

TEST_CASE("uv Mailbox from 8 threads delivers all 80,000 values exactly once, in order per sender",
          "[uv][mailbox][threads]") {
    constexpr int threads = 8;
    constexpr int sends_per_thread = 10000;
    constexpr int total = threads * sends_per_thread;

    uv::Loop loop;
    std::vector<int> seen(total, 0);
    std::vector<int> next_from(threads, 0);
    int mailbox_cb_called = 0;
    int out_of_order = 0;
    int close_cb_called = 0;
    uv::Mailbox<int> mailbox(loop, [&](int v) {
        ++mailbox_cb_called;
        ++seen[static_cast<std::size_t>(v)];
        const int sender = v / sends_per_thread;
        if (v % sends_per_thread != next_from[static_cast<std::size_t>(sender)]) {
            ++out_of_order;
        }
        next_from[static_cast<std::size_t>(sender)] = v % sends_per_thread + 1;
        if (mailbox_cb_called == total) {
            mailbox.close([&] { ++close_cb_called; });
        }
    });

    // Catch2's REQUIRE is not thread-safe: senders count refusals instead.
    std::atomic<int> refused{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < threads; ++t) {
        senders.emplace_back([&, t] {
            for (int i = 0; i < sends_per_thread; ++i) {
                if (!mailbox.send(t * sends_per_thread + i)) {
                    refused.fetch_add(1);
                }
            }
        });
    }
    REQUIRE(loop.run() == 0);
    for (auto& s : senders) {
        s.join();
    }
    REQUIRE(refused.load() == 0);
    REQUIRE(mailbox_cb_called == total);
    REQUIRE(out_of_order == 0);
    int not_once = 0;
    for (int n : seen) {
        not_once += n != 1 ? 1 : 0;
    }
    REQUIRE(not_once == 0);
    REQUIRE(close_cb_called == 1);
    REQUIRE_FALSE(mailbox.send(-1)); // closed
    require_loop_quiescent(loop);
}

TEST_CASE("uv Mailbox close delivers values sent before it, before the close callback",
          "[uv][mailbox][close]") {
    uv::Loop loop;
    std::vector<std::string> got;
    int close_cb_called = 0;
    uv::Mailbox<std::string> mailbox(loop, [&](std::string s) { got.push_back(std::move(s)); });
    REQUIRE(mailbox.send("a"));
    REQUIRE(mailbox.send("b"));
    REQUIRE(got.empty()); // never inside send()
    mailbox.close([&] {
        ++close_cb_called;
        REQUIRE(got.size() == 2);
    });
    REQUIRE_FALSE(mailbox.send("c"));
    REQUIRE(loop.run() == 0);
    REQUIRE(got == std::vector<std::string>{"a", "b"});
    REQUIRE(close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Mailbox destroyed with values queued destroys them undelivered",
          "[uv][mailbox][close]") {
    uv::Loop loop;
    auto token = std::make_shared<int>(1);
    int mailbox_cb_called = 0;
    {
        uv::Mailbox<std::shared_ptr<int>> mailbox(
            loop, [&](std::shared_ptr<int>) { ++mailbox_cb_called; });
        REQUIRE(mailbox.send(token));
        REQUIRE(token.use_count() == 2);
    }
    REQUIRE(token.use_count() == 1);
    REQUIRE(loop.run() == 0);
    REQUIRE(mailbox_cb_called == 0);
    require_loop_quiescent(loop);
}
