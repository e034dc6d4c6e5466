#pragma once

// The seam between pollux::fs and what runs its system calls. Today every
// function here queues one job on the context's worker pool
// (backend_pool.cpp). An io_uring backend can replace these functions — one
// submission each — without touching File, OpFuture or the free functions:
// they only ever see `done(res)`.
//
// The contract of every function:
// - It returns false, having called nothing and destroyed `done`, when the
//   backend refused the operation (the pool's queue is full, or the context
//   has shut down). The caller reports `resource_unavailable_try_again`.
// - Otherwise `done(res)` is called exactly once, on a backend thread (a pool
//   thread; for a ring, whichever thread reaps it), with `res >= 0` on
//   success and `-errno` on failure, as an io_uring completion's `res` is.
//   The exception: an operation started with `WorkKind::abandonable` that is
//   still queued when the context shuts down is dropped and `done` is
//   destroyed without being called.
// - The buffers, the `struct stat` and the descriptor passed in must stay
//   valid until `done` runs or is destroyed: callers keep them in a block
//   that `done` owns a reference to.
// - No function blocks the calling thread on I/O.

#include <pollux/detail/work_pool.hpp>

#include <boost/asio/execution_context.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <sys/stat.h>

namespace pollux::fs::backend {

using Done = std::function<void(std::int64_t res)>;
using pollux::detail::WorkKind;

// open(2) of `path` with `flags` (the caller adds O_CLOEXEC) and `mode`;
// res is the new descriptor. Mandatory when the flags create or truncate.
bool open(boost::asio::execution_context& ctx,
          std::filesystem::path path,
          int flags,
          mode_t mode,
          Done done);

// One read of up to `len` bytes into `buf`: pread(2) at `offset`, or read(2)
// at the file position when `offset` is negative. res is the count (0: end
// of file). Abandonable.
bool read_at(boost::asio::execution_context& ctx,
             int fd,
             std::byte* buf,
             std::size_t len,
             std::int64_t offset,
             Done done);

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

} // namespace pollux::fs::backend
