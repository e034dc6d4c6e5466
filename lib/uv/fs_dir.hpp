#pragma once

// The stream behind a uv::fs::Dir (private to lib/uv). Requests in flight
// hold it by shared_ptr, so dropping every Dir while a readdir runs on the
// pool is safe; the last holder closes a stream closedir did not.

#include <pollux/uv/fs.hpp>

#include <dirent.h>
#include <mutex>

namespace pollux::uv::fs::detail {

class DirState {
public:
    explicit DirState(DIR* d) noexcept : dir(d) {}
    ~DirState() {
        if (dir != nullptr) {
            ::closedir(dir);
        }
    }
    DirState(const DirState&) = delete;
    DirState& operator=(const DirState&) = delete;

    // readdir(3) is not safe on one DIR from two threads at once, and
    // closedir must not free it under a reader: both hold `mutex`. `dir`
    // is null once closed.
    std::mutex mutex;
    DIR* dir;
};

} // namespace pollux::uv::fs::detail
