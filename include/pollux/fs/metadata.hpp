#pragma once

/// @file
/// `fs::FileType`, `fs::Permissions` and `fs::Metadata` (tokio's and std's
/// `fs::FileType`, `Permissions`, `Metadata`): what stat(2) says of a file.

#include <chrono>
#include <cstdint>
#include <sys/stat.h>
#include <sys/types.h>

namespace pollux::fs {

/// The kind of a file (the `S_IFMT` bits of its mode).
class FileType {
public:
    /// From a full `st_mode` (only the `S_IFMT` bits count).
    static constexpr FileType from_mode(mode_t mode) noexcept { return FileType(mode & S_IFMT); }
    [[nodiscard]] constexpr bool is_dir() const noexcept { return mode_ == S_IFDIR; }
    [[nodiscard]] constexpr bool is_file() const noexcept { return mode_ == S_IFREG; }
    [[nodiscard]] constexpr bool is_symlink() const noexcept { return mode_ == S_IFLNK; }
    [[nodiscard]] constexpr bool is_fifo() const noexcept { return mode_ == S_IFIFO; }
    [[nodiscard]] constexpr bool is_socket() const noexcept { return mode_ == S_IFSOCK; }
    [[nodiscard]] constexpr bool is_block_device() const noexcept { return mode_ == S_IFBLK; }
    [[nodiscard]] constexpr bool is_char_device() const noexcept { return mode_ == S_IFCHR; }
    /// The `S_IFMT` bits.
    [[nodiscard]] constexpr mode_t mode() const noexcept { return mode_; }
    friend constexpr bool operator==(FileType, FileType) noexcept = default;

private:
    constexpr explicit FileType(mode_t mode) noexcept : mode_(mode) {}
    mode_t mode_;
};

/// The permission bits of a file (the low 12 bits of its mode), as std's
/// `Permissions` with `PermissionsExt`.
class Permissions {
public:
    /// From a mode; only the low 12 bits (`07777`) are kept.
    static constexpr Permissions from_mode(mode_t mode) noexcept {
        return Permissions(mode & 07777);
    }
    /// True when no write bit (owner, group or other) is set.
    [[nodiscard]] constexpr bool readonly() const noexcept { return (mode_ & 0222) == 0; }
    /// Clears every write bit, or (false) sets all three, as std does.
    constexpr void set_readonly(bool readonly) noexcept {
        mode_ = readonly ? (mode_ & ~mode_t{0222}) : (mode_ | 0222);
    }
    [[nodiscard]] constexpr mode_t mode() const noexcept { return mode_; }
    constexpr void set_mode(mode_t mode) noexcept { mode_ = mode & 07777; }
    friend constexpr bool operator==(Permissions, Permissions) noexcept = default;

private:
    constexpr explicit Permissions(mode_t mode) noexcept : mode_(mode) {}
    mode_t mode_;
};

/// What stat(2) (or lstat(2), fstat(2)) returned for a file.
class Metadata {
public:
    /// Wraps a `struct stat` the caller filled.
    explicit Metadata(const struct stat& st) noexcept : st_(st) {}

    [[nodiscard]] FileType file_type() const noexcept { return FileType::from_mode(st_.st_mode); }
    [[nodiscard]] bool is_dir() const noexcept { return file_type().is_dir(); }
    [[nodiscard]] bool is_file() const noexcept { return file_type().is_file(); }
    /// Only from `symlink_metadata` (lstat): `metadata` follows links.
    [[nodiscard]] bool is_symlink() const noexcept { return file_type().is_symlink(); }
    /// The size in bytes (`st_size`).
    [[nodiscard]] std::uint64_t len() const noexcept {
        return static_cast<std::uint64_t>(st_.st_size);
    }
    [[nodiscard]] Permissions permissions() const noexcept {
        return Permissions::from_mode(st_.st_mode);
    }
    /// Last modification (`st_mtim`).
    [[nodiscard]] std::chrono::system_clock::time_point modified() const noexcept {
        return at(st_.st_mtim);
    }
    /// Last access (`st_atim`).
    [[nodiscard]] std::chrono::system_clock::time_point accessed() const noexcept {
        return at(st_.st_atim);
    }
    /// Last status change (`st_ctim`).
    [[nodiscard]] std::chrono::system_clock::time_point changed() const noexcept {
        return at(st_.st_ctim);
    }
    [[nodiscard]] mode_t mode() const noexcept { return st_.st_mode; }
    [[nodiscard]] std::uint64_t ino() const noexcept { return st_.st_ino; }
    [[nodiscard]] std::uint64_t dev() const noexcept { return st_.st_dev; }
    [[nodiscard]] std::uint64_t nlink() const noexcept { return st_.st_nlink; }
    [[nodiscard]] uid_t uid() const noexcept { return st_.st_uid; }
    [[nodiscard]] gid_t gid() const noexcept { return st_.st_gid; }
    /// The whole `struct stat`.
    [[nodiscard]] const struct stat& stat() const noexcept { return st_; }

private:
    static std::chrono::system_clock::time_point at(const timespec& ts) noexcept {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
    }
    struct stat st_;
};

} // namespace pollux::fs
