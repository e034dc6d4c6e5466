// pollux::fs's errors (pollux/fs/error.hpp, docs/fs.md "Errors"): the errno
// as an error_code whose message names the path, that still compares equal
// to the errc conditions, with its interning table bounded and thread-safe.
// Runs on the ring and, as fs_error_pool, on the pool (test/meson.build).
#include <pollux/core/async.hpp>
#include <pollux/fs.hpp>
#include <pollux/fs/error.hpp>
#include <pollux/io.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/result_string.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace pollux;
using pollux::test::TempDir;
using errc = boost::system::errc::errc_t;

namespace {

std::string strerror_of(int err) {
    return boost::system::system_category().message(err);
}

// Restores the table's bound at the end of a case, also when it fails.
class LimitsGuard {
public:
    LimitsGuard(std::size_t entries, std::size_t bytes)
        : old_(fs::detail::set_path_category_limits(entries, bytes)) {}
    LimitsGuard(const LimitsGuard&) = delete;
    LimitsGuard& operator=(const LimitsGuard&) = delete;
    ~LimitsGuard() { (void)fs::detail::set_path_category_limits(old_.first, old_.second); }

private:
    std::pair<std::size_t, std::size_t> old_;
};

} // namespace

TEST_CASE("fs::read of a missing file: the message names the path, the value is ENOENT",
          "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    const auto path = dir / "missing";
    auto r = rt.block_on(fs::read(path));
    REQUIRE_FALSE(r);
    const boost::system::error_code ec = r.error();
    CHECK(ec.message() == path.native() + ": " + strerror_of(ENOENT));
    CHECK(ec.value() == ENOENT);
    CHECK(std::string(ec.category().name()) == "pollux.fs");
    CHECK(fs::error_path(ec) == path.native());
}

TEST_CASE("An error that names its path still equals the errc conditions, boost's and std's",
          "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    auto r = rt.block_on(fs::metadata(dir / "missing"));
    REQUIRE_FALSE(r);
    const boost::system::error_code ec = r.error();
    CHECK(ec == errc::no_such_file_or_directory);
    CHECK(ec == std::errc::no_such_file_or_directory);
    CHECK(ec != errc::permission_denied);
    CHECK(ec.default_error_condition() ==
          boost::system::error_condition(ENOENT, boost::system::generic_category()));
    CHECK(fs::error_path(ec) == (dir / "missing").native());
}

TEST_CASE("An error that names its path converts to a std::error_code with its value, condition "
          "and message",
          "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    auto r = rt.block_on(fs::read(dir / "missing"));
    REQUIRE_FALSE(r);
    const std::error_code sec = r.error();
    CHECK(sec.value() == ENOENT);
    CHECK(sec == std::errc::no_such_file_or_directory);
    CHECK(sec.default_error_condition() == std::errc::no_such_file_or_directory);
    CHECK(sec.message() == (dir / "missing").native() + ": " + strerror_of(ENOENT));
}

TEST_CASE("Result::value() of a failed operation throws a system_error that names the path",
          "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    auto r = rt.block_on(fs::read(dir / "missing"));
    REQUIRE_FALSE(r);
    try {
        (void)r.value();
        FAIL("value() did not throw");
    } catch (const boost::system::system_error& e) {
        CHECK(std::string(e.what()).find((dir / "missing").native()) != std::string::npos);
        CHECK(e.code() == errc::no_such_file_or_directory);
    }
}

TEST_CASE("An error that names its path is not equal to make_error_code of its errc: compare "
          "conditions",
          "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    auto r = rt.block_on(fs::read(dir / "missing"));
    REQUIRE_FALSE(r);
    // Two error_codes are equal only in one category (docs/fs.md, "Errors").
    CHECK(r.error() != boost::system::errc::make_error_code(errc::no_such_file_or_directory));
    CHECK(r.error() == errc::no_such_file_or_directory);
}

TEST_CASE("File::open of a missing file names the path", "[fs][errors][file]") {
    TempDir dir;
    Runtime rt;
    const auto path = dir / "missing";
    auto r = rt.block_on(fs::File::open(path));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_such_file_or_directory);
    CHECK(r.error().value() == ENOENT);
    CHECK(r.error().message() == path.native() + ": " + strerror_of(ENOENT));
}

TEST_CASE("A directory opened for writing fails with EISDIR naming the directory",
          "[fs][errors][file]") {
    TempDir dir;
    Runtime rt;
    auto r = rt.block_on(fs::OpenOptions().write(true).open(dir.path()));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::is_a_directory);
    CHECK(r.error().value() == EISDIR);
    CHECK(r.error().message() == dir.path().native() + ": " + strerror_of(EISDIR));
    // The runtime keeps serving.
    CHECK(rt.block_on(fs::metadata(dir.path())));
}

TEST_CASE("fs::rename of a missing source names both paths", "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    const auto from = dir / "gone";
    const auto to = dir / "target";
    auto r = rt.block_on(fs::rename(from, to));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_such_file_or_directory);
    CHECK(r.error().message() == from.native() + " -> " + to.native() + ": " + strerror_of(ENOENT));
    CHECK(fs::error_path(r.error()) == from.native() + " -> " + to.native());
}

TEST_CASE("fs::copy, hard_link and symlink name both paths", "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    const auto from = dir / "gone";
    const auto to = dir / "copy";
    const std::string both = from.native() + " -> " + to.native() + ": ";
    auto c = rt.block_on(fs::copy(from, to));
    REQUIRE_FALSE(c);
    CHECK(c.error().message() == both + strerror_of(ENOENT));
    auto h = rt.block_on(fs::hard_link(from, to));
    REQUIRE_FALSE(h);
    CHECK(h.error().message() == both + strerror_of(ENOENT));
    REQUIRE(rt.block_on(fs::write(to, std::string_view("x"))));
    auto s = rt.block_on(fs::symlink(from, to));
    REQUIRE_FALSE(s);
    CHECK(s.error() == errc::file_exists);
    CHECK(s.error().message() == both + strerror_of(EEXIST));
}

TEST_CASE("fs::read_dir of a missing directory names it", "[fs][errors][read_dir]") {
    TempDir dir;
    Runtime rt;
    const auto path = dir / "nodir";
    auto r = rt.block_on(fs::read_dir(path));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_such_file_or_directory);
    CHECK(r.error().message() == path.native() + ": " + strerror_of(ENOENT));
}

TEST_CASE("Each path operation's error names its path", "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    const auto m = dir / "missing";
    const std::string named = m.native() + ": " + strerror_of(ENOENT);
    auto message = [](const auto& r) { return r ? std::string("ok") : r.error().message(); };
    CHECK(message(rt.block_on(fs::read_to_string(m))) == named);
    CHECK(message(rt.block_on(fs::write(m / "below", std::string_view("x")))) ==
          (m / "below").native() + ": " + strerror_of(ENOENT));
    CHECK(message(rt.block_on(fs::remove_file(m))) == named);
    CHECK(message(rt.block_on(fs::remove_dir(m))) == named);
    CHECK(message(rt.block_on(fs::remove_dir_all(m))) == named);
    CHECK(message(rt.block_on(fs::create_dir(m / "below"))) ==
          (m / "below").native() + ": " + strerror_of(ENOENT));
    CHECK(message(rt.block_on(fs::read_link(m))) == named);
    CHECK(message(rt.block_on(fs::canonicalize(m))) == named);
    CHECK(message(rt.block_on(fs::metadata(m))) == named);
    CHECK(message(rt.block_on(fs::symlink_metadata(m))) == named);
    CHECK(message(rt.block_on(fs::set_permissions(m, fs::Permissions::from_mode(0644)))) == named);
    CHECK(message(rt.block_on(fs::File::create(m / "below"))) ==
          (m / "below").native() + ": " + strerror_of(ENOENT));
    REQUIRE(rt.block_on(fs::write(dir / "file", std::string_view("x"))));
    CHECK(message(rt.block_on(fs::try_exists(dir / "file" / "below"))) ==
          (dir / "file" / "below").native() + ": " + strerror_of(ENOTDIR));
    CHECK(message(rt.block_on(fs::create_dir_all(dir / "file" / "below"))) ==
          (dir / "file" / "below").native() + ": " + strerror_of(ENOTDIR));
}

TEST_CASE("fs::watch of a missing path names the path", "[fs][errors][watch]") {
    TempDir dir;
    Runtime rt;
    rt.block_on([&]() -> Async<> {
        auto w = fs::watch(dir / "missing");
        REQUIRE_FALSE(w);
        CHECK(w.error() == errc::no_such_file_or_directory);
        CHECK(w.error().message() == (dir / "missing").native() + ": " + strerror_of(ENOENT));
        co_return;
    }());
}

TEST_CASE("Errors of an open File carry no path: the system category", "[fs][errors][file]") {
    TempDir dir;
    Runtime rt;
    auto f = rt.block_on(fs::File::create(dir / "f"));
    REQUIRE(f);
    char buf[4];
    auto n = rt.block_on(io::read(*f, boost::asio::buffer(buf)));
    REQUIRE_FALSE(n);
    CHECK(n.error() == errc::bad_file_descriptor);
    CHECK(n.error().category() == boost::system::system_category());
    CHECK(fs::error_path(n.error()).empty());
}

TEST_CASE("An empty path gives the plain system error", "[fs][errors]") {
    Runtime rt;
    auto r = rt.block_on(fs::read(std::filesystem::path()));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::no_such_file_or_directory);
    CHECK(r.error().category() == boost::system::system_category());
}

TEST_CASE("Two errors for one path are equal; for two paths they differ", "[fs][errors]") {
    TempDir dir;
    Runtime rt;
    auto a = rt.block_on(fs::read(dir / "a"));
    auto a2 = rt.block_on(fs::metadata(dir / "a"));
    auto b = rt.block_on(fs::read(dir / "b"));
    REQUIRE_FALSE(a);
    REQUIRE_FALSE(a2);
    REQUIRE_FALSE(b);
    CHECK(a.error() == a2.error());
    CHECK(&a.error().category() == &a2.error().category());
    CHECK(a.error() != b.error());
}

TEST_CASE("The table's bound: past it, errors are plain system errors with the same value",
          "[fs][errors][bound]") {
    TempDir dir;
    Runtime rt;
    // Interned before the bound is lowered: it keeps its category.
    auto known = rt.block_on(fs::read(dir / "known"));
    REQUIRE_FALSE(known);
    REQUIRE(fs::error_path(known.error()) == (dir / "known").native());
    const std::size_t count = fs::detail::path_category_count();
    {
        LimitsGuard full(count, fs::path_category_max_bytes); // no room for one more path
        auto r = rt.block_on(fs::read(dir / "new"));
        REQUIRE_FALSE(r);
        CHECK(r.error().category() == boost::system::system_category());
        CHECK(r.error().value() == ENOENT);
        CHECK(r.error().message() == strerror_of(ENOENT));
        CHECK(fs::detail::path_category_count() == count);
        auto again = rt.block_on(fs::read(dir / "known"));
        REQUIRE_FALSE(again);
        CHECK(again.error().message() == (dir / "known").native() + ": " + strerror_of(ENOENT));
    }
    {
        LimitsGuard no_bytes(fs::path_category_max_entries, 0); // no room for its text
        auto r = rt.block_on(fs::metadata(dir / "new"));
        REQUIRE_FALSE(r);
        CHECK(r.error().category() == boost::system::system_category());
        CHECK(r.error() == errc::no_such_file_or_directory);
    }
    // With room again, the path is named.
    auto r = rt.block_on(fs::read(dir / "new"));
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == (dir / "new").native() + ": " + strerror_of(ENOENT));
    CHECK(fs::detail::path_category_count() == count + 1);
}

TEST_CASE("Many threads making errors for distinct and the same paths", "[fs][errors][threads]") {
    constexpr int threads = 8;
    constexpr int rounds = 50;
    const std::filesystem::path same = "/pollux-fs-error-test/same";
    std::vector<const boost::system::error_category*> seen(threads, nullptr);
    std::vector<int> bad(threads, 0);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            const boost::system::error_code plain(EACCES, boost::system::system_category());
            for (int i = 0; i < rounds; ++i) {
                const auto s = fs::detail::path_error(plain, same);
                if (seen[t] == nullptr) {
                    seen[t] = &s.category();
                }
                if (&s.category() != seen[t] ||
                    s.message() != same.native() + ": " + strerror_of(EACCES)) {
                    ++bad[t];
                }
                const std::filesystem::path own =
                    "/pollux-fs-error-test/t" + std::to_string(t) + "/" + std::to_string(i);
                const auto d = fs::detail::path_error(plain, own);
                if (d.message() != own.native() + ": " + strerror_of(EACCES) ||
                    d != errc::permission_denied) {
                    ++bad[t];
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    for (int t = 0; t < threads; ++t) {
        CHECK(bad[t] == 0);
        CHECK(seen[t] == seen[0]);
    }
}

TEST_CASE("Operations failing at once on a multi-threaded runtime each name their own path",
          "[fs][errors][threads]") {
    TempDir dir;
    RuntimeOptions opts;
    opts.worker_threads = 4;
    Runtime rt(opts);
    constexpr int tasks = 64;
    const int wrong = rt.block_on([&]() -> Async<int> {
        std::vector<JoinHandle<bool>> handles;
        for (int i = 0; i < tasks; ++i) {
            // 16 paths, each failing in 4 tasks at once.
            auto path = dir / ("missing" + std::to_string(i % 16));
            handles.push_back(spawn([](std::filesystem::path p) -> Async<bool> {
                auto r = co_await fs::metadata(p);
                co_return !r && r.error() == errc::no_such_file_or_directory &&
                    r.error().message() == p.native() + ": " + strerror_of(ENOENT);
            }(std::move(path))));
        }
        int n = 0;
        for (auto& h : handles) {
            if (!co_await h) {
                ++n;
            }
        }
        co_return n;
    }());
    CHECK(wrong == 0);
}
