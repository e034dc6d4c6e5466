#pragma once

/// @file
/// `pollux::Result<T>`: the value-or-error type of every fallible pollux
/// operation. It is `boost::system::result<T>` (Boost.System, not Asio), so
/// `Poll<Result<T>>` reads like Rust's `Poll<Result<T, E>>`.

#include <boost/system/result.hpp>

#include <utility>

namespace pollux {

/// The outcome of an operation that can fail: a `T` or an `E` (by default
/// an error code), as Rust's `Result<T, E>`. It is
/// `boost::system::result<T, E>`: `r.has_value()`, `*r`, `r.error()`, and
/// `r.value()`, which throws `boost::system::system_error` on an error.
template <class T, class E = boost::system::error_code>
using Result = boost::system::result<T, E>;

/// One `Result` from a nested one, as Rust's `Result::flatten` (or `??`):
/// the outer error if there is one, else the inner result. Its main use is
/// `time::timeout` around a fallible future, whose output is
/// `Result<Result<T>>` (tokio's `Result<Result<T, E>, Elapsed>`):
/// @code
/// auto read = pollux::io::read(sock, boost::asio::buffer(buf));
/// pollux::Result<std::size_t> n =
///     pollux::flatten(co_await pollux::time::timeout(5s, std::move(read)));
/// // n.error() is time::errc::elapsed, or the read's own error
/// @endcode
template <class T, class E>
[[nodiscard]] Result<T, E> flatten(Result<Result<T, E>, E> r) {
    if (r.has_error()) {
        return Result<T, E>(boost::system::in_place_error, r.error());
    }
    return std::move(*r);
}

} // namespace pollux
