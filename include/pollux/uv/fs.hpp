#pragma once

/// @file
/// `uv::fs`: libuv's `uv_fs_*` requests — file system calls on the loop's
/// work pool, with a callback on the loop, or synchronous.
///
/// Every operation has two forms, as libuv's `uv_fs_*` with and without a
/// callback:
/// - **With a callback** (the last argument, `fs::Callback<T>`): the call
///   runs on the loop's work pool (the io_context's one pool, shared with
///   `queue_work` and `spawn_blocking`, in submission order) and
///   `cb(ec, value)` runs on the loop in its poll phase, never inside the
///   call that started it. It returns the `Request`, which keeps the loop
///   alive until `cb` ran. A full pool queue gives `cb` the error
///   `errc::resource_unavailable_try_again` (the call never runs).
/// - **Without a callback**: the same call on the calling thread, returning
///   `Result<T>` (or an `error_code` where there is no value) at once. It
///   does not touch the loop: any thread may call it.
///
/// Results: `Callback<void>` (`cb(ec)`) for the calls that produce nothing;
/// `std::size_t` bytes for `read`, `write`, `sendfile`; `File` for `open`;
/// `Stat`, `StatFs`, `std::string` (a path), `TempFile`, `Dir`, and
/// `std::vector<Dirent>`. On an error the value is value-initialised.
///
/// Errors are the system call's `errno` as `error_code{errno,
/// boost::system::system_category()}` — libuv's `req->result` is the same
/// number negated (`UV_ENOENT` is `-ENOENT`), so `ec == errc::no_such_file_or_directory`
/// where libuv tests `UV_ENOENT`. Arguments libuv refuses at initiation
/// with `UV_EINVAL` (no buffers, unknown flags) are `errc::invalid_argument`
/// from the call itself (in `cb` for the callback form). The error does not
/// carry the path: the caller has it.
///
/// Descriptors (`open`, `mkstemp`, `opendir`) are opened close-on-exec.
/// Paths and buffer lists are copied into the request; the memory the
/// buffers point to is not, and must stay valid until `cb` runs.
///
/// @par Cancel safety
/// `Request::cancel()` succeeds only while the request waits in the pool's
/// queue (`uv_cancel`): `cb` then gets `boost::asio::error::operation_aborted`
/// and the call never runs. A started call is never interrupted (`cancel()`
/// returns `errc::device_or_resource_busy`, `cb` gets the outcome).
/// @par Loop teardown
/// A request whose loop is destroyed before `cb` ran never calls `cb` (it
/// is destroyed, with what it captured). A call already running finishes
/// first. Queued calls that change files (`write`, `close`, `fsync`,
/// `rename`, `unlink`, ... — all but the reading ones: `open`, `read`, the
/// stats, `access`, `scandir`, `opendir`, `readdir`, `readlink`, `realpath`,
/// `mkdtemp`, `mkstemp`) still run before `~Loop` returns (a loop with an
/// io_context of its own), as tokio finishes a dropped file write; the
/// reading ones are dropped. A
/// descriptor or `Dir` that an undelivered result holds is closed, so none
/// leaks. On a shared io_context (`Loop(io)`) the pool outlives the loop:
/// there the buffers must stay valid until the io_context is destroyed.
/// @par Preconditions
/// The callback of a callback form is not empty (asserts).
/// @par Thread safety
/// Callback forms: call from the loop's thread; `cb` runs there. A `File`
/// and a `Dir` may be used by requests in flight at the same time, as
/// with the system calls (concurrent `readdir`s of one `Dir` take turns).

#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/uv/fs_types.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/request.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <sys/types.h>
#include <vector>

namespace pollux::uv::fs {

namespace detail {
class DirState;
}

/// An open directory stream (libuv's `uv_dir_t`), from `opendir`, read in
/// batches by `readdir`, closed by `closedir` or when the last copy of it is
/// destroyed. Copies refer to the same stream. A default-constructed Dir
/// refers to none (`readdir`/`closedir` of it: `invalid_argument`).
class POLLUX_API Dir {
public:
    Dir() = default;
    /// Used by `opendir` (not API).
    explicit Dir(std::shared_ptr<detail::DirState> state) noexcept : state_(std::move(state)) {}
    /// True if it refers to a stream (it may have been closed since).
    explicit operator bool() const noexcept { return static_cast<bool>(state_); }
    /// The implementation seam (not API).
    [[nodiscard]] detail::DirState* state() const noexcept { return state_.get(); }

private:
    std::shared_ptr<detail::DirState> state_;
};

// ---- Opening, closing, reading, writing ----

/// open(2) of `path` with `flags` (`O_RDONLY`, `O_WRONLY | O_CREAT`, ...;
/// `O_CLOEXEC` is always added) and `mode` for a file it creates; the result
/// is the descriptor, which the caller closes. Errors: open(2)'s
/// (`no_such_file_or_directory`, `is_a_directory` for a directory opened for
/// writing, `too_many_files_open`, ...).
POLLUX_API Request open(Loop& loop, std::string path, int flags, int mode, Callback<File> cb);
[[nodiscard]] POLLUX_API Result<File> open(Loop& loop, std::string path, int flags, int mode);

/// close(2). An `EINTR` or `EINPROGRESS` from close counts as success (the
/// descriptor is released either way on Linux). Errors: `bad_file_descriptor`.
POLLUX_API Request close(Loop& loop, File fd, Callback<void> cb);
POLLUX_API boost::system::error_code close(Loop& loop, File fd);

/// Reads into `bufs` in order: at `offset` (pread/preadv: the file
/// position does not move) or, with `offset < 0`, at the file position
/// (read/readv: it moves). The result is the number of bytes read; 0 at end
/// of file (not an error). One system call, as libuv: a short read is not
/// retried. Errors: `invalid_argument` for no buffers; read(2)'s
/// (`is_a_directory`, `bad_file_descriptor`, ...).
/// @par Example
/// @code
/// std::array<char, 4096> buf;
/// fs::read(loop, fd, boost::asio::buffer(buf), offset,
///          [&](boost::system::error_code ec, std::size_t n) { if (!ec) offset += n; });
/// @endcode
POLLUX_API Request read(Loop& loop,
                        File fd,
                        std::span<const boost::asio::mutable_buffer> bufs,
                        std::int64_t offset,
                        Callback<std::size_t> cb);
/// One buffer.
POLLUX_API Request read(Loop& loop,
                        File fd,
                        boost::asio::mutable_buffer buf,
                        std::int64_t offset,
                        Callback<std::size_t> cb);
[[nodiscard]] POLLUX_API Result<std::size_t>
read(Loop& loop, File fd, std::span<const boost::asio::mutable_buffer> bufs, std::int64_t offset);
[[nodiscard]] POLLUX_API Result<std::size_t>
read(Loop& loop, File fd, boost::asio::mutable_buffer buf, std::int64_t offset);

/// Writes `bufs` in order, at `offset` (pwrite/pwritev) or, with
/// `offset < 0`, at the file position (or the end, for `O_APPEND`). Writes
/// all of them unless an error stops it, as libuv (system calls of up to
/// `IOV_MAX` buffers, continued after a short write); the result is the
/// number of bytes written, or the error if none were. Errors:
/// `invalid_argument` for no buffers; write(2)'s (`no_space_on_device`,
/// `bad_file_descriptor`, ...).
POLLUX_API Request write(Loop& loop,
                         File fd,
                         std::span<const boost::asio::const_buffer> bufs,
                         std::int64_t offset,
                         Callback<std::size_t> cb);
/// One buffer.
POLLUX_API Request write(Loop& loop,
                         File fd,
                         boost::asio::const_buffer buf,
                         std::int64_t offset,
                         Callback<std::size_t> cb);
[[nodiscard]] POLLUX_API Result<std::size_t>
write(Loop& loop, File fd, std::span<const boost::asio::const_buffer> bufs, std::int64_t offset);
[[nodiscard]] POLLUX_API Result<std::size_t>
write(Loop& loop, File fd, boost::asio::const_buffer buf, std::int64_t offset);

/// sendfile(2): copies up to `length` bytes of `in` from `in_offset` (its
/// position does not move) to `out` at its position; the result is the
/// bytes copied (0 at the end of `in`). Falls back to read/write where the
/// kernel refuses the pair, as libuv.
POLLUX_API Request sendfile(Loop& loop,
                            File out,
                            File in,
                            std::int64_t in_offset,
                            std::size_t length,
                            Callback<std::size_t> cb);
[[nodiscard]] POLLUX_API Result<std::size_t>
sendfile(Loop& loop, File out, File in, std::int64_t in_offset, std::size_t length);

/// fsync(2), fdatasync(2), ftruncate(2) (`length` in bytes).
POLLUX_API Request fsync(Loop& loop, File fd, Callback<void> cb);
POLLUX_API boost::system::error_code fsync(Loop& loop, File fd);
POLLUX_API Request fdatasync(Loop& loop, File fd, Callback<void> cb);
POLLUX_API boost::system::error_code fdatasync(Loop& loop, File fd);
POLLUX_API Request ftruncate(Loop& loop, File fd, std::int64_t length, Callback<void> cb);
POLLUX_API boost::system::error_code ftruncate(Loop& loop, File fd, std::int64_t length);

// ---- Metadata ----

/// stat(2) (follows symlinks), lstat(2) (does not), fstat(2).
POLLUX_API Request stat(Loop& loop, std::string path, Callback<Stat> cb);
[[nodiscard]] POLLUX_API Result<Stat> stat(Loop& loop, std::string path);
POLLUX_API Request lstat(Loop& loop, std::string path, Callback<Stat> cb);
[[nodiscard]] POLLUX_API Result<Stat> lstat(Loop& loop, std::string path);
POLLUX_API Request fstat(Loop& loop, File fd, Callback<Stat> cb);
[[nodiscard]] POLLUX_API Result<Stat> fstat(Loop& loop, File fd);

/// statfs(2) of the file system holding `path`.
POLLUX_API Request statfs(Loop& loop, std::string path, Callback<StatFs> cb);
[[nodiscard]] POLLUX_API Result<StatFs> statfs(Loop& loop, std::string path);

/// access(2) with `mode` (`F_OK`, or `R_OK | W_OK | X_OK`).
POLLUX_API Request access(Loop& loop, std::string path, int mode, Callback<void> cb);
POLLUX_API boost::system::error_code access(Loop& loop, std::string path, int mode);

/// chmod(2), fchmod(2).
POLLUX_API Request chmod(Loop& loop, std::string path, int mode, Callback<void> cb);
POLLUX_API boost::system::error_code chmod(Loop& loop, std::string path, int mode);
POLLUX_API Request fchmod(Loop& loop, File fd, int mode, Callback<void> cb);
POLLUX_API boost::system::error_code fchmod(Loop& loop, File fd, int mode);

/// Sets the access and modification times, in seconds since the epoch with
/// a fraction (libuv's doubles; nanoseconds are kept where the file system
/// has them): `utime` follows a symlink, `lutime` sets the link's own,
/// `futime` an open file's (utimensat(2), futimens(2)).
POLLUX_API Request
utime(Loop& loop, std::string path, double atime, double mtime, Callback<void> cb);
POLLUX_API boost::system::error_code
utime(Loop& loop, std::string path, double atime, double mtime);
POLLUX_API Request futime(Loop& loop, File fd, double atime, double mtime, Callback<void> cb);
POLLUX_API boost::system::error_code futime(Loop& loop, File fd, double atime, double mtime);
POLLUX_API Request
lutime(Loop& loop, std::string path, double atime, double mtime, Callback<void> cb);
POLLUX_API boost::system::error_code
lutime(Loop& loop, std::string path, double atime, double mtime);

/// chown(2), fchown(2), lchown(2); `uid_t(-1)` / `gid_t(-1)` leaves that id.
POLLUX_API Request chown(Loop& loop, std::string path, uid_t uid, gid_t gid, Callback<void> cb);
POLLUX_API boost::system::error_code chown(Loop& loop, std::string path, uid_t uid, gid_t gid);
POLLUX_API Request fchown(Loop& loop, File fd, uid_t uid, gid_t gid, Callback<void> cb);
POLLUX_API boost::system::error_code fchown(Loop& loop, File fd, uid_t uid, gid_t gid);
POLLUX_API Request lchown(Loop& loop, std::string path, uid_t uid, gid_t gid, Callback<void> cb);
POLLUX_API boost::system::error_code lchown(Loop& loop, std::string path, uid_t uid, gid_t gid);

// ---- Names and links ----

/// unlink(2), rmdir(2), mkdir(2) (with `mode`), rename(2).
POLLUX_API Request unlink(Loop& loop, std::string path, Callback<void> cb);
POLLUX_API boost::system::error_code unlink(Loop& loop, std::string path);
POLLUX_API Request rmdir(Loop& loop, std::string path, Callback<void> cb);
POLLUX_API boost::system::error_code rmdir(Loop& loop, std::string path);
POLLUX_API Request mkdir(Loop& loop, std::string path, int mode, Callback<void> cb);
POLLUX_API boost::system::error_code mkdir(Loop& loop, std::string path, int mode);
POLLUX_API Request rename(Loop& loop, std::string from, std::string to, Callback<void> cb);
POLLUX_API boost::system::error_code rename(Loop& loop, std::string from, std::string to);

/// mkdtemp(3): makes a directory from `tpl`, whose last six characters are
/// "XXXXXX" (else `invalid_argument`); the result is its path.
POLLUX_API Request mkdtemp(Loop& loop, std::string tpl, Callback<std::string> cb);
[[nodiscard]] POLLUX_API Result<std::string> mkdtemp(Loop& loop, std::string tpl);
/// mkstemp(3) (close-on-exec): makes and opens a file from `tpl` as
/// `mkdtemp` does; the result is the descriptor and the path.
POLLUX_API Request mkstemp(Loop& loop, std::string tpl, Callback<TempFile> cb);
[[nodiscard]] POLLUX_API Result<TempFile> mkstemp(Loop& loop, std::string tpl);

/// link(2): `new_path` becomes another name of `path`.
POLLUX_API Request link(Loop& loop, std::string path, std::string new_path, Callback<void> cb);
POLLUX_API boost::system::error_code link(Loop& loop, std::string path, std::string new_path);
/// symlink(2): `link_path` becomes a symbolic link to `target` (libuv's
/// Windows-only flags are left out).
POLLUX_API Request symlink(Loop& loop,
                           std::string target,
                           std::string link_path,
                           Callback<void> cb);
POLLUX_API boost::system::error_code symlink(Loop& loop, std::string target, std::string link_path);
/// readlink(2): the link's target, whatever its length.
POLLUX_API Request readlink(Loop& loop, std::string path, Callback<std::string> cb);
[[nodiscard]] POLLUX_API Result<std::string> readlink(Loop& loop, std::string path);
/// realpath(3): the absolute path with every symlink, "." and ".." resolved.
POLLUX_API Request realpath(Loop& loop, std::string path, Callback<std::string> cb);
[[nodiscard]] POLLUX_API Result<std::string> realpath(Loop& loop, std::string path);

/// Copies the file `from` to `to` (contents and permission bits), as
/// `uv_fs_copyfile`: `flags` is 0 or an OR of `copyfile_excl`,
/// `copyfile_ficlone`, `copyfile_ficlone_force` (others:
/// `invalid_argument`). An existing `to` is truncated and overwritten
/// unless `copyfile_excl` (then `file_exists`); `to` naming `from` itself
/// succeeds and changes nothing. On an error after `to` was opened, `to`
/// is removed. With `copyfile_ficlone_force`, a file system that cannot
/// clone gives the clone's error (`operation_not_supported`,
/// `cross_device_link`, `invalid_argument`, ...).
POLLUX_API Request
copyfile(Loop& loop, std::string from, std::string to, int flags, Callback<void> cb);
POLLUX_API boost::system::error_code
copyfile(Loop& loop, std::string from, std::string to, int flags);

// ---- Directories ----

/// The entries of the directory `path` but "." and "..", sorted by name
/// (byte order), with their types (libuv's `uv_fs_scandir` and
/// `uv_fs_scandir_next` in one). Errors: `no_such_file_or_directory`,
/// `not_a_directory`, ...
POLLUX_API Request scandir(Loop& loop, std::string path, Callback<std::vector<Dirent>> cb);
[[nodiscard]] POLLUX_API Result<std::vector<Dirent>> scandir(Loop& loop, std::string path);

/// opendir(3): a `Dir` to read with `readdir`.
POLLUX_API Request opendir(Loop& loop, std::string path, Callback<Dir> cb);
[[nodiscard]] POLLUX_API Result<Dir> opendir(Loop& loop, std::string path);
/// The next at most `n` entries of `dir` but "." and ".." (libuv's
/// `nentries`), in the directory's order; an empty list at the end.
/// Errors: `invalid_argument` for `n == 0` or a default-constructed Dir;
/// `bad_file_descriptor` once it is closed.
POLLUX_API Request readdir(Loop& loop,
                           const Dir& dir,
                           std::size_t n,
                           Callback<std::vector<Dirent>> cb);
[[nodiscard]] POLLUX_API Result<std::vector<Dirent>>
readdir(Loop& loop, const Dir& dir, std::size_t n);
/// closedir(3) now rather than when the last copy of `dir` goes. Errors:
/// `invalid_argument` for a default-constructed Dir, `bad_file_descriptor`
/// if it was closed already.
POLLUX_API Request closedir(Loop& loop, const Dir& dir, Callback<void> cb);
POLLUX_API boost::system::error_code closedir(Loop& loop, const Dir& dir);

} // namespace pollux::uv::fs
