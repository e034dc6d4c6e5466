#pragma once

/// @file
/// `fs::File` (tokio's `fs::File`): an open file whose reads, writes,
/// syncs and stats run on the worker pool, one at a time, through an
/// internal buffer; it is an `io::AsyncRead` and `io::AsyncWrite`. Also
/// `fs::SeekFrom`, the futures of its operations, and the positional
/// `read_at`/`write_at`.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/fs/metadata.hpp>
#include <pollux/fs/op_future.hpp>
#include <pollux/fs/open_options.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace pollux::fs {

/// Where a seek goes (std's `SeekFrom`): from the start, the end, or the
/// current position of the file.
struct SeekFrom {
    enum class Whence : std::uint8_t { start, end, current };
    Whence whence;
    std::int64_t offset;

    static constexpr SeekFrom start(std::uint64_t off) noexcept {
        return SeekFrom{Whence::start, static_cast<std::int64_t>(off)};
    }
    static constexpr SeekFrom end(std::int64_t off) noexcept { return SeekFrom{Whence::end, off}; }
    static constexpr SeekFrom current(std::int64_t off) noexcept {
        return SeekFrom{Whence::current, off};
    }
};

namespace detail {

struct FileImpl;
struct PositionalOp;
struct OwnedReadOp;

enum class FileOp : std::uint8_t { seek, sync_all, sync_data, set_len, metadata };

// One step of a File operation future: `seq` is 0 before the operation was
// started and its number afterwards. Ready with the raw result (a count, a
// position, or 0).
POLLUX_API Poll<Result<std::int64_t>>
poll_file_op(FileImpl& f, Context& cx, FileOp op, SeekFrom arg, std::uint64_t& seq);
// The stat of the last completed `metadata` operation.
POLLUX_API Metadata file_metadata(const FileImpl& f) noexcept;

} // namespace detail

/// The future of `File::seek`, `sync_all`, `sync_data`, `set_len` and
/// `metadata`. It shares the file's state (the file's descriptor stays open
/// while it lives). See each method for cancel safety and errors.
template <class T>
class POLLUX_NODISCARD_FUTURE FileOpFuture {
public:
    /// What it completes with.
    using Output = Result<T>;

    FileOpFuture(std::shared_ptr<detail::FileImpl> f, detail::FileOp op, SeekFrom arg) noexcept
        : file_(std::move(f)), op_(op), arg_(arg) {}

    /// Polls the operation; see the `File` method that made it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(file_ != nullptr,
                      "pollux::fs::File operation polled after it returned Ready");
        auto p = detail::poll_file_op(*file_, cx, op_, arg_, seq_);
        if (p.is_pending()) {
            return Pending{};
        }
        auto file = std::move(file_);
        Result<std::int64_t>& r = p.value();
        if (!r) {
            return Ready<Output>{Output(boost::system::in_place_error, r.error())};
        }
        if constexpr (std::is_void_v<T>) {
            return Ready<Output>{Output()};
        } else if constexpr (std::is_same_v<T, Metadata>) {
            return Ready<Output>{Output(detail::file_metadata(*file))};
        } else {
            return Ready<Output>{Output(static_cast<T>(*r))};
        }
    }

private:
    std::shared_ptr<detail::FileImpl> file_;
    detail::FileOp op_;
    SeekFrom arg_;
    std::uint64_t seq_ = 0;
};

/// The future of `File::read_at` (output: bytes read, 0 at the end of the
/// file) and `File::write_at` (output: bytes written, all of them).
class POLLUX_NODISCARD_FUTURE PositionalFuture {
public:
    /// What it completes with.
    using Output = Result<std::size_t>;

    /// Made by `File::read_at` / `File::write_at`.
    POLLUX_API PositionalFuture(std::shared_ptr<detail::FileImpl> f,
                                boost::asio::mutable_buffer read_into,
                                boost::asio::const_buffer write_from,
                                bool is_write,
                                std::uint64_t offset);
    POLLUX_API PositionalFuture(PositionalFuture&& o) noexcept;
    PositionalFuture& operator=(PositionalFuture&&) = delete;
    POLLUX_API ~PositionalFuture();

    /// Polls the operation; see `File::read_at` / `File::write_at`.
    POLLUX_API Poll<Output> poll(Context& cx);

private:
    std::shared_ptr<detail::FileImpl> file_;
    std::shared_ptr<detail::PositionalOp> op_;
    boost::asio::mutable_buffer read_into_;
    boost::asio::const_buffer write_from_;
    bool is_write_;
    std::uint64_t offset_;
};

/// What `File::read_at_owned` completes with: the read's result (bytes
/// read, 0 at the end of the file; or the error) and the caller's buffer,
/// handed back (its first `*result` bytes hold the data read).
struct OwnedRead {
    Result<std::size_t> result;
    std::vector<std::byte> buf;
};

/// The future of `File::read_at_owned`. It holds the caller's buffer until
/// the first poll, the read holds it from then on (it reads straight into
/// it), and the ready future hands it back in its `OwnedRead`.
class POLLUX_NODISCARD_FUTURE OwnedReadFuture {
public:
    /// What it completes with.
    using Output = OwnedRead;

    /// Made by `File::read_at_owned`.
    POLLUX_API OwnedReadFuture(std::shared_ptr<detail::FileImpl> f,
                               std::vector<std::byte> buf,
                               std::uint64_t offset);
    POLLUX_API OwnedReadFuture(OwnedReadFuture&& o) noexcept;
    OwnedReadFuture& operator=(OwnedReadFuture&&) = delete;
    POLLUX_API ~OwnedReadFuture();

    /// Polls the read; see `File::read_at_owned`.
    POLLUX_API Poll<Output> poll(Context& cx);

private:
    std::shared_ptr<detail::FileImpl> file_;
    std::shared_ptr<detail::OwnedReadOp> op_;
    std::vector<std::byte> buf_; // until the first poll
    std::uint64_t offset_;
};

/// An open file (tokio's `fs::File`). Its descriptor is closed when the
/// File and every operation still running on it are gone.
///
/// Model (tokio's): one operation at a time runs on the worker pool of the
/// polling task's io_context, through an internal buffer of at most
/// `max_buf_size()` bytes (2 MiB). `poll_read` reads up to the caller's
/// buffer size into it and copies out; on the worker pool, once a regular
/// file has been read sequentially (two full reads in a row), the next read
/// runs ahead into a second buffer while the caller copies the last one out
/// (docs/fs.md, "Read-ahead"): the caller's position, EOF and errors are as
/// without it, and the operations that need the position first wait for
/// it and give its bytes back. `poll_write` copies up to that many
/// bytes of the caller's buffer into it, starts the write and returns
/// Ready at once: the write's error, if any, comes from the next
/// `poll_write`, `poll_flush`, or `sync_all`/`sync_data`. Every operation
/// first waits for the one before it, so operations happen in the order
/// they were started. Call `io::flush` before dropping a File to learn
/// whether its last write failed.
///
/// @par Cancel safety
/// - `poll_read` (`io::read`, ...): cancel safe. A read still running when
///   its future is dropped completes into the internal buffer, and the next
///   read returns those bytes first: no byte is lost or skipped.
/// - `poll_write` (`io::write`, `io::write_all`): a Ready write was
///   accepted and will be written even if every future is dropped (the
///   write is mandatory: it also runs at runtime shutdown); a Pending one
///   accepted nothing. `io::write_all` dropped part way: some bytes
///   accepted, as for any writer.
/// - `seek`: not cancel safe: dropped after its first poll, the position may
///   or may not have moved.
/// - `sync_all`, `sync_data`, `set_len`: the operation, once started,
///   completes on the pool; the next operation waits for it.
/// - `metadata`, `read_at`: cancel safe (no side effect).
/// - `write_at`: once polled, the bytes are written even if dropped.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe (poll one operation at a
/// time, as tokio's `&mut self` does). A File may be dropped on any thread,
/// with an operation in flight, before or after its runtime: the pool job
/// keeps what it uses, and the descriptor is closed when it ends.
/// @par Wakes / resumes on
/// A pool thread wakes the polling task.
/// @par Errors
/// The errno of the failing call as an `error_code` in the system
/// category, without a path: a File does not keep the path it was opened
/// with (`open`/`create`/`OpenOptions::open` errors name it; see
/// pollux/fs/error.hpp):
/// `bad_descriptor` (EBADF) reading a write-only file, `is_a_directory`
/// reading a directory, `no_space_on_device` (ENOSPC) from a write's flush,
/// `resource_unavailable_try_again` when the pool refused the job (the
/// operation did not start). Throws `std::logic_error` when an operation
/// that needs the pool is polled outside a pollux task.
class POLLUX_API File {
public:
    /// Opens `path` read-only (tokio's `File::open`). See `OpenOptions::open`.
    [[nodiscard]] static OpFuture<File> open(std::filesystem::path path);
    /// Opens `path` write-only, creating or truncating it (tokio's
    /// `File::create`). See `OpenOptions::open`.
    [[nodiscard]] static OpFuture<File> create(std::filesystem::path path);
    /// `OpenOptions()`.
    [[nodiscard]] static OpenOptions options() noexcept { return OpenOptions(); }
    /// Takes ownership of the open descriptor `fd` (std's `from_raw_fd`):
    /// the File closes it. No system call.
    [[nodiscard]] static File from_fd(int fd);

    File(File&& o) noexcept = default;
    File& operator=(File&& o) noexcept;
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    ~File();

    /// The descriptor (it stays the File's). -1 for a moved-from File.
    [[nodiscard]] int native_handle() const noexcept;

    /// Gives the descriptor back to the caller, who then must close it.
    /// Fails with `device_or_resource_busy` (EBUSY) while an operation is
    /// in flight, a read-ahead after sequential reads included (await
    /// `io::flush` first), or a `read_at`/`write_at` runs
    /// on the pool; the File is unchanged then. Bytes read ahead into the
    /// buffer are given back by seeking back over them. A write error not
    /// yet reported is lost: flush first. Afterwards the File holds no
    /// descriptor (as a moved-from one).
    [[nodiscard]] Result<int> into_fd();

    /// A new File on a duplicate of the descriptor (fcntl F_DUPFD_CLOEXEC;
    /// shared position), with its own empty buffer. Runs on the calling
    /// thread: duplicating never blocks.
    [[nodiscard]] Result<File> try_clone() const;

    /// The cap on the internal buffer, so on one read's or write's size:
    /// 2 MiB by default (tokio's).
    [[nodiscard]] std::size_t max_buf_size() const noexcept;
    void set_max_buf_size(std::size_t n) noexcept;

    /// `io::AsyncRead`: see the class.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf);
    /// `io::AsyncWrite`: see the class.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf);
    /// Waits for the operation in flight (a write, or a read-ahead) and
    /// returns a write's error, if any.
    Poll<Result<void>> poll_flush(Context& cx);
    /// `poll_flush` (a file has no write direction to close).
    Poll<Result<void>> poll_shutdown(Context& cx);

    /// Moves the file position (lseek(2), run on the polling thread once
    /// the operation in flight completed: it does not block) and returns the
    /// new position. Bytes read ahead into the buffer are discarded and
    /// `SeekFrom::current` counts from the position the caller has read to.
    /// Not cancel safe (see the class). Errors: `invalid_argument` for a
    /// negative position.
    [[nodiscard]] FileOpFuture<std::uint64_t> seek(SeekFrom pos);
    /// fsync(2) once the write in flight completed; fails with that write's
    /// error if it failed. Mandatory.
    [[nodiscard]] FileOpFuture<void> sync_all();
    /// fdatasync(2), as `sync_all`.
    [[nodiscard]] FileOpFuture<void> sync_data();
    /// ftruncate(2) (the position is unchanged, as std's). Mandatory.
    [[nodiscard]] FileOpFuture<void> set_len(std::uint64_t size);
    /// fstat(2), after the operation in flight (so it counts the writes
    /// accepted before it).
    [[nodiscard]] FileOpFuture<Metadata> metadata();

    /// pread(2) of up to `buffer_size(buf)` bytes (at most `max_buf_size()`)
    /// at `offset`, through a buffer of its own: it neither waits for nor
    /// moves the file position nor touches the internal buffer, and several
    /// may run at once. Not ordered with `poll_write`'s writes in flight:
    /// `io::flush` first. `buf` must outlive the future. Cancel safe.
    [[nodiscard]] PositionalFuture read_at(boost::asio::mutable_buffer buf,
                                           std::uint64_t offset) const;
    /// pread(2) of up to `buf.size()` bytes (at most `max_buf_size()`) at
    /// `offset` straight into `buf`, which the read owns while it runs and
    /// the ready future hands back (tokio-uring's `read_at(buf, pos)`):
    /// `read_at` without its copy out of an internal buffer. Positional as
    /// `read_at` (the file position does not move; several may run at once).
    /// An empty `buf` is ready at once with 0. Errors: EINVAL for an offset
    /// past `INT64_MAX`, EAGAIN when the pool's queue is full, and pread(2)'s;
    /// the buffer comes back with every error. Cancel safe: no side effect;
    /// a future dropped mid-read keeps the buffer alive until the read ends
    /// (then frees it; on the ring the read is cancelled as `read_at`'s),
    /// so the buffer is lost with the future.
    [[nodiscard]] OwnedReadFuture read_at_owned(std::vector<std::byte> buf,
                                                std::uint64_t offset) const;
    /// pwrite(2) of all of `buf` (at most `max_buf_size()` bytes; copied
    /// on the first poll) at `offset`, as `read_at`. Once polled, the
    /// write completes even if the future is dropped (mandatory).
    [[nodiscard]] PositionalFuture write_at(boost::asio::const_buffer buf,
                                            std::uint64_t offset) const;

private:
    explicit File(std::shared_ptr<detail::FileImpl> impl) noexcept : impl_(std::move(impl)) {}
    void release() noexcept;

    std::shared_ptr<detail::FileImpl> impl_;
};

} // namespace pollux::fs
