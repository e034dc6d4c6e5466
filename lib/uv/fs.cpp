#include <pollux/detail/work_pool.hpp>
#include <pollux/uv/fs.hpp>

#include "fs_ops.hpp"
#include "work_request.hpp"

#include <memory>
#include <optional>
#include <type_traits>
#include <unistd.h>
#include <utility>

namespace pollux::uv::fs {

namespace {

using boost::system::error_code;
using pollux::detail::WorkKind;

// Which calls the pool still runs when the loop's io_context shuts down
// with them queued (fs.hpp, "Loop teardown"): those that change files.
constexpr WorkKind reads = WorkKind::abandonable;
constexpr WorkKind changes = WorkKind::mandatory;

// A result that never reached its callback (the loop went first) gives
// back what it holds, so no descriptor leaks. A Dir closes itself.
template <class T>
void discard(T& /*value*/) noexcept {
}
void discard(File& fd) noexcept {
    ::close(fd);
}
void discard(TempFile& t) noexcept {
    ::close(t.fd);
}

// What the pool thread hands to the loop thread. The pool thread writes
// `result` before it posts the completion, which the loop thread runs, so
// the post orders the two.
template <class T>
struct Outcome {
    std::optional<Result<T>> result;
    bool delivered = false;
    Outcome() = default;
    Outcome(const Outcome&) = delete;
    Outcome& operator=(const Outcome&) = delete;
    ~Outcome() {
        if (result && result->has_value() && !delivered) {
            discard(**result);
        }
    }
};

// The one path of every callback form: `op()` on the pool, `cb` on the
// loop with the outcome, operation_aborted if cancelled while queued, or
// EAGAIN if the pool refused it (start_work).
template <class T, class Op>
Request submit(Loop& loop, WorkKind kind, Op op, Callback<T> cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::fs: the callback form needs a callback");
    if constexpr (std::is_void_v<T>) {
        auto out = std::make_shared<error_code>();
        return uv::detail::start_work(
            loop,
            [out, op = std::move(op)] { *out = op(); },
            [out, cb = std::move(cb)](error_code ec) { cb(ec ? ec : *out); },
            kind,
            pollux::detail::WorkLane::fs);
    } else {
        auto out = std::make_shared<Outcome<T>>();
        return uv::detail::start_work(
            loop,
            [out, op = std::move(op)] { out->result.emplace(op()); },
            [out, cb = std::move(cb)](error_code ec) {
                if (ec) {
                    cb(ec, T{});
                    return;
                }
                Result<T>& r = *out->result;
                if (!r) {
                    cb(r.error(), T{});
                    return;
                }
                out->delivered = true;
                cb({}, std::move(*r));
            },
            kind,
            pollux::detail::WorkLane::fs);
    }
}

template <class B>
std::vector<B> copy_bufs(std::span<const B> bufs) {
    return {bufs.begin(), bufs.end()};
}

} // namespace

Request open(Loop& loop, std::string path, int flags, int mode, Callback<File> cb) {
    return submit<File>(
        loop,
        reads,
        [path = std::move(path), flags, mode] { return ops::open(path, flags, mode); },
        std::move(cb));
}
Result<File> open(Loop& /*loop*/, std::string path, int flags, int mode) {
    return ops::open(path, flags, mode);
}

Request close(Loop& loop, File fd, Callback<void> cb) {
    return submit<void>(
        loop, changes, [fd] { return ops::close(fd); }, std::move(cb));
}
error_code close(Loop& /*loop*/, File fd) {
    return ops::close(fd);
}

Request read(Loop& loop,
             File fd,
             std::span<const boost::asio::mutable_buffer> bufs,
             std::int64_t offset,
             Callback<std::size_t> cb) {
    return submit<std::size_t>(
        loop,
        reads,
        [fd, bufs = copy_bufs(bufs), offset] { return ops::read(fd, bufs, offset); },
        std::move(cb));
}
Request read(Loop& loop,
             File fd,
             boost::asio::mutable_buffer buf,
             std::int64_t offset,
             Callback<std::size_t> cb) {
    return read(loop, fd, std::span(&buf, 1), offset, std::move(cb));
}
Result<std::size_t> read(Loop& /*loop*/,
                         File fd,
                         std::span<const boost::asio::mutable_buffer> bufs,
                         std::int64_t offset) {
    return ops::read(fd, copy_bufs(bufs), offset);
}
Result<std::size_t>
read(Loop& loop, File fd, boost::asio::mutable_buffer buf, std::int64_t offset) {
    return read(loop, fd, std::span(&buf, 1), offset);
}

Request write(Loop& loop,
              File fd,
              std::span<const boost::asio::const_buffer> bufs,
              std::int64_t offset,
              Callback<std::size_t> cb) {
    return submit<std::size_t>(
        loop,
        changes,
        [fd, bufs = copy_bufs(bufs), offset] { return ops::write(fd, bufs, offset); },
        std::move(cb));
}
Request write(Loop& loop,
              File fd,
              boost::asio::const_buffer buf,
              std::int64_t offset,
              Callback<std::size_t> cb) {
    return write(loop, fd, std::span(&buf, 1), offset, std::move(cb));
}
Result<std::size_t> write(Loop& /*loop*/,
                          File fd,
                          std::span<const boost::asio::const_buffer> bufs,
                          std::int64_t offset) {
    return ops::write(fd, copy_bufs(bufs), offset);
}
Result<std::size_t> write(Loop& loop, File fd, boost::asio::const_buffer buf, std::int64_t offset) {
    return write(loop, fd, std::span(&buf, 1), offset);
}

Request sendfile(Loop& loop,
                 File out,
                 File in,
                 std::int64_t in_offset,
                 std::size_t length,
                 Callback<std::size_t> cb) {
    return submit<std::size_t>(
        loop,
        changes,
        [out, in, in_offset, length] { return ops::sendfile(out, in, in_offset, length); },
        std::move(cb));
}
Result<std::size_t>
sendfile(Loop& /*loop*/, File out, File in, std::int64_t in_offset, std::size_t length) {
    return ops::sendfile(out, in, in_offset, length);
}

Request fsync(Loop& loop, File fd, Callback<void> cb) {
    return submit<void>(
        loop, changes, [fd] { return ops::fsync(fd); }, std::move(cb));
}
error_code fsync(Loop& /*loop*/, File fd) {
    return ops::fsync(fd);
}
Request fdatasync(Loop& loop, File fd, Callback<void> cb) {
    return submit<void>(
        loop, changes, [fd] { return ops::fdatasync(fd); }, std::move(cb));
}
error_code fdatasync(Loop& /*loop*/, File fd) {
    return ops::fdatasync(fd);
}
Request ftruncate(Loop& loop, File fd, std::int64_t length, Callback<void> cb) {
    return submit<void>(
        loop, changes, [fd, length] { return ops::ftruncate(fd, length); }, std::move(cb));
}
error_code ftruncate(Loop& /*loop*/, File fd, std::int64_t length) {
    return ops::ftruncate(fd, length);
}

Request stat(Loop& loop, std::string path, Callback<Stat> cb) {
    return submit<Stat>(
        loop, reads, [path = std::move(path)] { return ops::stat(path); }, std::move(cb));
}
Result<Stat> stat(Loop& /*loop*/, std::string path) {
    return ops::stat(path);
}
Request lstat(Loop& loop, std::string path, Callback<Stat> cb) {
    return submit<Stat>(
        loop, reads, [path = std::move(path)] { return ops::lstat(path); }, std::move(cb));
}
Result<Stat> lstat(Loop& /*loop*/, std::string path) {
    return ops::lstat(path);
}
Request fstat(Loop& loop, File fd, Callback<Stat> cb) {
    return submit<Stat>(
        loop, reads, [fd] { return ops::fstat(fd); }, std::move(cb));
}
Result<Stat> fstat(Loop& /*loop*/, File fd) {
    return ops::fstat(fd);
}

Request statfs(Loop& loop, std::string path, Callback<StatFs> cb) {
    return submit<StatFs>(
        loop, reads, [path = std::move(path)] { return ops::statfs(path); }, std::move(cb));
}
Result<StatFs> statfs(Loop& /*loop*/, std::string path) {
    return ops::statfs(path);
}

Request access(Loop& loop, std::string path, int mode, Callback<void> cb) {
    return submit<void>(
        loop,
        reads,
        [path = std::move(path), mode] { return ops::access(path, mode); },
        std::move(cb));
}
error_code access(Loop& /*loop*/, std::string path, int mode) {
    return ops::access(path, mode);
}

Request chmod(Loop& loop, std::string path, int mode, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [path = std::move(path), mode] { return ops::chmod(path, mode); },
        std::move(cb));
}
error_code chmod(Loop& /*loop*/, std::string path, int mode) {
    return ops::chmod(path, mode);
}
Request fchmod(Loop& loop, File fd, int mode, Callback<void> cb) {
    return submit<void>(
        loop, changes, [fd, mode] { return ops::fchmod(fd, mode); }, std::move(cb));
}
error_code fchmod(Loop& /*loop*/, File fd, int mode) {
    return ops::fchmod(fd, mode);
}

Request utime(Loop& loop, std::string path, double atime, double mtime, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [path = std::move(path), atime, mtime] { return ops::utime(path, atime, mtime); },
        std::move(cb));
}
error_code utime(Loop& /*loop*/, std::string path, double atime, double mtime) {
    return ops::utime(path, atime, mtime);
}
Request futime(Loop& loop, File fd, double atime, double mtime, Callback<void> cb) {
    return submit<void>(
        loop, changes, [fd, atime, mtime] { return ops::futime(fd, atime, mtime); }, std::move(cb));
}
error_code futime(Loop& /*loop*/, File fd, double atime, double mtime) {
    return ops::futime(fd, atime, mtime);
}
Request lutime(Loop& loop, std::string path, double atime, double mtime, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [path = std::move(path), atime, mtime] { return ops::lutime(path, atime, mtime); },
        std::move(cb));
}
error_code lutime(Loop& /*loop*/, std::string path, double atime, double mtime) {
    return ops::lutime(path, atime, mtime);
}

Request chown(Loop& loop, std::string path, uid_t uid, gid_t gid, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [path = std::move(path), uid, gid] { return ops::chown(path, uid, gid); },
        std::move(cb));
}
error_code chown(Loop& /*loop*/, std::string path, uid_t uid, gid_t gid) {
    return ops::chown(path, uid, gid);
}
Request fchown(Loop& loop, File fd, uid_t uid, gid_t gid, Callback<void> cb) {
    return submit<void>(
        loop, changes, [fd, uid, gid] { return ops::fchown(fd, uid, gid); }, std::move(cb));
}
error_code fchown(Loop& /*loop*/, File fd, uid_t uid, gid_t gid) {
    return ops::fchown(fd, uid, gid);
}
Request lchown(Loop& loop, std::string path, uid_t uid, gid_t gid, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [path = std::move(path), uid, gid] { return ops::lchown(path, uid, gid); },
        std::move(cb));
}
error_code lchown(Loop& /*loop*/, std::string path, uid_t uid, gid_t gid) {
    return ops::lchown(path, uid, gid);
}

Request unlink(Loop& loop, std::string path, Callback<void> cb) {
    return submit<void>(
        loop, changes, [path = std::move(path)] { return ops::unlink(path); }, std::move(cb));
}
error_code unlink(Loop& /*loop*/, std::string path) {
    return ops::unlink(path);
}
Request rmdir(Loop& loop, std::string path, Callback<void> cb) {
    return submit<void>(
        loop, changes, [path = std::move(path)] { return ops::rmdir(path); }, std::move(cb));
}
error_code rmdir(Loop& /*loop*/, std::string path) {
    return ops::rmdir(path);
}
Request mkdir(Loop& loop, std::string path, int mode, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [path = std::move(path), mode] { return ops::mkdir(path, mode); },
        std::move(cb));
}
error_code mkdir(Loop& /*loop*/, std::string path, int mode) {
    return ops::mkdir(path, mode);
}
Request rename(Loop& loop, std::string from, std::string to, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [from = std::move(from), to = std::move(to)] { return ops::rename(from, to); },
        std::move(cb));
}
error_code rename(Loop& /*loop*/, std::string from, std::string to) {
    return ops::rename(from, to);
}

Request mkdtemp(Loop& loop, std::string tpl, Callback<std::string> cb) {
    return submit<std::string>(
        loop, reads, [tpl = std::move(tpl)] { return ops::mkdtemp(tpl); }, std::move(cb));
}
Result<std::string> mkdtemp(Loop& /*loop*/, std::string tpl) {
    return ops::mkdtemp(tpl);
}
Request mkstemp(Loop& loop, std::string tpl, Callback<TempFile> cb) {
    return submit<TempFile>(
        loop, reads, [tpl = std::move(tpl)] { return ops::mkstemp(tpl); }, std::move(cb));
}
Result<TempFile> mkstemp(Loop& /*loop*/, std::string tpl) {
    return ops::mkstemp(tpl);
}

Request link(Loop& loop, std::string path, std::string new_path, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [path = std::move(path), new_path = std::move(new_path)] {
            return ops::link(path, new_path);
        },
        std::move(cb));
}
error_code link(Loop& /*loop*/, std::string path, std::string new_path) {
    return ops::link(path, new_path);
}
Request symlink(Loop& loop, std::string target, std::string link_path, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [target = std::move(target), link_path = std::move(link_path)] {
            return ops::symlink(target, link_path);
        },
        std::move(cb));
}
error_code symlink(Loop& /*loop*/, std::string target, std::string link_path) {
    return ops::symlink(target, link_path);
}
Request readlink(Loop& loop, std::string path, Callback<std::string> cb) {
    return submit<std::string>(
        loop, reads, [path = std::move(path)] { return ops::readlink(path); }, std::move(cb));
}
Result<std::string> readlink(Loop& /*loop*/, std::string path) {
    return ops::readlink(path);
}
Request realpath(Loop& loop, std::string path, Callback<std::string> cb) {
    return submit<std::string>(
        loop, reads, [path = std::move(path)] { return ops::realpath(path); }, std::move(cb));
}
Result<std::string> realpath(Loop& /*loop*/, std::string path) {
    return ops::realpath(path);
}

Request copyfile(Loop& loop, std::string from, std::string to, int flags, Callback<void> cb) {
    return submit<void>(
        loop,
        changes,
        [from = std::move(from), to = std::move(to), flags] {
            return ops::copyfile(from, to, flags);
        },
        std::move(cb));
}
error_code copyfile(Loop& /*loop*/, std::string from, std::string to, int flags) {
    return ops::copyfile(from, to, flags);
}

Request scandir(Loop& loop, std::string path, Callback<std::vector<Dirent>> cb) {
    return submit<std::vector<Dirent>>(
        loop, reads, [path = std::move(path)] { return ops::scandir(path); }, std::move(cb));
}
Result<std::vector<Dirent>> scandir(Loop& /*loop*/, std::string path) {
    return ops::scandir(path);
}
Request opendir(Loop& loop, std::string path, Callback<Dir> cb) {
    return submit<Dir>(
        loop, reads, [path = std::move(path)] { return ops::opendir(path); }, std::move(cb));
}
Result<Dir> opendir(Loop& /*loop*/, std::string path) {
    return ops::opendir(path);
}
Request readdir(Loop& loop, const Dir& dir, std::size_t n, Callback<std::vector<Dirent>> cb) {
    return submit<std::vector<Dirent>>(
        loop, reads, [dir, n] { return ops::readdir(dir, n); }, std::move(cb));
}
Result<std::vector<Dirent>> readdir(Loop& /*loop*/, const Dir& dir, std::size_t n) {
    return ops::readdir(dir, n);
}
Request closedir(Loop& loop, const Dir& dir, Callback<void> cb) {
    return submit<void>(
        loop, changes, [dir] { return ops::closedir(dir); }, std::move(cb));
}
error_code closedir(Loop& /*loop*/, const Dir& dir) {
    return ops::closedir(dir);
}

} // namespace pollux::uv::fs
