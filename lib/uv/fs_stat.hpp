#pragma once

// uv::Stat from the kernel's structures (private to lib/uv): shared by
// uv::FsPoll and the uv::fs stat requests.

#include <pollux/uv/fs_stat.hpp>

#include <boost/system/error_code.hpp>

#include <sys/stat.h>

namespace pollux::uv::detail {

// From a stat(2) result; birthtim is ctim there (libuv's uv__to_stat on Linux).
Stat stat_from(const struct ::stat& st) noexcept;
// From a statx(2) result; birthtim is stx_btime when the mask has STATX_BTIME,
// otherwise ctim.
Stat stat_from(const struct ::statx& stx) noexcept;

// libuv's uv__fs_stat / uv__fs_lstat / uv__fs_fstat: statx(2) where the
// kernel has it (falls back to the stat family on ENOSYS, EPERM from a
// seccomp filter, EINVAL from an old kernel, or EOPNOTSUPP from a file
// system without it, as libuv's uv__fs_statx does), EINTR retried. Blocking:
// call it on the worker pool. Returns the errno as a system error.
boost::system::error_code stat_path(const char* path, Stat& out) noexcept;
boost::system::error_code lstat_path(const char* path, Stat& out) noexcept;
boost::system::error_code fstat_fd(int fd, Stat& out) noexcept;

} // namespace pollux::uv::detail
