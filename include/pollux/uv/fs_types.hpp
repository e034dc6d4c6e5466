#pragma once

/// @file
/// The values `uv::fs` requests produce: `Stat` (libuv's `uv_stat_t`),
/// `StatFs` (`uv_statfs_t`), `Dirent` (`uv_dirent_t`), `TempFile`, the
/// copyfile flags, and `fs::Callback<T>`, the one callback shape of every
/// request.

#include <pollux/uv/fs_stat.hpp>

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace pollux::uv::fs {

/// A file descriptor, as libuv's `uv_file`: what `open` and `mkstemp` give,
/// owned by the caller, who closes it (`fs::close`). Opened close-on-exec.
using File = int;

/// `cb(ec, value)`: `ec` is empty on success (then `value` is the result),
/// else the error and a value-initialised `T`. `Callback<void>` is
/// `cb(ec)`, for the requests that produce nothing.
template <class T>
struct CallbackFor {
    using type = std::function<void(boost::system::error_code, T)>;
};
template <>
struct CallbackFor<void> {
    using type = std::function<void(boost::system::error_code)>;
};
template <class T>
using Callback = typename CallbackFor<T>::type;

/// A file's metadata (libuv's `uv_stat_t`) and its times: the one `uv::Stat`
/// that `uv::fs` requests and `uv::FsPoll` share (pollux/uv/fs_stat.hpp).
using Timespec = pollux::uv::Timespec;
using Stat = pollux::uv::Stat;

/// A file system's figures (libuv's `uv_statfs_t`, from statfs(2)).
struct StatFs {
    std::uint64_t type = 0;
    std::uint64_t bsize = 0;
    std::uint64_t blocks = 0;
    std::uint64_t bfree = 0;
    std::uint64_t bavail = 0;
    std::uint64_t files = 0;
    std::uint64_t ffree = 0;
};

/// What a directory entry is (libuv's `uv_dirent_type_t`), from the
/// directory's `d_type`; `unknown` where the file system does not say.
enum class DirentType {
    unknown,
    file,
    dir,
    link,
    fifo,
    socket,
    char_device,
    block_device,
};

/// A directory entry (`uv_dirent_t`): a name, never "." or "..".
struct Dirent {
    std::string name;
    DirentType type = DirentType::unknown;
};

/// What `mkstemp` made: the open file (the caller closes it) and its path.
struct TempFile {
    File fd = -1;
    std::string path;
};

/// `copyfile` flags (libuv's values, OR them together).
/// Fail with `file_exists` if the destination exists (`UV_FS_COPYFILE_EXCL`).
inline constexpr int copyfile_excl = 0x0001;
/// Try a copy-on-write clone (`FICLONE`) first; copy the bytes if the file
/// system cannot (`UV_FS_COPYFILE_FICLONE`).
inline constexpr int copyfile_ficlone = 0x0002;
/// Clone or fail: the clone's error (`EOPNOTSUPP`, `EXDEV`, ...) where the
/// file system cannot (`UV_FS_COPYFILE_FICLONE_FORCE`).
inline constexpr int copyfile_ficlone_force = 0x0004;

} // namespace pollux::uv::fs
