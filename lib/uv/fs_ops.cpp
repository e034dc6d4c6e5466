#include "fs_ops.hpp"

#include "fs_dir.hpp"
#include "fs_stat.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <memory>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

namespace pollux::uv::fs::ops {

namespace {

error_code last_error() {
    return {errno, boost::system::system_category()};
}

error_code errc(int e) {
    return {e, boost::system::system_category()};
}

error_code check(int rc) {
    return rc == -1 ? last_error() : error_code{};
}

// Retries `f` while it fails with EINTR (libuv retries every call but
// close this way).
template <class F>
auto retry(F f) {
    for (;;) {
        auto rc = f();
        if (rc != -1 || errno != EINTR) {
            return rc;
        }
    }
}

struct timespec to_timespec(double t) {
    // libuv's uv__fs_to_timespec: whole seconds, then the fraction as
    // nanoseconds (kept non-negative for times before the epoch).
    struct timespec ts {};
    const double sec = std::floor(t);
    ts.tv_sec = static_cast<time_t>(sec);
    ts.tv_nsec = static_cast<long>((t - sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_nsec = 999999999L;
    }
    return ts;
}

DirentType dirent_type(unsigned char t) {
    switch (t) {
    case DT_REG:
        return DirentType::file;
    case DT_DIR:
        return DirentType::dir;
    case DT_LNK:
        return DirentType::link;
    case DT_FIFO:
        return DirentType::fifo;
    case DT_SOCK:
        return DirentType::socket;
    case DT_CHR:
        return DirentType::char_device;
    case DT_BLK:
        return DirentType::block_device;
    default:
        return DirentType::unknown;
    }
}

bool is_dot(const char* name) {
    return std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0;
}

std::size_t iov_max() {
    const long n = ::sysconf(_SC_IOV_MAX);
    return n > 0 ? static_cast<std::size_t>(n) : 1024;
}

// sendfile's fallback (libuv's uv__fs_sendfile_emul): pread (or read, for
// a descriptor that cannot pread) and write through a small buffer. A read
// error after some bytes went returns the count; a write error always
// reports the error (those bytes are lost).
Result<std::size_t> sendfile_emul(File out, File in, std::int64_t offset, std::size_t length) {
    std::array<char, 8192> buf{};
    bool use_pread = true;
    std::size_t sent = 0;
    while (sent < length) {
        const std::size_t want = std::min(length - sent, buf.size());
        const ssize_t nread = retry([&] {
            return use_pread ? ::pread(in, buf.data(), want, static_cast<off_t>(offset))
                             : ::read(in, buf.data(), want);
        });
        if (nread == 0) {
            break;
        }
        if (nread == -1) {
            if (use_pread && sent == 0 && (errno == EIO || errno == ESPIPE)) {
                use_pread = false;
                continue;
            }
            if (sent == 0) {
                return last_error();
            }
            break;
        }
        for (ssize_t written = 0; written < nread;) {
            const ssize_t n = retry([&] {
                return ::write(
                    out, buf.data() + written, static_cast<std::size_t>(nread - written));
            });
            if (n == -1) {
                return last_error();
            }
            written += n;
        }
        offset += nread;
        sent += static_cast<std::size_t>(nread);
    }
    return sent;
}

} // namespace

Result<File> open(const std::string& path, int flags, int mode) {
    const int fd =
        retry([&] { return ::open(path.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode)); });
    if (fd == -1) {
        return last_error();
    }
    return fd;
}

error_code close(File fd) {
    // No retry: on Linux the descriptor is released even when close(2)
    // reports EINTR, and a retry could close a descriptor another thread
    // just got. libuv counts EINTR and EINPROGRESS as success too.
    if (::close(fd) == -1 && errno != EINTR && errno != EINPROGRESS) {
        return last_error();
    }
    return {};
}

Result<std::size_t>
read(File fd, const std::vector<boost::asio::mutable_buffer>& bufs, std::int64_t offset) {
    if (bufs.empty()) {
        return errc(EINVAL);
    }
    // As libuv: one system call of at most IOV_MAX buffers.
    const std::size_t n = std::min(bufs.size(), iov_max());
    std::vector<iovec> iov(n);
    for (std::size_t i = 0; i < n; ++i) {
        iov[i] = {bufs[i].data(), bufs[i].size()};
    }
    const int count = static_cast<int>(n);
    const ssize_t rc = retry([&] {
        if (offset < 0) {
            return n == 1 ? ::read(fd, iov[0].iov_base, iov[0].iov_len)
                          : ::readv(fd, iov.data(), count);
        }
        return n == 1 ? ::pread(fd, iov[0].iov_base, iov[0].iov_len, static_cast<off_t>(offset))
                      : ::preadv(fd, iov.data(), count, static_cast<off_t>(offset));
    });
    if (rc == -1) {
        return last_error();
    }
    return static_cast<std::size_t>(rc);
}

Result<std::size_t>
write(File fd, const std::vector<boost::asio::const_buffer>& bufs, std::int64_t offset) {
    if (bufs.empty()) {
        return errc(EINVAL);
    }
    // libuv's uv__fs_write_all: system calls of at most IOV_MAX buffers,
    // each continuing where the last one stopped, until every buffer is
    // written or a call fails or writes nothing. The first call's error is
    // the result; a later one's leaves the count written so far.
    std::vector<iovec> iov(bufs.size());
    for (std::size_t i = 0; i < bufs.size(); ++i) {
        iov[i] = {const_cast<void*>(bufs[i].data()), bufs[i].size()};
    }
    const std::size_t max = iov_max();
    std::size_t first = 0;
    std::size_t total = 0;
    while (first < iov.size()) {
        const std::size_t n = std::min(iov.size() - first, max);
        iovec* v = iov.data() + first;
        const int count = static_cast<int>(n);
        const ssize_t rc = retry([&] {
            if (offset < 0) {
                return n == 1 ? ::write(fd, v[0].iov_base, v[0].iov_len) : ::writev(fd, v, count);
            }
            return n == 1 ? ::pwrite(fd, v[0].iov_base, v[0].iov_len, static_cast<off_t>(offset))
                          : ::pwritev(fd, v, count, static_cast<off_t>(offset));
        });
        if (rc <= 0) {
            if (total == 0 && rc == -1) {
                return last_error();
            }
            break;
        }
        if (offset >= 0) {
            offset += rc;
        }
        total += static_cast<std::size_t>(rc);
        // Skip the buffers written whole; trim the one written in part.
        auto left = static_cast<std::size_t>(rc);
        while (first < iov.size() && left >= iov[first].iov_len) {
            left -= iov[first].iov_len;
            ++first;
        }
        if (left > 0) {
            iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
            iov[first].iov_len -= left;
        }
    }
    return total;
}

// The statx(2)/stat(2) calls and the conversion are uv::FsPoll's too
// (fs_stat.hpp), so both see the same Stat for the same file.
Result<Stat> stat(const std::string& path) {
    Stat st;
    if (auto ec = uv::detail::stat_path(path.c_str(), st)) {
        return ec;
    }
    return st;
}

Result<Stat> lstat(const std::string& path) {
    Stat st;
    if (auto ec = uv::detail::lstat_path(path.c_str(), st)) {
        return ec;
    }
    return st;
}

Result<Stat> fstat(File fd) {
    Stat st;
    if (auto ec = uv::detail::fstat_fd(fd, st)) {
        return ec;
    }
    return st;
}

Result<StatFs> statfs(const std::string& path) {
    struct statfs s {};
    if (retry([&] { return ::statfs(path.c_str(), &s); }) == -1) {
        return last_error();
    }
    StatFs r;
    r.type = static_cast<std::uint64_t>(s.f_type);
    r.bsize = static_cast<std::uint64_t>(s.f_bsize);
    r.blocks = s.f_blocks;
    r.bfree = s.f_bfree;
    r.bavail = s.f_bavail;
    r.files = s.f_files;
    r.ffree = s.f_ffree;
    return r;
}

error_code unlink(const std::string& path) {
    return check(retry([&] { return ::unlink(path.c_str()); }));
}

error_code mkdir(const std::string& path, int mode) {
    return check(retry([&] { return ::mkdir(path.c_str(), static_cast<mode_t>(mode)); }));
}

Result<std::string> mkdtemp(const std::string& tpl) {
    std::string path = tpl;
    if (::mkdtemp(path.data()) == nullptr) {
        return last_error();
    }
    return path;
}

Result<TempFile> mkstemp(const std::string& tpl) {
    std::string path = tpl;
    const int fd = retry([&] { return ::mkostemp(path.data(), O_CLOEXEC); });
    if (fd == -1) {
        return last_error();
    }
    return TempFile{fd, std::move(path)};
}

error_code rmdir(const std::string& path) {
    return check(retry([&] { return ::rmdir(path.c_str()); }));
}

Result<std::vector<Dirent>> scandir(const std::string& path) {
    // glibc's opendir opens with O_CLOEXEC.
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(path.c_str()), &::closedir);
    if (!d) {
        return last_error();
    }
    std::vector<Dirent> out;
    for (;;) {
        errno = 0;
        const dirent* e = ::readdir(d.get());
        if (e == nullptr) {
            if (errno != 0) {
                return last_error();
            }
            break;
        }
        if (!is_dot(e->d_name)) {
            out.push_back({e->d_name, dirent_type(e->d_type)});
        }
    }
    // libuv sorts with strcmp; std::string compares bytes as unsigned char
    // too.
    std::sort(
        out.begin(), out.end(), [](const Dirent& a, const Dirent& b) { return a.name < b.name; });
    return out;
}

Result<Dir> opendir(const std::string& path) {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) {
        return last_error();
    }
    return Dir(std::make_shared<detail::DirState>(d));
}

Result<std::vector<Dirent>> readdir(const Dir& dir, std::size_t n) {
    if (!dir || n == 0) {
        return errc(EINVAL);
    }
    detail::DirState& st = *dir.state();
    std::lock_guard lock(st.mutex);
    if (st.dir == nullptr) {
        return errc(EBADF);
    }
    std::vector<Dirent> out;
    while (out.size() < n) {
        errno = 0;
        const dirent* e = ::readdir(st.dir);
        if (e == nullptr) {
            if (errno != 0 && out.empty()) {
                return last_error();
            }
            break;
        }
        if (!is_dot(e->d_name)) {
            out.push_back({e->d_name, dirent_type(e->d_type)});
        }
    }
    return out;
}

error_code closedir(const Dir& dir) {
    if (!dir) {
        return errc(EINVAL);
    }
    detail::DirState& st = *dir.state();
    std::lock_guard lock(st.mutex);
    if (st.dir == nullptr) {
        return errc(EBADF);
    }
    DIR* d = std::exchange(st.dir, nullptr);
    return check(::closedir(d));
}

error_code rename(const std::string& from, const std::string& to) {
    return check(retry([&] { return ::rename(from.c_str(), to.c_str()); }));
}

error_code fsync(File fd) {
    return check(retry([&] { return ::fsync(fd); }));
}

error_code fdatasync(File fd) {
    return check(retry([&] { return ::fdatasync(fd); }));
}

error_code ftruncate(File fd, std::int64_t length) {
    return check(retry([&] { return ::ftruncate(fd, static_cast<off_t>(length)); }));
}

error_code copyfile(const std::string& from, const std::string& to, int flags) {
    if ((flags & ~(copyfile_excl | copyfile_ficlone | copyfile_ficlone_force)) != 0) {
        return errc(EINVAL);
    }
    // libuv's uv__fs_copyfile, step for step.
    auto src = open(from, O_RDONLY, 0);
    if (!src) {
        return src.error();
    }
    const File in = *src;
    File out = -1;
    error_code err;
    bool same_file = false;
    [&] {
        struct stat src_st {};
        if (::fstat(in, &src_st) != 0) {
            err = last_error();
            return;
        }
        int dst_flags = O_WRONLY | O_CREAT;
        if ((flags & copyfile_excl) != 0) {
            dst_flags |= O_EXCL;
        }
        auto dst = open(to, dst_flags, static_cast<int>(src_st.st_mode));
        if (!dst) {
            err = dst.error();
            return;
        }
        out = *dst;
        if ((flags & copyfile_excl) == 0) {
            struct stat dst_st {};
            if (::fstat(out, &dst_st) != 0) {
                err = last_error();
                return;
            }
            // Copying a file onto itself: done, nothing to change.
            if (src_st.st_dev == dst_st.st_dev && src_st.st_ino == dst_st.st_ino) {
                same_file = true;
                return;
            }
            if (::ftruncate(out, 0) != 0) {
                err = last_error();
                return;
            }
        }
        if (::fchmod(out, src_st.st_mode) != 0) {
            err = last_error();
            return;
        }
        if ((flags & (copyfile_ficlone | copyfile_ficlone_force)) != 0) {
            if (::ioctl(out, FICLONE, in) == 0) {
                return;
            }
            if ((flags & copyfile_ficlone_force) != 0) {
                err = last_error();
                return;
            }
        }
        auto left = static_cast<std::uint64_t>(src_st.st_size);
        std::int64_t offset = 0;
        while (left != 0) {
            const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(left, SSIZE_MAX));
            auto n = sendfile(out, in, offset, chunk);
            if (!n) {
                err = n.error();
                return;
            }
            if (*n == 0) {
                break; // the source shrank meanwhile
            }
            left -= *n;
            offset += static_cast<std::int64_t>(*n);
        }
    }();
    const error_code close_in = close(in);
    if (!err) {
        err = close_in;
    }
    if (out >= 0) {
        const error_code close_out = close(out);
        if (!err) {
            err = close_out;
        }
        if (err && !same_file) {
            ::unlink(to.c_str());
        }
    }
    return err;
}

Result<std::size_t> sendfile(File out, File in, std::int64_t in_offset, std::size_t length) {
    off_t off = static_cast<off_t>(in_offset);
    const ssize_t rc = retry([&] { return ::sendfile(out, in, &off, length); });
    if (rc != -1) {
        return static_cast<std::size_t>(rc);
    }
    if (errno == EINVAL || errno == EIO || errno == ENOTSOCK || errno == EXDEV) {
        return sendfile_emul(out, in, in_offset, length);
    }
    return last_error();
}

error_code access(const std::string& path, int mode) {
    return check(retry([&] { return ::access(path.c_str(), mode); }));
}

error_code chmod(const std::string& path, int mode) {
    return check(retry([&] { return ::chmod(path.c_str(), static_cast<mode_t>(mode)); }));
}

error_code fchmod(File fd, int mode) {
    return check(retry([&] { return ::fchmod(fd, static_cast<mode_t>(mode)); }));
}

error_code utime(const std::string& path, double atime, double mtime) {
    const std::array<struct timespec, 2> ts{to_timespec(atime), to_timespec(mtime)};
    return check(retry([&] { return ::utimensat(AT_FDCWD, path.c_str(), ts.data(), 0); }));
}

error_code futime(File fd, double atime, double mtime) {
    const std::array<struct timespec, 2> ts{to_timespec(atime), to_timespec(mtime)};
    return check(retry([&] { return ::futimens(fd, ts.data()); }));
}

error_code lutime(const std::string& path, double atime, double mtime) {
    const std::array<struct timespec, 2> ts{to_timespec(atime), to_timespec(mtime)};
    return check(
        retry([&] { return ::utimensat(AT_FDCWD, path.c_str(), ts.data(), AT_SYMLINK_NOFOLLOW); }));
}

error_code link(const std::string& path, const std::string& new_path) {
    return check(retry([&] { return ::link(path.c_str(), new_path.c_str()); }));
}

error_code symlink(const std::string& target, const std::string& link_path) {
    return check(retry([&] { return ::symlink(target.c_str(), link_path.c_str()); }));
}

Result<std::string> readlink(const std::string& path) {
    // Grow the buffer until the target fits with a byte to spare (a
    // full buffer may mean a truncated target).
    std::string buf(256, '\0');
    for (;;) {
        const ssize_t n = retry([&] { return ::readlink(path.c_str(), buf.data(), buf.size()); });
        if (n == -1) {
            return last_error();
        }
        if (static_cast<std::size_t>(n) < buf.size()) {
            buf.resize(static_cast<std::size_t>(n));
            return buf;
        }
        buf.resize(buf.size() * 2);
    }
}

Result<std::string> realpath(const std::string& path) {
    std::unique_ptr<char, decltype(&std::free)> p(::realpath(path.c_str(), nullptr), &std::free);
    if (!p) {
        return last_error();
    }
    return std::string(p.get());
}

error_code chown(const std::string& path, uid_t uid, gid_t gid) {
    return check(retry([&] { return ::chown(path.c_str(), uid, gid); }));
}

error_code fchown(File fd, uid_t uid, gid_t gid) {
    return check(retry([&] { return ::fchown(fd, uid, gid); }));
}

error_code lchown(const std::string& path, uid_t uid, gid_t gid) {
    return check(retry([&] { return ::lchown(path.c_str(), uid, gid); }));
}

} // namespace pollux::uv::fs::ops
