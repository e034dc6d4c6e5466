#pragma once

// OpStarters of lib/fs: a whole function run as one pool job, or one
// backend operation (lib/fs/backend.hpp).

#include <pollux/detail/work_pool.hpp>
#include <pollux/fs/op_future.hpp>

#include "sys.hpp"

#include <filesystem>
#include <utility>

namespace pollux::fs::detail {

// `fn()` -> Result<T>, run on the pool as one job of `kind`. A path with a
// NUL byte completes with invalid_argument without touching the kernel.
template <class T, class Fn>
OpStarter<T> on_pool(Fn fn, pollux::detail::WorkKind kind) {
    return [fn = std::move(fn), kind](boost::asio::execution_context& ctx,
                                      const std::shared_ptr<OpState<T>>& st) mutable {
        return pollux::detail::submit_blocking(
            ctx,
            [fn = std::move(fn), st]() mutable { st->complete(fn()); },
            kind,
            pollux::detail::WorkLane::fs);
    };
}

template <class T>
Result<T> fail(boost::system::error_code ec) {
    return Result<T>(boost::system::in_place_error, ec);
}

} // namespace pollux::fs::detail
