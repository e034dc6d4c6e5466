#pragma once

/// @file
/// `net::resolve(host, service)`: asynchronous name resolution (tokio's
/// `net::lookup_host`), and the "host:port" parser the other `net` types use.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pollux::net {

/// The future returned by `resolve`. Output:
/// `Result<std::vector<boost::asio::ip::tcp::endpoint>>`, every address
/// found, in the resolver's order (never empty when ok). Use
/// `address()`/`port()` of an endpoint for UDP.
///
/// A host that is an IP literal resolves on the first poll without a lookup.
/// Otherwise the first poll starts Asio's `async_resolve` (getaddrinfo on
/// Asio's private resolver thread) on the executor of the current task.
///
/// @par Cancel safety
/// Cancel safe (it has no side effect): dropping it destroys the resolver,
/// which cancels the lookup; a getaddrinfo call already running on the
/// resolver thread finishes there and its result is discarded.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// The current task's executor, when the lookup completes.
/// @par Errors
/// Asio's resolver errors (`host_not_found`, `service_not_found`, ...).
/// Throws `std::logic_error` when first polled outside a pollux task and a
/// lookup is needed.
/// @par Preconditions
/// Not polled after Ready (asserts).
// Exported member by member: g++ 12 takes no GNU visibility attribute
// beside the standard [[nodiscard]] on a class head.
class POLLUX_NODISCARD_FUTURE ResolveFuture {
public:
    /// What it completes with: the addresses found, or the resolver's error.
    using Output = Result<std::vector<boost::asio::ip::tcp::endpoint>>;
    struct State;

    /// A lookup of `host` and `service`; allocates its state and starts
    /// nothing. Use `resolve` rather than this.
    POLLUX_API ResolveFuture(std::string host, std::string service);
    /// Takes `o`'s lookup, in flight or not; `o` is left empty and may only
    /// be destroyed or assigned to (polling it asserts).
    POLLUX_API ResolveFuture(ResolveFuture&& o) noexcept;
    /// Drops the lookup held (cancelling it, as the destructor does), then
    /// takes `o`'s; `o` is left empty. Self-assignment does nothing.
    POLLUX_API ResolveFuture& operator=(ResolveFuture&& o) noexcept;
    POLLUX_API ~ResolveFuture();

    /// Polls the operation; see the class for cancel safety and errors.
    POLLUX_API Poll<Output> poll(Context& cx);

private:
    State* st_;
};

/// Resolves `host` (a name or an IP literal) and `service` (a port number
/// or a service name) to TCP endpoints. See `ResolveFuture`.
///
/// @par Example
/// @code
/// auto addrs = co_await pollux::net::resolve("localhost", "8080");
/// if (addrs) { auto stream = co_await pollux::net::TcpStream::connect(addrs->front()); }
/// @endcode
POLLUX_NODISCARD_FUTURE POLLUX_API ResolveFuture resolve(std::string_view host,
                                                         std::string_view service);

/// Splits "host:port" (also "[v6-address]:port") into host and port.
/// Returns nullopt when there is no ':' or the port part is empty.
[[nodiscard]] POLLUX_API std::optional<std::pair<std::string, std::string>>
split_host_port(std::string_view host_port);

} // namespace pollux::net
