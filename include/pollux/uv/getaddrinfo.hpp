#pragma once

/// @file
/// `uv::getaddrinfo`: libuv's `uv_getaddrinfo` — resolve a host and service
/// off the loop, then call back on it.

#include <pollux/detail/config.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/request.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <functional>
#include <string>

namespace pollux::uv {

/// The addresses `getaddrinfo` found (Asio's resolver results).
using AddrInfoResults = boost::asio::ip::tcp::resolver::results_type;
/// `cb(ec, results)`: `ec` is the resolver's error, or `operation_aborted`
/// if the request was cancelled.
using GetAddrInfoCallback = std::function<void(boost::system::error_code, AddrInfoResults)>;

/// Resolves `host` and `service` (names or numbers) with the system
/// resolver on a background thread; `cb(ec, results)` runs on the loop. The
/// request keeps the loop alive until `cb` ran.
///
/// @par Cancel safety
/// `Request::cancel()` before the callback ran makes the lookup report
/// `operation_aborted` if it has not started yet (best effort, as
/// `uv_cancel`).
/// @par Errors
/// None at initiation; resolver errors (`host_not_found`, ...) arrive in
/// `cb`.
/// @par Preconditions
/// `cb` is not empty (asserts).
/// @par Example
/// @code
/// uv::getaddrinfo(loop, "localhost", "80", [](auto ec, uv::AddrInfoResults r) { ... });
/// @endcode
POLLUX_API Request getaddrinfo(Loop& loop,
                               std::string host,
                               std::string service,
                               GetAddrInfoCallback cb);

} // namespace pollux::uv
