#pragma once

// `ServerProcess`: starts a sample server (DESIGN.md section 7 contract) as a
// child process on 127.0.0.1 with port 0, reads its `listening on H:P` line,
// and offers what black-box tests observe from outside: its endpoint, its
// exit status, its descriptors, memory and CPU time from /proc. The
// destructor kills a server that is still running.

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace pollux::test {

class ServerProcess {
public:
    /// Starts the server at `path` with `--host 127.0.0.1 --port 0`;
    /// `nofile`, if set, is its RLIMIT_NOFILE.
    explicit ServerProcess(const char* path, std::optional<rlim_t> nofile = std::nullopt) {
        if (path == nullptr || *path == '\0') {
            throw std::runtime_error("no server path given");
        }
        int out[2];
        if (::pipe2(out, O_CLOEXEC) != 0) {
            throw std::runtime_error("pipe2 failed");
        }
        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid_ == 0) {
            // Child: only async-signal-safe calls until exec.
            ::dup2(out[1], 1);
            ::close_range(3, ~0U, 0); // no test descriptor leaks into the server
            if (nofile) {
                rlimit lim{*nofile, *nofile};
                ::setrlimit(RLIMIT_NOFILE, &lim);
            }
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
        out_ = out[0];
        std::string line = read_line(std::chrono::seconds(10));
        const std::string prefix = "listening on ";
        if (line.rfind(prefix, 0) != 0) {
            throw std::runtime_error("unexpected first line: '" + line + "'");
        }
        auto colon = line.rfind(':');
        host_ = line.substr(prefix.size(), colon - prefix.size());
        port_ = static_cast<unsigned short>(std::stoi(line.substr(colon + 1)));
    }

    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    ~ServerProcess() {
        if (!exited_) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
        }
        ::close(out_);
    }

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] boost::asio::ip::tcp::endpoint endpoint() const {
        return {boost::asio::ip::make_address(host_), port_};
    }
    [[nodiscard]] const std::string& host() const { return host_; }

    /// Waits up to `limit` for the process to exit; its wait status.
    std::optional<int> wait_exit(std::chrono::milliseconds limit) {
        auto end = std::chrono::steady_clock::now() + limit;
        for (;;) {
            int st = 0;
            pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                exited_ = true;
                return st;
            }
            if (std::chrono::steady_clock::now() >= end) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    [[nodiscard]] std::size_t fd_count() const {
        std::size_t n = 0;
        for ([[maybe_unused]] auto& e :
             std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd")) {
            ++n;
        }
        return n;
    }

    /// VmRSS in KiB.
    [[nodiscard]] long rss_kib() const {
        std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
        std::string key;
        while (f >> key) {
            if (key == "VmRSS:") {
                long v;
                f >> v;
                return v;
            }
            std::getline(f, key);
        }
        return -1;
    }

    /// utime + stime, in clock ticks.
    [[nodiscard]] long cpu_ticks() const {
        std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
        std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        std::istringstream rest(all.substr(all.rfind(')') + 2));
        std::vector<std::string> fields;
        for (std::string s; rest >> s;) {
            fields.push_back(s);
        }
        // fields[0] is stat field 3 (state); utime and stime are fields 14, 15.
        return std::stol(fields.at(11)) + std::stol(fields.at(12));
    }

private:
    std::string read_line(std::chrono::milliseconds limit) {
        std::string line;
        auto end = std::chrono::steady_clock::now() + limit;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            pollfd p{out_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                throw std::runtime_error("no 'listening on' line within the time limit");
            }
            char c;
            ssize_t n = ::read(out_, &c, 1);
            if (n <= 0) {
                throw std::runtime_error("server closed stdout before 'listening on'");
            }
            if (c == '\n') {
                return line;
            }
            line += c;
        }
    }

    pid_t pid_ = -1;
    int out_ = -1;
    std::string host_;
    unsigned short port_ = 0;
    bool exited_ = false;
};

} // namespace pollux::test
