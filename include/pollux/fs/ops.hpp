#pragma once

/// @file
/// The free functions of `pollux::fs` (tokio::fs's names and semantics):
/// whole-file `read`/`read_to_string`/`write`, `copy`, `rename`, removal,
/// directory creation, links, `canonicalize`, stats, `set_permissions` and
/// `try_exists`. Each returns an `fs::OpFuture<T>` whose output is
/// `Result<T>` and that runs the system calls on the worker pool; the
/// `OpFuture` docs give the shared rules (cancel safety, errors, threads).
/// Below, "mandatory" marks an operation that still runs when queued at
/// runtime shutdown; the others are dropped unrun then (docs/fs.md).

#include <pollux/detail/config.hpp>
#include <pollux/fs/metadata.hpp>
#include <pollux/fs/op_future.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pollux::fs {

/// The whole contents of a file (tokio's `fs::read`).
/// @par Errors
/// open(2)/read(2)'s: `no_such_file_or_directory`, `permission_denied`,
/// `is_a_directory` (EISDIR: read of a directory), ...
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<std::vector<std::byte>>
read(std::filesystem::path path);

/// The whole contents of a file as a string; like tokio, it fails with
/// `illegal_byte_sequence` (EILSEQ; tokio's `InvalidData`) when the
/// contents are not valid UTF-8.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<std::string> read_to_string(std::filesystem::path path);

/// Creates `path` (mode 0666 less the umask) or truncates it, and writes
/// `contents` (copied now) to it (tokio's `fs::write`). Mandatory.
/// @par Errors
/// open(2)/write(2)/close(2)'s: `no_space_on_device` (ENOSPC),
/// `is_a_directory`, `permission_denied`, ...
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> write(std::filesystem::path path,
                                                        std::span<const std::byte> contents);
/// As above, with the bytes of a string.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> write(std::filesystem::path path,
                                                        std::string_view contents);

/// Copies the contents and the permission bits of `from` to `to` (created
/// or truncated), returning the bytes copied (tokio's `fs::copy`, which is
/// std's). Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<std::uint64_t> copy(std::filesystem::path from,
                                                                std::filesystem::path to);

/// rename(2): replaces `to` if it exists (tokio's `fs::rename`). Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> rename(std::filesystem::path from,
                                                         std::filesystem::path to);

/// unlink(2): removes a file or symlink; `is_a_directory` for a directory.
/// Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> remove_file(std::filesystem::path path);

/// rmdir(2): removes an empty directory; fails with
/// `directory_not_empty` on a non-empty one (tokio). Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> remove_dir(std::filesystem::path path);

/// Removes a directory and everything under it, without following
/// symlinks (a symlink given as `path` is itself removed). Fails with
/// `no_such_file_or_directory` when `path` does not exist and
/// `not_a_directory` when it is a file (std's `remove_dir_all`).
/// Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> remove_dir_all(std::filesystem::path path);

/// mkdir(2) with mode 0777 less the umask; `file_exists` when `path`
/// exists. Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> create_dir(std::filesystem::path path);

/// Creates `path` and its missing parents. Succeeds when `path` already is
/// a directory (tokio); `file_exists` when it is something else. Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> create_dir_all(std::filesystem::path path);

/// link(2): a new name `link` for the file `original`. Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> hard_link(std::filesystem::path original,
                                                            std::filesystem::path link);

/// symlink(2): `link` becomes a symbolic link to `original` (which need not
/// exist; tokio's `fs::symlink`). Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> symlink(std::filesystem::path original,
                                                          std::filesystem::path link);

/// readlink(2): the target of a symbolic link; `invalid_argument` when
/// `path` is not a symlink.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<std::filesystem::path>
read_link(std::filesystem::path path);

/// realpath(3): the absolute path with every symlink, `.` and `..`
/// resolved; the file must exist.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<std::filesystem::path>
canonicalize(std::filesystem::path path);

/// stat(2): follows symlinks.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<Metadata> metadata(std::filesystem::path path);

/// lstat(2): a symlink's own metadata.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<Metadata> symlink_metadata(std::filesystem::path path);

/// chmod(2) with `perm.mode()`. Mandatory.
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<void> set_permissions(std::filesystem::path path,
                                                                  Permissions perm);

/// Whether `path` exists (following symlinks): `false` only when stat(2)
/// says ENOENT; any other failure, such as `permission_denied` for a parent
/// directory the caller may not search, is an error, not `false` (tokio's
/// `fs::try_exists`).
POLLUX_NODISCARD_FUTURE POLLUX_API OpFuture<bool> try_exists(std::filesystem::path path);

} // namespace pollux::fs
