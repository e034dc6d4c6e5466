#pragma once

/// @file
/// `debug::dump_on_signal`: a task that writes a task dump to stderr each
/// time the process receives a signal (`kill -USR1 <pid>`).

#include <pollux/detail/config.hpp>
#include <pollux/join_handle.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <csignal>
#include <source_location>

namespace pollux::debug {

/// Registers for `signum` on `ex` at once and spawns a task on `ex` (named
/// "pollux::debug::dump_on_signal", so it shows in its own dumps) that, for
/// each delivery, writes `dump(context of ex)` to stderr from the loop. The
/// dump covers the tasks of that context only.
///
/// Stop it with `abort()` on the returned handle (which also unregisters
/// the signal); dropping the handle detaches the task, which then lives
/// until the context is destroyed.
///
/// @par Cancel safety
/// Aborting it loses nothing but dumps not yet written.
/// @par Thread safety
/// Safe from any thread.
/// @par Errors
/// Throws `boost::system::system_error` when the signal cannot be
/// registered (see `pollux::signal::signal`); `std::bad_alloc`.
/// @par Example
/// @code
/// pollux::Runtime rt;
/// auto dumper = pollux::debug::dump_on_signal(rt.io_context().get_executor());
/// rt.block_on(serve());
/// @endcode
POLLUX_API JoinHandle<void>
dump_on_signal(const boost::asio::any_io_executor& ex,
               int signum = SIGUSR1,
               std::source_location site = std::source_location::current());

/// `dump_on_signal(executor, signum)` on the executor of the pollux task
/// running on this thread.
///
/// @par Errors
/// Throws `std::logic_error` outside a pollux task, and what the executor
/// overload throws.
/// @par Example
/// @code
/// auto dumper = pollux::debug::dump_on_signal(); // SIGUSR1
/// @endcode
POLLUX_API JoinHandle<void>
dump_on_signal(int signum = SIGUSR1, std::source_location site = std::source_location::current());

} // namespace pollux::debug
