#pragma once

// Small helpers of lib/fs: errno as an error_code, path checks, EINTR-safe
// calls. Everything here runs on pool threads (never on the loop).

#include <pollux/core/result.hpp>

#include <boost/system/error_code.hpp>

#include <cerrno>
#include <filesystem>
#include <string_view>

namespace pollux::fs::sys {

inline boost::system::error_code error(int err) noexcept {
    return boost::system::error_code(err, boost::system::system_category());
}

inline boost::system::error_code last_error() noexcept {
    return error(errno);
}

// A path that the kernel would read differently from what the caller gave:
// an embedded NUL truncates the C string (std and tokio refuse it too).
inline bool has_nul(const std::filesystem::path& p) noexcept {
    return std::string_view(p.native()).find('\0') != std::string_view::npos;
}

// `-errno` or the count, as the backend's `done` takes it.
inline long long result_of(long long r) noexcept {
    return r < 0 ? -static_cast<long long>(errno) : r;
}

// Retries `call` while it fails with EINTR.
template <class Call>
auto retry(Call call) {
    for (;;) {
        auto r = call();
        if (r >= 0 || errno != EINTR) {
            return r;
        }
    }
}

} // namespace pollux::fs::sys
