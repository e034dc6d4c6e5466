#include <pollux/fs/file.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/current_executor.hpp>
#include <pollux/detail/io_block.hpp>
#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/work_pool.hpp>

#include "backend.hpp"
#include "file_impl.hpp"
#include "sys.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace pollux::fs {

namespace detail {

namespace {

using pollux::detail::WorkKind;

boost::system::error_code err_of(std::int64_t res) noexcept {
    return sys::error(static_cast<int>(-res));
}

template <class T>
Poll<Result<T>> ready_error(boost::system::error_code ec) {
    return Ready<Result<T>>{Result<T>(boost::system::in_place_error, ec)};
}

// `fn` as a job for WorkPool::submit.
template <class Fn>
std::unique_ptr<pollux::detail::WorkJob> make_work_job(Fn&& fn) {
    return std::make_unique<pollux::detail::FnWorkJob<std::decay_t<Fn>>>(std::forward<Fn>(fn));
}

// True when `ctx` has no io_uring ring (set up on first use), so every
// backend call would be one pool job: the pool paths below then submit that
// job directly, without the backend's std::function (one allocation less).
bool pool_only(boost::asio::execution_context& ctx) {
    return pollux::detail::uring_of(static_cast<boost::asio::io_context&>(ctx)) == nullptr;
}

// pool_only for a positional read of `f` from a task of `svc`, through
// FileImpl::pool_only_sched.
bool pool_only(FileImpl& f, pollux::detail::SchedulerService& svc) {
    if (f.pool_only_sched.load(std::memory_order_relaxed) == &svc) {
        return true;
    }
    if (!pool_only(svc.context())) {
        return false;
    }
    f.pool_only_sched.store(&svc, std::memory_order_relaxed);
    return true;
}

backend::Done completion(FileImpl& f) {
    return [self = f.shared_from_this()](std::int64_t r) { self->finish(r); };
}

void ensure_cap(FileImpl& f, std::size_t n) {
    if (f.cap < n) {
        f.buf = std::make_unique_for_overwrite<std::byte[]>(n);
        f.cap = n;
    }
}

void ensure_ahead_cap(FileImpl& f, std::size_t n) {
    if (f.ahead_cap < n) {
        f.ahead_buf = std::make_unique_for_overwrite<std::byte[]>(n);
        f.ahead_cap = n;
    }
}

// Counts a completed read of `r` bytes towards "sequential": reads in a row
// that got all they asked for.
void count_read(FileImpl& f, std::int64_t r) {
    if (static_cast<std::size_t>(r) == f.flight_len) {
        f.full_reads = static_cast<std::uint8_t>(std::min(f.full_reads + 1, 2));
    } else {
        f.full_reads = 0;
    }
}

// A read(2) of the File's on the pool: into `buf` (the caller's read) or
// `ahead_buf` (a read-ahead). The first one also learns whether the
// descriptor is a regular file (`kind`). Destroyed unrun (the pool shut down
// with it queued), it completes the File's flight with ECANCELED without
// waking anyone, so the File stays usable: a read-ahead is forgotten, a
// caller's read reports `operation_canceled`.
struct PoolRead {
    std::shared_ptr<FileImpl> self;
    std::byte* into;
    std::size_t n;
    bool learn_kind;

    PoolRead(std::shared_ptr<FileImpl> s, std::byte* to, std::size_t len, bool learn) noexcept
        : self(std::move(s)), into(to), n(len), learn_kind(learn) {}
    PoolRead(PoolRead&&) noexcept = default;
    PoolRead(const PoolRead&) = delete;
    PoolRead& operator=(const PoolRead&) = delete;
    PoolRead& operator=(PoolRead&&) = delete;
    ~PoolRead() {
        if (self) {
            self->abandon(-ECANCELED);
        }
    }

    void operator()() {
        const int fd = self->fd;
        const std::int64_t r = sys::result_of(sys::retry([&] { return ::read(fd, into, n); }));
        if (learn_kind) {
            struct stat s {};
            self->kind =
                ::fstat(fd, &s) == 0 && S_ISREG(s.st_mode) ? FileKind::regular : FileKind::other;
        }
        std::exchange(self, nullptr)->finish(r);
    }
};

// Submits a read of `n` bytes into `into` as the File's flight. False when
// the pool refused it (nothing in flight then).
bool submit_read(FileImpl& f,
                 boost::asio::execution_context& ctx,
                 std::byte* into,
                 std::size_t n,
                 Flight flight) {
    bool queued = false;
    if (pool_only(ctx)) {
        queued = pollux::detail::submit_blocking(
            ctx,
            PoolRead(f.shared_from_this(), into, n, f.kind == FileKind::unknown),
            WorkKind::abandonable,
            pollux::detail::WorkLane::fs);
        if (!queued) {
            // The refused job was destroyed unrun: undo its abandon().
            std::lock_guard lock(f.mutex);
            f.done = false;
        }
    } else {
        queued = backend::read_at(ctx, f.fd, into, n, -1, completion(f));
    }
    if (queued) {
        f.busy = true;
        f.flight = flight;
        f.flight_len = n;
    }
    return queued;
}

// Starts the next read of a regular file read sequentially (twice the
// caller's last read, at most `max_buf`) into `ahead_buf`, while the caller takes bytes out of
// `buf` (see file_impl.hpp, "Read-ahead"). Nothing when the File is busy, already holds bytes read
// ahead, or has not been read sequentially; a refused job is no error (the
// caller's own read comes later).
void maybe_read_ahead(FileImpl& f) {
    if (f.busy || f.ahead_len > 0 || f.kind != FileKind::regular || f.full_reads < 2 ||
        f.read_size == 0) {
        return;
    }
    // Polled outside a pollux task (bytes already buffered need none):
    // no read-ahead rather than the error a read that needs the pool gets.
    const std::optional<boost::asio::any_io_executor> ex = pollux::try_current_executor();
    if (!ex) {
        return;
    }
    boost::asio::execution_context& ctx = boost::asio::query(*ex, boost::asio::execution::context);
    if (!pool_only(ctx)) {
        // The ring reads a cached page inside the submission, on this
        // thread: a read ahead there would not overlap the copy
        // (docs/decisions.md, "Read-ahead on the pool only").
        return;
    }
    // Twice the caller's read: one pool round trip (a wake-up each way) per
    // two of the caller's reads (docs/performance.md, "Read-ahead on the
    // pool": 2x measured ahead of 1x).
    const std::size_t n = std::min(f.max_buf, 2 * f.read_size);
    ensure_ahead_cap(f, n);
    (void)submit_read(f, ctx, f.ahead_buf.get(), n, Flight::read_ahead);
}

// Takes the result of the operation in flight if it has completed; with a
// context, registers its waker otherwise. True when the file is idle.
bool complete(FileImpl& f, Context* cx) {
    if (!f.busy) {
        return true;
    }
    std::int64_t r = 0;
    {
        std::lock_guard lock(f.mutex);
        if (!f.done) {
            if (cx != nullptr && !f.waker.will_wake(cx->waker())) {
                f.waker = cx->waker();
            }
            return false;
        }
        f.done = false;
        r = f.res;
    }
    f.busy = false;
    switch (f.flight) {
    case Flight::read:
        f.pos = 0;
        if (r < 0) {
            f.len = 0;
            f.read_err = err_of(r);
            f.full_reads = 0;
        } else {
            f.len = static_cast<std::size_t>(r);
            f.eof = r == 0;
            f.read_size = f.flight_len;
            count_read(f, r);
        }
        break;
    case Flight::read_ahead:
        // Bytes, or nothing: a failed, abandoned or empty read-ahead is
        // forgotten (the descriptor did not move), and the read that gets
        // here reads again itself.
        if (r > 0) {
            f.ahead_len = static_cast<std::size_t>(r);
            count_read(f, r);
        } else {
            f.ahead_len = 0;
            f.full_reads = 0;
        }
        break;
    case Flight::write:
        f.len = f.pos = 0;
        if (r < 0) {
            f.last_write_err = err_of(r);
        }
        break;
    case Flight::other:
        f.completed_seq = f.flight_seq;
        f.completed_res = r;
        break;
    case Flight::none:
        break;
    }
    f.flight = Flight::none;
    return true;
}

// Drops the bytes read ahead, moving the file position back over them so
// that it is where the caller has read to.
// Called while idle (no read-ahead in flight).
boost::system::error_code give_back_read_ahead(FileImpl& f) {
    f.read_err.reset();
    f.eof = false;
    f.full_reads = 0;
    const std::size_t unread = f.len - f.pos + f.ahead_len;
    f.len = f.pos = f.ahead_len = 0;
    if (unread > 0 && ::lseek(f.fd, -static_cast<off_t>(unread), SEEK_CUR) < 0) {
        return sys::last_error();
    }
    return {};
}

} // namespace

Poll<Result<std::int64_t>>
poll_file_op(FileImpl& f, Context& cx, FileOp op, SeekFrom arg, std::uint64_t& seq) {
    using R = Result<std::int64_t>;
    if (seq == 0) {
        if (!complete(f, &cx)) {
            return Pending{};
        }
        if ((op == FileOp::sync_all || op == FileOp::sync_data) && f.last_write_err) {
            auto ec = *std::exchange(f.last_write_err, std::nullopt);
            return ready_error<std::int64_t>(ec);
        }
        if (op == FileOp::seek) {
            std::int64_t off = arg.offset;
            int whence = SEEK_SET;
            if (arg.whence == SeekFrom::Whence::current) {
                whence = SEEK_CUR;
                off -= static_cast<std::int64_t>(f.len - f.pos + f.ahead_len);
            } else if (arg.whence == SeekFrom::Whence::end) {
                whence = SEEK_END;
            }
            f.len = f.pos = f.ahead_len = 0;
            f.full_reads = 0;
            f.read_err.reset();
            f.eof = false;
            // lseek(2) only sets a number in the open file description: it
            // does not block, so it runs here rather than on the pool.
            const off_t r = ::lseek(f.fd, static_cast<off_t>(off), whence);
            if (r < 0) {
                return ready_error<std::int64_t>(sys::last_error());
            }
            return Ready<R>{R(static_cast<std::int64_t>(r))};
        }
        boost::asio::execution_context& ctx = current_context("pollux::fs::File");
        bool queued = false;
        switch (op) {
        case FileOp::set_len: {
            if (auto ec = give_back_read_ahead(f)) {
                return ready_error<std::int64_t>(ec);
            }
            const int fd = f.fd;
            const auto size = static_cast<off_t>(arg.offset);
            queued = pollux::detail::submit_blocking(
                ctx,
                [fd, size, done = completion(f)] {
                    done(sys::result_of(sys::retry([&] { return ::ftruncate(fd, size); })));
                },
                WorkKind::mandatory,
                pollux::detail::WorkLane::fs);
            break;
        }
        case FileOp::sync_all:
        case FileOp::sync_data:
            queued = backend::fsync(ctx, f.fd, op == FileOp::sync_data, completion(f));
            break;
        case FileOp::metadata:
            if (pool_only(ctx)) {
                queued = pollux::detail::submit_blocking(
                    ctx,
                    [self = f.shared_from_this(), fd = f.fd, st = &f.st] {
                        self->finish(sys::result_of(::fstat(fd, st)));
                    },
                    WorkKind::abandonable,
                    pollux::detail::WorkLane::fs);
            } else {
                queued = backend::fstat(ctx, f.fd, &f.st, completion(f));
            }
            break;
        case FileOp::seek:
            break;
        }
        if (!queued) {
            return ready_error<std::int64_t>(refused_error());
        }
        f.busy = true;
        f.flight = Flight::other;
        seq = f.flight_seq = ++f.next_seq;
    }
    if (!complete(f, &cx)) {
        return Pending{};
    }
    POLLUX_ASSERT(f.completed_seq == seq, "pollux::fs::File: another operation ran meanwhile");
    if (f.completed_res < 0) {
        return ready_error<std::int64_t>(err_of(f.completed_res));
    }
    return Ready<R>{R(f.completed_res)};
}

Metadata file_metadata(const FileImpl& f) noexcept {
    return Metadata(f.st);
}

namespace {

// The end of an open: the File, or the error of a negative result.
void complete_open(OpState<File>& st, std::int64_t res) {
    if (res < 0) {
        st.complete(Result<File>(boost::system::in_place_error, err_of(res)));
    } else {
        st.complete(File::from_fd(static_cast<int>(res)));
    }
}

} // namespace

// Recycled op blocks of read_at/write_at: a block with its 4 KiB buffer
// inline is a 4.1 KiB allocation, above glibc's per-thread cache, and one
// per read cost a free-list search and `malloc_consolidate` in the profile.
// Each thread keeps up to `capacity` freed blocks of the one size
// PositionalOp's shared block has and hands them to the next read_at it
// starts. Only a thread that has started a read_at keeps any (a pool thread
// that happens to drop an op's last reference frees it as before), so at
// most `capacity` blocks, 66 KiB, stay with a thread. After the thread's
// cache is destroyed (thread exit), blocks go back to the heap. One cache
// per block type (`Block`: read_at's and read_at_owned's differ in size),
// so that a thread mixing both reads recycles both.
template <class Block>
class OpBlockCache {
public:
    static constexpr std::size_t capacity = 16;

    static void* take(std::size_t bytes) {
        OpBlockCache& c = local;
        c.used_ = true;
        if (c.count_ > 0 && c.bytes_ == bytes) {
            return c.blocks_[--c.count_];
        }
        return ::operator new(bytes);
    }
    static void give(void* p, std::size_t bytes) noexcept {
        OpBlockCache& c = local;
        if (c.used_ && !c.closed_ && c.count_ < capacity && (c.count_ == 0 || c.bytes_ == bytes)) {
            c.bytes_ = bytes;
            c.blocks_[c.count_++] = p;
            return;
        }
        ::operator delete(p);
    }

    OpBlockCache() = default;
    OpBlockCache(const OpBlockCache&) = delete;
    OpBlockCache& operator=(const OpBlockCache&) = delete;
    ~OpBlockCache() {
        closed_ = true;
        while (count_ > 0) {
            ::operator delete(blocks_[--count_]);
        }
    }

private:
    static thread_local OpBlockCache local;
    bool used_ = false;
    bool closed_ = false;
    std::size_t count_ = 0;
    std::size_t bytes_ = 0;
    void* blocks_[capacity] = {};
};

template <class Block>
thread_local OpBlockCache<Block> OpBlockCache<Block>::local;

// The allocator std::allocate_shared<PositionalOp> uses (it allocates the
// shared block, one object, through it).
template <class T>
struct OpBlockAllocator {
    using value_type = T;
    OpBlockAllocator() noexcept = default;
    template <class U>
    OpBlockAllocator(const OpBlockAllocator<U>& /*other*/) noexcept {} // NOLINT: as std::allocator
    T* allocate(std::size_t n) { return static_cast<T*>(OpBlockCache<T>::take(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { OpBlockCache<T>::give(p, n * sizeof(T)); }
    friend bool operator==(const OpBlockAllocator& /*a*/, const OpBlockAllocator& /*b*/) noexcept {
        return true;
    }
};

// A read_at/write_at in flight: its own buffer and result. Up to
// `inline_size` bytes the buffer is part of the block (one allocation for
// block and buffer: the 4 KiB random read is the common case); larger ones
// get their own.
// What the two positional ops in flight (PositionalOp, OwnedReadOp) share:
// the result slot, the ring's cancel handle, the release of a job's
// reference and what a future dropped before Ready does.
struct PositionalSlot : CompletionSlot {
    // A read's on the ring: lets a dropped future cancel it there (the pool
    // cannot interrupt a job, so a pool read has none).
    std::shared_ptr<backend::ReadCancel> cancel;

    // The backend's result, on whichever thread it arrives.
    void finish(FileImpl& file, std::int64_t r) {
        file.positional.fetch_sub(1, std::memory_order_relaxed);
        CompletionSlot::finish(r);
    }

    // The future's poll: the result once it is there; until then nothing,
    // with `w` registered to be woken when it comes.
    std::optional<std::int64_t> poll_result(const Waker& w) {
        std::lock_guard lock(mutex);
        if (!done) {
            if (!waker.will_wake(w)) {
                waker = w;
            }
            return std::nullopt;
        }
        return res;
    }

    // For a job that holds `op` by its own reference: the reference goes
    // after the result is published and before the wake, so that the
    // future's thread, not the job's, normally drops the last one and the
    // block goes back to that thread's cache (OpBlockCache), and the future
    // may move the block's contents out as soon as it sees `done`. After
    // `done` is set nothing here touches the block.
    template <class Op>
    static void finish_and_release(std::shared_ptr<Op>&& op, FileImpl& file, std::int64_t r) {
        file.positional.fetch_sub(1, std::memory_order_relaxed);
        Waker w = op->settle(r);
        op.reset();
        std::move(w).wake();
    }

    // The future is dropped before Ready: its waker is released here, and a
    // read nobody waits for any more is cancelled on the ring (its
    // completion still comes, and frees the block). A write is left to
    // complete (docs/fs.md, "Cancel safety"). After Ready there is nothing
    // to do (the completion took the waker), so the caller skips this.
    void forget() noexcept {
        Waker old = Waker::noop();
        bool running = false;
        {
            std::lock_guard lock(mutex);
            old = std::exchange(waker, Waker::noop());
            running = !done;
        }
        if (running && cancel) {
            cancel->cancel();
        }
    }
};

struct PositionalOp : PositionalSlot {
    static constexpr std::size_t inline_size = 4096;
    std::unique_ptr<std::byte[]> heap;
    std::size_t len = 0;
    alignas(std::max_align_t) std::byte small[inline_size];

    explicit PositionalOp(std::size_t n)
        : heap(n > inline_size ? std::make_unique_for_overwrite<std::byte[]>(n) : nullptr), len(n) {
    }
    std::byte* data() noexcept { return heap ? heap.get() : small; }
};

// A File::read_at_owned in flight: the caller's buffer, which the read
// fills, and the result. The pool job (or the ring's completion) holds a
// reference, so a dropped future leaves the buffer alive until the read ends.
struct OwnedReadOp : PositionalSlot {
    std::vector<std::byte> buf;
    std::size_t len = 0;
};

} // namespace detail

using detail::FileImpl;

// ---- File ---------------------------------------------------------------------

File File::from_fd(int fd) {
    return File(std::make_shared<FileImpl>(fd));
}

OpFuture<File> File::open(std::filesystem::path path) {
    return OpenOptions().read(true).open(std::move(path));
}

OpFuture<File> File::create(std::filesystem::path path) {
    return OpenOptions().write(true).create(true).truncate(true).open(std::move(path));
}

void File::release() noexcept {
    if (impl_) {
        // A job may hold the block longer: the task's waker is released here,
        // on the dropping thread.
        Waker old = Waker::noop();
        {
            std::lock_guard lock(impl_->mutex);
            old = std::exchange(impl_->waker, Waker::noop());
        }
        impl_.reset();
    }
}

File& File::operator=(File&& o) noexcept {
    if (this != &o) {
        release();
        impl_ = std::move(o.impl_);
    }
    return *this;
}

File::~File() {
    release();
}

int File::native_handle() const noexcept {
    return impl_ ? impl_->fd : -1;
}

Result<int> File::into_fd() {
    POLLUX_ASSERT(impl_ != nullptr, "pollux::fs::File used after it was moved from");
    FileImpl& f = *impl_;
    // A job that just completed may still hold a reference to the block for
    // a moment; that is harmless (it then closes nothing: fd is -1), so only
    // operations still in flight count.
    if (!detail::complete(f, nullptr) || f.positional.load(std::memory_order_relaxed) > 0) {
        return Result<int>(boost::system::in_place_error, sys::error(EBUSY));
    }
    if (auto ec = detail::give_back_read_ahead(f)) {
        return Result<int>(boost::system::in_place_error, ec);
    }
    const int fd = std::exchange(f.fd, -1);
    impl_.reset();
    return fd;
}

Result<File> File::try_clone() const {
    POLLUX_ASSERT(impl_ != nullptr, "pollux::fs::File used after it was moved from");
    const int fd = ::fcntl(impl_->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        return Result<File>(boost::system::in_place_error, sys::last_error());
    }
    File out = from_fd(fd);
    out.impl_->max_buf = impl_->max_buf;
    return out;
}

std::size_t File::max_buf_size() const noexcept {
    return impl_ ? impl_->max_buf : detail::default_max_buf_size;
}

void File::set_max_buf_size(std::size_t n) noexcept {
    if (impl_) {
        impl_->max_buf = std::max<std::size_t>(n, 1);
    }
}

Poll<Result<std::size_t>> File::poll_read(Context& cx, boost::asio::mutable_buffer dst) {
    using R = Result<std::size_t>;
    POLLUX_ASSERT(impl_ != nullptr, "pollux::fs::File used after it was moved from");
    FileImpl& f = *impl_;
    for (;;) {
        // A read-ahead in flight does not hold up the bytes already in
        // `buf`; anything else in flight (a caller's read, a write, a sync)
        // is waited for first.
        const bool serve_now = f.busy && f.flight == detail::Flight::read_ahead && f.pos < f.len;
        if (!detail::complete(f, serve_now ? nullptr : &cx) && !serve_now) {
            return Pending{};
        }
        if (f.read_err) {
            auto ec = *std::exchange(f.read_err, std::nullopt);
            return detail::ready_error<std::size_t>(ec);
        }
        if (f.eof) {
            // The pool read that just completed found the end of the file.
            f.eof = false;
            return Ready<R>{R(std::size_t{0})};
        }
        if (f.pos < f.len) {
            const std::size_t n = std::min(f.len - f.pos, dst.size());
            // The next read first, then the copy: they run side by side.
            if (n > 0) {
                detail::maybe_read_ahead(f);
            }
            std::memcpy(dst.data(), f.buf.get() + f.pos, n);
            f.pos += n;
            return Ready<R>{R(n)};
        }
        if (f.ahead_len > 0) {
            // The caller got to the bytes read ahead: they become `buf`.
            std::swap(f.buf, f.ahead_buf);
            std::swap(f.cap, f.ahead_cap);
            f.len = std::exchange(f.ahead_len, 0);
            f.pos = 0;
            continue;
        }
        if (dst.size() == 0) {
            return Ready<R>{R(std::size_t{0})};
        }
        // Nothing read ahead: read into the buffer on the pool. The bytes
        // land there even if this poll's future is dropped, and the next
        // poll_read hands them out.
        const std::size_t n = std::min(dst.size(), f.max_buf);
        boost::asio::execution_context& ctx =
            detail::current_context("pollux::fs::File::poll_read");
        detail::ensure_cap(f, n);
        f.len = f.pos = 0;
        if (!detail::submit_read(f, ctx, f.buf.get(), n, detail::Flight::read)) {
            return detail::ready_error<std::size_t>(detail::refused_error());
        }
    }
}

Poll<Result<std::size_t>> File::poll_write(Context& cx, boost::asio::const_buffer src) {
    using R = Result<std::size_t>;
    POLLUX_ASSERT(impl_ != nullptr, "pollux::fs::File used after it was moved from");
    FileImpl& f = *impl_;
    if (!detail::complete(f, &cx)) {
        return Pending{};
    }
    if (f.last_write_err) {
        auto ec = *std::exchange(f.last_write_err, std::nullopt);
        return detail::ready_error<std::size_t>(ec);
    }
    if (src.size() == 0) {
        return Ready<R>{R(std::size_t{0})};
    }
    boost::asio::execution_context& ctx = detail::current_context("pollux::fs::File::poll_write");
    if (auto ec = detail::give_back_read_ahead(f)) {
        return detail::ready_error<std::size_t>(ec);
    }
    const std::size_t n = std::min(src.size(), f.max_buf);
    detail::ensure_cap(f, n);
    std::memcpy(f.buf.get(), src.data(), n);
    if (!backend::write_at(ctx, f.fd, f.buf.get(), n, -1, detail::completion(f))) {
        return detail::ready_error<std::size_t>(detail::refused_error());
    }
    f.busy = true;
    f.flight = detail::Flight::write;
    // Accepted: the write runs on the pool; its error comes from the next
    // poll_write or poll_flush (tokio's File).
    return Ready<R>{R(n)};
}

Poll<Result<void>> File::poll_flush(Context& cx) {
    POLLUX_ASSERT(impl_ != nullptr, "pollux::fs::File used after it was moved from");
    FileImpl& f = *impl_;
    if (!detail::complete(f, &cx)) {
        return Pending{};
    }
    if (f.last_write_err) {
        auto ec = *std::exchange(f.last_write_err, std::nullopt);
        return detail::ready_error<void>(ec);
    }
    return Ready<Result<void>>{Result<void>()};
}

Poll<Result<void>> File::poll_shutdown(Context& cx) {
    return poll_flush(cx);
}

FileOpFuture<std::uint64_t> File::seek(SeekFrom pos) {
    return FileOpFuture<std::uint64_t>(impl_, detail::FileOp::seek, pos);
}

FileOpFuture<void> File::sync_all() {
    return FileOpFuture<void>(impl_, detail::FileOp::sync_all, SeekFrom::start(0));
}

FileOpFuture<void> File::sync_data() {
    return FileOpFuture<void>(impl_, detail::FileOp::sync_data, SeekFrom::start(0));
}

FileOpFuture<void> File::set_len(std::uint64_t size) {
    return FileOpFuture<void>(impl_, detail::FileOp::set_len, SeekFrom::start(size));
}

FileOpFuture<Metadata> File::metadata() {
    return FileOpFuture<Metadata>(impl_, detail::FileOp::metadata, SeekFrom::start(0));
}

PositionalFuture File::read_at(boost::asio::mutable_buffer buf, std::uint64_t offset) const {
    return PositionalFuture(impl_, buf, boost::asio::const_buffer(), false, offset);
}

PositionalFuture File::write_at(boost::asio::const_buffer buf, std::uint64_t offset) const {
    return PositionalFuture(impl_, boost::asio::mutable_buffer(), buf, true, offset);
}

// ---- PositionalFuture -------------------------------------------------------------

PositionalFuture::PositionalFuture(std::shared_ptr<detail::FileImpl> f,
                                   boost::asio::mutable_buffer read_into,
                                   boost::asio::const_buffer write_from,
                                   bool is_write,
                                   std::uint64_t offset)
    : file_(std::move(f)), read_into_(read_into), write_from_(write_from), is_write_(is_write),
      offset_(offset) {
}

PositionalFuture::PositionalFuture(PositionalFuture&& o) noexcept
    : file_(std::move(o.file_)), op_(std::move(o.op_)), read_into_(o.read_into_),
      write_from_(o.write_from_), is_write_(o.is_write_), offset_(o.offset_) {
}

PositionalFuture::~PositionalFuture() {
    // After Ready (file_ reset) the op is done and its waker was taken by
    // the completion: nothing to release or cancel, and no lock to take.
    if (op_ && file_) {
        op_->forget();
    }
}

Poll<PositionalFuture::Output> PositionalFuture::poll(Context& cx) {
    POLLUX_ASSERT(file_ != nullptr,
                  "pollux::fs::File::read_at/write_at polled after it returned Ready");
    if (!op_) {
        const std::size_t n =
            std::min(is_write_ ? write_from_.size() : read_into_.size(), file_->max_buf);
        if (n == 0) {
            file_.reset();
            return Ready<Output>{Output(std::size_t{0})};
        }
        if (offset_ > static_cast<std::uint64_t>(INT64_MAX)) {
            file_.reset();
            return detail::ready_error<std::size_t>(sys::error(EINVAL));
        }
        // The task's scheduler gives its context and pool directly (no
        // service registry lookup, which takes Asio's registry lock).
        pollux::detail::SchedulerService& svc =
            pollux::detail::require_current_task(is_write_ ? "pollux::fs::File::write_at"
                                                           : "pollux::fs::File::read_at")
                .service();
        boost::asio::execution_context& ctx = svc.context();
        auto op = std::allocate_shared<detail::PositionalOp>(
            detail::OpBlockAllocator<detail::PositionalOp>(), n);
        op->waker = cx.waker();
        if (is_write_) {
            std::memcpy(op->data(), write_from_.data(), n);
        }
        const auto off = static_cast<std::int64_t>(offset_);
        const int fd = file_->fd;
        file_->positional.fetch_add(1, std::memory_order_relaxed);
        bool queued = false;
        if (!is_write_ && detail::pool_only(*file_, svc)) {
            // A read on the pool: one job that preads and completes the op,
            // without the backend's std::function (the op block and this
            // job are the read's two allocations). The job keeps both the
            // op's buffer and the file's descriptor.
            queued = svc.work_pool().submit(
                detail::make_work_job([op, file = file_, fd, off]() mutable {
                    const std::int64_t r = sys::result_of(
                        sys::retry([&] { return ::pread(fd, op->data(), op->len, off); }));
                    detail::PositionalOp::finish_and_release(std::move(op), *file, r);
                }),
                pollux::detail::WorkKind::abandonable,
                pollux::detail::WorkLane::fs);
        } else {
            // The callback keeps both the op's buffer and the file's descriptor.
            backend::Done done = [op, file = file_](std::int64_t r) { op->finish(*file, r); };
            if (is_write_) {
                queued = backend::write_at(ctx, fd, op->data(), n, off, std::move(done));
            } else {
                op->cancel = std::make_shared<backend::ReadCancel>();
                queued = backend::read_at(ctx, fd, op->data(), n, off, std::move(done), op->cancel);
            }
        }
        if (!queued) {
            file_->positional.fetch_sub(1, std::memory_order_relaxed);
            file_.reset();
            return detail::ready_error<std::size_t>(detail::refused_error());
        }
        op_ = std::move(op);
    }
    const std::optional<std::int64_t> settled = op_->poll_result(cx.waker());
    if (!settled) {
        return Pending{};
    }
    const std::int64_t r = *settled;
    file_.reset();
    if (r < 0) {
        return detail::ready_error<std::size_t>(detail::err_of(r));
    }
    if (!is_write_) {
        std::memcpy(read_into_.data(), op_->data(), static_cast<std::size_t>(r));
    }
    return Ready<Output>{Output(static_cast<std::size_t>(r))};
}

// ---- OwnedReadFuture -------------------------------------------------------------

OwnedReadFuture File::read_at_owned(std::vector<std::byte> buf, std::uint64_t offset) const {
    return OwnedReadFuture(impl_, std::move(buf), offset);
}

OwnedReadFuture::OwnedReadFuture(std::shared_ptr<detail::FileImpl> f,
                                 std::vector<std::byte> buf,
                                 std::uint64_t offset)
    : file_(std::move(f)), buf_(std::move(buf)), offset_(offset) {
}

OwnedReadFuture::OwnedReadFuture(OwnedReadFuture&& o) noexcept
    : file_(std::move(o.file_)), op_(std::move(o.op_)), buf_(std::move(o.buf_)),
      offset_(o.offset_) {
}

OwnedReadFuture::~OwnedReadFuture() {
    // As ~PositionalFuture: nothing to do after Ready. Before, the waker is
    // released here and a read on the ring is cancelled; the op block (and
    // the buffer in it) lives until the read's job or completion drops it.
    if (op_ && file_) {
        op_->forget();
    }
}

Poll<OwnedRead> OwnedReadFuture::poll(Context& cx) {
    POLLUX_ASSERT(file_ != nullptr,
                  "pollux::fs::File::read_at_owned polled after it returned Ready");
    if (!op_) {
        const std::size_t n = std::min(buf_.size(), file_->max_buf);
        if (n == 0 || offset_ > static_cast<std::uint64_t>(INT64_MAX)) {
            file_.reset();
            Result<std::size_t> r =
                n == 0 ? Result<std::size_t>(std::size_t{0})
                       : Result<std::size_t>(boost::system::in_place_error, sys::error(EINVAL));
            return Ready<OwnedRead>{OwnedRead{std::move(r), std::move(buf_)}};
        }
        pollux::detail::SchedulerService& svc =
            pollux::detail::require_current_task("pollux::fs::File::read_at_owned").service();
        boost::asio::execution_context& ctx = svc.context();
        // Through the per-thread block cache, as read_at's blocks (one size
        // per thread: a thread that mixes both reads recycles one of them).
        auto op = std::allocate_shared<detail::OwnedReadOp>(
            detail::OpBlockAllocator<detail::OwnedReadOp>());
        op->buf = std::move(buf_);
        op->len = n;
        op->waker = cx.waker();
        const auto off = static_cast<std::int64_t>(offset_);
        const int fd = file_->fd;
        file_->positional.fetch_add(1, std::memory_order_relaxed);
        bool queued = false;
        if (detail::pool_only(*file_, svc)) {
            // One job that preads into the caller's buffer and completes the
            // op; it keeps the op (and so the buffer) and the descriptor.
            queued = svc.work_pool().submit(
                detail::make_work_job([op, file = file_, fd, off]() mutable {
                    const std::int64_t r = sys::result_of(
                        sys::retry([&] { return ::pread(fd, op->buf.data(), op->len, off); }));
                    detail::OwnedReadOp::finish_and_release(std::move(op), *file, r);
                }),
                pollux::detail::WorkKind::abandonable,
                pollux::detail::WorkLane::fs);
        } else {
            backend::Done done = [op, file = file_](std::int64_t r) { op->finish(*file, r); };
            op->cancel = std::make_shared<backend::ReadCancel>();
            queued = backend::read_at(ctx, fd, op->buf.data(), n, off, std::move(done), op->cancel);
        }
        if (!queued) {
            // Nothing reads into the buffer: it goes back with the error.
            file_->positional.fetch_sub(1, std::memory_order_relaxed);
            file_.reset();
            return Ready<OwnedRead>{OwnedRead{
                Result<std::size_t>(boost::system::in_place_error, detail::refused_error()),
                std::move(op->buf)}};
        }
        op_ = std::move(op);
    }
    const std::optional<std::int64_t> settled = op_->poll_result(cx.waker());
    if (!settled) {
        return Pending{};
    }
    const std::int64_t r = *settled;
    file_.reset();
    Result<std::size_t> res =
        r < 0 ? Result<std::size_t>(boost::system::in_place_error, detail::err_of(r))
              : Result<std::size_t>(static_cast<std::size_t>(r));
    return Ready<OwnedRead>{OwnedRead{std::move(res), std::move(op_->buf)}};
}

// ---- OpenOptions --------------------------------------------------------------------

int OpenOptions::flags() const noexcept {
    int access = 0;
    const bool writes = write_ || append_;
    if (read_ && !writes) {
        access = O_RDONLY;
    } else if (!read_ && writes) {
        access = O_WRONLY;
    } else if (read_ && writes) {
        access = O_RDWR;
    } else {
        return -1;
    }
    if (append_) {
        access |= O_APPEND;
    }
    if (!writes && (truncate_ || create_ || create_new_)) {
        return -1;
    }
    if (append_ && truncate_ && !create_new_) {
        return -1;
    }
    int creation = 0;
    if (create_new_) {
        creation = O_CREAT | O_EXCL;
    } else {
        creation = (create_ ? O_CREAT : 0) | (truncate_ ? O_TRUNC : 0);
    }
    return O_CLOEXEC | access | creation | (custom_flags_ & ~O_ACCMODE);
}

OpFuture<File> OpenOptions::open(std::filesystem::path path) const {
    const int fl = flags();
    const mode_t mode = mode_;
    // The starter keeps no path of its own: the future moves its path into
    // the shared state before it starts (detail::OpState), and the pool's job
    // opens `st->path`. So the starter fits std::function's inline storage,
    // and an open costs no path copy and no function box (docs/performance.md).
    return OpFuture<File>(
        std::move(path),
        "pollux::fs::OpenOptions::open",
        [fl, mode](boost::asio::execution_context& ctx,
                   const std::shared_ptr<detail::OpState<File>>& st) {
            if (fl < 0 || sys::has_nul(st->path)) {
                // Completed at once: the first poll then sees it done.
                st->complete(Result<File>(boost::system::in_place_error, sys::error(EINVAL)));
                return true;
            }
            if (detail::pool_only(ctx)) {
                // backend::open's pool job, submitted here (see pool_only).
                const bool changes = (fl & (O_CREAT | O_TRUNC)) != 0;
                return pollux::detail::submit_blocking(
                    ctx,
                    [st, fl, mode] {
                        detail::complete_open(*st, sys::result_of(sys::retry([&] {
                            return ::open(st->path.c_str(), fl, mode);
                        })));
                    },
                    changes ? pollux::detail::WorkKind::mandatory
                            : pollux::detail::WorkKind::abandonable,
                    pollux::detail::WorkLane::fs);
            }
            return backend::open(ctx, st->path, fl, mode, [st](std::int64_t res) {
                detail::complete_open(*st, res);
            });
        });
}

} // namespace pollux::fs
