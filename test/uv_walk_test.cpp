// uv::walk, Handle::type and uv::guess_handle: libuv 1.44's
// test-walk-handles.c ported, the uv_walk rules of uv-common.c (closing
// handles are visited, closed ones are not, the callback may close or
// destroy handles) and uv_guess_handle's table (src/unix/tty.c), including
// the guess_handle checks of test-tty.c. docs/callbacks.md ("libuv's own
// tests") lists each libuv test and where it went.
#include <pollux/uv/guess_handle.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/uv/async_handle.hpp>
#include <pollux/uv/check.hpp>
#include <pollux/uv/handle.hpp>
#include <pollux/uv/idle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/mailbox.hpp>
#include <pollux/uv/poll.hpp>
#include <pollux/uv/prepare.hpp>
#include <pollux/uv/signal.hpp>
#include <pollux/uv/timer.hpp>
#include <pollux/uv/udp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <netinet/in.h>
#include <pty.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;

namespace {

// The handles `walk` visits, in order.
std::vector<uv::Handle*> walked(uv::Loop& loop) {
    std::vector<uv::Handle*> seen;
    uv::walk(loop, [&](uv::Handle& h) { seen.push_back(&h); });
    return seen;
}

// A descriptor closed at scope exit.
struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) { REQUIRE(fd >= 0); }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { ::close(fd); }
};

std::string temp_path(const char* what) {
    return (std::filesystem::temp_directory_path() /
            ("pollux_uv_walk_test_" + std::to_string(::getpid()) + "_" + what))
        .string();
}

} // namespace

// ---- test-walk-handles.c ---------------------------------------------------------

TEST_CASE("walk_handles: a timer is visited from its own callback, not after it closed",
          "[uv][walk][libuv]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    int seen_timer = 0;
    int unexpected = 0;
    auto walk_cb = [&](uv::Handle& h) {
        if (&h == &timer) {
            ++seen_timer;
        } else {
            ++unexpected;
        }
    };
    REQUIRE_FALSE(timer.start(
        [&] {
            uv::walk(loop, walk_cb);
            timer.close();
        },
        1ms));
    REQUIRE(seen_timer == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(seen_timer == 1);
    seen_timer = 0;
    uv::walk(loop, walk_cb);
    REQUIRE(seen_timer == 0);
    REQUIRE(unexpected == 0);
}

// ---- uv_walk's rules (uv-common.c) -----------------------------------------------

TEST_CASE("uv::walk visits open and closing handles in creation order, not closed ones",
          "[uv][walk]") {
    uv::Loop loop;
    uv::Timer a(loop);
    uv::Idle b(loop);
    uv::Check c(loop);
    REQUIRE(walked(loop) == std::vector<uv::Handle*>{&a, &b, &c});
    int closed = 0;
    b.close([&] {
        ++closed;
        // Not visited inside its own close callback either: libuv removes
        // it from the handle queue first.
        REQUIRE(walked(loop) == std::vector<uv::Handle*>{&a, &c});
    });
    REQUIRE(walked(loop) == std::vector<uv::Handle*>{&a, &b, &c}); // closing
    REQUIRE(b.is_closing());
    REQUIRE(loop.run() == 0);
    REQUIRE(closed == 1);
    REQUIRE(walked(loop) == std::vector<uv::Handle*>{&a, &c});
    REQUIRE(loop.handle_count() == 2);
}

TEST_CASE("uv::walk: closing every handle from the callback lets the loop end", "[uv][walk]") {
    uv::Loop loop;
    uv::Timer t(loop);
    uv::Idle idle(loop);
    uv::Prepare prep(loop);
    REQUIRE_FALSE(t.start([] {}, 1h));
    REQUIRE_FALSE(idle.start([] {}));
    REQUIRE_FALSE(prep.start([] {}));
    int closed = 0;
    int visits = 0;
    uv::walk(loop, [&](uv::Handle& h) {
        ++visits;
        if (!h.is_closing()) {
            h.close([&] { ++closed; });
        }
    });
    REQUIRE(visits == 3);
    REQUIRE(loop.run() == 0);
    REQUIRE(closed == 3);
    REQUIRE(walked(loop).empty());
}

TEST_CASE("uv::walk: a handle destroyed before its turn is skipped; one made during it is not "
          "visited",
          "[uv][walk]") {
    uv::Loop loop;
    auto first = std::make_unique<uv::Timer>(loop);
    auto second = std::make_unique<uv::Timer>(loop);
    auto third = std::make_unique<uv::Idle>(loop);
    std::unique_ptr<uv::Check> made;
    std::vector<uv::Handle*> seen;
    uv::walk(loop, [&](uv::Handle& h) {
        seen.push_back(&h);
        if (&h == first.get()) {
            second.reset();
            made = std::make_unique<uv::Check>(loop);
        }
    });
    REQUIRE(seen == std::vector<uv::Handle*>{first.get(), third.get()});
    // As libuv's queue: the new handle went to the loop's list after the
    // handles visited so far, before those put back after it.
    REQUIRE(walked(loop) == std::vector<uv::Handle*>{first.get(), made.get(), third.get()});
}

TEST_CASE("uv::walk: the callback may destroy the handle it is given", "[uv][walk]") {
    uv::Loop loop;
    auto a = std::make_unique<uv::Timer>(loop);
    uv::Idle b(loop);
    int visits = 0;
    uv::walk(loop, [&](uv::Handle& h) {
        ++visits;
        if (&h == a.get()) {
            a.reset();
        }
    });
    REQUIRE(visits == 2);
    REQUIRE(walked(loop) == std::vector<uv::Handle*>{&b});
}

TEST_CASE("uv::walk: an exception from the callback stops the walk and keeps every handle",
          "[uv][walk]") {
    uv::Loop loop;
    uv::Timer a(loop);
    uv::Idle b(loop);
    uv::Check c(loop);
    int visits = 0;
    REQUIRE_THROWS_AS(uv::walk(loop,
                               [&](uv::Handle&) {
                                   ++visits;
                                   throw std::runtime_error("stop");
                               }),
                      std::runtime_error);
    REQUIRE(visits == 1);
    const std::vector<uv::Handle*> all = walked(loop);
    REQUIRE(all.size() == 3);
    REQUIRE(loop.handle_count() == 3);
}

TEST_CASE("uv::walk of a loop without handles calls nothing", "[uv][walk]") {
    uv::Loop loop;
    int visits = 0;
    uv::walk(loop, [&](uv::Handle&) { ++visits; });
    REQUIRE(visits == 0);
}

// ---- Handle::type (uv_handle_get_type) --------------------------------------------

TEST_CASE("Handle::type names each kind of handle", "[uv][walk]") {
    uv::Loop loop;
    uv::Timer timer(loop);
    uv::Idle idle(loop);
    uv::Prepare prepare(loop);
    uv::Check check(loop);
    uv::AsyncHandle async(loop, [] {});
    uv::Mailbox<int> mailbox(loop, [](int) {});
    uv::Signal signal(loop);
    uv::Udp udp(loop);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    Fd s0(sv[0]);
    Fd s1(sv[1]);
    uv::Poll poll(loop, s0.fd);
    CHECK(timer.type() == uv::HandleType::timer);
    CHECK(idle.type() == uv::HandleType::idle);
    CHECK(prepare.type() == uv::HandleType::prepare);
    CHECK(check.type() == uv::HandleType::check);
    CHECK(async.type() == uv::HandleType::async);
    CHECK(mailbox.type() == uv::HandleType::async);
    CHECK(signal.type() == uv::HandleType::signal);
    CHECK(udp.type() == uv::HandleType::udp);
    CHECK(poll.type() == uv::HandleType::poll);
    // libuv's values, so that a table indexed by uv_handle_type fits.
    CHECK(static_cast<int>(uv::HandleType::unknown) == 0);
    CHECK(static_cast<int>(uv::HandleType::tcp) == 12);
    CHECK(static_cast<int>(uv::HandleType::file) == 17);
    // Still told while closing, as uv_handle_get_type.
    timer.close();
    CHECK(timer.type() == uv::HandleType::timer);
    REQUIRE(loop.run(uv::RunMode::NoWait) >= 0);
}

// ---- uv_guess_handle (src/unix/tty.c; test-tty.c's checks) -------------------------

TEST_CASE("tty: guess_handle of -1 and of a closed descriptor is unknown", "[uv][guess_handle]") {
    CHECK(uv::guess_handle(-1) == uv::HandleType::unknown);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    ::close(fds[0]);
    ::close(fds[1]);
    CHECK(uv::guess_handle(fds[0]) == uv::HandleType::unknown);
}

TEST_CASE("tty: guess_handle of both ends of a pty is tty", "[uv][guess_handle]") {
    int master = -1;
    int slave = -1;
    REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
    Fd m(master);
    Fd s(slave);
    CHECK(uv::guess_handle(slave) == uv::HandleType::tty);
    CHECK(uv::guess_handle(master) == uv::HandleType::tty);
}

TEST_CASE("guess_handle of a regular file and of /dev/null is file", "[uv][guess_handle]") {
    const std::string path = temp_path("file");
    {
        Fd f(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        CHECK(uv::guess_handle(f.fd) == uv::HandleType::file);
    }
    std::filesystem::remove(path);
    Fd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    CHECK(uv::guess_handle(null.fd) == uv::HandleType::file); // a character device
}

TEST_CASE("guess_handle of a directory is unknown", "[uv][guess_handle]") {
    Fd dir(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    CHECK(uv::guess_handle(dir.fd) == uv::HandleType::unknown);
}

TEST_CASE("guess_handle of a pipe, a FIFO and a Unix stream socket is named_pipe",
          "[uv][guess_handle]") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    Fd r(fds[0]);
    Fd w(fds[1]);
    CHECK(uv::guess_handle(r.fd) == uv::HandleType::named_pipe);
    CHECK(uv::guess_handle(w.fd) == uv::HandleType::named_pipe);
    const std::string fifo = temp_path("fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    {
        Fd f(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));
        CHECK(uv::guess_handle(f.fd) == uv::HandleType::named_pipe);
    }
    std::filesystem::remove(fifo);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    Fd s0(sv[0]);
    Fd s1(sv[1]);
    CHECK(uv::guess_handle(s0.fd) == uv::HandleType::named_pipe);
}

TEST_CASE("guess_handle of a Unix datagram socket is unknown", "[uv][guess_handle]") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0);
    Fd s0(sv[0]);
    Fd s1(sv[1]);
    CHECK(uv::guess_handle(s0.fd) == uv::HandleType::unknown);
}

TEST_CASE("guess_handle of IPv4 and IPv6 stream and datagram sockets is tcp and udp",
          "[uv][guess_handle]") {
    Fd tcp4(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    Fd udp4(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    CHECK(uv::guess_handle(tcp4.fd) == uv::HandleType::tcp); // unbound: the family still says
    CHECK(uv::guess_handle(udp4.fd) == uv::HandleType::udp);
    const int tcp6 = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (tcp6 >= 0) { // no IPv6 in some containers
        Fd t(tcp6);
        Fd u(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        CHECK(uv::guess_handle(t.fd) == uv::HandleType::tcp);
        CHECK(uv::guess_handle(u.fd) == uv::HandleType::udp);
    }
}
