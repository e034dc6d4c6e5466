#include <pollux/core/async.hpp>
#include <pollux/io.hpp>
#include <pollux/process.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/sleep.hpp>
#include <pollux/time/timeout.hpp>

#include "support/child_scan.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using process::Command;
using process::Stdio;
using test::eventually;
using test::zombie_children;

namespace {

Async<std::string> sh_output_async(std::string script) {
    // A statement of its own: g++ 12 rejects a braced list inside co_await.
    Command cmd("/bin/sh");
    cmd.args({"-c", script});
    auto out = co_await cmd.output();
    REQUIRE(out);
    CHECK(out->status.success());
    co_return std::move(out->stdout);
}

std::string sh_output(const std::string& script) {
    Runtime rt;
    return rt.block_on(sh_output_async(script));
}

bool proc_exists(std::uint32_t pid) {
    return std::filesystem::exists("/proc/" + std::to_string(pid));
}

// Reads `s` to end of file.
template <class S>
Async<std::string> read_to_end(S& s) {
    std::string all;
    char buf[4096];
    for (;;) {
        auto n = co_await io::read(s, asio::buffer(buf));
        REQUIRE(n);
        if (*n == 0) {
            co_return all;
        }
        all.append(buf, *n);
    }
}

// Tasks that own their Child (a coroutine's parameters live in its frame).
Async<> read_then_wait(process::Child c) {
    std::string s = co_await read_to_end(*c.stdout);
    (void)co_await c.wait();
}

Async<> wait_for(process::Child c) {
    (void)co_await c.wait();
}

} // namespace

TEST_CASE("Command::spawn and Child::wait report exit code 0 as success", "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto child = Command("/bin/true").spawn();
        REQUIRE(child);
        auto st = co_await child->wait();
        REQUIRE(st);
        CHECK(st->success());
        CHECK(st->code() == 0);
        CHECK_FALSE(st->signal());
    }());
}

TEST_CASE("ExitStatus carries the exit code of a failed child", "[process]") {
    Runtime rt;
    auto st = rt.block_on(Command("/bin/sh").args({"-c", "exit 42"}).status());
    REQUIRE(st);
    CHECK_FALSE(st->success());
    CHECK(st->code() == 42);
    CHECK_FALSE(st->signal());
}

TEST_CASE("ExitStatus carries the signal that terminated the child", "[process]") {
    Runtime rt;
    auto st = rt.block_on(Command("/bin/sh").args({"-c", "kill -INT $$; sleep 5"}).status());
    REQUIRE(st);
    CHECK_FALSE(st->success());
    CHECK_FALSE(st->code());
    CHECK(st->signal() == SIGINT);
}

TEST_CASE("Command::output collects stdout, stderr and the status", "[process]") {
    Runtime rt;
    auto out =
        rt.block_on(Command("/bin/sh").args({"-c", "echo out; echo err >&2; exit 3"}).output());
    REQUIRE(out);
    CHECK(out->stdout == "out\n");
    CHECK(out->stderr == "err\n");
    CHECK(out->status.code() == 3);
}

TEST_CASE("Command::output reads both pipes together: a child that fills stderr first finishes",
          "[process]") {
    // 1 MiB on stderr before anything on stdout: reading stdout alone first
    // would deadlock on the full stderr pipe.
    Runtime rt;
    auto out = rt.block_on(
        Command("/bin/sh").args({"-c", "head -c 1048576 /dev/zero >&2; echo done"}).output());
    REQUIRE(out);
    CHECK(out->stderr.size() == 1048576);
    CHECK(out->stdout == "done\n");
}

TEST_CASE("Command::output gives the child an empty stdin", "[process]") {
    Runtime rt;
    auto out = rt.block_on(Command("/bin/cat").output());
    REQUIRE(out);
    CHECK(out->status.success());
    CHECK(out->stdout.empty());
}

TEST_CASE("Command::spawn of a missing program fails in spawn with ENOENT", "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto c = Command("/nonexistent/pollux-missing").stdout(Stdio::piped()).spawn();
        REQUIRE_FALSE(c);
        CHECK(c.error() == std::errc::no_such_file_or_directory);
        auto by_name = Command("pollux-missing-program-xyz").spawn();
        REQUIRE_FALSE(by_name);
        CHECK(by_name.error() == std::errc::no_such_file_or_directory);
        auto st = co_await Command("/nonexistent/pollux-missing").status();
        REQUIRE_FALSE(st);
        CHECK(st.error() == std::errc::no_such_file_or_directory);
    }());
    CHECK(zombie_children() == 0);
}

TEST_CASE("Command::spawn of a file without execute permission fails with EACCES", "[process]") {
    char path[] = "/tmp/pollux-noexec-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    REQUIRE(::chmod(path, 0644) == 0);
    Runtime rt;
    auto c =
        rt.block_on([&]() -> Async<Result<process::Child>> { co_return Command(path).spawn(); }());
    ::unlink(path);
    REQUIRE_FALSE(c);
    CHECK(c.error() == std::errc::permission_denied);
}

TEST_CASE("Command::current_dir that does not exist fails in spawn with ENOENT", "[process]") {
    auto c = Command("/bin/true").current_dir("/nonexistent/pollux-dir").spawn();
    REQUIRE_FALSE(c);
    CHECK(c.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("Command::current_dir runs the child there", "[process]") {
    Runtime rt;
    auto out = rt.block_on(Command("/bin/pwd").current_dir("/proc").output());
    REQUIRE(out);
    CHECK(out->stdout == "/proc\n");
}

TEST_CASE("Command::env, env_remove and env_clear shape the child's environment", "[process]") {
    ::setenv("POLLUX_PARENT_VAR", "parent", 1);
    Runtime rt;
    const std::string script = "echo \"${POLLUX_PARENT_VAR-unset} ${POLLUX_NEW-unset}\"";
    SECTION("inherited, plus env") {
        auto out =
            rt.block_on(Command("/bin/sh").args({"-c", script}).env("POLLUX_NEW", "new").output());
        REQUIRE(out);
        CHECK(out->stdout == "parent new\n");
    }
    SECTION("env_remove") {
        auto out = rt.block_on(
            Command("/bin/sh").args({"-c", script}).env_remove("POLLUX_PARENT_VAR").output());
        REQUIRE(out);
        CHECK(out->stdout == "unset unset\n");
    }
    SECTION("env_clear, then env") {
        auto out = rt.block_on(
            Command("/bin/sh").args({"-c", script}).env_clear().env("POLLUX_NEW", "n").output());
        REQUIRE(out);
        CHECK(out->stdout == "unset n\n");
    }
    ::unsetenv("POLLUX_PARENT_VAR");
}

TEST_CASE("piped stdin: the child reads what is written, and end of file once it is dropped",
          "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto child = Command("/bin/cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn();
        REQUIRE(child);
        REQUIRE(child->stdin);
        REQUIRE(child->stdout);
        static_assert(io::AsyncWrite<process::ChildStdin>);
        static_assert(io::AsyncRead<process::ChildStdout>);
        static_assert(io::AsyncRead<process::ChildStderr>);
        const std::string msg = "hello, child\n";
        auto w = co_await io::write_all(*child->stdin, asio::buffer(msg));
        REQUIRE(w);
        child->stdin.reset(); // cat sees end of file
        std::string got = co_await read_to_end(*child->stdout);
        CHECK(got == msg);
        auto st = co_await child->wait();
        REQUIRE(st);
        CHECK(st->success());
    }());
}

TEST_CASE("Child::wait drops stdin first, so a child reading to end of file finishes",
          "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto child = Command("/bin/cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn();
        REQUIRE(child);
        auto st = co_await child->wait();
        REQUIRE(st);
        CHECK(st->success());
        CHECK_FALSE(child->stdin);
    }());
}

TEST_CASE("the parent's pipe ends are non-blocking and close-on-exec, the child's blocking",
          "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        // The child reports O_NONBLOCK of its stdout: flags in
        // /proc/self/fdinfo/1 (octal; 04000 is O_NONBLOCK).
        auto child = Command("/bin/sh")
                         .args({"-c", "grep flags /proc/self/fdinfo/1"})
                         .stdin(Stdio::piped())
                         .stdout(Stdio::piped())
                         .spawn();
        REQUIRE(child);
        const int in = child->stdin->fd();
        const int out = child->stdout->fd();
        CHECK((::fcntl(in, F_GETFL) & O_NONBLOCK) != 0);
        CHECK((::fcntl(out, F_GETFL) & O_NONBLOCK) != 0);
        CHECK((::fcntl(in, F_GETFD) & FD_CLOEXEC) != 0);
        CHECK((::fcntl(out, F_GETFD) & FD_CLOEXEC) != 0);
        std::string flags = co_await read_to_end(*child->stdout);
        const auto v = std::stoul(flags.substr(flags.find_first_of("0123456789")), nullptr, 8);
        CHECK((v & O_NONBLOCK) == 0);
        REQUIRE(co_await child->wait());
    }());
}

TEST_CASE("the child gets only its three standard descriptors", "[process]") {
    const int extra = ::open("/dev/null", O_RDONLY); // even without FD_CLOEXEC
    REQUIRE(extra >= 0);
    CHECK(sh_output("ls /proc/$$/fd; exit 0") == "0\n1\n2\n");
    ::close(extra);
}

TEST_CASE("the child starts with an empty signal mask and no ignored signal", "[process]") {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    struct sigaction old {};
    REQUIRE(::sigaction(SIGPIPE, &ign, &old) == 0);
    sigset_t block;
    sigset_t old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &block, &old_mask) == 0);
    Runtime rt;
    auto out = rt.block_on(
        Command("/bin/grep").args({"-E", "^Sig(Blk|Ign)", "/proc/self/status"}).output());
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    ::sigaction(SIGPIPE, &old, nullptr);
    REQUIRE(out);
    CHECK(out->stdout == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_CASE("Child::id is the pid until a wait saw the exit, then none", "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto child = Command("/bin/true").spawn();
        REQUIRE(child);
        REQUIRE(child->id());
        CHECK(*child->id() > 0);
        REQUIRE(co_await child->wait());
        CHECK_FALSE(child->id());
    }());
}

TEST_CASE("Child::try_wait is none while the child runs, the status once it exited", "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto child = Command("/bin/sleep").arg("100").spawn();
        REQUIRE(child);
        auto r = child->try_wait();
        REQUIRE(r);
        CHECK_FALSE(*r);
        REQUIRE(child->start_kill());
        std::optional<process::ExitStatus> st;
        while (!st) {
            auto t = child->try_wait();
            REQUIRE(t);
            st = *t;
            co_await time::sleep(1ms);
        }
        CHECK(st->signal() == SIGKILL);
    }());
}

TEST_CASE("Child::kill sends SIGKILL and waits; start_kill after the wait is invalid_argument",
          "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto child = Command("/bin/sleep").arg("100").spawn();
        REQUIRE(child);
        auto k = co_await child->kill();
        REQUIRE(k);
        auto st = co_await child->wait();
        REQUIRE(st);
        CHECK(st->signal() == SIGKILL);
        auto again = child->start_kill();
        REQUIRE_FALSE(again);
        CHECK(again.error() == std::errc::invalid_argument);
    }());
}

TEST_CASE("Child::wait is cancel safe: a wait dropped by a timeout loses nothing", "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto child = Command("/bin/sleep").arg("100").spawn();
        REQUIRE(child);
        auto early = co_await time::timeout(10ms, child->wait());
        CHECK_FALSE(early);
        REQUIRE(child->start_kill());
        auto st = co_await child->wait();
        REQUIRE(st);
        CHECK(st->signal() == SIGKILL);
    }());
}

TEST_CASE("kill_on_drop: dropping the Child kills the child", "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        std::optional<process::Child> child;
        {
            auto r =
                Command("/bin/sleep").arg("100").stdout(Stdio::piped()).kill_on_drop(true).spawn();
            REQUIRE(r);
            child.emplace(std::move(*r));
        }
        const std::uint32_t pid = *child->id();
        // The pipe's only writer is the child: end of file means it died.
        process::ChildStdout out = std::move(*child->stdout);
        child.reset();
        std::string rest = co_await read_to_end(out);
        CHECK(rest.empty());
        CHECK(eventually([&] { return !proc_exists(pid); }));
    }());
}

TEST_CASE("a dropped Child without kill_on_drop keeps running and is reaped when it exits",
          "[process]") {
    std::uint32_t pid = 0;
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto child = Command("/bin/sleep").arg("100").spawn();
            REQUIRE(child);
            pid = *child->id();
            co_return;
        }());
    }
    // Still running, with its Child and Runtime gone; unreaped, so the pid
    // is still its own and may be signalled.
    CHECK(proc_exists(pid));
    REQUIRE(::kill(static_cast<pid_t>(pid), SIGKILL) == 0);
    CHECK(eventually([&] { return !proc_exists(pid); }));
    CHECK(eventually([] { return zombie_children() == 0; }));
}

TEST_CASE("process_group(0) puts the child in a group of its own", "[process]") {
    Runtime rt;
    auto out = rt.block_on(Command("/bin/sh")
                               .args({"-c", "cut -d' ' -f1,5 /proc/$$/stat; exit 0"})
                               .process_group(0)
                               .output());
    REQUIRE(out);
    const std::string& s = out->stdout;
    const std::string pid = s.substr(0, s.find(' '));
    CHECK(s == pid + " " + pid + "\n");
}

TEST_CASE("a user's pollux::signal(SIGCHLD) still fires for a pollux child", "[process]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto chld = signal::signal(SIGCHLD);
        auto st = co_await Command("/bin/true").status();
        REQUIRE(st);
        CHECK(st->success());
        auto r = co_await time::timeout(30s, chld.recv());
        REQUIRE(r);
        CHECK(**r == SIGCHLD);
    }());
}

TEST_CASE("children of several runtimes on several threads are all waited for", "[process]") {
    std::vector<std::thread> ts;
    std::atomic<int> ok{0};
    for (int t = 0; t < 4; ++t) {
        ts.emplace_back([&] {
            Runtime rt;
            rt.block_on([&]() -> Async<> {
                for (int i = 0; i < 10; ++i) {
                    auto out = co_await Command("/bin/echo").arg(std::to_string(i)).output();
                    if (out && out->stdout == std::to_string(i) + "\n" && out->status.success()) {
                        ++ok;
                    }
                }
            }());
        });
    }
    for (auto& t : ts) {
        t.join();
    }
    CHECK(ok.load() == 40);
}

TEST_CASE("a multi-threaded runtime waits for children from its workers", "[process]") {
    Runtime rt(RuntimeOptions{4});
    auto n = rt.block_on([]() -> Async<int> {
        std::vector<JoinHandle<bool>> hs;
        for (int i = 0; i < 16; ++i) {
            hs.push_back(spawn([]() -> Async<bool> {
                Command cmd("/bin/sh");
                cmd.args({"-c", "exit 5"});
                auto st = co_await cmd.status();
                co_return st && st->code() == 5;
            }()));
        }
        int good = 0;
        for (auto& h : hs) {
            good += (co_await std::move(h)) ? 1 : 0;
        }
        co_return good;
    }());
    CHECK(n == 16);
}

// Teardown: the Child and its pipes outlive their Runtime, which was
// destroyed while the child ran; then the child exits.
TEST_CASE("a Child and its pipes dropped after their Runtime's shutdown touch nothing freed",
          "[process][teardown]") {
    std::optional<process::Child> child;
    std::optional<process::ChildStdout> out;
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto c = Command("/bin/sh")
                         .args({"-c", "sleep 0.2"})
                         .stdin(Stdio::piped())
                         .stdout(Stdio::piped())
                         .spawn();
            REQUIRE(c);
            out.emplace(std::move(*c->stdout));
            c->stdout.reset();
            child.emplace(std::move(*c));
            co_return;
        }());
    }
    const std::uint32_t pid = *child->id();
    SECTION("the pipe first") {
        out.reset();
        child.reset();
    }
    SECTION("the Child first") {
        child.reset();
        out.reset();
    }
    CHECK(eventually([&] { return !proc_exists(pid); }));
}

TEST_CASE("a task waiting for a child is dropped by the Runtime's shutdown; the child is reaped",
          "[process][teardown]") {
    std::uint32_t pid = 0;
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto c = Command("/bin/sh").args({"-c", "sleep 0.2"}).stdout(Stdio::piped()).spawn();
            REQUIRE(c);
            pid = *c->id();
            // Detached: still reading when the Runtime dies.
            spawn(read_then_wait(std::move(*c)));
            co_await time::sleep(10ms);
        }());
    }
    CHECK(eventually([&] { return !proc_exists(pid); }));
}

TEST_CASE("a child that exits while its Runtime shuts down is reaped", "[process][teardown]") {
    // The child ends (killed) during ~Runtime, whose task holds it with
    // kill_on_drop.
    std::uint32_t pid = 0;
    {
        Runtime rt;
        rt.block_on([&]() -> Async<> {
            auto c = Command("/bin/sleep").arg("100").kill_on_drop(true).spawn();
            REQUIRE(c);
            pid = *c->id();
            spawn(wait_for(std::move(*c)));
            co_return;
        }());
    }
    CHECK(eventually([&] { return !proc_exists(pid); }));
    CHECK(eventually([] { return zombie_children() == 0; }));
}
