#pragma once

/// @file
/// `pollux::Result<T>`: the value-or-error type of every fallible pollux
/// operation. It is `boost::system::result<T>` (Boost.System, not Asio), so
/// `Poll<Result<T>>` reads like Rust's `Poll<Result<T, E>>`.

#include <boost/system/result.hpp>

namespace pollux {

template <class T, class E = boost::system::error_code>
using Result = boost::system::result<T, E>;

} // namespace pollux
