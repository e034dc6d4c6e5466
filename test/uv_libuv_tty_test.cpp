// uv::Tty: libuv 1.44's test-tty.c ported over ptys (openpty) instead of the
// controlling terminal /dev/tty, which a test run may not have; plus what
// pollux promises beyond libuv: the caller's descriptor and its flags are
// never changed, reads of a terminal that cannot be reopened do not block,
// and tty_reset_mode restores the first saved mode, from a signal handler
// too. docs/callbacks.md ("libuv's own tests", "test-tty.c") lists each libuv
// test and where it went.
#include <pollux/uv/tty.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/uv/guess_handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <poll.h>
#include <pty.h>
#include <span>
#include <string>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <thread>
#include <unistd.h>
#include <utility>

using namespace pollux;

namespace {

// A pty; both ends closed at scope exit (if still open).
struct Pty {
    int master = -1;
    int slave = -1;
    std::string name;
    Pty() {
        char path[256];
        REQUIRE(::openpty(&master, &slave, path, nullptr, nullptr) == 0);
        name = path;
        (void)::fcntl(master, F_SETFD, FD_CLOEXEC);
        (void)::fcntl(slave, F_SETFD, FD_CLOEXEC);
    }
    Pty(const Pty&) = delete;
    Pty& operator=(const Pty&) = delete;
    ~Pty() {
        close_master();
        close_slave();
    }
    void close_master() {
        if (master >= 0) {
            ::close(std::exchange(master, -1));
        }
    }
    void close_slave() {
        if (slave >= 0) {
            ::close(std::exchange(slave, -1));
        }
    }
    // The slave opened again by name, with `access`.
    int open_slave(int access) const {
        const int fd = ::open(name.c_str(), access | O_NOCTTY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        return fd;
    }
    void set_winsize(unsigned short cols, unsigned short rows) const {
        ::winsize ws{};
        ws.ws_col = cols;
        ws.ws_row = rows;
        REQUIRE(::ioctl(master, TIOCSWINSZ, &ws) == 0);
    }
    [[nodiscard]] bool canonical() const {
        ::termios t{};
        REQUIRE(::tcgetattr(slave, &t) == 0);
        return (t.c_lflag & ICANON) != 0;
    }
};

boost::system::error_code tty_init_error(uv::Loop& loop, int fd) {
    try {
        uv::Tty t(loop, fd);
    } catch (const boost::system::system_error& e) {
        return e.code();
    }
    return {};
}

// The mode tty_reset_mode restores is process-wide (the first terminal
// ever set to raw or io mode in the process), and a forked child inherits
// it: a test of it runs alone in a fresh process, an exec of this test
// executable with the test's name as its filter. In the parent it returns
// true once that process passed (the test case then returns); in the fresh
// process it returns false and the test case runs its body.
bool in_fresh_process(const char* test_name) {
    if (std::getenv("POLLUX_TTY_FRESH_PROCESS") != nullptr) {
        return false;
    }
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::setenv("POLLUX_TTY_FRESH_PROCESS", "1", 1);
        ::execl("/proc/self/exe", "uv_libuv_tty_test", test_name, static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0); // the number of failed assertions there
    return true;
}

} // namespace

// ---- test-tty.c ------------------------------------------------------------------

TEST_CASE("tty: read-only and write-only handles, the window size, raw mode and back",
          "[uv][tty][libuv]") {
    if (in_fresh_process("tty: read-only and write-only handles*")) {
        return;
    }
    Pty pty;
    pty.set_winsize(80, 24);
    const int in_fd = pty.open_slave(O_RDONLY);
    const int out_fd = pty.open_slave(O_WRONLY);
    CHECK(uv::guess_handle(-1) == uv::HandleType::unknown);
    CHECK(uv::guess_handle(in_fd) == uv::HandleType::tty);
    CHECK(uv::guess_handle(out_fd) == uv::HandleType::tty);
    uv::Loop loop;
    {
        uv::Tty in(loop, in_fd);
        uv::Tty out(loop, out_fd);
        CHECK(in.type() == uv::HandleType::tty);
        CHECK(in.is_readable());
        CHECK_FALSE(in.is_writable());
        CHECK_FALSE(out.is_readable());
        CHECK(out.is_writable());
        int width = 0;
        int height = 0;
        REQUIRE_FALSE(out.get_winsize(width, height));
        CHECK(width == 80);
        CHECK(height == 24);
        REQUIRE_FALSE(in.set_mode(uv::TtyMode::raw));
        CHECK_FALSE(pty.canonical());
        CHECK(in.mode() == uv::TtyMode::raw);
        REQUIRE_FALSE(in.set_mode(uv::TtyMode::normal));
        CHECK(pty.canonical());
        // Repeated resets do not clobber errno.
        errno = 0;
        CHECK_FALSE(uv::tty_reset_mode());
        CHECK_FALSE(uv::tty_reset_mode());
        CHECK_FALSE(uv::tty_reset_mode());
        CHECK(errno == 0);
        in.close();
        out.close();
        CHECK(loop.run() == 0);
    }
    ::close(in_fd);
    ::close(out_fd);
}

TEST_CASE("tty_raw: in raw mode a byte is read without a newline", "[uv][tty][libuv]") {
    Pty pty;
    const int in_fd = pty.open_slave(O_RDONLY);
    uv::Loop loop;
    uv::Tty in(loop, in_fd);
    ::close(in_fd); // the handle has its own descriptor
    REQUIRE_FALSE(in.set_mode(uv::TtyMode::raw));
    int reads = 0;
    std::string got;
    REQUIRE_FALSE(in.read_start([&](boost::system::error_code ec, std::span<const char> data) {
        REQUIRE_FALSE(ec);
        ++reads;
        got.append(data.data(), data.size());
        in.close();
    }));
    REQUIRE(::write(pty.master, " ", 1) == 1);
    CHECK(loop.run() == 0);
    CHECK(reads == 1);
    CHECK(got == " ");
}

TEST_CASE("tty: in normal mode input arrives a line at a time", "[uv][tty]") {
    Pty pty;
    uv::Loop loop;
    uv::Tty in(loop, pty.slave);
    std::string got;
    REQUIRE_FALSE(in.read_start([&](boost::system::error_code ec, std::span<const char> data) {
        REQUIRE_FALSE(ec);
        got.append(data.data(), data.size());
        in.close();
    }));
    REQUIRE(::write(pty.master, "ab", 2) == 2);
    CHECK(loop.run(uv::RunMode::NoWait) != 0);
    CHECK(got.empty()); // no newline yet
    REQUIRE(::write(pty.master, "c\n", 2) == 2);
    CHECK(loop.run() == 0);
    CHECK(got == "abc\n");
}

TEST_CASE("tty_empty_write: try_write of nothing writes 0 bytes", "[uv][tty][libuv]") {
    Pty pty;
    const int out_fd = pty.open_slave(O_WRONLY);
    uv::Loop loop;
    uv::Tty out(loop, out_fd);
    ::close(out_fd);
    CHECK_FALSE(out.is_readable());
    CHECK(out.is_writable());
    char dummy[1];
    auto n = out.try_write(boost::asio::buffer(dummy, 0));
    REQUIRE(n);
    CHECK(*n == 0);
    out.close();
    CHECK(loop.run() == 0);
}

// libuv's test writes to a terminal someone reads, and expects all 10,000
// bytes taken at once; a pty's buffer may take less in one write (the
// newline becomes CR-NL), so the rest goes with `write`, and all of it
// reaches the master.
TEST_CASE("tty_large_write: try_write of 10,000 bytes, the rest written, all arrive",
          "[uv][tty][libuv]") {
    Pty pty;
    const int out_fd = pty.open_slave(O_WRONLY);
    uv::Loop loop;
    uv::Tty out(loop, out_fd);
    ::close(out_fd);
    std::string dummy(10000, '.');
    dummy.back() = '\n';
    std::size_t got = 0;
    std::thread drain([&] {
        char buf[4096];
        while (got < dummy.size() + 1) { // + the CR of CR-NL
            ::pollfd p{pty.master, POLLIN, 0};
            if (::poll(&p, 1, 10000) <= 0) {
                break; // a hang guard
            }
            const ssize_t n = ::read(pty.master, buf, sizeof buf);
            if (n <= 0) {
                break;
            }
            got += static_cast<std::size_t>(n);
        }
    });
    auto n = out.try_write(boost::asio::buffer(dummy));
    REQUIRE(n);
    CHECK(*n > 0);
    int writes = 0;
    if (*n < dummy.size()) {
        REQUIRE_FALSE(out.write(dummy.substr(*n), [&](boost::system::error_code ec) {
            CHECK_FALSE(ec);
            ++writes;
        }));
    } else {
        ++writes;
    }
    CHECK(loop.run() == 0);
    drain.join();
    CHECK(writes == 1);
    CHECK(got == dummy.size() + 1);
    out.close();
    CHECK(loop.run() == 0);
}

TEST_CASE("tty_raw_cancel: read_stop right after read_start in raw mode calls nothing",
          "[uv][tty][libuv]") {
    Pty pty;
    uv::Loop loop;
    uv::Tty in(loop, pty.slave);
    REQUIRE_FALSE(in.set_mode(uv::TtyMode::raw));
    int reads = 0;
    REQUIRE_FALSE(
        in.read_start([&](boost::system::error_code, std::span<const char>) { ++reads; }));
    REQUIRE(::write(pty.master, "x", 1) == 1);
    in.read_stop();
    CHECK(loop.run() == 0); // not reading: not alive
    CHECK(reads == 0);
    REQUIRE_FALSE(in.set_mode(uv::TtyMode::normal));
    in.close();
    CHECK(loop.run() == 0);
}

TEST_CASE("tty_file: a file, a closed descriptor, /dev/random and /dev/zero are invalid_argument",
          "[uv][tty][libuv]") {
    uv::Loop loop;
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("pollux_uv_tty_test_" + std::to_string(::getpid())))
                                 .string();
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    CHECK(tty_init_error(loop, fd) == boost::asio::error::invalid_argument);
    ::close(fd);
    std::filesystem::remove(path);
    CHECK(tty_init_error(loop, fd) == boost::asio::error::invalid_argument); // EBADF
    for (const char* dev : {"/dev/random", "/dev/zero"}) {
        fd = ::open(dev, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            CHECK(tty_init_error(loop, fd) == boost::asio::error::invalid_argument);
            ::close(fd);
        }
    }
    CHECK(loop.handle_count() == 0);
    CHECK(loop.run() == 0);
}

// libuv's "it's indeterminate who owns fd now": pollux's handle has its own
// descriptor, so the caller may close `fd` at once and the handle stays
// readable and writable as opened, until it is closed.
TEST_CASE("tty_file: a pty slave opened read-write, read-only or write-only; the caller closes it",
          "[uv][tty][libuv]") {
    Pty pty;
    uv::Loop loop;
    const int rw = pty.open_slave(O_RDWR);
    const int ro = pty.open_slave(O_RDONLY);
    const int wo = pty.open_slave(O_WRONLY);
    uv::Tty tty(loop, rw);
    uv::Tty tty_ro(loop, ro);
    uv::Tty tty_wo(loop, wo);
    ::close(rw);
    ::close(ro);
    ::close(wo);
    CHECK(tty.is_readable());
    CHECK(tty.is_writable());
    CHECK(tty_ro.is_readable());
    CHECK_FALSE(tty_ro.is_writable());
    CHECK_FALSE(tty_wo.is_readable());
    CHECK(tty_wo.is_writable());
    tty.close();
    tty_ro.close();
    tty_wo.close();
    CHECK_FALSE(tty.is_readable());
    CHECK_FALSE(tty.is_writable());
    CHECK_FALSE(tty_ro.is_readable());
    CHECK_FALSE(tty_wo.is_writable());
    CHECK(loop.run() == 0);
}

TEST_CASE("tty_pty: the slave is reopened, the master is not (blocking writes)",
          "[uv][tty][libuv]") {
    Pty pty;
    uv::Loop loop;
    uv::Tty slave(loop, pty.slave);
    uv::Tty master(loop, pty.master);
    CHECK(slave.is_readable());
    CHECK(slave.is_writable());
    CHECK(master.is_readable());
    CHECK(master.is_writable());
    CHECK_FALSE(slave.blocking_writes());
    CHECK(master.blocking_writes());
    pty.close_slave();
    pty.close_master();
    slave.close();
    master.close();
    CHECK(loop.run() == 0);
}

// ---- pollux's own -----------------------------------------------------------------

// Issue 23: the flags belong to the description, which std::cout and the
// shell share; the handle's O_NONBLOCK is on its own.
TEST_CASE("Tty leaves the caller's descriptor and its flags unchanged", "[uv][tty]") {
    Pty pty;
    const int flags = ::fcntl(pty.slave, F_GETFL);
    REQUIRE((flags & O_NONBLOCK) == 0);
    uv::Loop loop;
    uv::Tty tty(loop, pty.slave);
    REQUIRE_FALSE(
        tty.read_start([&](boost::system::error_code, std::span<const char>) { tty.close(); }));
    CHECK(::fcntl(pty.slave, F_GETFL) == flags);
    // A blocking write through the caller's descriptor still blocks rather
    // than fail with EAGAIN (it fits: nothing is queued).
    REQUIRE(::write(pty.slave, "out\n", 4) == 4);
    REQUIRE(::write(pty.master, "in\n", 3) == 3);
    CHECK(loop.run() == 0);
    CHECK(::fcntl(pty.slave, F_GETFL) == flags);
    CHECK(::fcntl(pty.slave, F_GETFD) >= 0); // still open: the handle closed its own
}

// The master cannot be reopened: a blocking duplicate, whose reads take only
// what is there, so the loop never blocks in read(2).
TEST_CASE("Tty over a pty master reads what the slave writes, without blocking the loop",
          "[uv][tty]") {
    Pty pty;
    const int flags = ::fcntl(pty.master, F_GETFL);
    uv::Loop loop;
    uv::Tty master(loop, pty.master);
    REQUIRE(master.blocking_writes());
    std::string got;
    REQUIRE_FALSE(master.read_start([&](boost::system::error_code ec, std::span<const char> d) {
        REQUIRE_FALSE(ec);
        got.append(d.data(), d.size());
        if (got.find('\n') != std::string::npos) {
            master.close();
        }
    }));
    REQUIRE(::write(pty.slave, "hi\n", 3) == 3);
    CHECK(loop.run() == 0);
    CHECK(got == "hi\r\n"); // the slave's output processing: NL to CR-NL
    CHECK(::fcntl(pty.master, F_GETFL) == flags);
}

TEST_CASE("Tty: set_mode and get_winsize once closing are bad_descriptor", "[uv][tty]") {
    Pty pty;
    uv::Loop loop;
    uv::Tty tty(loop, pty.slave);
    tty.close();
    int w = -1;
    int h = -1;
    CHECK(tty.get_winsize(w, h) == boost::asio::error::bad_descriptor);
    CHECK(w == -1);
    CHECK(tty.set_mode(uv::TtyMode::raw) == boost::asio::error::bad_descriptor);
    CHECK(loop.run() == 0);
}

TEST_CASE("Tty: io mode turns output processing off; normal puts the saved mode back",
          "[uv][tty]") {
    Pty pty;
    ::termios before{};
    REQUIRE(::tcgetattr(pty.slave, &before) == 0);
    uv::Loop loop;
    uv::Tty tty(loop, pty.slave);
    REQUIRE_FALSE(tty.set_mode(uv::TtyMode::io));
    ::termios t{};
    REQUIRE(::tcgetattr(pty.slave, &t) == 0);
    CHECK((t.c_oflag & OPOST) == 0);
    CHECK((t.c_lflag & (ICANON | ECHO | ISIG)) == 0);
    REQUIRE_FALSE(tty.set_mode(uv::TtyMode::raw)); // from the saved mode, not from io
    REQUIRE(::tcgetattr(pty.slave, &t) == 0);
    CHECK((t.c_oflag & OPOST) == (before.c_oflag & OPOST));
    CHECK((t.c_lflag & (ICANON | ECHO | ISIG | IEXTEN)) == 0);
    CHECK((t.c_oflag & ONLCR) != 0);
    REQUIRE_FALSE(tty.set_mode(uv::TtyMode::normal));
    REQUIRE(::tcgetattr(pty.slave, &t) == 0);
    CHECK(t.c_lflag == before.c_lflag);
    CHECK(t.c_iflag == before.c_iflag);
    CHECK(t.c_oflag == before.c_oflag);
    tty.close();
    CHECK(loop.run() == 0);
}

TEST_CASE("tty_reset_mode restores the first saved mode after the handle is gone", "[uv][tty]") {
    if (in_fresh_process("tty_reset_mode restores the first saved mode*")) {
        return;
    }
    Pty pty;
    Pty other;
    {
        uv::Loop loop;
        uv::Tty tty(loop, pty.slave);
        uv::Tty second(loop, other.slave);
        REQUIRE_FALSE(tty.set_mode(uv::TtyMode::raw));
        REQUIRE_FALSE(second.set_mode(uv::TtyMode::raw)); // not the first: not saved
        REQUIRE_FALSE(pty.canonical());
        tty.close();
        second.close();
        REQUIRE(loop.run() == 0);
    }
    CHECK_FALSE(pty.canonical()); // closing does not reset the mode (as libuv)
    REQUIRE_FALSE(uv::tty_reset_mode());
    CHECK(pty.canonical());
    CHECK_FALSE(other.canonical()); // only the first terminal's mode was saved
}

namespace {
volatile std::sig_atomic_t g_reset_result = -1;
void reset_on_signal(int) {
    g_reset_result = uv::tty_reset_mode() ? 1 : 0;
}
} // namespace

TEST_CASE("tty_reset_mode works from a signal handler", "[uv][tty]") {
    if (in_fresh_process("tty_reset_mode works from a signal handler")) {
        return;
    }
    Pty pty;
    uv::Loop loop;
    uv::Tty tty(loop, pty.slave);
    REQUIRE_FALSE(tty.set_mode(uv::TtyMode::raw));
    REQUIRE_FALSE(pty.canonical());
    struct sigaction sa {};
    sa.sa_handler = reset_on_signal;
    REQUIRE(::sigaction(SIGUSR1, &sa, nullptr) == 0); // this process's own, fresh
    errno = 0;
    REQUIRE(::raise(SIGUSR1) == 0);
    CHECK(errno == 0);
    CHECK(g_reset_result == 0);
    CHECK(pty.canonical());
    tty.close();
    CHECK(loop.run() == 0);
}

TEST_CASE("tty_reset_mode without a saved mode does nothing and succeeds", "[uv][tty]") {
    if (in_fresh_process("tty_reset_mode without a saved mode*")) {
        return;
    }
    CHECK_FALSE(uv::tty_reset_mode());
}

// ---- teardown -------------------------------------------------------------------------

TEST_CASE("Tty destroyed while reading, before the loop runs: no callback, the loop ends",
          "[uv][tty]") {
    Pty pty;
    uv::Loop loop;
    int reads = 0;
    {
        uv::Tty tty(loop, pty.slave);
        REQUIRE_FALSE(
            tty.read_start([&](boost::system::error_code, std::span<const char>) { ++reads; }));
        REQUIRE(::write(pty.master, "x\n", 2) == 2);
    }
    CHECK(loop.run() == 0);
    CHECK(reads == 0);
    CHECK(loop.handle_count() == 0);
}

TEST_CASE("Tty destroyed inside its read callback", "[uv][tty]") {
    Pty pty;
    uv::Loop loop;
    int reads = 0;
    auto tty = std::make_unique<uv::Tty>(loop, pty.slave);
    REQUIRE_FALSE(tty->read_start([&](boost::system::error_code, std::span<const char>) {
        ++reads;
        tty.reset();
    }));
    REQUIRE(::write(pty.master, "x\n", 2) == 2);
    CHECK(loop.run() == 0);
    CHECK(reads == 1);
    CHECK(loop.handle_count() == 0);
}
