#pragma once

/// @file
/// `fs::OpenOptions` (tokio's and std's `OpenOptions`): how `File`s are
/// opened — access, creation, truncation, mode and extra `open(2)` flags.

#include <pollux/detail/config.hpp>
#include <pollux/fs/op_future.hpp>

#include <filesystem>
#include <sys/types.h>

namespace pollux::fs {

class File;

/// Options for opening a file; a builder whose setters return `*this`.
/// All options start false, the mode 0666, no custom flags.
///
/// The rules (std's, which tokio uses): at least one of read, write and
/// append; truncate, create and create_new need write or append; truncate
/// with append is refused unless create_new is set; such options fail with
/// `invalid_argument` (EINVAL) before any system call. Every descriptor is
/// opened with O_CLOEXEC.
///
/// @par Example
/// @code
/// pollux::Async<pollux::Result<void>> append_line() {
///     auto file = co_await
///     pollux::fs::OpenOptions().append(true).create(true).open("/tmp/log.txt"); if (!file)
///     co_return file.error(); auto n = co_await pollux::io::write_all(*file,
///     boost::asio::buffer("line\n", 5)); if (!n) co_return n.error(); co_return co_await
///     pollux::io::flush(*file);
/// }
/// @endcode
class POLLUX_API OpenOptions {
public:
    OpenOptions() = default;
    /// O_RDONLY / O_RDWR part.
    OpenOptions& read(bool on) noexcept {
        read_ = on;
        return *this;
    }
    /// O_WRONLY / O_RDWR part.
    OpenOptions& write(bool on) noexcept {
        write_ = on;
        return *this;
    }
    /// O_APPEND (implies writing).
    OpenOptions& append(bool on) noexcept {
        append_ = on;
        return *this;
    }
    /// O_TRUNC.
    OpenOptions& truncate(bool on) noexcept {
        truncate_ = on;
        return *this;
    }
    /// O_CREAT.
    OpenOptions& create(bool on) noexcept {
        create_ = on;
        return *this;
    }
    /// O_CREAT|O_EXCL: fails with `file_exists` if the path exists (a
    /// symlink included); create and truncate are then ignored.
    OpenOptions& create_new(bool on) noexcept {
        create_new_ = on;
        return *this;
    }
    /// The mode of a created file (less the umask); 0666 by default.
    OpenOptions& mode(mode_t m) noexcept {
        mode_ = m;
        return *this;
    }
    /// Extra open(2) flags (`O_NOFOLLOW`, `O_DIRECT`, ...); the access bits
    /// (`O_ACCMODE`) are ignored, as std does.
    OpenOptions& custom_flags(int flags) noexcept {
        custom_flags_ = flags;
        return *this;
    }

    /// The open(2) flags these options give, or -1 when they are invalid
    /// (see the class).
    [[nodiscard]] int flags() const noexcept;

    /// Opens `path` on the worker pool. See `OpFuture` for the shared
    /// rules; an open that may create or truncate is mandatory (it still
    /// runs when queued at shutdown), the others are dropped unrun then.
    /// @par Errors
    /// `invalid_argument` for invalid options or a path with a NUL byte;
    /// open(2)'s: `no_such_file_or_directory`, `permission_denied`,
    /// `is_a_directory` (a directory opened for writing), `file_exists`
    /// (create_new), `too_many_files_open` (EMFILE), ...
    POLLUX_NODISCARD_FUTURE OpFuture<File> open(std::filesystem::path path) const;

private:
    bool read_ = false;
    bool write_ = false;
    bool append_ = false;
    bool truncate_ = false;
    bool create_ = false;
    bool create_new_ = false;
    mode_t mode_ = 0666;
    int custom_flags_ = 0;
};

} // namespace pollux::fs

#include <pollux/fs/file.hpp>
