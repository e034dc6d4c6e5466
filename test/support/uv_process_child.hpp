#pragma once

// What the uv::Process tests need around a child: `/bin/sh -c` options (the
// children are small shell scripts standing in for libuv's spawn_helperN),
// a pipe whose write end a child inherits and whose read end the test reads
// after the child exited, a temporary directory, a wait for "reaped by
// someone else", and the states of a running child read from /proc.

#include <pollux/uv/process.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace pollux::test {

// Options that run `script` with /bin/sh -c.
inline pollux::uv::ProcessOptions sh_options(std::string script,
                                             pollux::uv::ProcessOptions::ExitCallback cb = {}) {
    pollux::uv::ProcessOptions o;
    o.file = "/bin/sh";
    o.args = {"sh", "-c", std::move(script)};
    o.exit_cb = std::move(cb);
    return o;
}

// libuv's spawn_helper4: runs until killed (the shell execs sleep, so a
// signal reaches the sleeping program whichever it hits).
inline const char* const forever_script = "exec sleep 600";

// Runs sleep itself (no shell in between), until killed: for checks of a
// running child's state in /proc.
inline pollux::uv::ProcessOptions sleep_options(pollux::uv::ProcessOptions::ExitCallback cb = {}) {
    pollux::uv::ProcessOptions o;
    o.file = "sleep";
    o.args = {"sleep", "600"};
    o.exit_cb = std::move(cb);
    return o;
}

// A close-on-exec pipe: the child gets the write end through `inherit_fd`.
class CapturePipe {
public:
    CapturePipe() { REQUIRE(::pipe2(fds_, O_CLOEXEC) == 0); }
    ~CapturePipe() {
        close_write_end();
        if (fds_[0] >= 0) {
            ::close(fds_[0]);
        }
    }
    CapturePipe(const CapturePipe&) = delete;
    CapturePipe& operator=(const CapturePipe&) = delete;

    [[nodiscard]] int read_fd() const { return fds_[0]; }
    [[nodiscard]] int write_fd() const { return fds_[1]; }
    [[nodiscard]] pollux::uv::StdioContainer child_end() const {
        return {pollux::uv::StdioContainer::inherit_fd, fds_[1]};
    }
    void close_write_end() {
        if (fds_[1] >= 0) {
            ::close(fds_[1]);
            fds_[1] = -1;
        }
    }
    // Closes the parent's write end and reads until every writer is gone.
    std::string read_all() {
        close_write_end();
        std::string out;
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(fds_[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            REQUIRE(n >= 0);
            if (n == 0) {
                return out;
            }
            out.append(buf, static_cast<std::size_t>(n));
        }
    }

private:
    int fds_[2] = {-1, -1};
};

// A fresh directory under the system's temporary directory, removed with
// everything in it.
class TempDir {
public:
    TempDir() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "pollux-uvproc-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    // Writes an executable shell script `name` (mode 0755) with `body`.
    std::filesystem::path script(const std::string& name, const std::string& body) const {
        auto p = path_ / name;
        std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
        std::filesystem::permissions(p, std::filesystem::perms(0755));
        return p;
    }

private:
    std::filesystem::path path_;
};

// True once `pid` is no child of ours any more: it exited and someone (not
// this call: WNOWAIT) reaped it. `tick` runs between checks (a loop turn, for
// instance). Gives up after a generous hang guard.
inline bool reaped(pid_t pid, const std::function<void()>& tick = {}) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < give_up) {
        siginfo_t info{};
        int r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
        if (r == -1 && errno == ECHILD) {
            return true;
        }
        if (tick) {
            tick();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
}

// True if some child of this process has exited and nobody reaped it.
inline bool has_zombie_child() {
    siginfo_t info{};
    int r = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
    return r == 0 && info.si_pid != 0;
}

// One "Name:\tvalue" line of /proc/<pid>/status.
inline std::string proc_status_field(pid_t pid, const std::string& name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + ":", 0) == 0) {
            auto v = line.substr(name.size() + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    }
    return {};
}

// A signal mask field of /proc/<pid>/status ("SigBlk", "SigIgn") as bits.
inline std::uint64_t proc_signal_mask(pid_t pid, const std::string& name) {
    std::string v = proc_status_field(pid, name);
    REQUIRE_FALSE(v.empty());
    return std::stoull(v, nullptr, 16);
}

// The descriptors open in process `pid`.
inline std::set<int> proc_fds(pid_t pid) {
    std::set<int> fds;
    for (auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        fds.insert(std::stoi(e.path().filename().string()));
    }
    return fds;
}

// The descriptors of this process that a child would inherit (not
// close-on-exec): the test runner may pass some down to us.
inline std::set<int> inheritable_fds() {
    std::set<int> fds;
    for (int fd : proc_fds(::getpid())) {
        int flags = ::fcntl(fd, F_GETFD);
        if (flags >= 0 && (flags & FD_CLOEXEC) == 0) {
            fds.insert(fd);
        }
    }
    return fds;
}

// Saves descriptor `fd` and puts it back when destroyed (tests that replace
// the test process's stdin, stdout or stderr, as libuv's do).
class SavedFd {
public:
    explicit SavedFd(int fd) : fd_(fd), saved_(::fcntl(fd, F_DUPFD_CLOEXEC, 10)) {
        REQUIRE(saved_ >= 0);
    }
    ~SavedFd() {
        ::dup2(saved_, fd_);
        ::close(saved_);
    }
    SavedFd(const SavedFd&) = delete;
    SavedFd& operator=(const SavedFd&) = delete;

private:
    int fd_;
    int saved_;
};

} // namespace pollux::test
