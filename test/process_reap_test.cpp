// pollux::process at scale: every child reaped (no zombie), no descriptor
// left, with children waited for, dropped, and spawned from several
// runtimes at once. Run twice by meson: pidfd path and polling path
// (POLLUX_PROCESS_WAIT=poll).
#include <pollux/core/async.hpp>
#include <pollux/process.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/child_scan.hpp"
#include "support/open_fds.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <sys/resource.h>
#include <thread>
#include <vector>

using namespace pollux;
using process::Command;
using process::Stdio;
using test::eventually;
using test::open_fds;
using test::zombie_children;

namespace {

// Room for every child's pidfd and pipes at once; restored by the destructor.
class RaiseFdLimit {
public:
    explicit RaiseFdLimit(rlim_t want) {
        ::getrlimit(RLIMIT_NOFILE, &old_);
        rlimit lim = old_;
        if (lim.rlim_cur < want) {
            lim.rlim_cur = std::min(want, lim.rlim_max);
            ::setrlimit(RLIMIT_NOFILE, &lim);
        }
    }
    ~RaiseFdLimit() { ::setrlimit(RLIMIT_NOFILE, &old_); }
    RaiseFdLimit(const RaiseFdLimit&) = delete;
    RaiseFdLimit& operator=(const RaiseFdLimit&) = delete;

private:
    rlimit old_{};
};

// Warm up: the reaper's thread and two descriptors exist from the first
// spawn on, for the process's life.
void warm_up() {
    Runtime rt;
    auto st = rt.block_on(Command("/bin/true").status());
    REQUIRE(st);
}

Async<bool> run_true_and_wait() {
    auto c = Command("/bin/true").stdin(Stdio::null()).stdout(Stdio::null()).spawn();
    if (!c) {
        co_return false;
    }
    auto st = co_await c->wait();
    co_return st && st->success();
}

} // namespace

TEST_CASE("1,000 concurrent children: every one waited for, no zombie, no descriptor left",
          "[process][reap]") {
    warm_up();
    RaiseFdLimit room(8192);
    const std::size_t fds_before = open_fds();
    constexpr int n = 1000;
    int good = 0;
    {
        Runtime rt;
        good = rt.block_on([]() -> Async<int> {
            // Every child is spawned before any is waited for.
            std::vector<process::Child> kids;
            kids.reserve(n);
            for (int i = 0; i < n; ++i) {
                auto c = Command("/bin/true").stdout(Stdio::null()).spawn();
                REQUIRE(c);
                kids.push_back(std::move(*c));
            }
            int ok = 0;
            for (auto& k : kids) {
                auto st = co_await k.wait();
                ok += st && st->success() ? 1 : 0;
            }
            co_return ok;
        }());
    }
    CHECK(good == n);
    CHECK(zombie_children() == 0);
    CHECK(eventually([&] { return open_fds() == fds_before; }));
}

TEST_CASE("1,000 concurrent children with piped output: every pipe closed afterwards",
          "[process][reap]") {
    warm_up();
    RaiseFdLimit room(8192);
    const std::size_t fds_before = open_fds();
    constexpr int n = 1000;
    int good = 0;
    {
        Runtime rt;
        good = rt.block_on([]() -> Async<int> {
            std::vector<JoinHandle<bool>> hs;
            hs.reserve(n);
            for (int i = 0; i < n; ++i) {
                hs.push_back(spawn([](int k) -> Async<bool> {
                    auto out = co_await Command("/bin/echo").arg(std::to_string(k)).output();
                    co_return out && out->status.success() &&
                        out->stdout == std::to_string(k) + "\n";
                }(i)));
            }
            int ok = 0;
            for (auto& h : hs) {
                ok += co_await std::move(h) ? 1 : 0;
            }
            co_return ok;
        }());
    }
    CHECK(good == n);
    CHECK(zombie_children() == 0);
    CHECK(eventually([&] { return open_fds() == fds_before; }));
}

TEST_CASE("1,000 children dropped without a wait are all reaped", "[process][reap]") {
    warm_up();
    RaiseFdLimit room(8192);
    const std::size_t fds_before = open_fds();
    {
        Runtime rt;
        rt.block_on([]() -> Async<> {
            for (int i = 0; i < 1000; ++i) {
                auto c = Command("/bin/true").stdout(Stdio::piped()).spawn();
                REQUIRE(c);
            } // each Child (and its pipe) dropped at once
            co_return;
        }());
    }
    CHECK(eventually([] { return zombie_children() == 0; }));
    CHECK(eventually([&] { return open_fds() == fds_before; }));
}

TEST_CASE("children spawned from four runtimes at once are all reaped", "[process][reap]") {
    warm_up();
    RaiseFdLimit room(8192);
    const std::size_t fds_before = open_fds();
    std::atomic<int> good{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
        ts.emplace_back([&] {
            Runtime rt(RuntimeOptions{2});
            const int ok = rt.block_on([]() -> Async<int> {
                std::vector<JoinHandle<bool>> hs;
                for (int i = 0; i < 100; ++i) {
                    hs.push_back(spawn(run_true_and_wait()));
                }
                int k = 0;
                for (auto& h : hs) {
                    k += co_await std::move(h) ? 1 : 0;
                }
                co_return k;
            }());
            good += ok;
        });
    }
    for (auto& t : ts) {
        t.join();
    }
    CHECK(good.load() == 400);
    CHECK(zombie_children() == 0);
    CHECK(eventually([&] { return open_fds() == fds_before; }));
}
