#pragma once

/// @file
/// The errors of `pollux::fs`: the errno of the failing call as a
/// `boost::system::error_code` whose message names the path the operation
/// worked on (docs/fs.md, "Errors").
///
/// An error of an operation on a path (`fs::read`, `File::open`,
/// `fs::rename`, `fs::read_dir`, `fs::watch`, ...) is in a category made for
/// that path: its `name()` is "pollux.fs", its `message()` is
/// "<path>: <strerror>" ("<from> -> <to>: <strerror>" for `rename`, `copy`,
/// `hard_link` and `symlink`), its `value()` is the errno, and it maps to
/// the generic category as the system category does, so
/// `ec == boost::system::errc::no_such_file_or_directory`,
/// `ec == std::errc::no_such_file_or_directory` and the `std::error_code` it
/// converts to keep comparing as for a system error. Compare errors with
/// conditions (the `errc` enums), not with `make_error_code(errc::...)`: two
/// error_codes are equal only in the same category, so one that names a path
/// is not equal to the plain system error with the same errno.
///
/// The categories are interned: one per path text, never freed (an
/// error_code holds a raw pointer to its category and may outlive every
/// pollux object). The table is bounded by `path_category_max_entries`
/// paths and `path_category_max_bytes` bytes of path text; past the bound an
/// error is the plain system-category error_code (same value, no path in
/// the message). Errors with an empty path are plain too.

#include <pollux/detail/config.hpp>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <filesystem>
#include <string_view>
#include <utility>

namespace pollux::fs {

/// The most paths the process interns error categories for.
inline constexpr std::size_t path_category_max_entries = 4096;
/// The most bytes of path text the process interns error categories for.
inline constexpr std::size_t path_category_max_bytes = 1024 * 1024;

/// The path text an error names: "<path>", or "<from> -> <to>" for a
/// two-path operation; empty when `ec` is not a "pollux.fs" error (no path,
/// or the table was full). The view stays valid for the life of the
/// process. Thread-safe; does not lock.
[[nodiscard]] POLLUX_API std::string_view error_path(const boost::system::error_code& ec) noexcept;

namespace detail {

// `ec` in the category of `path` when `ec` is an errno (system or generic
// category) and `path` is not empty; else, or when the table is full or an
// allocation fails, `ec` unchanged. Thread-safe: a lookup under a mutex.
[[nodiscard]] POLLUX_API boost::system::error_code
path_error(const boost::system::error_code& ec, const std::filesystem::path& path) noexcept;

// As above for a two-path operation: the category of "<from> -> <to>".
[[nodiscard]] POLLUX_API boost::system::error_code
path_error(const boost::system::error_code& ec,
           const std::filesystem::path& from,
           const std::filesystem::path& to) noexcept;

// For tests: how many categories are interned, and a lower bound in place
// of the two above (returns the previous {entries, bytes}). Lowering the
// bound frees nothing: paths already interned keep their categories.
[[nodiscard]] POLLUX_API std::size_t path_category_count() noexcept;
POLLUX_API std::pair<std::size_t, std::size_t> set_path_category_limits(std::size_t entries,
                                                                        std::size_t bytes) noexcept;

} // namespace detail

} // namespace pollux::fs
