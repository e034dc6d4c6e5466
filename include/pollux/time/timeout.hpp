#pragma once

/// @file
/// `time::timeout(duration, fut)` and `time::timeout_at(instant, fut)`: a
/// future's output, or the error `time::errc::elapsed` ("deadline elapsed")
/// once a deadline passes (tokio's `time::timeout` and its `Elapsed`).

#include <pollux/core/context.hpp>
#include <pollux/core/future.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/future_arg.hpp>
#include <pollux/time/error.hpp>
#include <pollux/time/sleep.hpp>

#include <boost/system/result.hpp>

#include <type_traits>
#include <utility>

namespace pollux::time {

/// The future returned by `timeout` and `timeout_at`: the inner future's
/// output as `Result<output_t<F>>` (`Result<void>` for a void future), or
/// the error `time::errc::elapsed` (message "deadline elapsed", category
/// `time::elapsed_category()`) once the deadline has passed. When the inner
/// output is itself a `Result<T>`, the output is `Result<Result<T>>` (tokio's
/// `Result<Result<T, E>, Elapsed>`); `pollux::flatten` makes it one
/// `Result<T>` whose error is either `elapsed` or the inner error (Rust's
/// `??`).
///
/// Each poll polls the inner future first and the deadline second, so an
/// inner future that is ready wins even when the deadline has passed (and a
/// ready inner future needs no timer at all). If the inner future spent the
/// task's whole cooperative budget in this poll, the deadline is still
/// checked, unconstrained, so a busy inner future cannot starve its timeout
/// (as in tokio). The deadline obeys a paused clock (`time::pause`) as
/// `Sleep` does.
///
/// @par Cancel safety
/// As the inner future: dropping a Timeout drops the inner future (which
/// cancels what it started) and cancels the timer as `Sleep` does. On
/// `elapsed` the inner future is not destroyed until the Timeout is; use
/// `get_ref()` to look at it meanwhile.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the inner future arranges, and the timer's completion (see
/// `Sleep`).
/// @par Errors
/// The output's error is `time::errc::elapsed`, and only that. Rethrows what the inner
/// future's `poll` throws. Throws `std::logic_error`, as `Sleep` does, when
/// the deadline must be checked (the inner future was not ready) outside a
/// pollux task.
/// @par Preconditions
/// Not polled again after it returned Ready (asserts).
/// @par Example
/// @code
/// // in an Async<void>, with a connected net::TcpStream sock and char buf[512]:
/// pollux::Result<pollux::Result<std::size_t>> n =
///     co_await pollux::time::timeout(5s, pollux::io::read(sock, boost::asio::buffer(buf)));
/// if (!n && n.error() == pollux::time::errc::elapsed) { /* gave up */ }
/// // or as one Result, whose error is the deadline's or the read's own:
/// auto read = pollux::io::read(sock, boost::asio::buffer(buf));
/// pollux::Result<std::size_t> m =
///     pollux::flatten(co_await pollux::time::timeout(5s, std::move(read)));
/// @endcode
template <Future F>
class POLLUX_NODISCARD_FUTURE Timeout {
public:
    /// The inner output, or the error `time::errc::elapsed`.
    using Output = Result<output_t<F>>;

    /// `fut`, with a deadline; starts nothing.
    template <class G>
    Timeout(G&& fut, Instant deadline) : inner_(std::forward<G>(fut)), delay_(deadline) {}

    /// Polls the inner future, then (if it is pending) the deadline: `Ready`
    /// with its output, or with `elapsed` once the deadline has passed and it
    /// is still pending.
    /// @par Cancel safety
    /// See the class.
    /// @par Errors
    /// See the class: rethrows what the inner future throws.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "Timeout polled after it returned Ready");
        const bool had_budget = cx.budget() == nullptr || cx.budget()->remaining() > 0;
        auto p = inner_.poll(cx);
        if (p.is_ready()) {
            done_ = true;
            if constexpr (std::is_void_v<output_t<F>>) {
                return Ready<Output>{Output()};
            } else {
                return Ready<Output>{Output(boost::system::in_place_value, std::move(p).value())};
            }
        }
        const bool has_budget = cx.budget() == nullptr || cx.budget()->remaining() > 0;
        Poll<void> d = Pending{};
        if (had_budget && !has_budget) {
            // The inner future spent the budget: check the deadline anyway.
            Context unconstrained(cx.waker());
            d = delay_.poll(unconstrained);
        } else {
            d = delay_.poll(cx);
        }
        if (d.is_pending()) {
            return Pending{};
        }
        done_ = true;
        return Ready<Output>{Output(boost::system::in_place_error, make_error_code(errc::elapsed))};
    }

    /// The inner future.
    [[nodiscard]] F& get_ref() noexcept { return inner_; }
    /// The inner future.
    [[nodiscard]] const F& get_ref() const noexcept { return inner_; }

    /// The instant at which it gives up.
    [[nodiscard]] Instant deadline() const noexcept { return delay_.deadline(); }

private:
    F inner_;
    Sleep delay_;
    bool done_ = false;
};

/// `fut`'s output, or `time::errc::elapsed` if `duration` passes first (counted from
/// this call). `fut` is moved in: an lvalue future, or a callable instead of
/// a future, is a compile error naming the mistake (pass `std::move(fut)`, or
/// `pollux::by_ref(fut)` to keep it). See `Timeout`.
template <pollux::detail::FutureArg F>
POLLUX_NODISCARD_FUTURE auto timeout(Duration duration, F&& fut) {
    static_assert(pollux::detail::CheckFutureArg<F>::ok);
    return Timeout<std::remove_cvref_t<F>>(std::forward<F>(fut),
                                           detail::saturating_add(Clock::now(), duration));
}

/// `fut`'s output, or `time::errc::elapsed` if `deadline` passes first. See `Timeout`.
template <pollux::detail::FutureArg F>
POLLUX_NODISCARD_FUTURE auto timeout_at(Instant deadline, F&& fut) {
    static_assert(pollux::detail::CheckFutureArg<F>::ok);
    return Timeout<std::remove_cvref_t<F>>(std::forward<F>(fut), deadline);
}

} // namespace pollux::time
