#pragma once

/// @file
/// `pollux::Result<T>`: the value-or-error type of every fallible pollux
/// operation. It is `boost::system::result<T>` (Boost.System, not Asio), so
/// `Poll<Result<T>>` reads like Rust's `Poll<Result<T, E>>`.

#include <boost/system/result.hpp>

namespace pollux {

/// The outcome of an operation that can fail: a `T` or an `E` (by default
/// an error code), as Rust's `Result<T, E>`. It is
/// `boost::system::result<T, E>`: `r.has_value()`, `*r`, `r.error()`, and
/// `r.value()`, which throws `boost::system::system_error` on an error.
template <class T, class E = boost::system::error_code>
using Result = boost::system::result<T, E>;

} // namespace pollux
