#pragma once

// The request machine behind queue_work, getaddrinfo, getnameinfo and the
// uv::fs requests (private to lib/uv).

#include <pollux/detail/work_pool.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/request.hpp>
#include <pollux/uv/work.hpp>

namespace pollux::uv::detail {

// Runs `work` on the loop's worker pool (the io_context's one pool, shared
// with spawn_blocking and pollux::fs), then `after_work(ec)` on the loop:
// `ec` empty, or `operation_aborted` when the request was cancelled while
// queued (then `work` never runs). The request keeps the loop alive until
// `after_work` ran. Cancel safety as uv_cancel: only while queued. `kind`
// says what the pool does with it if the loop's io_context shuts down while
// it is queued: drop it (abandonable) or run it first (mandatory: fs calls
// that change files); either way `after_work` is then never called. `lane`:
// WorkLane::fs for file-system calls (they count against the pool's fs cap).
Request start_work(Loop& loop,
                   WorkCallback work,
                   AfterWorkCallback after_work,
                   pollux::detail::WorkKind kind = pollux::detail::WorkKind::abandonable,
                   pollux::detail::WorkLane lane = pollux::detail::WorkLane::blocking);

} // namespace pollux::uv::detail
