#pragma once

/// @file
/// `uv::queue_work`: libuv's `uv_queue_work` — run a function on a thread
/// pool, then a callback on the loop.

#include <pollux/detail/config.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/request.hpp>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <functional>

namespace pollux::uv {

/// The work function; runs on a thread of the loop's pool.
using WorkCallback = std::function<void()>;
/// Runs on the loop after the work, or with `operation_aborted` if the
/// request was cancelled before it started.
using AfterWorkCallback = std::function<void(boost::system::error_code)>;

/// Runs `work()` on the loop's thread pool (`Loop::threadpool_size()`
/// threads, started as requests arrive and joined by `~Loop`; requests
/// beyond that wait in one queue and start in submission order), then
/// `after_work(ec)` on the loop (in its poll phase) with `ec` empty, with
/// `boost::asio::error::operation_aborted` if the returned request was
/// cancelled before `work` started (then `work` never runs), or with
/// `errc::resource_unavailable_try_again` if the pool's queue was full
/// (`RuntimeOptions::max_queued_blocking`, 65,536 jobs by default; `work`
/// never runs). The request
/// keeps the loop alive until `after_work` ran.
///
/// @par Cancel safety
/// `Request::cancel()` succeeds only before `work` starts; a running `work`
/// is never interrupted.
/// @par Thread safety
/// Call from the loop's thread. `work` runs on a pool thread and must not
/// touch the loop or its handles (use `AsyncHandle`/`Mailbox` to talk back).
/// @par Errors
/// None at initiation. An exception escaping `work` calls `std::terminate`
/// (as from a `std::thread`).
/// @par Preconditions
/// `work` and `after_work` are not empty (asserts).
/// @par Example
/// @code
/// uv::queue_work(loop, [&] { result = crunch(); },
///                [&](boost::system::error_code ec) { if (!ec) show(result); });
/// @endcode
POLLUX_API Request queue_work(Loop& loop, WorkCallback work, AfterWorkCallback after_work);

} // namespace pollux::uv
