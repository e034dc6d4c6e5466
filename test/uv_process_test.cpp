#include <pollux/uv/process.hpp>

// uv::Process beyond libuv's own tests (those are in uv_libuv_spawn_test.cpp):
// the loop's liveness rule, the exit callback's thread and timing, spawn's
// errors, what every child starts with (signals, descriptors), no zombies,
// and teardown — the handle closed or destroyed before, during and after the
// loop's run, and the child exiting while the loop shuts down.

#include <pollux/uv/loop.hpp>
#include <pollux/uv/pipe.hpp>
#include <pollux/uv/tcp.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/open_fds.hpp"
#include "support/uv_process_child.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <signal.h>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using pollux::test::CapturePipe;
using pollux::test::forever_script;
using pollux::test::reaped;
using pollux::test::require_loop_quiescent;
using pollux::test::sh_options;
using pollux::test::TempDir;
namespace errc = boost::system::errc;

namespace {

struct Exit {
    int calls = 0;
    std::int64_t status = -1;
    int signal = -1;

    uv::ProcessOptions::ExitCallback cb() {
        return [this](std::int64_t s, int sig) {
            ++calls;
            status = s;
            signal = sig;
        };
    }
};

} // namespace

// --- the loop's liveness rule --------------------------------------------

TEST_CASE("uv Process: an active process keeps run() alive until its child exits",
          "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    REQUIRE_FALSE(process.spawn(sh_options("sleep 0.2; exit 7", e.cb())));
    REQUIRE(process.is_active());
    REQUIRE(loop.alive());
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(loop.run() == 0);
    REQUIRE(std::chrono::steady_clock::now() - start >= 150ms);
    REQUIRE(e.calls == 1);
    REQUIRE(e.status == 7);
    REQUIRE(e.signal == 0);
    REQUIRE_FALSE(process.is_active());
    REQUIRE_FALSE(loop.alive());
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: unref lets run() return while the child runs; ref makes it wait again",
          "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    REQUIRE_FALSE(process.spawn(sh_options(forever_script, e.cb())));
    process.unref();
    REQUIRE_FALSE(loop.alive());
    REQUIRE(loop.run() == 0);
    REQUIRE(process.is_active());
    REQUIRE(e.calls == 0);
    process.ref();
    REQUIRE(loop.alive());
    REQUIRE_FALSE(process.kill(SIGKILL));
    REQUIRE(loop.run() == 0);
    REQUIRE(e.calls == 1);
    REQUIRE(e.signal == SIGKILL);
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: the exit callback runs on the loop's thread, never inside spawn",
          "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    std::thread::id cb_thread;
    int calls = 0;
    REQUIRE_FALSE(process.spawn(sh_options("exit 0", [&](std::int64_t, int) {
        ++calls;
        cb_thread = std::this_thread::get_id();
    })));
    // The child exits at once; without a loop turn nothing is reported.
    std::this_thread::sleep_for(100ms);
    REQUIRE(calls == 0);
    REQUIRE(process.is_active());
    REQUIRE(loop.run() == 0);
    REQUIRE(calls == 1);
    REQUIRE(cb_thread == std::this_thread::get_id());
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: the exit status and the terminating signal", "[uv][process]") {
    uv::Loop loop;
    uv::Process exits(loop);
    uv::Process killed(loop);
    Exit e1;
    Exit e2;
    REQUIRE_FALSE(exits.spawn(sh_options("exit 42", e1.cb())));
    REQUIRE_FALSE(killed.spawn(sh_options("kill -KILL $$", e2.cb())));
    REQUIRE(loop.run() == 0);
    REQUIRE(e1.calls == 1);
    REQUIRE(e1.status == 42);
    REQUIRE(e1.signal == 0);
    REQUIRE(e2.calls == 1);
    REQUIRE(e2.status == 0);
    REQUIRE(e2.signal == SIGKILL);
    exits.close();
    killed.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: many children at once each report their own exit", "[uv][process]") {
    uv::Loop loop;
    constexpr int count = 20;
    std::vector<std::unique_ptr<uv::Process>> children;
    std::vector<Exit> exits(count);
    for (int i = 0; i < count; ++i) {
        children.push_back(std::make_unique<uv::Process>(loop));
        REQUIRE_FALSE(
            children.back()->spawn(sh_options("exit " + std::to_string(i), exits[i].cb())));
    }
    REQUIRE(loop.run() == 0);
    for (int i = 0; i < count; ++i) {
        REQUIRE(exits[i].calls == 1);
        REQUIRE(exits[i].status == i);
        children[i]->close();
    }
    REQUIRE(loop.run() == 0);
    children.clear();
    require_loop_quiescent(loop);
}

// --- spawn's errors and options -------------------------------------------

TEST_CASE("uv Process: a cwd that does not exist is spawn's ENOENT", "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    auto o = sh_options("exit 0", e.cb());
    o.cwd = "/nonexistent/pollux-uvproc";
    REQUIRE(process.spawn(o) == errc::no_such_file_or_directory);
    REQUIRE_FALSE(process.is_active());
    REQUIRE(process.pid() == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(e.calls == 0);
    REQUIRE_FALSE(pollux::test::has_zombie_child());
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: a file without execute permission is spawn's EACCES", "[uv][process]") {
    TempDir dir;
    auto path = dir.script("not-executable", "exit 0");
    std::filesystem::permissions(path, std::filesystem::perms(0644));
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    uv::ProcessOptions o;
    o.file = path.string();
    o.exit_cb = e.cb();
    // As root the permission bits do not stop a read, but exec needs an x
    // bit: EACCES for everyone.
    REQUIRE(process.spawn(o) == errc::permission_denied);
    REQUIRE_FALSE(process.is_active());
    // A directory cannot be executed either.
    o.file = dir.path().string();
    REQUIRE(process.spawn(o) == errc::permission_denied);
    REQUIRE(loop.run() == 0);
    REQUIRE(e.calls == 0);
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: options libuv asserts on are spawn's EINVAL", "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    auto o = sh_options("exit 0", e.cb());
    o.flags = 1U << 12;
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    o.flags = 0;
    o.stdio = {{uv::StdioContainer::inherit_fd, -1}};
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    o.stdio = {{0x80, 0}};
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    o.stdio = {{uv::StdioContainer::inherit_fd | 0x80, 0}};
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    REQUIRE_FALSE(process.is_active());
    REQUIRE(loop.run() == 0);
    REQUIRE(e.calls == 0);
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: empty args run the file with itself as argv[0]", "[uv][process]") {
    TempDir dir;
    auto path = dir.script("print-argv0", "printf '%s|%s' \"$0\" \"$#\"");
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    CapturePipe out;
    uv::ProcessOptions o;
    o.file = path.string();
    o.stdio = {{}, out.child_end()};
    o.exit_cb = e.cb();
    REQUIRE_FALSE(process.spawn(o));
    REQUIRE(loop.run() == 0);
    REQUIRE(e.calls == 1);
    REQUIRE(out.read_all() == path.string() + "|0");
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: spawn while the child runs is EALREADY; after its exit the handle may "
          "spawn again",
          "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    std::vector<std::int64_t> statuses;
    REQUIRE_FALSE(process.spawn(sh_options("exit 3", [&](std::int64_t s, int) {
        statuses.push_back(s);
        if (statuses.size() == 1) {
            // From the exit callback, as a supervisor restarting a child.
            REQUIRE_FALSE(process.spawn(
                sh_options("exit 4", [&](std::int64_t s2, int) { statuses.push_back(s2); })));
        }
    })));
    const int first = process.pid();
    REQUIRE(process.spawn(sh_options("exit 0")) == boost::asio::error::already_started);
    REQUIRE(process.pid() == first);
    REQUIRE(loop.run() == 0);
    REQUIRE(statuses == std::vector<std::int64_t>{3, 4});
    REQUIRE(process.pid() != first);
    process.close();
    REQUIRE(process.spawn(sh_options("exit 0")) == boost::asio::error::bad_descriptor);
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: kill before spawn and after the child was reaped is ESRCH",
          "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    REQUIRE(process.kill(0) == errc::no_such_process);
    int calls = 0;
    // The child waits for the end of its stdin, which the test holds.
    CapturePipe in;
    auto o = sh_options("read line; exit 0", [&](std::int64_t, int) {
        ++calls;
        REQUIRE(process.kill(SIGTERM) == errc::no_such_process);
    });
    o.stdio = {{uv::StdioContainer::inherit_fd, in.read_fd()}};
    REQUIRE_FALSE(process.spawn(o));
    REQUIRE_FALSE(process.kill(0));
    REQUIRE(process.kill(-1) == errc::invalid_argument);
    in.close_write_end();
    REQUIRE(loop.run() == 0);
    REQUIRE(calls == 1);
    REQUIRE(process.kill(0) == errc::no_such_process);
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: stdio containers libuv refuses are spawn's errors, with no child and the "
          "pipes untouched",
          "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    uv::Pipe pipe(loop);
    uv::Pipe other(loop);
    uv::Tcp tcp(loop);
    const std::size_t fds_before = pollux::test::open_fds();
    auto o = sh_options("exit 0", e.cb());
    auto create = uv::StdioContainer::create_pipe | uv::StdioContainer::writable_pipe;
    // create_pipe needs a uv::Pipe (libuv: UV_EINVAL for another stream).
    o.stdio = {{}, {create, -1, &tcp}};
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    o.stdio = {{}, {create, -1, nullptr}};
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    // One pipe for two descriptors.
    o.stdio = {{}, {create, -1, &pipe}, {create, -1, &pipe}};
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    // Two kinds in one container.
    o.stdio = {{}, {create | uv::StdioContainer::inherit_fd, 1, &pipe}};
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    // inherit_stream of a stream without a descriptor.
    o.stdio = {{}, {uv::StdioContainer::inherit_stream, -1, &other}};
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    o.stdio = {{}, {uv::StdioContainer::inherit_stream, -1, &tcp}};
    REQUIRE(process.spawn(o) == errc::invalid_argument);
    // A pipe that has a descriptor already (libuv's uv__stream_open: EBUSY).
    auto fds = uv::pipe();
    REQUIRE(fds.has_value());
    REQUIRE_FALSE(other.open((*fds)[0]));
    o.stdio = {{}, {create, -1, &other}};
    REQUIRE(process.spawn(o) == errc::device_or_resource_busy);
    // A failed exec with a created pipe: the pipe keeps no descriptor.
    auto missing = o;
    missing.file = "/nonexistent/pollux-uvproc";
    missing.stdio = {{}, {create, -1, &pipe}, {create, -1, &pipe}};
    missing.stdio.pop_back();
    REQUIRE(process.spawn(missing) == errc::no_such_file_or_directory);
    REQUIRE(pipe.fd() == -1);
    REQUIRE_FALSE(process.is_active());
    ::close((*fds)[1]);
    other.close();
    // Nothing leaked: the socket pairs made for the failed spawns are gone.
    REQUIRE(loop.run() == 0);
    REQUIRE(pollux::test::open_fds() == fds_before);
    REQUIRE(e.calls == 0);
    process.close();
    pipe.close();
    tcp.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: a closing pipe given to create_pipe is bad_descriptor", "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    uv::Pipe pipe(loop);
    pipe.close();
    auto o = sh_options("exit 0");
    o.stdio = {{},
               {uv::StdioContainer::create_pipe | uv::StdioContainer::writable_pipe, -1, &pipe}};
    REQUIRE(process.spawn(o) == boost::asio::error::bad_descriptor);
    REQUIRE_FALSE(process.is_active());
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: an inherited descriptor that already has the child's number keeps it",
          "[uv][process]") {
    // The pipe takes the freed descriptor 0, which is the child's 0 too: the
    // descriptor is given as it is (its close-on-exec flag cleared in the
    // child only).
    int exit_calls = 0;
    std::string got;
    bool cloexec_kept = false;
    {
        pollux::test::SavedFd saved_stdin(STDIN_FILENO);
        REQUIRE(::close(STDIN_FILENO) == 0);
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        REQUIRE(fds[0] == STDIN_FILENO);
        CapturePipe out;
        uv::Loop loop;
        uv::Process process(loop);
        auto o = sh_options("cat; exit 1", [&](std::int64_t s, int) {
            exit_calls += s == 1 ? 1 : 100;
            process.close();
        });
        o.stdio = {{uv::StdioContainer::inherit_fd, fds[0]}, out.child_end()};
        REQUIRE_FALSE(process.spawn(o));
        cloexec_kept = (::fcntl(fds[0], F_GETFD) & FD_CLOEXEC) != 0;
        ::close(fds[0]);
        const std::string buffer = "hello-from-spawn_stdin\n";
        REQUIRE(::write(fds[1], buffer.data(), buffer.size()) ==
                static_cast<ssize_t>(buffer.size()));
        ::close(fds[1]);
        REQUIRE(loop.run() == 0);
        got = out.read_all();
        require_loop_quiescent(loop);
    }
    REQUIRE(exit_calls == 1);
    REQUIRE(cloexec_kept);
    REQUIRE(got == "hello-from-spawn_stdin\n");
}

// --- what every child starts with ----------------------------------------

TEST_CASE("uv Process: the child starts with default signal dispositions and an empty mask",
          "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigset_t old_mask;
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &set, &old_mask) == 0);
    auto old_usr2 = ::signal(SIGUSR2, SIG_IGN);
    auto old_hup = ::signal(SIGHUP, SIG_IGN);
    auto ec = process.spawn(pollux::test::sleep_options(e.cb()));
    ::signal(SIGUSR2, old_usr2);
    ::signal(SIGHUP, old_hup);
    REQUIRE(::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr) == 0);
    REQUIRE_FALSE(ec);
    const pid_t pid = process.pid();
    // Signals 1 to 31 (glibc keeps the real-time ones for itself).
    const std::uint64_t classic = (std::uint64_t{1} << 31) - 1;
    REQUIRE((pollux::test::proc_signal_mask(pid, "SigBlk") & classic) == 0);
    REQUIRE((pollux::test::proc_signal_mask(pid, "SigIgn") & classic) == 0);
    REQUIRE_FALSE(process.kill(SIGKILL));
    REQUIRE(loop.run() == 0);
    REQUIRE(e.calls == 1);
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: the child gets no descriptor of pollux's, only its stdio and what the "
          "parent left inheritable",
          "[uv][process]") {
    uv::Loop loop;
    // Descriptors pollux made before the spawn: the loop's, a timer's, a
    // running child's exit watch.
    uv::Timer timer(loop);
    REQUIRE_FALSE(timer.start([] {}, 1h));
    uv::Process other(loop);
    REQUIRE_FALSE(other.spawn(sh_options(forever_script)));
    uv::Process process(loop);
    Exit e;
    CapturePipe out;
    auto o = pollux::test::sleep_options(e.cb());
    o.stdio = {{}, out.child_end(), {}, {}, out.child_end()};
    const std::set<int> inheritable = pollux::test::inheritable_fds();
    REQUIRE_FALSE(process.spawn(o));
    // Expected: 0 to 2, 4 (3 is ignored, so not opened), and the inherited
    // ones. sleep may hold a descriptor of its own for a moment while it
    // starts (its locale), so the set is read until it settles; one of
    // pollux's would stay.
    auto unexpected = [&](const std::set<int>& fds) {
        std::set<int> extra;
        for (int fd : fds) {
            if (fd > 2 && fd != 4 && inheritable.count(fd) == 0) {
                extra.insert(fd);
            }
        }
        return extra;
    };
    std::set<int> fds = pollux::test::proc_fds(process.pid());
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!unexpected(fds).empty() && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(1ms);
        fds = pollux::test::proc_fds(process.pid());
    }
    for (int fd : unexpected(fds)) {
        FAIL_CHECK("descriptor " << fd << " is open in the child");
    }
    REQUIRE(unexpected(fds).empty());
    REQUIRE(fds.count(0) == 1);
    REQUIRE(fds.count(1) == 1);
    REQUIRE(fds.count(2) == 1);
    REQUIRE(fds.count(4) == 1);
    REQUIRE_FALSE(process.kill(SIGKILL));
    REQUIRE_FALSE(other.kill(SIGKILL));
    timer.close();
    REQUIRE(loop.run() == 0);
    REQUIRE(e.calls == 1);
    process.close();
    other.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

// --- no zombies, and teardown ---------------------------------------------

TEST_CASE("uv Process: close before the child exits calls no exit callback and the child is "
          "still reaped",
          "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    int closed = 0;
    REQUIRE_FALSE(process.spawn(sh_options(forever_script, e.cb())));
    const int pid = process.pid();
    process.close([&] { ++closed; });
    REQUIRE_FALSE(process.is_active());
    // Closing does not kill the child.
    REQUIRE_FALSE(uv::kill(pid, 0));
    REQUIRE(loop.run() == 0);
    REQUIRE(closed == 1);
    REQUIRE_FALSE(uv::kill(pid, SIGKILL));
    REQUIRE(reaped(pid, [&] { loop.run(uv::RunMode::NoWait); }));
    REQUIRE(e.calls == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: destroyed before the loop runs, its child is reaped when it exits",
          "[uv][process]") {
    uv::Loop loop;
    int pid = 0;
    Exit e;
    {
        uv::Process process(loop);
        REQUIRE_FALSE(process.spawn(sh_options("sleep 0.1; exit 0", e.cb())));
        pid = process.pid();
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(reaped(pid, [&] { loop.run(uv::RunMode::NoWait); }));
    REQUIRE(e.calls == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: destroyed inside its own exit callback", "[uv][process]") {
    uv::Loop loop;
    auto process = std::make_unique<uv::Process>(loop);
    int calls = 0;
    REQUIRE_FALSE(process->spawn(sh_options("exit 5", [&](std::int64_t s, int) {
        ++calls;
        REQUIRE(s == 5);
        process.reset();
    })));
    REQUIRE(loop.run() == 0);
    REQUIRE(calls == 1);
    REQUIRE(process == nullptr);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: destroyed from another callback while its child runs", "[uv][process]") {
    uv::Loop loop;
    auto process = std::make_unique<uv::Process>(loop);
    Exit e;
    REQUIRE_FALSE(process->spawn(sh_options(forever_script, e.cb())));
    const int pid = process->pid();
    uv::Timer timer(loop);
    REQUIRE_FALSE(timer.start(
        [&] {
            process.reset();
            timer.close();
        },
        10ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(process == nullptr);
    REQUIRE_FALSE(uv::kill(pid, SIGKILL));
    REQUIRE(reaped(pid, [&] { loop.run(uv::RunMode::NoWait); }));
    REQUIRE(e.calls == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: a child that exits while nobody runs the loop is reported on the next run",
          "[uv][process]") {
    uv::Loop loop;
    uv::Process process(loop);
    Exit e;
    REQUIRE_FALSE(process.spawn(sh_options("exit 9", e.cb())));
    const int pid = process.pid();
    // The child has exited and been reaped (by the process-wide reaper,
    // which needs no loop); the report waits for the loop.
    REQUIRE(reaped(pid));
    REQUIRE(e.calls == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(e.calls == 1);
    REQUIRE(e.status == 9);
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("uv Process: destroyed after run() returned, then the loop destroyed, then the child "
          "exits: it is reaped",
          "[uv][process]") {
    int pid = 0;
    {
        uv::Loop loop;
        uv::Process process(loop);
        REQUIRE_FALSE(process.spawn(sh_options(forever_script)));
        pid = process.pid();
        process.unref();
        REQUIRE(loop.run() == 0);
        // The handle goes first, then the loop, with the child still running.
    }
    REQUIRE_FALSE(uv::kill(pid, 0));
    REQUIRE_FALSE(uv::kill(pid, SIGKILL));
    REQUIRE(reaped(pid));
}

TEST_CASE("uv Process: a child exiting while its loop is torn down is reaped and touches nothing "
          "freed",
          "[uv][process]") {
    // The child exits at about the moment the handle and the loop are
    // destroyed; whichever comes first, the exit is not reported to the freed
    // handle and the child does not stay a zombie. Repeated to cross the race.
    std::vector<int> pids;
    for (int i = 0; i < 20; ++i) {
        uv::Loop loop;
        uv::Process process(loop);
        int calls = 0;
        REQUIRE_FALSE(process.spawn(sh_options("exit 0", [&](std::int64_t, int) { ++calls; })));
        pids.push_back(process.pid());
        if (i % 2 == 0) {
            // One poll that may or may not see the exit.
            loop.run(uv::RunMode::NoWait);
        }
        REQUIRE(calls <= 1);
    }
    for (int pid : pids) {
        REQUIRE(reaped(pid));
    }
}

TEST_CASE("uv Process: loops on two threads spawn and reap their own children", "[uv][process]") {
    std::atomic<int> failures{0};
    auto worker = [&failures](int base) {
        uv::Loop loop;
        std::vector<std::unique_ptr<uv::Process>> children;
        std::vector<std::int64_t> statuses(10, -1);
        for (int i = 0; i < 10; ++i) {
            uv::Process* p = children.emplace_back(std::make_unique<uv::Process>(loop)).get();
            auto ec = p->spawn(sh_options("exit " + std::to_string(base + i),
                                          [&statuses, p, i](std::int64_t s, int) {
                                              statuses[static_cast<std::size_t>(i)] = s;
                                              p->close();
                                          }));
            if (ec) {
                ++failures;
            }
        }
        loop.run();
        for (int i = 0; i < 10; ++i) {
            if (statuses[static_cast<std::size_t>(i)] != base + i) {
                ++failures;
            }
        }
        children.clear();
        if (loop.handle_count() != 0 || loop.close()) {
            ++failures;
        }
    };
    std::thread a(worker, 10);
    std::thread b(worker, 40);
    a.join();
    b.join();
    REQUIRE(failures.load() == 0);
}

TEST_CASE("uv Process: an exit report still queued when the handle, the loop and a shared "
          "io_context are destroyed is dropped",
          "[uv][process]") {
    int pid = 0;
    int calls = 0;
    {
        boost::asio::io_context io;
        {
            uv::Loop loop(io);
            uv::Process process(loop);
            REQUIRE_FALSE(process.spawn(sh_options("exit 0", [&](std::int64_t, int) { ++calls; })));
            pid = process.pid();
            // Reaped by the reaper, whose report is now queued in `io`.
            REQUIRE(reaped(pid));
        }
        REQUIRE(calls == 0);
    }
    REQUIRE(calls == 0);
}

TEST_CASE("uv Process: a child of a loop on a shared io_context exits after both are gone",
          "[uv][process]") {
    int pid = 0;
    {
        boost::asio::io_context io;
        uv::Loop loop(io);
        uv::Process process(loop);
        REQUIRE_FALSE(process.spawn(sh_options(forever_script)));
        pid = process.pid();
    }
    REQUIRE_FALSE(uv::kill(pid, SIGKILL));
    REQUIRE(reaped(pid));
}
