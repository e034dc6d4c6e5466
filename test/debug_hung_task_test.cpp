// Black-box test of samples/debug_hung_task: SIGUSR1 makes it write a task
// dump to stderr that names both hung tasks and the co_await each is stuck
// on. samples/meson.build runs it with the server's path in
// POLLUX_HUNG_TASK_SERVER.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <regex>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// The server as a child process with its stdout and stderr on pipes.
class Child {
public:
    explicit Child(const char* path) {
        REQUIRE(path != nullptr);
        int out[2];
        int err[2];
        REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::dup2(out[1], 1);
            ::dup2(err[1], 2);
            char* const argv[] = {const_cast<char*>(path),
                                  const_cast<char*>("--host"),
                                  const_cast<char*>("127.0.0.1"),
                                  const_cast<char*>("--port"),
                                  const_cast<char*>("0"),
                                  nullptr};
            ::execv(path, argv);
            ::_exit(127);
        }
        ::close(out[1]);
        ::close(err[1]);
        out_ = out[0];
        err_ = err[0];
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (!exited_) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
        }
        ::close(out_);
        ::close(err_);
    }

    pid_t pid() const { return pid_; }

    // Reads `fd` until `done(text)` holds or `limit` passes; returns the text.
    template <class Pred>
    std::string read_until(bool from_stderr, Pred done, std::chrono::milliseconds limit) {
        std::string& text = from_stderr ? err_text_ : out_text_;
        const int fd = from_stderr ? err_ : out_;
        const auto end = std::chrono::steady_clock::now() + limit;
        while (!done(text)) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            pollfd p{fd, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                break;
            }
            char buf[4096];
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) {
                break;
            }
            text.append(buf, static_cast<std::size_t>(n));
        }
        return text;
    }

    int wait_exit() {
        int st = 0;
        ::waitpid(pid_, &st, 0);
        exited_ = true;
        return st;
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    int err_ = -1;
    bool exited_ = false;
    std::string out_text_;
    std::string err_text_;
};

// The block of the dump that describes the task named `name`.
std::string block_of(const std::string& dump, const std::string& name) {
    auto start = dump.find('"' + name + '"');
    if (start == std::string::npos) {
        return {};
    }
    auto end = dump.find("\ntask ", start);
    return dump.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

const std::regex await_site(R"(awaiting at \S*debug_hung_task\.cpp:(\d+))");
const std::regex spawn_site(R"(spawned at \S*debug_hung_task\.cpp:\d+)");

} // namespace

TEST_CASE("SIGUSR1 makes debug_hung_task dump both hung tasks with their await sites") {
    Child server(std::getenv("POLLUX_HUNG_TASK_SERVER"));
    const std::string out = server.read_until(
        false,
        [](const std::string& t) { return t.find('\n') != std::string::npos; },
        std::chrono::seconds(10));
    REQUIRE(out.rfind("listening on ", 0) == 0);

    REQUIRE(::kill(server.pid(), SIGUSR1) == 0);
    const std::string dump = server.read_until(
        true,
        [](const std::string& t) {
            return t.find("\"stats_reporter\"") != std::string::npos &&
                   t.find("awaiting at", t.find("\"stats_reporter\"")) != std::string::npos;
        },
        std::chrono::seconds(10));
    INFO(dump);
    const std::string holder = block_of(dump, "config_reloader");
    const std::string waiter = block_of(dump, "stats_reporter");
    std::smatch holder_site;
    std::smatch waiter_site;
    REQUIRE(std::regex_search(holder, holder_site, await_site));
    REQUIRE(std::regex_search(waiter, waiter_site, await_site));
    CHECK(std::regex_search(holder, spawn_site));
    CHECK(std::regex_search(waiter, spawn_site));
    // Two different co_awaits: the reloader's wait, the reporter's lock().
    CHECK(holder_site[1].str() != waiter_site[1].str());
    CHECK(dump.find("\"pollux::debug::dump_on_signal\"") != std::string::npos);

    REQUIRE(::kill(server.pid(), SIGTERM) == 0);
    const int st = server.wait_exit();
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
}
