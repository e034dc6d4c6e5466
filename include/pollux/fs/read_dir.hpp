#pragma once

/// @file
/// `fs::read_dir`, `fs::ReadDir` and `fs::DirEntry` (tokio's): the entries
/// of a directory as a `Stream`, read in batches on the worker pool.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/fs/metadata.hpp>
#include <pollux/fs/op_future.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>

namespace pollux::fs {

/// One entry of a directory (tokio's `DirEntry`).
class POLLUX_API DirEntry {
public:
    DirEntry(std::filesystem::path path, std::uint64_t ino, Result<FileType> type)
        : path_(std::move(path)), ino_(ino), type_(std::move(type)) {}

    /// The directory's path joined with the entry's name.
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// The entry's name alone.
    [[nodiscard]] std::filesystem::path file_name() const { return path_.filename(); }
    /// The inode number, from readdir(3).
    [[nodiscard]] std::uint64_t ino() const noexcept { return ino_; }
    /// The entry's type, not following symlinks: from readdir(3)'s
    /// `d_type`, or, where the file system does not give it, an lstat(2)
    /// made on the pool with the batch (its error, naming the entry's path,
    /// if it failed).
    [[nodiscard]] Result<FileType> file_type() const { return type_; }
    /// lstat(2) of the entry (tokio's `DirEntry::metadata` does not follow
    /// symlinks either). See `fs::symlink_metadata`.
    [[nodiscard]] OpFuture<Metadata> metadata() const;

private:
    std::filesystem::path path_;
    std::uint64_t ino_;
    Result<FileType> type_;
};

namespace detail {
struct ReadDirImpl;
} // namespace detail

/// The entries of a directory, a `Stream` of `Result<DirEntry>` (tokio's
/// `ReadDir`, with tokio-stream's `ReadDirStream` face). "." and ".." are
/// left out. Entries are read 32 at a time by one pool job (tokio's batch),
/// and handed out one per poll; the stream ends after the last entry, or
/// after an error, which is yielded once. An ended stream keeps returning
/// `Ready(nullopt)`.
///
/// @par Cancel safety
/// Cancel safe: a batch still being read when a `next` future is dropped
/// lands in the stream's queue and the next poll hands it out.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. It may be dropped on any
/// thread, with a batch in flight (the directory is closed when the job
/// ends).
/// @par Wakes / resumes on
/// A pool thread wakes the polling task.
/// @par Errors
/// readdir(3)'s errno, its message naming the directory
/// (pollux/fs/error.hpp), or `resource_unavailable_try_again` (plain) when
/// the pool refused a batch (the next poll tries again). Throws `std::logic_error`
/// when a batch must be read outside a pollux task.
class POLLUX_API ReadDir {
public:
    /// What the stream yields.
    using Item = Result<DirEntry>;

    /// Made by `read_dir`.
    explicit ReadDir(std::shared_ptr<detail::ReadDirImpl> impl) noexcept : impl_(std::move(impl)) {}
    ReadDir(ReadDir&&) noexcept = default;
    ReadDir& operator=(ReadDir&& o) noexcept;
    ReadDir(const ReadDir&) = delete;
    ReadDir& operator=(const ReadDir&) = delete;
    ~ReadDir();

    /// The next entry, `Ready(nullopt)` at the end. See the class.
    Poll<std::optional<Item>> poll_next(Context& cx);

private:
    void release() noexcept;
    std::shared_ptr<detail::ReadDirImpl> impl_;
};

/// Opens the directory `path` (opendir(3) on the pool) for reading its
/// entries. See `OpFuture` for the shared rules (dropped unrun at shutdown).
/// @par Errors
/// `no_such_file_or_directory`, `not_a_directory`, `permission_denied`,
/// `too_many_files_open`, ...
/// @par Example
/// @code
/// pollux::Async<pollux::Result<std::size_t>> count_entries(std::filesystem::path dir) {
///     auto entries = co_await pollux::fs::read_dir(dir);
///     if (!entries) co_return entries.error();
///     std::size_t n = 0;
///     while (auto entry = co_await pollux::next(*entries)) {
///         if (!*entry) co_return entry->error();
///         ++n;
///     }
///     co_return n;
/// }
/// @endcode
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<ReadDir> read_dir(std::filesystem::path path);

} // namespace pollux::fs
