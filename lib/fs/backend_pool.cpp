// The pool backend of lib/fs/backend.hpp: one worker-pool job per operation;
// backend.cpp sends an operation here when the context has no ring or the
// ring refused it.

#include "backend.hpp"
#include "sys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace pollux::fs::backend::pool {

namespace {

// Runs `call()` (returns res) on the pool and hands res to `done`.
template <class Call>
bool run(boost::asio::execution_context& ctx, WorkKind kind, Call call, Done done) {
    return pollux::detail::submit_blocking(
        ctx,
        [call = std::move(call), done = std::move(done)]() mutable { done(call()); },
        kind,
        pollux::detail::WorkLane::fs);
}

} // namespace

bool open(boost::asio::execution_context& ctx,
          std::filesystem::path path,
          int flags,
          mode_t mode,
          Done done) {
    const bool changes = (flags & (O_CREAT | O_TRUNC)) != 0;
    return run(
        ctx,
        changes ? WorkKind::mandatory : WorkKind::abandonable,
        [path = std::move(path), flags, mode]() -> std::int64_t {
            return sys::result_of(sys::retry([&] { return ::open(path.c_str(), flags, mode); }));
        },
        std::move(done));
}

bool read_at(boost::asio::execution_context& ctx,
             int fd,
             std::byte* buf,
             std::size_t len,
             std::int64_t offset,
             Done done) {
    return run(
        ctx,
        WorkKind::abandonable,
        [fd, buf, len, offset]() -> std::int64_t {
            return sys::result_of(sys::retry(
                [&] { return offset < 0 ? ::read(fd, buf, len) : ::pread(fd, buf, len, offset); }));
        },
        std::move(done));
}

bool write_at(boost::asio::execution_context& ctx,
              int fd,
              const std::byte* buf,
              std::size_t len,
              std::int64_t offset,
              Done done) {
    return run(
        ctx,
        WorkKind::mandatory,
        [fd, buf, len, offset]() -> std::int64_t {
            std::size_t done_bytes = 0;
            while (done_bytes < len) {
                const std::byte* p = buf + done_bytes;
                const std::size_t n = len - done_bytes;
                ssize_t r = sys::retry([&] {
                    return offset < 0 ? ::write(fd, p, n)
                                      : ::pwrite(fd, p, n, offset + static_cast<off_t>(done_bytes));
                });
                if (r < 0) {
                    return -static_cast<std::int64_t>(errno);
                }
                if (r == 0) {
                    // write(2) of a non-empty buffer never returns 0 on a
                    // regular file; refuse to spin if a device does.
                    return -static_cast<std::int64_t>(EIO);
                }
                done_bytes += static_cast<std::size_t>(r);
            }
            return static_cast<std::int64_t>(len);
        },
        std::move(done));
}

bool fstat(boost::asio::execution_context& ctx, int fd, struct stat* out, Done done) {
    return run(
        ctx,
        WorkKind::abandonable,
        [fd, out]() -> std::int64_t { return sys::result_of(::fstat(fd, out)); },
        std::move(done));
}

bool stat(boost::asio::execution_context& ctx,
          std::filesystem::path path,
          bool follow,
          struct stat* out,
          Done done) {
    return run(
        ctx,
        WorkKind::abandonable,
        [path = std::move(path), follow, out]() -> std::int64_t {
            return sys::result_of(follow ? ::stat(path.c_str(), out) : ::lstat(path.c_str(), out));
        },
        std::move(done));
}

bool fsync(boost::asio::execution_context& ctx, int fd, bool data_only, Done done) {
    return run(
        ctx,
        WorkKind::mandatory,
        [fd, data_only]() -> std::int64_t {
            return sys::result_of(
                sys::retry([&] { return data_only ? ::fdatasync(fd) : ::fsync(fd); }));
        },
        std::move(done));
}

} // namespace pollux::fs::backend::pool
