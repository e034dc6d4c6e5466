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
//   default bound on file jobs running at once (4). bench/fs/run.sh makes
//   the file.
//
// The public API, pollux::fs (what bench/fs/run.sh compares with tokio::fs
// and libuv), one case per run, on a current-thread Runtime whose file
// operations take the ring (--backend ring) or the pool
// (--backend pool: RuntimeOptions::io_uring = false, as POLLUX_IO_URING=0):
//   pollux_fs_bench random FILE OPS INFLIGHT --backend B
//       INFLIGHT tasks, each a loop of File::read_at of 4 KiB at random
//       offsets of one shared File
//   pollux_fs_bench seq FILE --backend B
//       File::open, then io::read of 1 MiB at a time to the end
//   pollux_fs_bench meta DIR COUNT INFLIGHT --backend B
//       INFLIGHT tasks opening DIR/0 .. DIR/COUNT-1 (File::open,
//       File::metadata, then the File dropped: close(2))
//   --threads T (any case) sets RuntimeOptions::max_blocking_threads (the
//   pool's maximum; default 16); --fs-threads F sets
//   RuntimeOptions::max_fs_threads (file jobs running at once; default 4),
//   e.g. 16 for the pool as it was before that cap.

#include <pollux/core/async.hpp>
#include <pollux/detail/uring.hpp>
#include <pollux/detail/work_pool.hpp>
#include <pollux/fs.hpp>
#include <pollux/io.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

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
    const bool ok = pollux::detail::submit_blocking(
        run.io,
        [&run, slot, buf, off] {
            const ssize_t n = ::pread(run.fd, buf, run.opt.block, off);
            const int res = n < 0 ? -errno : static_cast<int>(n);
            boost::asio::post(run.io, [&run, slot, res] {
                run.finished(res);
                pool_start(run, slot);
            });
        },
        pollux::detail::WorkKind::abandonable,
        pollux::detail::WorkLane::fs);
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
        // Its reads are file jobs: T of them at once on T threads.
        pollux::detail::work_pool(run->io).set_max_threads(opt.threads);
        pollux::detail::work_pool(run->io).set_max_fs_jobs(opt.threads);
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

// ---- the public API (pollux::fs) ----------------------------------------------------------

pollux::Async<std::uint64_t>
fs_reader(const pollux::fs::File& f, std::uint64_t n, std::uint64_t seed, std::uint64_t blocks) {
    Rng rng{0x9e3779b97f4a7c15ull ^ seed};
    std::vector<char> buf(4096);
    std::uint64_t bad = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint64_t off = (rng.next() % blocks) * 4096;
        auto r = co_await f.read_at(boost::asio::buffer(buf), off);
        if (!r || *r != 4096) {
            ++bad;
        }
    }
    co_return bad;
}

// As fs_reader, through File::read_at_owned: the read fills the buffer it
// was handed and gives it back (no copy out of an internal buffer).
pollux::Async<std::uint64_t> fs_reader_owned(const pollux::fs::File& f,
                                             std::uint64_t n,
                                             std::uint64_t seed,
                                             std::uint64_t blocks) {
    Rng rng{0x9e3779b97f4a7c15ull ^ seed};
    std::vector<std::byte> buf(4096);
    std::uint64_t bad = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint64_t off = (rng.next() % blocks) * 4096;
        auto r = co_await f.read_at_owned(std::move(buf), off);
        buf = std::move(r.buf);
        if (!r.result || *r.result != 4096) {
            ++bad;
        }
    }
    co_return bad;
}

pollux::Async<std::uint64_t>
fs_meta(std::string dir, std::uint64_t k, std::uint64_t count, std::uint64_t step) {
    std::uint64_t bad = 0;
    for (; k < count; k += step) {
        auto f = co_await pollux::fs::File::open(dir + "/" + std::to_string(k));
        if (!f) {
            ++bad;
            continue;
        }
        auto m = co_await f->metadata();
        if (!m) {
            ++bad;
        }
    } // each File is dropped (closed) at the end of its iteration
    co_return bad;
}

int fs_api_main(int argc, char** argv) {
    const std::string what = argv[1];
    std::string backend = "ring";
    std::size_t threads = 0;
    std::size_t fs_threads = 0;
    bool owned = false;
    std::vector<std::string> pos;
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            backend = argv[++i];
        } else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--fs-threads") == 0 && i + 1 < argc) {
            fs_threads = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--owned") == 0) {
            owned = true;
        } else {
            pos.emplace_back(argv[i]);
        }
    }
    const bool ok_args = (what == "seq" && pos.size() == 1) ||
                         ((what == "random" || what == "meta") && pos.size() == 3);
    if (!ok_args || (backend != "ring" && backend != "pool")) {
        std::fprintf(stderr,
                     "usage: %s random FILE OPS INFLIGHT | seq FILE | meta DIR COUNT INFLIGHT "
                     "[--backend ring|pool] [--threads T] [--fs-threads F] [--owned]\n",
                     argv[0]);
        return 2;
    }
    pollux::RuntimeOptions o;
    o.io_uring = backend == "ring";
    if (threads > 0) {
        o.max_blocking_threads = threads;
    }
    if (fs_threads > 0) {
        o.max_fs_threads = fs_threads;
    }
    pollux::Runtime rt(o);
    const std::string label = "pollux-" + backend + (owned ? "-owned" : "");
    std::uint64_t bad = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto secs = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    if (what == "random") {
        const std::uint64_t ops = std::strtoull(pos[1].c_str(), nullptr, 10);
        const std::uint64_t inflight = std::strtoull(pos[2].c_str(), nullptr, 10);
        auto f = rt.block_on(pollux::fs::File::open(pos[0]));
        if (!f) {
            std::fprintf(stderr, "%s: %s\n", pos[0].c_str(), f.error().message().c_str());
            return 1;
        }
        struct stat st {};
        ::stat(pos[0].c_str(), &st);
        const std::uint64_t blocks = static_cast<std::uint64_t>(st.st_size) / 4096;
        const auto t1 = std::chrono::steady_clock::now();
        bad = rt.block_on([&]() -> pollux::Async<std::uint64_t> {
            std::vector<pollux::JoinHandle<std::uint64_t>> hs;
            for (std::uint64_t i = 0; i < inflight; ++i) {
                const std::uint64_t n = ops / inflight + (i < ops % inflight ? 1 : 0);
                hs.push_back(pollux::spawn(owned ? fs_reader_owned(*f, n, i + 1, blocks)
                                                 : fs_reader(*f, n, i + 1, blocks)));
            }
            std::uint64_t b = 0;
            for (auto& h : hs) {
                b += co_await h;
            }
            co_return b;
        }());
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
        std::printf("%-14s random: %llu reads of 4096 B, %llu in flight: %.0f ops/s%s\n",
                    label.c_str(),
                    static_cast<unsigned long long>(ops),
                    static_cast<unsigned long long>(inflight),
                    static_cast<double>(ops) / s,
                    bad != 0 ? " (some reads failed or were short)" : "");
    } else if (what == "seq") {
        std::uint64_t total = 0;
        bad = rt.block_on([&]() -> pollux::Async<std::uint64_t> {
            auto f = co_await pollux::fs::File::open(pos[0]);
            if (!f) {
                co_return 1;
            }
            std::vector<char> buf(1 << 20);
            for (;;) {
                auto n = co_await pollux::io::read(*f, boost::asio::buffer(buf));
                if (!n) {
                    co_return 1;
                }
                if (*n == 0) {
                    co_return 0;
                }
                total += *n;
            }
        }());
        const double s = secs();
        std::printf("%-14s seq: %llu MiB in %.3f s: %.0f MiB/s%s\n",
                    label.c_str(),
                    static_cast<unsigned long long>(total >> 20),
                    s,
                    static_cast<double>(total >> 20) / s,
                    bad != 0 ? " (a read failed)" : "");
    } else {
        const std::uint64_t count = std::strtoull(pos[1].c_str(), nullptr, 10);
        const std::uint64_t inflight = std::strtoull(pos[2].c_str(), nullptr, 10);
        bad = rt.block_on([&]() -> pollux::Async<std::uint64_t> {
            std::vector<pollux::JoinHandle<std::uint64_t>> hs;
            for (std::uint64_t i = 0; i < inflight; ++i) {
                hs.push_back(pollux::spawn(fs_meta(pos[0], i, count, inflight)));
            }
            std::uint64_t b = 0;
            for (auto& h : hs) {
                b += co_await h;
            }
            co_return b;
        }());
        const double s = secs();
        std::printf("%-14s meta: %llu open+stat+close, %llu in flight: %.0f files/s%s\n",
                    label.c_str(),
                    static_cast<unsigned long long>(count),
                    static_cast<unsigned long long>(inflight),
                    static_cast<double>(count) / s,
                    bad != 0 ? " (some failed)" : "");
    }
    std::printf("%-14s   (metrics: fs_backend %s, %llu ring operations)\n",
                label.c_str(),
                std::string(rt.metrics().fs_backend).c_str(),
                static_cast<unsigned long long>(rt.metrics().fs_ring_submitted));
    return bad != 0 ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc > 1 && (std::strcmp(argv[1], "random") == 0 || std::strcmp(argv[1], "seq") == 0 ||
                     std::strcmp(argv[1], "meta") == 0)) {
        return fs_api_main(argc, argv);
    }
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
