// The process core that pollux::process and uv::Process share
// (lib/process/spawn.hpp, a documented detail seam: this test's include
// path has lib/). Run twice by meson: as is (pidfd path) and with
// POLLUX_PROCESS_WAIT=poll (the polling path).
#include "process/spawn.hpp"
#include "support/child_scan.hpp"
#include "support/open_fds.hpp"
#include "support/wakers.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace dp = pollux::detail::process;
using pollux::test::eventually;
using pollux::test::zombie_children;

namespace {

dp::SpawnRequest request(std::string file, std::vector<std::string> args = {}) {
    dp::SpawnRequest r;
    r.file = std::move(file);
    r.args = std::move(args);
    r.fds = {dp::ChildFd::dev_null(), dp::ChildFd::dev_null(), dp::ChildFd::from_parent(2)};
    return r;
}

dp::ChildPtr spawn_ok(const dp::SpawnRequest& r) {
    auto c = dp::spawn(r);
    if (!c) {
        FAIL("spawn failed: " << c.error().message());
    }
    return *c;
}

// Runs `io` until `done()` (a 30 s hang guard).
template <class Pred>
bool run_until(boost::asio::io_context& io, Pred done) {
    auto guard = boost::asio::make_work_guard(io);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done() && std::chrono::steady_clock::now() < end) {
        io.run_for(std::chrono::milliseconds(5));
        if (io.stopped()) {
            io.restart();
        }
    }
    return done();
}

// The exit of `c`, waited for with on_exit on a fresh io_context.
dp::ExitResult wait_exit(const dp::ChildPtr& c) {
    boost::asio::io_context io;
    std::optional<dp::ExitResult> got;
    c->on_exit(io.get_executor(), [&](const dp::ExitResult& r) { got = r; });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    return *got;
}

// Spawns `r` with stdout on a pipe and returns everything it wrote.
std::string output_of(dp::SpawnRequest r) {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    r.fds.resize(3, dp::ChildFd::dev_null());
    r.fds[1] = dp::ChildFd::from_parent(p[1]);
    auto c = dp::spawn(r);
    ::close(p[1]);
    if (!c) {
        ::close(p[0]);
        FAIL("spawn failed: " << c.error().message());
    }
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(p[0], buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    ::close(p[0]);
    const dp::ExitResult e = wait_exit(*c);
    REQUIRE_FALSE(e.error);
    return out;
}

bool no_zombies() {
    return zombie_children() == 0;
}

} // namespace

TEST_CASE("spawn runs the program; on_exit reports exit 0 on the executor's thread",
          "[process][core]") {
    boost::asio::io_context io;
    auto c = spawn_ok(request("/bin/true"));
    REQUIRE(c->pid() > 0);
    int calls = 0;
    std::thread::id on;
    dp::ExitResult got;
    c->on_exit(io.get_executor(), [&](const dp::ExitResult& r) {
        ++calls;
        on = std::this_thread::get_id();
        got = r;
    });
    REQUIRE(run_until(io, [&] { return calls == 1; }));
    CHECK(on == std::this_thread::get_id());
    CHECK_FALSE(got.error);
    REQUIRE(WIFEXITED(got.status));
    CHECK(WEXITSTATUS(got.status) == 0);
    io.run_for(std::chrono::milliseconds(20));
    CHECK(calls == 1);
}

TEST_CASE("spawn of a missing program fails with ENOENT and leaves no child", "[process][core]") {
    auto c = dp::spawn(request("/nonexistent/pollux-no-such-program"));
    REQUIRE_FALSE(c);
    CHECK(c.error() == std::errc::no_such_file_or_directory);
    auto by_path = dp::spawn(request("pollux-no-such-program-in-path"));
    REQUIRE_FALSE(by_path);
    CHECK(by_path.error() == std::errc::no_such_file_or_directory);
    CHECK(zombie_children() == 0);
}

TEST_CASE("spawn of a file without execute permission fails with EACCES", "[process][core]") {
    char path[] = "/tmp/pollux-noexec-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "#!/bin/sh\n", 10) == 10);
    ::close(fd);
    REQUIRE(::chmod(path, 0644) == 0);
    auto c = dp::spawn(request(path));
    ::unlink(path);
    REQUIRE_FALSE(c);
    CHECK(c.error() == std::errc::permission_denied);
    CHECK(zombie_children() == 0);
}

TEST_CASE("spawn with a working directory that does not exist fails with ENOENT",
          "[process][core]") {
    auto r = request("/bin/true");
    r.cwd = "/nonexistent/pollux-no-such-dir";
    auto c = dp::spawn(r);
    REQUIRE_FALSE(c);
    CHECK(c.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("spawn runs the child in the working directory given", "[process][core]") {
    auto r = request("/bin/pwd");
    r.cwd = "/proc";
    CHECK(output_of(r) == "/proc\n");
}

TEST_CASE("spawn searches the PATH of the environment given", "[process][core]") {
    auto r = request("true");
    r.inherit_env = false;
    r.env = {"PATH=/nonexistent:/bin"};
    auto ok = spawn_ok(r);
    CHECK(WEXITSTATUS(wait_exit(ok).status) == 0);
    r.env = {"PATH=/nonexistent"};
    auto missing = dp::spawn(r);
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("spawn passes argv and the environment given", "[process][core]") {
    auto r = request("/bin/sh", {"sh", "-c", "echo \"$0 $1 $POLLUX_X\"", "zero", "one"});
    r.inherit_env = false;
    r.env = {"POLLUX_X=ex"};
    CHECK(output_of(r) == "zero one ex\n");
}

TEST_CASE("on_exit reports the exit code", "[process][core]") {
    auto c = spawn_ok(request("/bin/sh", {"sh", "-c", "exit 3"}));
    const dp::ExitResult e = wait_exit(c);
    REQUIRE(WIFEXITED(e.status));
    CHECK(WEXITSTATUS(e.status) == 3);
}

TEST_CASE("on_exit reports the terminating signal", "[process][core]") {
    auto c = spawn_ok(request("/bin/sh", {"sh", "-c", "kill -TERM $$; sleep 5"}));
    const dp::ExitResult e = wait_exit(c);
    REQUIRE(WIFSIGNALED(e.status));
    CHECK(WTERMSIG(e.status) == SIGTERM);
}

TEST_CASE("the child gets exactly the descriptors of its table", "[process][core]") {
    // Descriptors of this process the child must not see: a plain
    // close-on-exec one, as every descriptor pollux makes is.
    const int extra = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(extra >= 0);
    // `exit 0` keeps sh from exec'ing ls in its place: ls lists sh's table.
    auto r = request("/bin/sh", {"sh", "-c", "ls /proc/$$/fd; exit 0"});
    CHECK(output_of(r) == "0\n1\n2\n");
    SECTION("a table with a closed slot leaves that number closed") {
        auto r2 = request("/bin/sh", {"sh", "-c", "ls /proc/$$/fd; exit 0"});
        r2.fds[0] = dp::ChildFd::close();
        CHECK(output_of(r2) == "1\n2\n");
    }
    ::close(extra);
}

std::string read_all(int fd) {
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

TEST_CASE("the child's table may swap descriptors that are slots of the same table",
          "[process][core]") {
    // Child fd a_w is the parent's b_w and child fd b_w the parent's a_w:
    // filling one slot must not overwrite the source of the other.
    int a[2];
    int b[2];
    REQUIRE(::pipe2(a, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(b, O_CLOEXEC) == 0);
    const int aw = a[1];
    const int bw = b[1];
    auto r = request("/bin/sh",
                     {"sh",
                      "-c",
                      "echo A > /proc/self/fd/$0; echo B > /proc/self/fd/$1",
                      std::to_string(aw),
                      std::to_string(bw)});
    r.fds.resize(static_cast<std::size_t>(std::max(aw, bw) + 1), dp::ChildFd::close());
    r.fds[static_cast<std::size_t>(aw)] = dp::ChildFd::from_parent(bw);
    r.fds[static_cast<std::size_t>(bw)] = dp::ChildFd::from_parent(aw);
    auto c = dp::spawn(r);
    ::close(aw);
    ::close(bw);
    REQUIRE(c);
    CHECK(read_all(b[0]) == "A\n");
    CHECK(read_all(a[0]) == "B\n");
    ::close(a[0]);
    ::close(b[0]);
    CHECK(WEXITSTATUS(wait_exit(*c).status) == 0);
}

// Fields 5 and 6 of the child's /proc/<pid>/stat: its process group and
// session ("pid (sh) S ppid pgrp session ...").
std::string group_and_session(dp::SpawnRequest r) {
    r.file = "/bin/sh";
    r.args = {"sh", "-c", "cut -d' ' -f1,5,6 /proc/$$/stat; exit 0"};
    return output_of(std::move(r));
}

TEST_CASE("process_group(0) puts the child in a new group of its own", "[process][core]") {
    auto r = request("");
    r.process_group = 0;
    const std::string out = group_and_session(r);
    const std::string pid = out.substr(0, out.find(' '));
    CHECK(out.substr(0, out.rfind(' ')) == pid + " " + pid);
    CHECK(out.substr(out.rfind(' ') + 1) != pid + "\n");
}

TEST_CASE("new_session makes the child a session and group leader", "[process][core]") {
    auto r = request("");
    r.new_session = true;
    const std::string out = group_and_session(r);
    const std::string pid = out.substr(0, out.find(' '));
    CHECK(out == pid + " " + pid + " " + pid + "\n");
}

TEST_CASE("uid and gid: the child runs as the user given, or spawn fails with EPERM",
          "[process][core]") {
    auto r = request("/bin/sh", {"sh", "-c", "echo $(id -u) $(id -g)"});
    r.uid = 65534;
    r.gid = 65534;
    if (::geteuid() == 0) {
        CHECK(output_of(r) == "65534 65534\n");
    } else {
        auto c = dp::spawn(r);
        REQUIRE_FALSE(c);
        CHECK(c.error() == std::errc::operation_not_permitted);
    }
}

TEST_CASE("the child starts with default signal dispositions and an empty signal mask",
          "[process][core]") {
    // Change this process's dispositions and this thread's mask, as a user
    // may; the child must see none of it.
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    struct sigaction old_pipe {};
    struct sigaction old_usr2 {};
    REQUIRE(::sigaction(SIGPIPE, &ign, &old_pipe) == 0);
    REQUIRE(::sigaction(SIGUSR2, &ign, &old_usr2) == 0);
    sigset_t block;
    sigset_t old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGTERM);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &block, &old_mask) == 0);
    std::string out =
        output_of(request("/bin/grep", {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"}));
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    ::sigaction(SIGPIPE, &old_pipe, nullptr);
    ::sigaction(SIGUSR2, &old_usr2, nullptr);
    CHECK(out == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_CASE("kill signals a running child; after the reap it fails with ESRCH", "[process][core]") {
    auto c = spawn_ok(request("/bin/sleep", {"sleep", "100"}));
    CHECK_FALSE(c->kill(0));
    CHECK_FALSE(c->kill(SIGKILL));
    const dp::ExitResult e = wait_exit(c);
    REQUIRE(WIFSIGNALED(e.status));
    CHECK(WTERMSIG(e.status) == SIGKILL);
    CHECK(c->kill(SIGTERM) == std::errc::no_such_process);
}

TEST_CASE("try_wait is empty while the child runs and reaps it once it exited", "[process][core]") {
    auto c = spawn_ok(request("/bin/sleep", {"sleep", "100"}));
    CHECK_FALSE(c->try_wait());
    REQUIRE_FALSE(c->kill(SIGTERM));
    std::optional<dp::ExitResult> e;
    REQUIRE(eventually([&] { return (e = c->try_wait()).has_value(); }));
    REQUIRE(WIFSIGNALED(e->status));
    CHECK(WTERMSIG(e->status) == SIGTERM);
    // The same answer again, and no zombie.
    CHECK(c->try_wait()->status == e->status);
    CHECK(eventually(no_zombies));
}

TEST_CASE("a child whose every owner let go is still reaped", "[process][core]") {
    std::weak_ptr<dp::ChildProcess> weak;
    pid_t pid = 0;
    {
        auto c = spawn_ok(request("/bin/sleep", {"sleep", "100"}));
        weak = c;
        pid = c->pid();
    }
    // The reaper's own reference keeps the record until the reap; the child
    // runs until we end it (it is unreaped, so the pid is still its own).
    CHECK_FALSE(weak.expired());
    REQUIRE(::kill(pid, SIGKILL) == 0);
    CHECK(eventually([&] { return weak.expired(); }));
    CHECK(eventually(no_zombies));
}

TEST_CASE("cancel_on_exit: the callback is not called and is destroyed at once",
          "[process][core]") {
    boost::asio::io_context io;
    auto c = spawn_ok(request("/bin/true"));
    int calls = 0;
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> alive = token;
    c->on_exit(io.get_executor(),
               [&calls, token = std::move(token)](const dp::ExitResult&) { ++calls; });
    c->cancel_on_exit();
    CHECK(alive.expired());
    REQUIRE(eventually([&] { return c->try_wait().has_value(); }));
    io.run_for(std::chrono::milliseconds(50));
    CHECK(calls == 0);
}

TEST_CASE("on_exit after the reap still posts the callback, never inline", "[process][core]") {
    boost::asio::io_context io;
    auto c = spawn_ok(request("/bin/true"));
    REQUIRE(eventually([&] { return c->try_wait().has_value(); }));
    int calls = 0;
    c->on_exit(io.get_executor(), [&](const dp::ExitResult& r) {
        ++calls;
        CHECK(WEXITSTATUS(r.status) == 0);
    });
    CHECK(calls == 0);
    REQUIRE(run_until(io, [&] { return calls == 1; }));
}

TEST_CASE("poll_exit wakes the waker once the child is reaped", "[process][core]") {
    pollux::test::CountingWaker counting;
    const pollux::Waker w = counting.waker();
    pollux::Context cx(w);
    auto c = spawn_ok(request("/bin/sh", {"sh", "-c", "sleep 0.1"}));
    CHECK(c->poll_exit(cx).is_pending());
    REQUIRE(eventually([&] { return counting.wakes() == 1; }));
    auto p = c->poll_exit(cx);
    REQUIRE(p.is_ready());
    CHECK(WEXITSTATUS(p.value().status) == 0);
}

TEST_CASE("children of several io_contexts on several threads are all reaped", "[process][core]") {
    constexpr int threads = 4;
    constexpr int per_thread = 25;
    std::atomic<int> exits{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&] {
            boost::asio::io_context io;
            int mine = 0;
            std::vector<dp::ChildPtr> kids;
            for (int i = 0; i < per_thread; ++i) {
                auto c = dp::spawn(request("/bin/true"));
                if (!c) {
                    continue;
                }
                (*c)->on_exit(io.get_executor(), [&](const dp::ExitResult& r) {
                    if (!r.error && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) {
                        ++mine;
                    }
                });
                kids.push_back(*c);
            }
            run_until(io, [&] { return mine == per_thread; });
            exits += mine;
        });
    }
    for (auto& t : ts) {
        t.join();
    }
    CHECK(exits.load() == threads * per_thread);
    CHECK(eventually(no_zombies));
}

TEST_CASE("a child that exits after its io_context is destroyed is reaped and calls nothing",
          "[process][core]") {
    int calls = 0;
    dp::ChildPtr c;
    {
        boost::asio::io_context io;
        c = spawn_ok(request("/bin/sh", {"sh", "-c", "sleep 0.2"}));
        c->on_exit(io.get_executor(), [&](const dp::ExitResult&) { ++calls; });
    }
    std::weak_ptr<dp::ChildProcess> weak = c;
    REQUIRE(eventually([&] { return c->try_wait().has_value(); }));
    c.reset();
    CHECK(eventually([&] { return weak.expired(); }));
    CHECK(calls == 0);
    CHECK(eventually(no_zombies));
}

TEST_CASE("a child that exits while its io_context is stopped: the handler dies with it",
          "[process][core]") {
    int calls = 0;
    std::weak_ptr<dp::ChildProcess> weak;
    {
        boost::asio::io_context io;
        auto c = spawn_ok(request("/bin/true"));
        weak = c;
        c->on_exit(io.get_executor(), [&](const dp::ExitResult&) { ++calls; });
        c.reset();
        // Reaped, and its handler posted to the io_context nobody runs.
        REQUIRE(eventually([&] {
            auto s = weak.lock();
            return s && s->try_wait().has_value();
        }));
    }
    CHECK(calls == 0);
    CHECK(eventually([&] { return weak.expired(); }));
}

TEST_CASE("a user's Asio signal_set(SIGCHLD) still fires for our children", "[process][core]") {
    boost::asio::io_context io;
    boost::asio::signal_set sigs(io, SIGCHLD);
    int sigchld = 0;
    sigs.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) {
            ++sigchld;
        }
    });
    auto c = spawn_ok(request("/bin/true"));
    std::optional<dp::ExitResult> got;
    c->on_exit(io.get_executor(), [&](const dp::ExitResult& r) { got = r; });
    REQUIRE(run_until(io, [&] { return sigchld == 1 && got.has_value(); }));
    CHECK_FALSE(got->error);
    CHECK(WEXITSTATUS(got->status) == 0);
}

TEST_CASE("the wait mode follows POLLUX_PROCESS_WAIT", "[process][core]") {
    const char* v = std::getenv("POLLUX_PROCESS_WAIT");
    const bool forced_poll = v != nullptr && std::string(v) == "poll";
    CHECK((dp::wait_mode() == dp::WaitMode::poll) == forced_poll);
    auto c = spawn_ok(request("/bin/true"));
    // This project's kernels have pidfd_open (Linux 5.3+).
    CHECK(c->uses_pidfd() == !forced_poll);
    wait_exit(c);
}

TEST_CASE("1,000 concurrent children: every one reaped, no zombie, no descriptor left",
          "[process][core]") {
    // Warm up: the reaper's two descriptors are the process's from the first
    // spawn on.
    wait_exit(spawn_ok(request("/bin/true")));
    // Room for 1,000 pidfds at once.
    rlimit lim{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
    const rlimit old = lim;
    if (lim.rlim_cur < 4096 && lim.rlim_max >= 4096) {
        lim.rlim_cur = 4096;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    const std::size_t fds_before = pollux::test::open_fds();
    boost::asio::io_context io;
    constexpr int n = 1000;
    int ok = 0;
    int spawned = 0;
    {
        std::vector<dp::ChildPtr> kids;
        kids.reserve(n);
        for (int i = 0; i < n; ++i) {
            auto c = dp::spawn(request("/bin/true"));
            REQUIRE(c);
            ++spawned;
            (*c)->on_exit(io.get_executor(), [&](const dp::ExitResult& r) {
                if (!r.error && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) {
                    ++ok;
                }
            });
            kids.push_back(*c);
        }
        REQUIRE(run_until(io, [&] { return ok == n; }));
    }
    CHECK(spawned == n);
    CHECK(zombie_children() == 0);
    CHECK(eventually([&] { return pollux::test::open_fds() == fds_before; }));
    ::setrlimit(RLIMIT_NOFILE, &old);
}
