#include <pollux/uv/process.hpp>

// libuv 1.44's process tests (test-spawn.c, with process_ref of test-ref.c
// and kill_invalid_signum of test-signal.c), ported to pollux::uv.
// docs/callbacks.md ("### test-spawn.c") lists each libuv test and where it
// went. libuv's children are its own test runner run as spawn_helperN; ours
// are small /bin/sh scripts doing what each helper does (exit 1, print
// "hello world", copy stdin to stdout, sleep until killed, ...).

#include <pollux/uv/loop.hpp>
#include <pollux/uv/pipe.hpp>
#include <pollux/uv/tcp.hpp>
#include <pollux/uv/timer.hpp>

#include "support/loop_quiescent.hpp"
#include "support/uv_process_child.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <memory>
#include <pwd.h>
#include <signal.h>
#include <span>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace pollux;
using namespace std::chrono_literals;
using boost::system::errc::make_error_code;
using pollux::test::CapturePipe;
using pollux::test::forever_script;
using pollux::test::require_loop_quiescent;
using pollux::test::sh_options;
using pollux::test::TempDir;
namespace errc = boost::system::errc;

namespace {

// libuv's spawn_helperN, as shell scripts.
const std::string helper1 = "exit 1";
const std::string helper2 = "printf 'hello world\\n'; exit 1";
const std::string helper5 = "printf 'fourth stdio!\\n' >&3; exit 1";
const std::string helper6 = "printf 'hello world\\n'; printf 'hello errworld\\n' >&2; exit 1";
const std::string helper7 = "printf '%s' \"$ENV_TEST\"; exit 1";
// spawn_helper3 (a line from stdin to stdout) and spawn_helper9 (stdin to
// stdout until eof): cat does both for the tests' input.
const std::string helper3 = "cat; exit 1";
const std::string helper9 = "cat; exit 1";

// libuv's exit_cb: exit status 1, no signal; closes the process.
struct ExitCounts {
    int exit_cb_called = 0;
    int close_cb_called = 0;

    uv::ProcessOptions::ExitCallback exit_cb(uv::Process& p) {
        return [this, &p](std::int64_t exit_status, int term_signal) {
            ++exit_cb_called;
            REQUIRE(exit_status == 1);
            REQUIRE(term_signal == 0);
            p.close([this] { ++close_cb_called; });
        };
    }
    // libuv's kill_cb: the child ended by SIGTERM; uv::kill(pid, 0) then
    // finds no such process (it was reaped before the callback).
    uv::ProcessOptions::ExitCallback kill_cb(uv::Process& p) {
        return [this, &p](std::int64_t exit_status, int term_signal) {
            ++exit_cb_called;
            REQUIRE(exit_status == 0);
            REQUIRE(term_signal == SIGTERM);
            p.close([this] { ++close_cb_called; });
            REQUIRE(uv::kill(p.pid(), 0) == errc::no_such_process);
        };
    }
};

// libuv's on_alloc/on_read over `output`: appends; at eof closes the stream
// (counted in `close_cb_called`).
struct Reader {
    std::string output;
    int* close_cb_called;

    uv::Stream::ReadCallback on_read(uv::Stream& s) {
        return [this, &s](boost::system::error_code ec, std::span<const char> data) {
            if (!ec) {
                output.append(data.data(), data.size());
                return;
            }
            REQUIRE(ec == boost::asio::error::eof);
            s.close([this] { ++*close_cb_called; });
        };
    }
    // libuv's on_read_once: stops reading first.
    uv::Stream::ReadCallback on_read_once(uv::Stream& s) {
        return [this, &s](boost::system::error_code ec, std::span<const char> data) {
            s.read_stop();
            on_read(s)(ec, data);
        };
    }
};

uv::StdioContainer create_pipe(uv::Pipe& p, unsigned direction) {
    return {uv::StdioContainer::create_pipe | direction, -1, &p};
}

// libuv's write_cb: the write succeeded; closes the stream (counted).
uv::Stream::StatusCallback write_cb(uv::Stream& s, int& close_cb_called) {
    return [&s, &close_cb_called](boost::system::error_code ec) {
        REQUIRE_FALSE(ec);
        s.close([&close_cb_called] { ++close_cb_called; });
    };
}

uv::ProcessOptions::ExitCallback fail_cb() {
    return [](std::int64_t, int) { FAIL("fail_cb called"); };
}

bool no_such_program(boost::system::error_code ec) {
    return ec == errc::no_such_file_or_directory || ec == errc::permission_denied;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `body` in a forked child that is not root (it becomes `nobody`
// first if the test runs as root, as libuv's setuid tests do in their own
// process), and returns the child's exit status: 0 if every check passed.
// The child builds its own loop and never returns into Catch.
template <class F>
int in_unprivileged_child(F body) {
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    if (uid == 0) {
        const passwd* pw = ::getpwnam("nobody");
        REQUIRE(pw != nullptr);
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::getuid() == 0 && (::setgid(gid) != 0 || ::setuid(uid) != 0)) {
            ::_exit(90);
        }
        ::_exit(body());
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

} // namespace

TEST_CASE("spawn_fails: a program that does not exist is spawn's ENOENT; the handle stays "
          "inactive",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    auto o = sh_options("", fail_cb());
    o.file = "program-that-had-better-not-exist";
    o.args = {o.file};
    auto ec = process.spawn(o);
    REQUIRE(no_such_program(ec));
    REQUIRE_FALSE(process.is_active());
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_fails_check_for_waitpid_cleanup: a failed spawn leaves no child to wait for",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    auto o = sh_options("", fail_cb());
    o.file = "program-that-had-better-not-exist";
    o.args = {o.file};
    REQUIRE(no_such_program(process.spawn(o)));
    REQUIRE_FALSE(process.is_active());
    REQUIRE(loop.run() == 0);
    // libuv waits for process.pid and expects ECHILD; pollux gives a failed
    // spawn no pid, so: no child of ours has exited unreaped.
    REQUIRE(process.pid() == 0);
    REQUIRE_FALSE(pollux::test::has_zombie_child());
    process.close();
    REQUIRE(loop.run() == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_empty_env: an empty environment is passed as it is", "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    CapturePipe out;
    auto o = sh_options("/usr/bin/env; exit 1", n.exit_cb(process));
    o.env = std::vector<std::string>{};
    o.stdio = {{}, out.child_end()};
    REQUIRE_FALSE(process.spawn(o));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 1);
    // The shell adds PWD (and may add PATH) to an empty environment; nothing
    // of ours is there.
    std::string env = out.read_all();
    REQUIRE(env.find("HOME=") == std::string::npos);
    REQUIRE(env.find("ENV_TEST") == std::string::npos);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_exit_code: the exit callback gets the child's exit status",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    REQUIRE_FALSE(process.spawn(sh_options(helper1, n.exit_cb(process))));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_stdout: the child's stdout read through a created pipe", "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    uv::Pipe out(loop);
    ExitCounts n;
    Reader r{{}, &n.close_cb_called};
    auto o = sh_options(helper2, n.exit_cb(process));
    o.stdio = {{}, create_pipe(out, uv::StdioContainer::writable_pipe)};
    REQUIRE_FALSE(process.spawn(o));
    REQUIRE_FALSE(out.read_start(r.on_read(out)));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 2); // once for the process, once for the pipe
    REQUIRE(r.output == "hello world\n");
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_stdin: written to the child's stdin pipe, read back from its stdout pipe",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    uv::Pipe out(loop);
    uv::Pipe in(loop);
    ExitCounts n;
    Reader r{{}, &n.close_cb_called};
    auto o = sh_options(helper3, n.exit_cb(process));
    o.stdio = {create_pipe(in, uv::StdioContainer::readable_pipe),
               create_pipe(out, uv::StdioContainer::writable_pipe)};
    REQUIRE_FALSE(process.spawn(o));
    const std::string buffer = "hello-from-spawn_stdin";
    REQUIRE_FALSE(in.write(buffer, write_cb(in, n.close_cb_called)));
    REQUIRE_FALSE(out.read_start(r.on_read(out)));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 3); // the process and both pipes
    REQUIRE(r.output == buffer);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_stdout_to_file: stdout inherited from a file descriptor", "[uv][process][libuv]") {
    TempDir dir;
    const std::string path = (dir.path() / "stdout_file").string();
    int file = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    REQUIRE(file >= 0);
    {
        uv::Loop loop;
        uv::Process process(loop);
        ExitCounts n;
        auto o = sh_options(helper2, n.exit_cb(process));
        o.stdio = {{}, {uv::StdioContainer::inherit_fd, file}};
        REQUIRE_FALSE(process.spawn(o));
        REQUIRE(loop.run() == 0);
        REQUIRE(n.exit_cb_called == 1);
        REQUIRE(n.close_cb_called == 1);
        require_loop_quiescent(loop);
    }
    REQUIRE(::close(file) == 0);
    REQUIRE(read_file(path) == "hello world\n");
}

TEST_CASE("spawn_stdout_and_stderr_to_file: stdout and stderr inherited from one descriptor",
          "[uv][process][libuv]") {
    TempDir dir;
    const std::string path = (dir.path() / "stdout_file").string();
    int file = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    REQUIRE(file >= 0);
    {
        uv::Loop loop;
        uv::Process process(loop);
        ExitCounts n;
        auto o = sh_options(helper6, n.exit_cb(process));
        o.stdio = {
            {}, {uv::StdioContainer::inherit_fd, file}, {uv::StdioContainer::inherit_fd, file}};
        REQUIRE_FALSE(process.spawn(o));
        REQUIRE(loop.run() == 0);
        REQUIRE(n.exit_cb_called == 1);
        REQUIRE(n.close_cb_called == 1);
        require_loop_quiescent(loop);
    }
    REQUIRE(::close(file) == 0);
    REQUIRE(read_file(path) == "hello world\nhello errworld\n");
}

TEST_CASE("spawn_stdout_and_stderr_to_file2: the parent's own stderr given as the child's "
          "stdout and stderr",
          "[uv][process][libuv]") {
    TempDir dir;
    const std::string path = (dir.path() / "stdout_file").string();
    int exit_cb_called = 0;
    int close_cb_called = 0;
    {
        pollux::test::SavedFd saved_stderr(STDERR_FILENO);
        int r = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        REQUIRE(r >= 0);
        REQUIRE(::dup2(r, STDERR_FILENO) == STDERR_FILENO);
        ::close(r);
        uv::Loop loop;
        uv::Process process(loop);
        ExitCounts n;
        auto o = sh_options(helper6, n.exit_cb(process));
        o.stdio = {{},
                   {uv::StdioContainer::inherit_fd, STDERR_FILENO},
                   {uv::StdioContainer::inherit_fd, STDERR_FILENO}};
        REQUIRE_FALSE(process.spawn(o));
        REQUIRE(loop.run() == 0);
        exit_cb_called = n.exit_cb_called;
        close_cb_called = n.close_cb_called;
        require_loop_quiescent(loop);
    }
    REQUIRE(exit_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    REQUIRE(read_file(path) == "hello world\nhello errworld\n");
}

TEST_CASE("spawn_stdout_and_stderr_to_file_swap: the parent's stdout and stderr swapped in the "
          "child",
          "[uv][process][libuv]") {
    TempDir dir;
    const std::string out_path = (dir.path() / "stdout_file").string();
    const std::string err_path = (dir.path() / "stderr_file").string();
    int exit_cb_called = 0;
    int close_cb_called = 0;
    {
        // Nothing is reported while stdout is replaced: the checks come after
        // both are back.
        pollux::test::SavedFd saved_stdout(STDOUT_FILENO);
        pollux::test::SavedFd saved_stderr(STDERR_FILENO);
        int r = ::open(out_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        int e = ::open(err_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        bool ok = r >= 0 && e >= 0 && ::dup2(r, STDOUT_FILENO) == STDOUT_FILENO &&
                  ::dup2(e, STDERR_FILENO) == STDERR_FILENO;
        ::close(r);
        ::close(e);
        if (ok) {
            uv::Loop loop;
            uv::Process process(loop);
            auto o = sh_options(helper6, [&](std::int64_t status, int signal) {
                ++exit_cb_called;
                ok = ok && status == 1 && signal == 0;
                process.close([&] { ++close_cb_called; });
            });
            // The child's stdout is our stderr_file, its stderr our stdout_file.
            o.stdio = {{},
                       {uv::StdioContainer::inherit_fd, STDERR_FILENO},
                       {uv::StdioContainer::inherit_fd, STDOUT_FILENO}};
            ok = ok && !process.spawn(o) && loop.run() == 0 && loop.handle_count() == 0;
        }
        REQUIRE(ok);
    }
    REQUIRE(exit_cb_called == 1);
    REQUIRE(close_cb_called == 1);
    REQUIRE(read_file(out_path) == "hello errworld\n");
    REQUIRE(read_file(err_path) == "hello world\n");
}

TEST_CASE("spawn_stdio_greater_than_3: a created pipe as the child's fourth descriptor",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    uv::Pipe pipe(loop);
    ExitCounts n;
    Reader r{{}, &n.close_cb_called};
    auto o = sh_options(helper5, n.exit_cb(process));
    o.stdio = {{}, {}, {}, create_pipe(pipe, uv::StdioContainer::writable_pipe)};
    REQUIRE_FALSE(process.spawn(o));
    REQUIRE_FALSE(pipe.read_start(r.on_read(pipe)));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 2);
    REQUIRE(r.output == "fourth stdio!\n");
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_tcp_server: a bound TCP socket given to the child as descriptor 3",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Tcp server(loop);
    REQUIRE_FALSE(server.bind({boost::asio::ip::make_address("127.0.0.1"), 0}));
    const int fd = server.socket().native_handle();
    REQUIRE(fd > 2);
    uv::Process process(loop);
    ExitCounts n;
    // libuv's helper listens on descriptor 3; the shell checks that it is a
    // socket.
    auto o = sh_options("[ -S /dev/fd/3 ] && exit 1; exit 2", n.exit_cb(process));
    o.stdio = {{uv::StdioContainer::inherit_fd, 0},
               {uv::StdioContainer::inherit_fd, 1},
               {uv::StdioContainer::inherit_fd, 2},
               {uv::StdioContainer::inherit_fd, fd}};
    REQUIRE_FALSE(process.spawn(o));
    server.close();
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_ignored_stdio: no stdio given runs the child with /dev/null",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    REQUIRE_FALSE(process.spawn(sh_options(helper6, n.exit_cb(process))));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_and_kill: a child killed from a timer reports SIGTERM", "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    uv::Timer timer(loop);
    ExitCounts n;
    REQUIRE_FALSE(process.spawn(sh_options(forever_script, n.kill_cb(process))));
    REQUIRE_FALSE(timer.start(
        [&] {
            REQUIRE_FALSE(process.kill(SIGTERM));
            timer.close([&] { ++n.close_cb_called; });
        },
        50ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 2);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_preserve_env: a null environment passes the parent's", "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    uv::Pipe out(loop);
    ExitCounts n;
    Reader r{{}, &n.close_cb_called};
    REQUIRE(::setenv("ENV_TEST", "testval", 1) == 0);
    auto o = sh_options(helper7, n.exit_cb(process));
    o.env = std::nullopt;
    o.stdio = {{}, create_pipe(out, uv::StdioContainer::writable_pipe)};
    auto ec = process.spawn(o);
    ::unsetenv("ENV_TEST");
    REQUIRE_FALSE(ec);
    REQUIRE_FALSE(out.read_start(r.on_read(out)));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 2);
    REQUIRE(r.output == "testval");
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_detached: a detached, unreferenced child outlives the loop's run",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    int exit_cb_called = 0;
    auto o = sh_options(forever_script, [&](std::int64_t, int) { ++exit_cb_called; });
    o.flags |= uv::Process::detached;
    REQUIRE_FALSE(process.spawn(o));
    process.unref();
    REQUIRE(loop.run() == 0);
    REQUIRE(exit_cb_called == 0);
    const int pid = process.pid();
    REQUIRE(pid > 0);
    // setsid: the child leads a session (and process group) of its own.
    REQUIRE(::getsid(pid) == pid);
    REQUIRE(::getpgid(pid) == pid);
    REQUIRE_FALSE(uv::kill(pid, 0));
    REQUIRE_FALSE(uv::kill(pid, SIGTERM));
    // libuv's test ends here; the handle, still open, is closed before the
    // loop, and the child is reaped all the same.
    process.close();
    REQUIRE(loop.run() == 0);
    REQUIRE(pollux::test::reaped(pid, [&] { loop.run(uv::RunMode::NoWait); }));
    REQUIRE(exit_cb_called == 0);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_and_kill_with_std: a child with three created pipes killed from a timer",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    uv::Pipe in(loop);
    uv::Pipe out(loop);
    uv::Pipe err(loop);
    uv::Timer timer(loop);
    ExitCounts n;
    Reader r{{}, &n.close_cb_called};
    auto o = sh_options(forever_script, n.kill_cb(process));
    o.stdio = {create_pipe(in, uv::StdioContainer::readable_pipe),
               create_pipe(out, uv::StdioContainer::writable_pipe),
               create_pipe(err, uv::StdioContainer::writable_pipe)};
    REQUIRE_FALSE(process.spawn(o));
    const std::string message = "Nancy's joining me because the message this evening is "
                                "not my message but ours.";
    REQUIRE_FALSE(in.write(message, write_cb(in, n.close_cb_called)));
    REQUIRE_FALSE(out.read_start(r.on_read(out)));
    REQUIRE_FALSE(err.read_start(r.on_read(err)));
    REQUIRE_FALSE(timer.start(
        [&] {
            REQUIRE_FALSE(process.kill(SIGTERM));
            timer.close([&] { ++n.close_cb_called; });
        },
        50ms));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 5); // process, timer, three pipes
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_and_ping: kill(0) finds the child; a ping comes back through its pipes",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    uv::Pipe in(loop);
    uv::Pipe out(loop);
    ExitCounts n;
    Reader r{{}, &n.close_cb_called};
    auto o = sh_options(helper3, n.exit_cb(process));
    o.stdio = {create_pipe(in, uv::StdioContainer::readable_pipe),
               create_pipe(out, uv::StdioContainer::writable_pipe)};
    REQUIRE_FALSE(process.spawn(o));
    // Signal 0 checks that the child is there without killing it.
    REQUIRE_FALSE(process.kill(0));
    REQUIRE_FALSE(in.write(std::string("TEST"), write_cb(in, n.close_cb_called)));
    REQUIRE_FALSE(out.read_start(r.on_read(out)));
    REQUIRE(n.exit_cb_called == 0);
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(r.output == "TEST");
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_closed_process_io: spawn works while the parent's stdin is closed",
          "[uv][process][libuv]") {
    int exit_cb_called = 0;
    int close_cb_called = 0;
    {
        // Declared first, so stdin comes back after the pipe that may have
        // taken descriptor 0 is gone.
        pollux::test::SavedFd saved_stdin(STDIN_FILENO);
        REQUIRE(::close(STDIN_FILENO) == 0);
        uv::Loop loop;
        uv::Process process(loop);
        uv::Pipe in(loop);
        ExitCounts n;
        auto o = sh_options(helper3, n.exit_cb(process));
        o.stdio = {create_pipe(in, uv::StdioContainer::readable_pipe)};
        REQUIRE_FALSE(process.spawn(o));
        REQUIRE_FALSE(
            in.write(std::string("hello-from-spawn_stdin\n"), write_cb(in, n.close_cb_called)));
        REQUIRE(loop.run() == 0);
        exit_cb_called = n.exit_cb_called;
        close_cb_called = n.close_cb_called;
        require_loop_quiescent(loop);
    }
    REQUIRE(exit_cb_called == 1);
    REQUIRE(close_cb_called == 2); // process, child stdin
}

TEST_CASE("kill: uv::kill reaches a child spawned while SIGTERM was blocked and ignored",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    // Verify that spawn resets the signal disposition and mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &set, nullptr) == 0);
    auto old = ::signal(SIGTERM, SIG_IGN);
    REQUIRE(old != SIG_ERR);
    auto ec = process.spawn(sh_options(forever_script, n.kill_cb(process)));
    REQUIRE(::pthread_sigmask(SIG_UNBLOCK, &set, nullptr) == 0);
    REQUIRE(::signal(SIGTERM, old) != SIG_ERR);
    REQUIRE_FALSE(ec);
    // Signal 0 checks that the child is there without killing it.
    REQUIRE_FALSE(uv::kill(process.pid(), 0));
    REQUIRE_FALSE(uv::kill(process.pid(), SIGTERM));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("kill_invalid_signum: uv::kill with a bad signal number is EINVAL",
          "[uv][process][libuv]") {
    REQUIRE(uv::kill(::getpid(), -1) == errc::invalid_argument);
    REQUIRE(uv::kill(::getpid(), 4096) == errc::invalid_argument);
}

TEST_CASE("spawn_setuid_setgid: the child runs as the given user and group",
          "[uv][process][libuv]") {
    // libuv needs root and becomes nobody; as any other user, setting one's
    // own ids is permitted and checked the same way.
    uid_t uid = ::getuid();
    gid_t gid = ::getgid();
    if (uid == 0) {
        const passwd* pw = ::getpwnam("nobody");
        REQUIRE(pw != nullptr);
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    CapturePipe out;
    auto o = sh_options("id -u; id -g; exit 1", n.exit_cb(process));
    o.flags = uv::Process::setuid | uv::Process::setgid;
    o.uid = uid;
    o.gid = gid;
    o.stdio = {{}, out.child_end()};
    REQUIRE_FALSE(process.spawn(o));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 1);
    REQUIRE(out.read_all() == std::to_string(uid) + "\n" + std::to_string(gid) + "\n");
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_setuid_fails: an unprivileged parent cannot spawn as root: EPERM",
          "[uv][process][libuv]") {
    int r = in_unprivileged_child([] {
        uv::Loop loop;
        int called = 0;
        {
            uv::Process process(loop);
            auto o = sh_options(helper1, [&](std::int64_t, int) { ++called; });
            o.flags |= uv::Process::setuid;
            o.uid = 0;
            // These flags are ignored on Unix.
            o.flags |= uv::Process::windows_hide | uv::Process::windows_hide_console |
                       uv::Process::windows_hide_gui | uv::Process::windows_verbatim_arguments;
            if (process.spawn(o) != errc::operation_not_permitted) {
                return 1;
            }
            if (process.is_active() || loop.run() != 0) {
                return 2;
            }
        }
        return called == 0 && loop.handle_count() == 0 ? 0 : 3;
    });
    REQUIRE(r == 0);
}

TEST_CASE("spawn_setgid_fails: an unprivileged parent cannot spawn as group 0: EPERM",
          "[uv][process][libuv]") {
    int r = in_unprivileged_child([] {
        uv::Loop loop;
        int called = 0;
        {
            uv::Process process(loop);
            auto o = sh_options(helper1, [&](std::int64_t, int) { ++called; });
            o.flags |= uv::Process::setgid;
            o.gid = 0;
            if (process.spawn(o) != errc::operation_not_permitted) {
                return 1;
            }
            if (process.is_active() || loop.run() != 0) {
                return 2;
            }
        }
        return called == 0 && loop.handle_count() == 0 ? 0 : 3;
    });
    REQUIRE(r == 0);
}

TEST_CASE("spawn_auto_unref: a child without exit callback stops keeping the loop alive at exit",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    REQUIRE_FALSE(process.spawn(sh_options(helper1)));
    REQUIRE(loop.run() == 0);
    REQUIRE_FALSE(process.is_active());
    REQUIRE_FALSE(process.is_closing());
    process.close();
    REQUIRE(loop.run() == 0);
    REQUIRE(process.is_closing());
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_fs_open: a close-on-exec descriptor is closed in the child, an inheritable "
          "copy is open",
          "[uv][process][libuv]") {
    int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    REQUIRE(fd > 2);
    // dup() makes a copy without FD_CLOEXEC, which the child inherits, as
    // libuv's does.
    int dup_fd = ::dup(fd);
    REQUIRE(dup_fd > 2);
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    // libuv's helper writes to the first descriptor and expects EBADF; the
    // shell checks which descriptors are open.
    auto o = sh_options("[ -e /dev/fd/" + std::to_string(fd) + " ] && exit 2; [ -e /dev/fd/" +
                            std::to_string(dup_fd) + " ] || exit 3; exit 1",
                        n.exit_cb(process));
    auto ec = process.spawn(o);
    ::close(dup_fd);
    REQUIRE_FALSE(ec);
    REQUIRE(loop.run() == 0);
    ::close(fd);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_reads_child_path: a file name without a slash is looked up in the child's PATH",
          "[uv][process][libuv]") {
    TempDir dir;
    dir.script("pollux-spawn-helper1", helper1);
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    uv::ProcessOptions o;
    o.file = "pollux-spawn-helper1";
    o.args = {o.file};
    o.env = std::vector<std::string>{"PATH=" + dir.path().string()};
    o.exit_cb = n.exit_cb(process);
    REQUIRE_FALSE(process.spawn(o));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_exercise_sigchld_issue: one child among a hundred failed spawns",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    REQUIRE_FALSE(process.spawn(sh_options(helper1, n.exit_cb(process))));
    std::vector<std::unique_ptr<uv::Process>> dummies;
    for (int i = 0; i < 100; ++i) {
        auto& d = dummies.emplace_back(std::make_unique<uv::Process>(loop));
        uv::ProcessOptions o;
        o.file = "program-that-had-better-not-exist";
        o.args = {o.file};
        o.exit_cb = fail_cb();
        REQUIRE(no_such_program(d->spawn(o)));
        d->close([&] { ++n.close_cb_called; });
    }
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 101);
    dummies.clear();
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_relative_path: a relative file with a slash is resolved from cwd",
          "[uv][process][libuv]") {
    TempDir dir;
    dir.script("pollux-spawn-helper1", helper1);
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    uv::ProcessOptions o;
    o.cwd = dir.path().string();
    o.file = "./pollux-spawn-helper1";
    o.args = {o.file};
    o.exit_cb = n.exit_cb(process);
    REQUIRE_FALSE(process.spawn(o));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 1);
    require_loop_quiescent(loop);
}

TEST_CASE("process_ref: an unreferenced running child does not keep run() alive",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    REQUIRE_FALSE(process.spawn(sh_options(forever_script)));
    process.unref();
    REQUIRE(loop.run() == 0);
    REQUIRE(process.is_active());
    const int pid = process.pid();
    REQUIRE_FALSE(process.kill(SIGTERM));
    process.close();
    REQUIRE(loop.run() == 0);
    REQUIRE(pollux::test::reaped(pid, [&] { loop.run(uv::RunMode::NoWait); }));
    require_loop_quiescent(loop);
}

TEST_CASE("spawn_inherit_streams: pipe streams of the parent given to the child as its stdio",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    ExitCounts n;
    Reader r{{}, &n.close_cb_called};
    uv::Pipe stdin_child(loop);
    uv::Pipe stdout_child(loop);
    uv::Pipe stdin_parent(loop);
    uv::Pipe stdout_parent(loop);
    auto fds_stdin = uv::pipe();
    auto fds_stdout = uv::pipe();
    REQUIRE(fds_stdin.has_value());
    REQUIRE(fds_stdout.has_value());
    REQUIRE_FALSE(stdin_child.open((*fds_stdin)[0]));
    REQUIRE_FALSE(stdout_child.open((*fds_stdout)[1]));
    REQUIRE_FALSE(stdin_parent.open((*fds_stdin)[1]));
    REQUIRE_FALSE(stdout_parent.open((*fds_stdout)[0]));
    REQUIRE(stdin_child.is_readable());
    REQUIRE(stdout_child.is_writable());
    REQUIRE(stdin_parent.is_writable());
    REQUIRE(stdout_parent.is_readable());
    // Some systems (SVR4) open a bidirectional pipe, most don't.
    const bool bidir = stdin_child.is_writable();
    REQUIRE(stdout_child.is_readable() == bidir);
    REQUIRE(stdin_parent.is_readable() == bidir);
    REQUIRE(stdout_parent.is_writable() == bidir);

    auto o = sh_options(helper9, n.exit_cb(process));
    o.stdio = {{uv::StdioContainer::inherit_stream, -1, &stdin_child},
               {uv::StdioContainer::inherit_stream, -1, &stdout_child}};
    REQUIRE_FALSE(process.spawn(o));
    stdin_child.close();
    stdout_child.close();

    std::string ubuf(1023, '\0');
    for (std::size_t i = 0; i < ubuf.size(); ++i) {
        ubuf[i] = static_cast<char>(i & 255U);
    }
    REQUIRE_FALSE(stdin_parent.write(ubuf, write_cb(stdin_parent, n.close_cb_called)));
    REQUIRE_FALSE(stdout_parent.read_start(r.on_read(stdout_parent)));
    REQUIRE(loop.run() == 0);
    REQUIRE(n.exit_cb_called == 1);
    REQUIRE(n.close_cb_called == 3);
    REQUIRE(r.output == ubuf);
    require_loop_quiescent(loop);
}

TEST_CASE("closed_fd_events: a closed pipe handle gets no more events though its peer writes",
          "[uv][process][libuv]") {
    uv::Loop loop;
    uv::Process process(loop);
    uv::Pipe pipe_handle(loop);
    uv::Timer timer(loop);
    int close_cb_called = 0;
    Reader r{{}, &close_cb_called};
    int timer_counter = 0;
    // A pipe shared with a child.
    auto fd = uv::pipe();
    REQUIRE(fd.has_value());
    REQUIRE((*fd)[0] > 2);
    REQUIRE((*fd)[1] > 2);
    // The child blocks until killed.
    auto o = sh_options(forever_script);
    o.stdio = {{uv::StdioContainer::inherit_fd, (*fd)[0]}, {}, {}};
    REQUIRE_FALSE(process.spawn(o));
    process.unref();
    const int pid = process.pid();
    // Read from the pipe with a handle, which takes the descriptor.
    REQUIRE_FALSE(pipe_handle.open((*fd)[0]));
    REQUIRE_FALSE(pipe_handle.read_start(r.on_read_once(pipe_handle)));
    REQUIRE(::write((*fd)[1], "", 1) == 1);
    REQUIRE(loop.run(uv::RunMode::Once) == 0);
    // Just the one byte.
    REQUIRE(r.output.size() == 1);
    // Close the handle and see whether events still come.
    pipe_handle.close([&] { ++close_cb_called; });
    REQUIRE(::write((*fd)[1], "", 1) == 1);
    REQUIRE_FALSE(timer.start([&] { ++timer_counter; }, 10ms));
    // No spurious event may interrupt the timer.
    if (loop.run(uv::RunMode::Once) == 1) {
        REQUIRE(loop.run(uv::RunMode::Once) == 0);
    }
    REQUIRE(timer_counter == 1);
    REQUIRE(close_cb_called == 1);
    // Clean up.
    REQUIRE_FALSE(process.kill(SIGTERM));
    REQUIRE(::close((*fd)[1]) == 0);
    timer.close();
    process.close();
    REQUIRE(loop.run() == 0);
    REQUIRE(pollux::test::reaped(pid, [&] { loop.run(uv::RunMode::NoWait); }));
    require_loop_quiescent(loop);
}
