#pragma once

/// @file
/// The io_uring seam of the file operations: one ring per io_context, which
/// `pollux::fs` and `uv::fs` submit reads, writes, opens, stats, fsyncs and
/// closes to where the kernel allows it, and otherwise run the same system
/// calls on the worker pool (work_pool.hpp). Not API: the fs faces call it.
///
/// How a caller uses it:
///
///     if (UringService* ring = uring_of(io)) {
///         UringTicket t = ring->submit_read(fd, buf, offset, [state](int res) { ... });
///         if (t) { /* in flight: `res` arrives on a thread running `io` */ }
///         else   { /* refused (shut down, ring full): use the pool */ }
///     } else {
///         /* this context uses the pool: detail::submit_blocking(io, ...) */
///     }
///
/// Ownership (the rule every caller must keep): the kernel reads or writes
/// the memory an operation names (the buffer, the path, the statx struct)
/// until its completion entry (CQE) arrives, and that can be after the
/// caller's future was dropped or its request cancelled. So that memory
/// belongs to a shared state that the completion callable owns (a
/// `std::shared_ptr` captured by value, say), never to the future's frame.
/// The service keeps the callable until the CQE arrived, then calls it (or,
/// at the context's shutdown, destroys it unrun) and only then destroys it:
/// the last reference to the memory goes after the kernel is done with it.
///
/// Completions: each accepted operation's callable is called exactly once,
/// with the CQE's result (`res >= 0`: what the system call returns; `res < 0`:
/// `-errno`), on a thread that runs the io_context, never from inside the
/// submit call; except at the context's shutdown, when those still in flight
/// are waited for and destroyed unrun, as Asio destroys the handlers of a
/// destroyed context. A callable must not throw (it is called from a
/// noexcept function: an exception terminates).
///
/// Submission is batched: a submit only fills a submission queue entry and,
/// for the first of a batch, posts one flush to the io_context; the flush
/// makes one `io_uring_submit` for everything queued since. So operations
/// start when the loop next runs handlers, not inside the submit call.
///
/// Completions reach the loop through an eventfd registered with the ring
/// (`io_uring_register_eventfd`), watched with the loop's own readiness
/// waits (lib/detail/readiness.hpp); the wait is in flight only while an
/// operation is, so an idle ring keeps no work on the io_context and
/// `run()` returns as it would without it.
///
/// Detection: the ring is set up by the first `uring_of` of a context (not by
/// the service's creation). It is not used, for that context for good, when
/// pollux was built without liburing (`-During=disabled`, or not found),
/// when `POLLUX_IO_URING=0` is in the environment at that moment, when the
/// runtime was made with `RuntimeOptions::io_uring = false`
/// (`disable_uring`), when `io_uring_queue_init` fails (EPERM or ENOSYS under
/// seccomp or in containers, ENOMEM), or when the kernel lacks one of the
/// operations below (io_uring_probe). `RuntimeMetrics::fs_backend` says
/// which backend the context took.
///
/// Thread safety: every member is safe from any thread while the io_context
/// lives (one mutex guards the ring). The completions of one context may run
/// on several threads at once when several threads run it.
///
/// Shutdown (the io_context's destruction; nothing runs it any more): new
/// submits are refused; the queued entries are submitted; reads, stats and
/// opens in flight are cancelled (IORING_OP_ASYNC_CANCEL); writes, fsyncs
/// and closes are left to finish (the pool's "mandatory" rule: their effect
/// is counted on even when nobody waits for them); then every CQE is
/// waited for, a descriptor an open returned meanwhile is closed, the
/// callables are destroyed unrun, and the ring is freed. The seam is for
/// regular files and directories: a ring write to a pipe or socket that
/// never drains would hold that shutdown up.

#include <pollux/detail/config.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

struct statx;

namespace pollux::detail {

/// What an operation calls when its CQE arrives: `complete(res)` once, on a
/// thread running the context; or nothing, destroyed unrun, at the context's
/// shutdown. Destroyed after either, never before the kernel is done with
/// the operation's memory.
class UringCompletion {
public:
    virtual ~UringCompletion() = default;
    virtual void complete(int res) noexcept = 0;
};

template <class F>
class FnUringCompletion final : public UringCompletion {
public:
    template <class G>
    explicit FnUringCompletion(G&& fn) : fn_(std::forward<G>(fn)) {}
    void complete(int res) noexcept override { fn_(res); }

private:
    F fn_;
};

/// An accepted operation, for `cancel`; false: the submit was refused. A
/// ticket stays harmless after its operation ended: cancel then does nothing
/// (each slot's generation changes when it is reused).
struct UringTicket {
    std::uint64_t id = 0;
    explicit operator bool() const noexcept { return id != 0; }
};

/// The operations (one SQE each).
enum class UringOpKind : std::uint8_t {
    read,      ///< pread(fd, buf, len, offset); offset -1: the file position
    write,     ///< pwrite(fd, buf, len, offset); offset -1: the file position
    openat,    ///< openat(dirfd, path, flags | O_CLOEXEC, mode)
    statx,     ///< statx(dirfd, path, flags, mask, statxbuf)
    fsync,     ///< fsync(fd)
    fdatasync, ///< fdatasync(fd)
    close,     ///< close(fd)
};

/// One operation's arguments, as the SQE takes them; the fields an op does
/// not use are ignored. Memory it points to: see the ownership rule above.
struct UringRequest {
    UringOpKind kind = UringOpKind::read;
    int fd = -1; ///< the file, or the directory for openat/statx (AT_FDCWD)
    void* buf = nullptr;
    std::uint32_t len = 0;
    std::uint64_t offset = 0;
    const char* path = nullptr;
    int flags = 0;               ///< open flags / statx flags
    unsigned mode = 0;           ///< openat's mode
    unsigned mask = 0;           ///< statx's mask
    struct statx* stx = nullptr; ///< statx's result
};

/// Counters for RuntimeMetrics (relaxed snapshots).
struct UringMetrics {
    enum class Backend : std::uint8_t { undecided, io_uring, pool };
    Backend backend = Backend::undecided;
    std::uint64_t submitted = 0; ///< operations accepted (SQEs filled)
    std::uint64_t completed = 0; ///< their completions called or, at shutdown, destroyed
};

/// The ring of one io_context, an Asio service (use `uring_of`; an
/// io_context's only). See the file comment for the protocol.
class POLLUX_API UringService final : public boost::asio::execution_context::service {
public:
    static boost::asio::execution_context::id id;

    explicit UringService(boost::asio::execution_context& ctx);
    ~UringService() override;

    /// Sets the ring up on the first call (see "Detection"); true while this
    /// context uses it. Once false, false for good.
    [[nodiscard]] bool available();

    /// Never uses the ring, unless the first `available()` already chose it.
    void disable() noexcept;

    /// Queues `req`; `done(res)` is called when its CQE arrives. Returns a
    /// ticket, or an empty one, with `done` destroyed unrun, when the ring
    /// is not available, the context shut down, or the submission queue
    /// stays full (the caller then uses the pool). Throws std::bad_alloc
    /// with nothing queued and `done` destroyed unrun.
    template <class F>
    [[nodiscard]] UringTicket submit(const UringRequest& req, F&& done) {
        static_assert(std::is_invocable_v<std::decay_t<F>&, int>,
                      "a ring completion is called with (int res)");
        return submit_erased(
            req, std::make_unique<FnUringCompletion<std::decay_t<F>>>(std::forward<F>(done)));
    }

    /// pread into `buf` at `offset` (-1: at the file position, advancing it).
    /// `res`: the bytes read (0 at end of file, fewer than asked near it).
    template <class F>
    [[nodiscard]] UringTicket
    submit_read(int fd, boost::asio::mutable_buffer buf, std::int64_t offset, F&& done) {
        return submit(UringRequest{.kind = UringOpKind::read,
                                   .fd = fd,
                                   .buf = buf.data(),
                                   .len = clamp_len(buf.size()),
                                   .offset = static_cast<std::uint64_t>(offset)},
                      std::forward<F>(done));
    }

    /// pwrite of `buf` at `offset` (-1: at the file position, advancing it).
    /// `res`: the bytes written.
    template <class F>
    [[nodiscard]] UringTicket
    submit_write(int fd, boost::asio::const_buffer buf, std::int64_t offset, F&& done) {
        return submit(UringRequest{.kind = UringOpKind::write,
                                   .fd = fd,
                                   .buf = const_cast<void*>(buf.data()),
                                   .len = clamp_len(buf.size()),
                                   .offset = static_cast<std::uint64_t>(offset)},
                      std::forward<F>(done));
    }

    /// openat(dirfd, path, flags | O_CLOEXEC, mode). `res`: the descriptor.
    template <class F>
    [[nodiscard]] UringTicket
    submit_openat(int dirfd, const char* path, int flags, unsigned mode, F&& done) {
        return submit(UringRequest{.kind = UringOpKind::openat,
                                   .fd = dirfd,
                                   .path = path,
                                   .flags = flags,
                                   .mode = mode},
                      std::forward<F>(done));
    }

    /// statx(dirfd, path, flags, mask, out). `res`: 0.
    template <class F>
    [[nodiscard]] UringTicket submit_statx(
        int dirfd, const char* path, int flags, unsigned mask, struct statx* out, F&& done) {
        return submit(UringRequest{.kind = UringOpKind::statx,
                                   .fd = dirfd,
                                   .path = path,
                                   .flags = flags,
                                   .mask = mask,
                                   .stx = out},
                      std::forward<F>(done));
    }

    /// fsync(fd), or fdatasync(fd) when `datasync`. `res`: 0.
    template <class F>
    [[nodiscard]] UringTicket submit_fsync(int fd, bool datasync, F&& done) {
        return submit(
            UringRequest{.kind = datasync ? UringOpKind::fdatasync : UringOpKind::fsync, .fd = fd},
            std::forward<F>(done));
    }

    /// close(fd). `res`: 0. The descriptor is gone once submitted, whatever
    /// `res` says (as close(2)).
    template <class F>
    [[nodiscard]] UringTicket submit_close(int fd, F&& done) {
        return submit(UringRequest{.kind = UringOpKind::close, .fd = fd}, std::forward<F>(done));
    }

    /// Asks the kernel to cancel the operation (IORING_OP_ASYNC_CANCEL), for
    /// a dropped future or a cancelled request. Its completion still comes,
    /// once, with -ECANCELED, or with its own result when the operation had
    /// already finished or cannot be interrupted (a regular file's read or
    /// write in progress). Does nothing for an operation that ended, or
    /// after the shutdown.
    void cancel(UringTicket t);

    /// Counters and the backend chosen.
    [[nodiscard]] UringMetrics metrics() const noexcept;

    struct Impl; // lib/fs/uring.cpp

private:
    void shutdown() override;
    UringTicket submit_erased(const UringRequest& req, std::unique_ptr<UringCompletion> done);

    static std::uint32_t clamp_len(std::size_t n) noexcept {
        // One SQE moves at most 2^31 - 1 bytes at a time, as read(2) does;
        // the caller sees a short count.
        constexpr std::size_t max = 0x7ffff000;
        return static_cast<std::uint32_t>(n < max ? n : max);
    }

    std::unique_ptr<Impl> impl_;
};

/// The ring of `io` when this context uses one (creating the service and
/// running the detection on first use); null when it uses the pool.
POLLUX_API UringService* uring_of(boost::asio::io_context& io);

/// Makes `io` use the pool for its file operations (RuntimeOptions::io_uring
/// = false); call before its first file operation.
POLLUX_API void disable_uring(boost::asio::io_context& io);

/// The counters of `ctx`'s ring, without creating anything: `undecided` when
/// no file operation asked yet.
POLLUX_API UringMetrics uring_metrics(boost::asio::execution_context& ctx);

} // namespace pollux::detail
