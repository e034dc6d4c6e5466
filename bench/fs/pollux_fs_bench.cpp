// Random 4 KiB reads of one file with a fixed number in flight, through
// pollux's io_uring seam (detail::UringService) or through the worker pool
// (detail::submit_blocking running pread, its result posted back to the
// loop, as the fs faces do on the pool). One loop thread; the completion of
// each read starts the next, until --ops reads are done. Prints one line per
// backend: operations per second, the mean time per operation, and the
// CPU time (user + system, every thread of the process) per operation,
// which a loaded machine disturbs less than the wall-clock figures.
//
// Usage: pollux_fs_bench FILE [--backend ring|pool|both] [--ops N]
//                             [--inflight K] [--block B] [--threads T]
//   defaults: both, 200000 ops, 64 in flight, 4096-byte blocks, the pool's
//   default thread bound (16). bench/fs/run.sh makes the file.

#include <pollux/detail/uring.hpp>
#include <pollux/detail/work_pool.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

struct Options {
    const char* file = nullptr;
    std::string backend = "both";
    std::uint64_t ops = 200000;
    std::size_t inflight = 64;
    std::size_t block = 4096;
    std::size_t threads = 0; // 0: the pool's default
};

// xorshift64*: cheap, and the same sequence for both backends.
struct Rng {
    std::uint64_t s = 0x9e3779b97f4a7c15ull;
    std::uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545f4914f6cdd1dull;
    }
};

// One run's shared state: the loop, the file, the buffers, the counters.
struct Run {
    boost::asio::io_context io{1};
    int fd = -1;
    std::uint64_t blocks = 0; // of the file
    Options opt;
    Rng rng;
    std::uint64_t issued = 0;
    std::uint64_t done = 0;
    std::uint64_t failed = 0;
    std::vector<std::vector<char>> bufs;

    std::int64_t next_offset() {
        return static_cast<std::int64_t>((rng.next() % blocks) * opt.block);
    }
    void finished(int res) {
        ++done;
        if (res != static_cast<int>(opt.block)) {
            ++failed;
        }
        if (done == opt.ops) {
            io.stop();
        }
    }
};

void ring_start(Run& run, pollux::detail::UringService& ring, std::size_t slot) {
    if (run.issued == run.opt.ops) {
        return;
    }
    ++run.issued;
    std::vector<char>& buf = run.bufs[slot];
    // The run ends only when every read completed (done == ops), so the
    // buffers outlive every read and the callable needs no reference.
    const auto t = ring.submit_read(
        run.fd, boost::asio::buffer(buf), run.next_offset(), [&run, &ring, slot](int res) {
            run.finished(res);
            ring_start(run, ring, slot);
        });
    if (!t) {
        std::fprintf(stderr, "ring refused a read\n");
        std::exit(1);
    }
}

void pool_start(Run& run, std::size_t slot) {
    if (run.issued == run.opt.ops) {
        return;
    }
    ++run.issued;
    char* buf = run.bufs[slot].data();
    const std::int64_t off = run.next_offset();
    const bool ok = pollux::detail::submit_blocking(run.io, [&run, slot, buf, off] {
        const ssize_t n = ::pread(run.fd, buf, run.opt.block, off);
        const int res = n < 0 ? -errno : static_cast<int>(n);
        boost::asio::post(run.io, [&run, slot, res] {
            run.finished(res);
            pool_start(run, slot);
        });
    });
    if (!ok) {
        std::fprintf(stderr, "the pool refused a read\n");
        std::exit(1);
    }
}

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return s(ru.ru_utime) + s(ru.ru_stime);
}

// Runs one backend; false if it is not available.
bool bench(const Options& opt, const std::string& backend) {
    auto run = std::make_unique<Run>();
    run->opt = opt;
    run->fd = ::open(opt.file, O_RDONLY | O_CLOEXEC);
    if (run->fd < 0) {
        std::perror(opt.file);
        std::exit(1);
    }
    struct stat st {};
    ::fstat(run->fd, &st);
    run->blocks = static_cast<std::uint64_t>(st.st_size) / opt.block;
    if (run->blocks == 0) {
        std::fprintf(stderr, "%s is smaller than one block\n", opt.file);
        std::exit(1);
    }
    run->bufs.assign(opt.inflight, std::vector<char>(opt.block));
    if (opt.threads > 0) {
        pollux::detail::work_pool(run->io).set_max_threads(opt.threads);
    }
    pollux::detail::UringService* ring = nullptr;
    if (backend == "ring") {
        ring = pollux::detail::uring_of(run->io);
        if (ring == nullptr) {
            std::printf("ring: io_uring is not available here\n");
            ::close(run->fd);
            return false;
        }
    }
    auto guard = boost::asio::make_work_guard(run->io);
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < opt.inflight; ++i) {
        if (ring != nullptr) {
            ring_start(*run, *ring, i);
        } else {
            pool_start(*run, i);
        }
    }
    run->io.run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    const auto n = static_cast<double>(run->done);
    std::printf("%-4s  %llu reads of %zu B, %zu in flight: %.0f ops/s, %.2f us/op, "
                "%.2f us CPU/op%s\n",
                backend.c_str(),
                static_cast<unsigned long long>(run->done),
                opt.block,
                opt.inflight,
                n / s,
                s * 1e6 / n,
                cpu * 1e6 / n,
                run->failed != 0 ? " (some reads failed or were short)" : "");
    std::fflush(stdout);
    ::close(run->fd);
    return true;
}

} // namespace

int main(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--backend") {
            opt.backend = value();
        } else if (a == "--ops") {
            opt.ops = std::strtoull(value(), nullptr, 10);
        } else if (a == "--inflight") {
            opt.inflight = std::strtoull(value(), nullptr, 10);
        } else if (a == "--block") {
            opt.block = std::strtoull(value(), nullptr, 10);
        } else if (a == "--threads") {
            opt.threads = std::strtoull(value(), nullptr, 10);
        } else if (opt.file == nullptr && a[0] != '-') {
            opt.file = argv[i];
        } else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (opt.file == nullptr || opt.ops == 0 || opt.inflight == 0 || opt.block == 0 ||
        (opt.backend != "ring" && opt.backend != "pool" && opt.backend != "both")) {
        std::fprintf(stderr,
                     "usage: %s FILE [--backend ring|pool|both] [--ops N] [--inflight K] "
                     "[--block B] [--threads T]\n",
                     argv[0]);
        return 2;
    }
    if (opt.backend == "ring" || opt.backend == "both") {
        bench(opt, "ring");
    }
    if (opt.backend == "pool" || opt.backend == "both") {
        bench(opt, "pool");
    }
    return 0;
}
