#pragma once

// The seam between pollux::fs and what runs its system calls. Each function
// here (backend.cpp) is one submission to the context's io_uring ring
// (include/pollux/detail/uring.hpp) when the context uses one, and one job
// on its worker pool (backend_pool.cpp, the functions in `pool` below)
// otherwise, or when the ring refuses that operation (shut down, submission
// queue full). File, OpFuture and the free functions only ever see
// `done(res)`.
//
// The contract of every function:
// - It returns false, having called nothing and destroyed `done`, when the
//   backend refused the operation (the pool's queue is full, or the context
//   has shut down). The caller reports `resource_unavailable_try_again`.
// - Otherwise `done(res)` is called exactly once, on a backend thread (a pool
//   thread; for the ring, a thread running the io_context), with `res >= 0`
//   on success and `-errno` on failure, as an io_uring completion's `res` is.
//   The exceptions, at the context's shutdown only: an operation started
//   with `WorkKind::abandonable` that is still queued or in flight is dropped
//   (on the ring: cancelled) and `done` is destroyed without being called;
//   and a mandatory operation on the ring (a write, an fsync) is waited for
//   — its effect on the file is kept — but its `done` is destroyed unrun, as
//   the ring destroys every completion at shutdown. Nobody can wait for it
//   then, so no caller depends on that call.
// - The buffers, the `struct stat` and the descriptor passed in must stay
//   valid until `done` runs or is destroyed: callers keep them in a block
//   that `done` owns a reference to. (The ring keeps `done` until the
//   kernel's completion arrived, so that rule is the ring's rule too.)
// - No function blocks the calling thread on I/O.
//
// Which operations take the ring: reads, writes, fsyncs, stats and fstats
// (statx), and opens that neither create nor truncate. An open with O_CREAT
// or O_TRUNC goes to the pool: it is mandatory (its effect is counted on
// once started), and the ring cancels the opens in flight at shutdown.

#include <pollux/detail/uring.hpp>
#include <pollux/detail/work_pool.hpp>

#include <boost/asio/execution_context.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <sys/stat.h>

namespace pollux::fs::backend {

using Done = std::function<void(std::int64_t res)>;
using pollux::detail::WorkKind;

// Cancels a read started with one (a dropped read_at future): on the ring,
// IORING_OP_ASYNC_CANCEL (the read then completes with -ECANCELED, or with
// its bytes when it had already run or could not be interrupted); on the
// pool, nothing (a pool job cannot be interrupted; its result is dropped).
// Thread-safe, and harmless once the read ended or its context shut down.
//
// ORDERING: `ended` is set under `mutex` by the ring completion's
// destructor, which the ring runs after the completion was called or, at
// shutdown, unrun — in both cases before the ring is freed and outside the
// ring's own lock. cancel() holds `mutex` while it calls the ring: seeing
// `ended` false there proves the ring (and its context) still lives.
class ReadCancel {
public:
    void cancel();

    // backend.cpp's.
    std::mutex mutex;
    bool ended = false;
    pollux::detail::UringService* ring = nullptr;
    pollux::detail::UringTicket ticket{};
};

// open(2) of `path` with `flags` (the caller adds O_CLOEXEC) and `mode`;
// res is the new descriptor. Mandatory when the flags create or truncate.
bool open(boost::asio::execution_context& ctx,
          std::filesystem::path path,
          int flags,
          mode_t mode,
          Done done);

// One read of up to `len` bytes into `buf`: pread(2) at `offset`, or read(2)
// at the file position when `offset` is negative. res is the count (0: end
// of file). Abandonable. With `cancel`, `cancel->cancel()` asks to stop it
// (see ReadCancel).
bool read_at(boost::asio::execution_context& ctx,
             int fd,
             std::byte* buf,
             std::size_t len,
             std::int64_t offset,
             Done done,
             const std::shared_ptr<ReadCancel>& cancel = nullptr);

// Writes all `len` bytes of `buf`: pwrite(2) at `offset`, or write(2) at
// the file position when `offset` is negative, repeating short writes. res
// is `len`, or -errno of the failing call (bytes before it may have been
// written). Mandatory.
bool write_at(boost::asio::execution_context& ctx,
              int fd,
              const std::byte* buf,
              std::size_t len,
              std::int64_t offset,
              Done done);

// fstat(2) into `*out`. Abandonable.
bool fstat(boost::asio::execution_context& ctx, int fd, struct stat* out, Done done);

// stat(2) (`follow`) or lstat(2) of `path` into `*out`. Abandonable.
bool stat(boost::asio::execution_context& ctx,
          std::filesystem::path path,
          bool follow,
          struct stat* out,
          Done done);

// fsync(2), or fdatasync(2) when `data_only`. Mandatory.
bool fsync(boost::asio::execution_context& ctx, int fd, bool data_only, Done done);

// The pool's versions of the functions above (backend_pool.cpp), with the
// same contract: backend.cpp's fallback.
namespace pool {
bool open(boost::asio::execution_context& ctx,
          std::filesystem::path path,
          int flags,
          mode_t mode,
          Done done);
bool read_at(boost::asio::execution_context& ctx,
             int fd,
             std::byte* buf,
             std::size_t len,
             std::int64_t offset,
             Done done);
bool write_at(boost::asio::execution_context& ctx,
              int fd,
              const std::byte* buf,
              std::size_t len,
              std::int64_t offset,
              Done done);
bool fstat(boost::asio::execution_context& ctx, int fd, struct stat* out, Done done);
bool stat(boost::asio::execution_context& ctx,
          std::filesystem::path path,
          bool follow,
          struct stat* out,
          Done done);
bool fsync(boost::asio::execution_context& ctx, int fd, bool data_only, Done done);
} // namespace pool

} // namespace pollux::fs::backend
