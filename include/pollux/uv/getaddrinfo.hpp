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
/// resolver (getaddrinfo(3), through Asio's synchronous resolve) on the
/// loop's work pool (`Loop::threadpool_size()`), as libuv does; `cb(ec,
/// results)` runs on the loop, in its poll phase. The request keeps the
/// loop alive until `cb` ran.
///
/// @par Cancel safety
/// `Request::cancel()` succeeds only while the lookup waits in the pool's
/// queue: `cb` then gets `operation_aborted` and no results. Once the lookup
/// started (or finished, `cb` not yet run) it returns
/// `errc::device_or_resource_busy` and `cb` gets the lookup's result, as
/// `uv_cancel` returns `UV_EBUSY`.
/// @par Thread safety
/// Call from the loop's thread; `cb` runs there.
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
