#pragma once

/// @file
/// `join(f1, f2, ...)`: run several futures concurrently and wait for all of
/// them (futures-rs's `future::join` / `join!`).

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/future_arg.hpp>

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace pollux {

/// The future returned by `join(f1, f2, ...)`. `Output` is
/// `std::tuple<value_t<output_t<Fs>>...>`: `void` outputs become `Unit`.
template <class... Fs>
class POLLUX_NODISCARD_FUTURE Join {
public:
    /// What it completes with.
    using Output = std::tuple<value_t<output_t<Fs>>...>;

    /// Made by `join(...)`, which is the one to call.
    template <class... Gs>
    explicit Join(std::in_place_t, Gs&&... gs)
        : children_(Slot<Fs>(std::in_place_index<running>, std::forward<Gs>(gs))...) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "Join polled after it returned Ready");
        if (!poll_all(cx, std::index_sequence_for<Fs...>{})) {
            return Pending{};
        }
        done_ = true;
        return take_all(std::index_sequence_for<Fs...>{});
    }

private:
    // Each child is either still running or finished with its output; the
    // child future is destroyed as soon as it completes (futures-rs's
    // MaybeDone). Indices, not types, select the alternative, because a
    // future's type and its output's type may coincide.
    static constexpr std::size_t running = 0;
    static constexpr std::size_t finished = 1;
    template <class F>
    using Slot = std::variant<F, value_t<output_t<F>>>;

    template <std::size_t... I>
    bool poll_all(Context& cx, std::index_sequence<I...>) {
        bool all = true;
        // Every unfinished child is polled, in argument order; `&&` comes
        // second so that no poll is skipped.
        ((all = poll_child<I>(cx) && all), ...);
        return all;
    }

    template <std::size_t I>
    bool poll_child(Context& cx) {
        auto& slot = std::get<I>(children_);
        if (slot.index() == finished) {
            return true;
        }
        auto p = std::get<running>(slot).poll(cx);
        if (p.is_pending()) {
            return false;
        }
        if constexpr (std::is_void_v<typename decltype(p)::value_type>) {
            slot.template emplace<finished>();
        } else {
            slot.template emplace<finished>(std::move(p).value());
        }
        return true;
    }

    template <std::size_t... I>
    Poll<Output> take_all(std::index_sequence<I...>) {
        return Ready<Output>{Output(std::move(std::get<finished>(std::get<I>(children_)))...)};
    }

    std::tuple<Slot<Fs>...> children_;
    bool done_ = false;
};

/// A future that polls every future given, concurrently on the calling task,
/// and is ready with all their outputs, in argument order, once the last one
/// is ready (`void` outputs become `Unit`). Each poll polls every child that
/// has not finished yet, in argument order, with the caller's `Context`; a
/// child's output is stored (and the child destroyed) as soon as it is ready.
/// Futures are taken by value (move them in).
///
/// `join` suits a handful of futures; for many, use `join_all`, which polls
/// only the children that were woken.
///
/// @par Cancel safety
/// Not cancel safe in general: dropping a `Join` before it is ready drops
/// (cancels) the unfinished children and drops the outputs of the finished
/// ones, which are then lost.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. The children run on the
/// polling thread; none runs in parallel with another.
/// @par Wakes / resumes on
/// The children are polled with the caller's `Context`, so any child's wake
/// wakes the task that polls the `Join`.
/// @par Errors
/// Rethrows what a child's poll throws, at once; the other children stay as
/// they were. Drop the `Join` then: polling it again polls the child that
/// threw again.
/// @par Preconditions
/// Not polled again after it returned `Ready` (asserts).
/// @par Example
/// @code
/// auto [a, b] = pollux::block_on(pollux::join(pollux::ready(1), pollux::ready(2)));
/// @endcode
template <detail::FutureArg... Fs>
POLLUX_NODISCARD_FUTURE auto join(Fs&&... fs) {
    static_assert(detail::check_future_args<Fs...>);
    return Join<std::remove_cvref_t<Fs>...>(std::in_place, std::forward<Fs>(fs)...);
}

} // namespace pollux
