// pollux_process_bench: the process benchmarks with pollux's futures face,
// `pollux::process` (tokio's names), written as tokio_process_bench is: a
// current-thread runtime (`pollux::run`), coroutines. Same command line and
// output as bench/process/libuv_process_bench.c:
//
//   pollux_process_bench spawn TOTAL IN_FLIGHT
//     spawns /bin/true TOTAL times, IN_FLIGHT at once (IN_FLIGHT tasks, each
//     spawning and awaiting `wait()` in turn), stdio null; prints the
//     processes per second.
//   pollux_process_bench pipe BYTES
//     spawns cat with piped stdin and stdout, writes BYTES with `write_all`
//     then drops stdin, while the same task reads stdout back with 64 KiB
//     reads (`join`), then awaits the exit; prints the bytes per second.

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/io.hpp>
#include <pollux/join_set.hpp>
#include <pollux/process.hpp>
#include <pollux/runtime.hpp>

#include <boost/asio/buffer.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace process = pollux::process;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct SpawnCount {
    long total;
    long started = 0;
    long failed = 0;
};

pollux::Async<> spawn_worker(std::shared_ptr<SpawnCount> c) {
    while (c->started < c->total) {
        ++c->started;
        process::Command cmd("/bin/true");
        cmd.stdin(process::Stdio::null())
            .stdout(process::Stdio::null())
            .stderr(process::Stdio::null());
        auto child = cmd.spawn();
        if (!child) {
            std::fprintf(stderr, "spawn: %s\n", child.error().message().c_str());
            ++c->failed;
            continue;
        }
        auto status = co_await child->wait();
        if (!status || !status->success()) {
            ++c->failed;
        }
    }
}

pollux::Async<int> spawn_bench(long total, long in_flight) {
    auto c = std::make_shared<SpawnCount>(SpawnCount{total});
    const auto t0 = Clock::now();
    pollux::JoinSet<void> workers;
    for (long i = 0; i < in_flight; ++i) {
        workers.spawn(spawn_worker(c));
    }
    while (co_await workers.join_next()) {
    }
    const double secs = seconds_since(t0);
    if (c->failed != 0) {
        std::fprintf(stderr, "pollux_process_bench: %ld failed\n", c->failed);
        co_return 1;
    }
    std::printf("%.1f\n", static_cast<double>(total) / secs);
    co_return 0;
}

pollux::Async<int> pipe_bench(std::size_t bytes) {
    std::vector<char> data(bytes, 'x');
    const auto t0 = Clock::now();
    process::Command cmd("cat");
    cmd.stdin(process::Stdio::piped()).stdout(process::Stdio::piped());
    auto child = cmd.spawn();
    if (!child) {
        std::fprintf(stderr, "spawn: %s\n", child.error().message().c_str());
        co_return 1;
    }
    auto writer = [](process::ChildStdin in, const std::vector<char>& d) -> pollux::Async<bool> {
        auto w = co_await pollux::io::write_all(in, boost::asio::buffer(d));
        co_return w.has_value(); // `in` is dropped here: cat reads end of file
    };
    auto reader = [](process::ChildStdout out) -> pollux::Async<std::size_t> {
        auto buf = std::make_unique<char[]>(65536);
        std::size_t total = 0;
        for (;;) {
            auto n = co_await pollux::io::read(out, boost::asio::buffer(buf.get(), 65536));
            if (!n || *n == 0) {
                co_return total;
            }
            total += *n;
        }
    };
    auto [wrote, read] = co_await pollux::join(writer(std::move(*child->stdin), data),
                                               reader(std::move(*child->stdout)));
    auto status = co_await child->wait();
    const double secs = seconds_since(t0);
    if (!wrote || read != bytes || !status || !status->success()) {
        std::fprintf(stderr, "pollux_process_bench: read %zu of %zu bytes\n", read, bytes);
        co_return 1;
    }
    std::printf("%.1f\n", static_cast<double>(bytes) / secs);
    co_return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "spawn") == 0) {
        return pollux::run(spawn_bench(std::atol(argv[2]), std::atol(argv[3])));
    }
    if (argc == 3 && std::strcmp(argv[1], "pipe") == 0) {
        return pollux::run(pipe_bench(std::strtoull(argv[2], nullptr, 10)));
    }
    std::fprintf(stderr, "usage: %s spawn TOTAL IN_FLIGHT | pipe BYTES\n", argv[0]);
    return 2;
}
