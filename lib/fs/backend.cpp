// lib/fs/backend.hpp's functions: one io_uring submission each when the
// context uses a ring (include/pollux/detail/uring.hpp), else, or when the
// ring refuses the operation, the pool's version (backend_pool.cpp).
//
// Ownership on the ring path: what the kernel reads or writes (the caller's
// buffer and `struct stat`, which the caller keeps alive through `done`; the
// path and the statx buffer, which live in a block made here) is owned by
// the completion callable, which the ring keeps until the CQE arrived. The
// caller's `done` is held by a shared block so that a refused submission
// (which destroys the callable unrun) can still hand it to the pool.

#include "backend.hpp"

#include "sys.hpp"

#include <boost/asio/io_context.hpp>

#include <cerrno>
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <utility>

namespace pollux::fs::backend {

namespace {

using pollux::detail::UringService;
using pollux::detail::UringTicket;

// The ring of the context, or null: it uses the pool (the ring is off, or
// the kernel refused one). Every context a pollux task runs on is an
// io_context (a Runtime's, a uv::Loop's), as UringService also assumes.
UringService* ring_of(boost::asio::execution_context& ctx) {
    return pollux::detail::uring_of(static_cast<boost::asio::io_context&>(ctx));
}

// What statx filled, as stat(2) would have.
void to_stat(const struct statx& x, struct stat* out) noexcept {
    *out = {};
    out->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
    out->st_ino = x.stx_ino;
    out->st_mode = x.stx_mode;
    out->st_nlink = x.stx_nlink;
    out->st_uid = x.stx_uid;
    out->st_gid = x.stx_gid;
    out->st_rdev = makedev(x.stx_rdev_major, x.stx_rdev_minor);
    out->st_size = static_cast<off_t>(x.stx_size);
    out->st_blksize = static_cast<blksize_t>(x.stx_blksize);
    out->st_blocks = static_cast<blkcnt_t>(x.stx_blocks);
    out->st_atim.tv_sec = x.stx_atime.tv_sec;
    out->st_atim.tv_nsec = x.stx_atime.tv_nsec;
    out->st_mtim.tv_sec = x.stx_mtime.tv_sec;
    out->st_mtim.tv_nsec = x.stx_mtime.tv_nsec;
    out->st_ctim.tv_sec = x.stx_ctime.tv_sec;
    out->st_ctim.tv_nsec = x.stx_ctime.tv_nsec;
}

// A statx in flight: its buffer and the path it names.
struct StatxBlock {
    std::filesystem::path path;
    struct statx stx {};
    struct stat* out = nullptr;
};

// Sets the ReadCancel's `ended` when the ring destroys the completion that
// holds it (after calling it, or unrun at shutdown).
class EndMark {
public:
    explicit EndMark(std::shared_ptr<ReadCancel> c) noexcept : c_(std::move(c)) {}
    EndMark(EndMark&&) noexcept = default;
    EndMark(const EndMark&) = delete;
    EndMark& operator=(const EndMark&) = delete;
    EndMark& operator=(EndMark&&) = delete;
    ~EndMark() {
        if (c_) {
            std::lock_guard lock(c_->mutex);
            c_->ended = true;
        }
    }

private:
    std::shared_ptr<ReadCancel> c_;
};

// One pwrite/write on the ring for what is left of a write, repeating short
// writes as the pool's write_at does.
struct WriteState {
    boost::asio::execution_context& ctx;
    UringService& ring;
    int fd;
    const std::byte* buf;
    std::size_t len;
    std::int64_t offset; // negative: at the file position
    std::size_t written = 0;
    Done done;

    static bool start(const std::shared_ptr<WriteState>& w) {
        const std::int64_t off =
            w->offset < 0 ? -1 : w->offset + static_cast<std::int64_t>(w->written);
        return static_cast<bool>(w->ring.submit_write(
            w->fd,
            boost::asio::const_buffer(w->buf + w->written, w->len - w->written),
            off,
            [w](int res) noexcept { on_done(w, res); }));
    }

    static void on_done(const std::shared_ptr<WriteState>& w, int res) noexcept {
        if (res <= 0) {
            // write(2) of a non-empty buffer never returns 0 on a regular
            // file; refuse to spin if a device does.
            w->done(res < 0 ? res : -EIO);
            return;
        }
        w->written += static_cast<std::size_t>(res);
        if (w->written >= w->len) {
            w->done(static_cast<std::int64_t>(w->len));
            return;
        }
        // Short: the rest on the ring, or on the pool when the ring refuses.
        try {
            if (start(w)) {
                return;
            }
            const std::int64_t off =
                w->offset < 0 ? -1 : w->offset + static_cast<std::int64_t>(w->written);
            const bool queued = pool::write_at(
                w->ctx, w->fd, w->buf + w->written, w->len - w->written, off, [w](std::int64_t r) {
                    w->done(r < 0 ? r : static_cast<std::int64_t>(w->len));
                });
            if (!queued) {
                w->done(-EAGAIN);
            }
        } catch (const std::bad_alloc&) {
            w->done(-ENOMEM);
        }
    }
};

} // namespace

void ReadCancel::cancel() {
    std::lock_guard lock(mutex);
    if (!ended && ring != nullptr) {
        ring->cancel(ticket);
    }
}

bool open(boost::asio::execution_context& ctx,
          std::filesystem::path path,
          int flags,
          mode_t mode,
          Done done) {
    // Creating or truncating opens are mandatory: the ring would cancel
    // them at shutdown, so they take the pool (backend.hpp).
    if ((flags & (O_CREAT | O_TRUNC)) == 0) {
        if (UringService* ring = ring_of(ctx)) {
            auto block = std::make_shared<std::pair<std::filesystem::path, Done>>(std::move(path),
                                                                                  std::move(done));
            const UringTicket t = ring->submit_openat(
                AT_FDCWD, block->first.c_str(), flags, mode, [block](int res) noexcept {
                    block->second(res);
                });
            if (t) {
                return true;
            }
            path = std::move(block->first);
            done = std::move(block->second);
        }
    }
    return pool::open(ctx, std::move(path), flags, mode, std::move(done));
}

bool read_at(boost::asio::execution_context& ctx,
             int fd,
             std::byte* buf,
             std::size_t len,
             std::int64_t offset,
             Done done,
             const std::shared_ptr<ReadCancel>& cancel) {
    if (UringService* ring = ring_of(ctx)) {
        auto d = std::make_shared<Done>(std::move(done));
        const UringTicket t =
            ring->submit_read(fd,
                              boost::asio::mutable_buffer(buf, len),
                              offset < 0 ? -1 : offset,
                              [d, mark = EndMark(cancel)](int res) noexcept { (*d)(res); });
        if (t) {
            if (cancel) {
                std::lock_guard lock(cancel->mutex);
                // Already ended (completed on another thread): nothing to
                // cancel any more.
                if (!cancel->ended) {
                    cancel->ring = ring;
                    cancel->ticket = t;
                }
            }
            return true;
        }
        done = std::move(*d);
    }
    return pool::read_at(ctx, fd, buf, len, offset, std::move(done));
}

bool write_at(boost::asio::execution_context& ctx,
              int fd,
              const std::byte* buf,
              std::size_t len,
              std::int64_t offset,
              Done done) {
    if (UringService* ring = ring_of(ctx)) {
        auto w = std::make_shared<WriteState>(
            WriteState{ctx, *ring, fd, buf, len, offset < 0 ? -1 : offset, 0, std::move(done)});
        if (WriteState::start(w)) {
            return true;
        }
        done = std::move(w->done);
    }
    return pool::write_at(ctx, fd, buf, len, offset, std::move(done));
}

bool fstat(boost::asio::execution_context& ctx, int fd, struct stat* out, Done done) {
    if (UringService* ring = ring_of(ctx)) {
        auto block = std::make_shared<std::pair<StatxBlock, Done>>();
        block->first.out = out;
        block->second = std::move(done);
        const UringTicket t = ring->submit_statx(
            fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &block->first.stx, [block](int res) noexcept {
                if (res >= 0) {
                    to_stat(block->first.stx, block->first.out);
                }
                block->second(res);
            });
        if (t) {
            return true;
        }
        done = std::move(block->second);
    }
    return pool::fstat(ctx, fd, out, std::move(done));
}

bool stat(boost::asio::execution_context& ctx,
          std::filesystem::path path,
          bool follow,
          struct stat* out,
          Done done) {
    if (UringService* ring = ring_of(ctx)) {
        auto block = std::make_shared<std::pair<StatxBlock, Done>>();
        block->first.path = std::move(path);
        block->first.out = out;
        block->second = std::move(done);
        const UringTicket t =
            ring->submit_statx(AT_FDCWD,
                               block->first.path.c_str(),
                               follow ? 0 : AT_SYMLINK_NOFOLLOW,
                               STATX_BASIC_STATS,
                               &block->first.stx,
                               [block](int res) noexcept {
                                   if (res >= 0) {
                                       to_stat(block->first.stx, block->first.out);
                                   }
                                   block->second(res);
                               });
        if (t) {
            return true;
        }
        path = std::move(block->first.path);
        done = std::move(block->second);
    }
    return pool::stat(ctx, std::move(path), follow, out, std::move(done));
}

bool fsync(boost::asio::execution_context& ctx, int fd, bool data_only, Done done) {
    if (UringService* ring = ring_of(ctx)) {
        auto d = std::make_shared<Done>(std::move(done));
        const UringTicket t =
            ring->submit_fsync(fd, data_only, [d](int res) noexcept { (*d)(res); });
        if (t) {
            return true;
        }
        done = std::move(*d);
    }
    return pool::fsync(ctx, fd, data_only, std::move(done));
}

} // namespace pollux::fs::backend
