#pragma once

/// @file
/// `uv::Stat` (libuv's `uv_stat_t`) and `uv::Timespec`: what `uv::FsPoll`
/// reports, and what the `uv::fs` stat requests fill in.

#include <pollux/detail/config.hpp>

#include <cstdint>

namespace pollux::uv {

/// A point in time as the file system gives it (libuv's `uv_timespec_t`).
struct Timespec {
    std::int64_t sec = 0;
    std::int64_t nsec = 0;

    friend bool operator==(const Timespec&, const Timespec&) = default;
};

/// A file's status, with libuv's `uv_stat_t` fields. A value-initialized
/// `Stat` is all zeros: what libuv reports as "no status" (an `FsPoll`
/// callback's `prev` before the first successful stat, its `curr` after an
/// error).
///
/// On Linux the fields come from `statx(2)`: `birthtim` is the creation time
/// where the file system records one (`STATX_BTIME`), otherwise `ctim` as
/// libuv reports it; `flags` and `gen` are 0 (libuv fills them only on the
/// BSDs).
struct Stat {
    std::uint64_t dev = 0;
    std::uint64_t mode = 0;
    std::uint64_t nlink = 0;
    std::uint64_t uid = 0;
    std::uint64_t gid = 0;
    std::uint64_t rdev = 0;
    std::uint64_t ino = 0;
    std::uint64_t size = 0;
    std::uint64_t blksize = 0;
    std::uint64_t blocks = 0;
    std::uint64_t flags = 0;
    std::uint64_t gen = 0;
    Timespec atim;
    Timespec mtim;
    Timespec ctim;
    Timespec birthtim;

    friend bool operator==(const Stat&, const Stat&) = default;
};

} // namespace pollux::uv
