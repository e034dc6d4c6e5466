#pragma once

/// @file
/// `detail::OpFuture<Op>`: the future that repeatedly calls one poll
/// function of an object it borrows (`listener.accept()` calls
/// `poll_accept`, `socket.recv(buf)` calls `poll_recv`). Private; the public
/// names are the aliases in pollux::net.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/detail/config.hpp>

#include <utility>

namespace pollux::detail {

// `Op` is a small copyable struct with `using Output = ...;` and
// `Poll<Output> operator()(Context&)`. It holds a pointer to the object it
// polls and the borrowed buffers; it owns nothing, so the future is exactly
// as cancel safe as the poll function.
template <class Op>
class POLLUX_NODISCARD_FUTURE OpFuture {
public:
    using Output = typename Op::Output;

    explicit OpFuture(Op op) noexcept : op_(std::move(op)) {}

    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "pollux::net future polled after it returned Ready");
        Poll<Output> p = op_(cx);
        if (p.is_ready()) {
            done_ = true;
        }
        return p;
    }

private:
    Op op_;
    bool done_ = false;
};

} // namespace pollux::detail
