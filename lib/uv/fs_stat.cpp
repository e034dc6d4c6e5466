#include "fs_stat.hpp"

#include <boost/asio/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <sys/sysmacros.h>

namespace pollux::uv::detail {

namespace {

boost::system::error_code sys_error(int e) noexcept {
    return {e, boost::asio::error::get_system_category()};
}

Timespec ts(const struct ::timespec& t) noexcept {
    return Timespec{static_cast<std::int64_t>(t.tv_sec), static_cast<std::int64_t>(t.tv_nsec)};
}

Timespec ts(const struct ::statx_timestamp& t) noexcept {
    return Timespec{static_cast<std::int64_t>(t.tv_sec), static_cast<std::int64_t>(t.tv_nsec)};
}

// statx(2) with `dirfd`/`path`/`flags`, else the stat family through `fallback`.
template <class Fallback>
boost::system::error_code
do_stat(int dirfd, const char* path, int flags, Stat& out, Fallback fallback) noexcept {
    struct ::statx stx {};
    int r = 0;
    do {
        r = ::statx(dirfd, path, flags, STATX_BASIC_STATS | STATX_BTIME, &stx);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        out = stat_from(stx);
        return {};
    }
    const int e = errno;
    if (e != ENOSYS && e != EPERM && e != EINVAL && e != EOPNOTSUPP) {
        return sys_error(e);
    }
    struct ::stat st {};
    do {
        r = fallback(st);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        return sys_error(errno);
    }
    out = stat_from(st);
    return {};
}

} // namespace

Stat stat_from(const struct ::stat& st) noexcept {
    Stat s;
    s.dev = st.st_dev;
    s.mode = st.st_mode;
    s.nlink = st.st_nlink;
    s.uid = st.st_uid;
    s.gid = st.st_gid;
    s.rdev = st.st_rdev;
    s.ino = st.st_ino;
    s.size = static_cast<std::uint64_t>(st.st_size);
    s.blksize = static_cast<std::uint64_t>(st.st_blksize);
    s.blocks = static_cast<std::uint64_t>(st.st_blocks);
    s.atim = ts(st.st_atim);
    s.mtim = ts(st.st_mtim);
    s.ctim = ts(st.st_ctim);
    s.birthtim = s.ctim;
    return s;
}

Stat stat_from(const struct ::statx& stx) noexcept {
    Stat s;
    s.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    s.mode = stx.stx_mode;
    s.nlink = stx.stx_nlink;
    s.uid = stx.stx_uid;
    s.gid = stx.stx_gid;
    s.rdev = makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
    s.ino = stx.stx_ino;
    s.size = stx.stx_size;
    s.blksize = stx.stx_blksize;
    s.blocks = stx.stx_blocks;
    s.atim = ts(stx.stx_atime);
    s.mtim = ts(stx.stx_mtime);
    s.ctim = ts(stx.stx_ctime);
    s.birthtim = (stx.stx_mask & STATX_BTIME) != 0 ? ts(stx.stx_btime) : s.ctim;
    return s;
}

boost::system::error_code stat_path(const char* path, Stat& out) noexcept {
    return do_stat(AT_FDCWD, path, 0, out, [&](struct ::stat& st) { return ::stat(path, &st); });
}

boost::system::error_code lstat_path(const char* path, Stat& out) noexcept {
    return do_stat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, out, [&](struct ::stat& st) {
        return ::lstat(path, &st);
    });
}

boost::system::error_code fstat_fd(int fd, Stat& out) noexcept {
    return do_stat(fd, "", AT_EMPTY_PATH, out, [&](struct ::stat& st) { return ::fstat(fd, &st); });
}

} // namespace pollux::uv::detail
