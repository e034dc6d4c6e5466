// Allocation counts of pollux::fs on the worker pool (io_uring off). This
// binary replaces the global operator new (support/alloc_counter.hpp), so it
// is its own test executable, as the other *_alloc tests are.
#include <pollux/core/async.hpp>
#include <pollux/fs.hpp>
#include <pollux/runtime.hpp>

#include "support/alloc_counter.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

using pollux::test::allocations;
using pollux::test::TempDir;

using namespace pollux;

namespace {

constexpr int warm_up = 200;
constexpr int rounds = 2000;

void put(const std::filesystem::path& p, const std::string& s) {
    std::ofstream(p, std::ios::binary) << s;
}

} // namespace

// The op block (with the 4 KiB buffer inside it) and the pool job; the
// wake-up's post to the io_context adds Asio's operation when its recycling
// cache misses (the job's thread allocates it, the loop's thread frees it):
// 2.3-2.9 per read measured. Before: the op, its buffer, a ring cancel
// block, the backend's std::function and the job (five, plus the post).
TEST_CASE("fs: File::read_at of 4 KiB on the pool allocates fewer than four times per read",
          "[fs][pool][alloc]") {
    TempDir dir;
    put(dir / "f", std::string(64 * 1024, 'x'));
    Runtime rt(RuntimeOptions{.io_uring = false});
    const double per_read = rt.block_on([&]() -> Async<double> {
        auto f = co_await fs::File::open(dir / "f");
        REQUIRE(f.has_value());
        std::vector<char> buf(4096);
        for (int i = 0; i < warm_up; ++i) {
            auto n = co_await f->read_at(boost::asio::buffer(buf), (i % 16) * 4096u);
            REQUIRE(n.has_value());
        }
        // No Catch assertion inside the counted loop (a reporter may allocate).
        int bad = 0;
        const std::size_t before = allocations.load();
        for (int i = 0; i < rounds; ++i) {
            auto n = co_await f->read_at(boost::asio::buffer(buf), (i % 16) * 4096u);
            if (!n || *n != 4096) {
                ++bad;
            }
        }
        const std::size_t used = allocations.load() - before;
        REQUIRE(bad == 0);
        co_return static_cast<double>(used) / rounds;
    }());
    INFO("allocations per read_at: " << per_read);
    CHECK(per_read < 4.0);
}
