#pragma once

/// @file
/// `uv::getnameinfo`: libuv's `uv_getnameinfo` — turn an address and port
/// into a host and service name off the loop, then call back on it.

#include <pollux/detail/config.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/request.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <functional>
#include <string>

namespace pollux::uv {

/// `cb(ec, host, service)`: on success the names getnameinfo(3) found (or
/// the numbers, with `NI_NUMERICHOST`/`NI_NUMERICSERV`); empty strings with
/// an error, which is `operation_aborted` if the request was cancelled.
using GetNameInfoCallback =
    std::function<void(boost::system::error_code, std::string host, std::string service)>;

/// Looks up `endpoint`'s host and service names with getnameinfo(3) and
/// `flags` (`NI_NAMEREQD`, `NI_NUMERICHOST`, `NI_DGRAM`, ...; 0 for none) on
/// the loop's work pool (`Loop::threadpool_size()`), then runs `cb` on the
/// loop, in its poll phase. The request keeps the loop alive until `cb` ran.
/// For a UDP endpoint pass `{ep.address(), ep.port()}` and `NI_DGRAM`.
///
/// @par Cancel safety
/// `Request::cancel()` succeeds only while the lookup waits in the pool's
/// queue (`cb` then gets `operation_aborted`); afterwards it returns
/// `errc::device_or_resource_busy` and `cb` gets the lookup's result.
/// @par Thread safety
/// Call from the loop's thread; `cb` runs there.
/// @par Errors
/// None at initiation. getnameinfo(3)'s errors arrive in `cb` as Asio's
/// codes where it has one (`EAI_NONAME`: `host_not_found`, `EAI_AGAIN`:
/// `host_not_found_try_again`, `EAI_FAMILY`: `address_family_not_supported`,
/// ...), `errc::invalid_argument` for bad flags, `errc::no_buffer_space` for
/// `EAI_OVERFLOW`, the system error for `EAI_SYSTEM`.
/// @par Preconditions
/// `cb` is not empty (asserts).
/// @par Example
/// @code
/// uv::getnameinfo(loop, {boost::asio::ip::make_address("127.0.0.1"), 80}, 0,
///                 [](auto ec, std::string host, std::string service) { ... });
/// @endcode
POLLUX_API Request getnameinfo(Loop& loop,
                               const boost::asio::ip::tcp::endpoint& endpoint,
                               int flags,
                               GetNameInfoCallback cb);

} // namespace pollux::uv
