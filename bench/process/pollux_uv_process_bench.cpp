// pollux_uv_process_bench: the process benchmarks with pollux's callback
// face, `uv::Process` and `uv::Pipe`, written as the libuv baseline
// (bench/process/libuv_process_bench.c) is, call for call. Same command
// line and output:
//
//   pollux_uv_process_bench spawn TOTAL IN_FLIGHT
//     spawns /bin/true TOTAL times, IN_FLIGHT at once (each exit callback
//     closes its handle and spawns the next), no stdio; prints the
//     processes per second.
//   pollux_uv_process_bench pipe BYTES
//     spawns cat with its stdin and stdout on pipes, writes BYTES to its
//     stdin (one write of the whole buffer, then shutdown), reads them back
//     from its stdout and waits for its exit; prints the bytes per second.
//     The child's stdin and stdout are `create_pipe` containers: socket
//     pairs, as libuv's UV_CREATE_PIPE makes them.

#include <pollux/uv.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <span>
#include <unistd.h>
#include <vector>

namespace uv = pollux::uv;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void fail(const char* what, boost::system::error_code ec) {
    std::fprintf(stderr, "pollux_uv_process_bench: %s: %s\n", what, ec.message().c_str());
    std::exit(1);
}

// ---- spawn ----

class SpawnBench {
public:
    SpawnBench(uv::Loop& loop, long total) : loop_(loop), total_(total) {}

    void spawn_one() {
        procs_.emplace_front(loop_);
        auto it = procs_.begin();
        uv::ProcessOptions o;
        o.file = "/bin/true";
        o.exit_cb = [this, it](std::int64_t status, int sig) {
            if (status != 0 || sig != 0) {
                ++failed_;
            }
            ++reaped_;
            it->close([this, it] { procs_.erase(it); });
            if (started_ < total_) {
                spawn_one();
            }
        };
        if (auto ec = it->spawn(o)) {
            fail("spawn", ec);
        }
        ++started_;
    }

    [[nodiscard]] long started() const { return started_; }
    [[nodiscard]] long reaped() const { return reaped_; }
    [[nodiscard]] long failed() const { return failed_; }

private:
    uv::Loop& loop_;
    long total_;
    long started_ = 0;
    long reaped_ = 0;
    long failed_ = 0;
    std::list<uv::Process> procs_;
};

int run_spawn(long total, long in_flight) {
    uv::Loop loop;
    SpawnBench b(loop, total);
    const auto t0 = Clock::now();
    for (long i = 0; i < in_flight && b.started() < total; ++i) {
        b.spawn_one();
    }
    loop.run();
    const double secs = seconds_since(t0);
    if (b.reaped() != total || b.failed() != 0) {
        std::fprintf(
            stderr, "pollux_uv_process_bench: %ld reaped, %ld failed\n", b.reaped(), b.failed());
        return 1;
    }
    std::printf("%.1f\n", static_cast<double>(total) / secs);
    return 0;
}

// ---- pipe ----

int run_pipe(std::size_t bytes) {
    std::vector<char> data(bytes, 'x');
    uv::Loop loop;
    const auto t0 = Clock::now();
    uv::Pipe to_cat(loop);
    uv::Pipe from_cat(loop);
    uv::Process cat(loop);
    std::size_t read = 0;
    int cat_status = -1;
    uv::ProcessOptions o;
    o.file = "cat";
    o.stdio = {
        {uv::StdioContainer::create_pipe | uv::StdioContainer::readable_pipe, -1, &to_cat},
        {uv::StdioContainer::create_pipe | uv::StdioContainer::writable_pipe, -1, &from_cat},
        {uv::StdioContainer::inherit_fd, 2},
    };
    o.exit_cb = [&](std::int64_t status, int sig) {
        cat_status = static_cast<int>(status) + sig * 256;
        cat.close();
    };
    if (auto ec = cat.spawn(o)) {
        fail("spawn", ec);
    }
    if (auto ec = from_cat.read_start([&](boost::system::error_code ec, std::span<const char> d) {
            if (ec == boost::asio::error::eof) {
                from_cat.close();
            } else if (ec) {
                fail("read", ec);
            } else {
                read += d.size();
            }
        })) {
        fail("read_start", ec);
    }
    if (auto ec = to_cat.write(boost::asio::buffer(data), [&](boost::system::error_code ec) {
            if (ec) {
                fail("write", ec);
            }
            if (auto sec = to_cat.shutdown([&](boost::system::error_code sec) {
                    if (sec) {
                        fail("shutdown", sec);
                    }
                    to_cat.close();
                })) {
                fail("shutdown", sec);
            }
        })) {
        fail("write", ec);
    }
    loop.run();
    const double secs = seconds_since(t0);
    if (read != bytes || cat_status != 0) {
        std::fprintf(stderr,
                     "pollux_uv_process_bench: read %zu of %zu bytes, cat status %d\n",
                     read,
                     bytes,
                     cat_status);
        return 1;
    }
    std::printf("%.1f\n", static_cast<double>(bytes) / secs);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "spawn") == 0) {
        return run_spawn(std::atol(argv[2]), std::atol(argv[3]));
    }
    if (argc == 3 && std::strcmp(argv[1], "pipe") == 0) {
        return run_pipe(std::strtoull(argv[2], nullptr, 10));
    }
    std::fprintf(stderr, "usage: %s spawn TOTAL IN_FLIGHT | pipe BYTES\n", argv[0]);
    return 2;
}
