#pragma once

/// @file
/// The error of `pollux::time`: the enum `time::errc` with its error category
/// `time::elapsed_category()`, so a `timeout` that gave up reads
/// `r.error() == time::errc::elapsed` and prints "deadline elapsed" (tokio's
/// `time::error::Elapsed`). The code also compares equal to the generic
/// condition `std::errc::timed_out` (and Boost's `errc::timed_out`).

#include <boost/system/errc.hpp>
#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/error_condition.hpp>

#include <ostream>
#include <string>
#include <type_traits>

namespace pollux::time {

/// Conditions of `pollux::time`, as `boost::system::error_code` values of
/// `time::elapsed_category()`.
enum class errc {
    /// The deadline of a `timeout` or `timeout_at` passed before the inner
    /// future was ready (tokio's `Elapsed`).
    elapsed = 1,
};

} // namespace pollux::time

namespace pollux::detail {

class TimeErrorCategory final : public boost::system::error_category {
public:
    // A fixed id makes codes from copies of this category in different
    // shared objects compare equal (Boost.System's rule for inline categories).
    constexpr TimeErrorCategory() noexcept : boost::system::error_category(0x706f6c6c75787469ULL) {}

    const char* name() const noexcept override { return "pollux.time"; }

    std::string message(int ev) const override {
        switch (static_cast<time::errc>(ev)) {
        case time::errc::elapsed:
            return "deadline elapsed";
        }
        return "unknown pollux.time error";
    }

    // `elapsed` is a timeout in the generic sense: it compares equal to
    // `boost::system::errc::timed_out` and `std::errc::timed_out` (ETIMEDOUT),
    // as code written against <system_error> expects of a timeout, while
    // its category, value and message stay pollux's.
    boost::system::error_condition default_error_condition(int ev) const noexcept override {
        if (static_cast<time::errc>(ev) == time::errc::elapsed) {
            return boost::system::errc::make_error_condition(boost::system::errc::timed_out);
        }
        return {ev, *this};
    }
};

} // namespace pollux::detail

namespace pollux::time {

/// The category of every `pollux::time` error code (its name is
/// "pollux.time").
[[nodiscard]] inline const boost::system::error_category& elapsed_category() noexcept {
    static constexpr pollux::detail::TimeErrorCategory instance;
    return instance;
}

/// The error code of `e`, in `time::elapsed_category()`.
[[nodiscard]] inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), elapsed_category()};
}

/// Prints the error's message ("deadline elapsed"), so test frameworks can
/// print it.
inline std::ostream& operator<<(std::ostream& os, errc e) {
    return os << make_error_code(e).message();
}

} // namespace pollux::time

namespace boost::system {
template <>
struct is_error_code_enum<pollux::time::errc> : std::true_type {};
} // namespace boost::system
