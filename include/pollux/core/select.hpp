#pragma once

/// @file
/// `select(f1, f2, ...)` and `select_biased(f1, f2, ...)`: run several futures
/// concurrently and finish with the first one that is ready (futures-rs's
/// `future::select` / `select!` / `select_biased!`).

#include <pollux/core/future.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/future_arg.hpp>
#include <pollux/detail/random.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace pollux {

namespace detail {

// The body shared by Select (random start) and SelectBiased (argument order).
// All children live in one optional tuple: they are all running until one
// wins, and then all of them are destroyed together.
template <bool Biased, class... Fs>
class SelectImpl {
    static_assert(sizeof...(Fs) >= 1, "select needs at least one future");

public:
    using Output = std::variant<value_t<output_t<Fs>>...>;

    template <class... Gs>
    explicit SelectImpl(std::in_place_t, Gs&&... gs)
        : children_(std::in_place, std::forward<Gs>(gs)...) {}

    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(children_.has_value(), "select polled after it returned Ready");
        constexpr auto n = static_cast<std::uint32_t>(sizeof...(Fs));
        std::uint32_t i = 0;
        if constexpr (!Biased && n > 1) {
            // A fresh random start on every poll, so that a branch that is
            // always ready cannot starve the others, even across selects.
            i = fast_random_below(n);
        }
        for (std::uint32_t k = 0; k < n; ++k, i = (i + 1 == n ? 0 : i + 1)) {
            Poll<Output> p = poll_index(i, cx, std::index_sequence_for<Fs...>{});
            if (p.is_ready()) {
                return p;
            }
        }
        return Pending{};
    }

private:
    using PollChild = Poll<Output> (*)(SelectImpl&, Context&);

    // Static, taking `self`: plain function pointers make a simpler table
    // than member pointers (and keep g++ 12's -Warray-bounds quiet).
    template <std::size_t I>
    static Poll<Output> poll_child(SelectImpl& self, Context& cx) {
        auto p = std::get<I>(*self.children_).poll(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        Poll<Output> out = [&] {
            if constexpr (std::is_void_v<output_t<std::tuple_element_t<I, std::tuple<Fs...>>>>) {
                return Ready<Output>{Output(std::in_place_index<I>)};
            } else {
                return Ready<Output>{Output(std::in_place_index<I>, std::move(p).value())};
            }
        }();
        // The losers (and the finished winner) are destroyed before Ready is
        // returned, so whatever they held is released by the time the caller
        // sees the output.
        self.children_.reset();
        return out;
    }

    // Polls child `i`: a runtime index dispatched through a table of
    // compile-time ones.
    template <std::size_t... I>
    Poll<Output> poll_index(std::uint32_t i, Context& cx, std::index_sequence<I...>) {
        static constexpr std::array<PollChild, sizeof...(I)> table{
            &SelectImpl::template poll_child<I>...};
        return table[i](*this, cx);
    }

    std::optional<std::tuple<Fs...>> children_;
};

} // namespace detail

/// The future returned by `select(f1, f2, ...)`. `Output` is
/// `std::variant<value_t<output_t<Fs>>...>`; the active index is the winner's
/// argument position.
template <class... Fs>
class POLLUX_NODISCARD_FUTURE Select : public detail::SelectImpl<false, Fs...> {
public:
    using detail::SelectImpl<false, Fs...>::SelectImpl;
};

/// The future returned by `select_biased(f1, f2, ...)`; as `Select`, but it
/// polls in argument order.
template <class... Fs>
class POLLUX_NODISCARD_FUTURE SelectBiased : public detail::SelectImpl<true, Fs...> {
public:
    using detail::SelectImpl<true, Fs...>::SelectImpl;
};

/// A future that polls the futures given, concurrently on the calling task,
/// and is ready with the output of the first one that is ready, as a
/// `std::variant` whose index is that future's argument position (`void`
/// becomes `Unit`; equal output types are fine, the index tells them apart).
/// Each poll starts at a branch chosen at random (a cheap thread-local
/// generator) and goes round the others in order, stopping at the first
/// `Ready`, so no branch is starved. Futures are taken by value (move them in).
///
/// Once a branch wins, every other branch (the losers) is destroyed, i.e.
/// cancelled, before the `Ready` is returned; unlike futures-rs, the losers
/// are not handed back.
///
/// @par Cancel safety
/// Dropping a `Select` before it is ready drops (cancels) every branch. When
/// a branch wins, the losers are dropped the same way. So `select` loses
/// nothing only when every branch is cancel safe (see docs/cancellation.md);
/// for a branch that is not, a partial result it had is lost with it.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// The branches are polled with the caller's `Context`, so any branch's wake
/// wakes the task that polls the `Select`.
/// @par Errors
/// Rethrows what a branch's poll throws, at once; the other branches stay as
/// they were. Drop the `Select` then.
/// @par Preconditions
/// At least one future. Not polled again after it returned `Ready`
/// (asserts).
/// @par Example
/// @code
/// auto v = co_await pollux::select(rx.recv(), pollux::time::sleep(1s));
/// if (v.index() == 1) { /* timed out: the recv was cancelled */ }
/// @endcode
template <detail::FutureArg... Fs>
requires(sizeof...(Fs) >= 1) POLLUX_NODISCARD_FUTURE auto select(Fs&&... fs) {
    static_assert(detail::check_future_args<Fs...>);
    return Select<std::remove_cvref_t<Fs>...>(std::in_place, std::forward<Fs>(fs)...);
}

/// As `select`, but every poll polls the branches in argument order, so an
/// earlier branch that is ready always wins over a later one (futures-rs's
/// `select_biased!`). Use it when priority matters, e.g. a shutdown signal
/// before work; a branch that is always ready starves the ones after it.
///
/// @par Cancel safety
/// As `select`: the losers, or every branch when dropped early, are dropped.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// The branches are polled with the caller's `Context`.
/// @par Errors
/// Rethrows what a branch's poll throws.
/// @par Preconditions
/// At least one future. Not polled again after it returned `Ready`
/// (asserts).
/// @par Example
/// @code
/// auto v = co_await pollux::select_biased(shutdown.notified(), listener.accept());
/// @endcode
template <detail::FutureArg... Fs>
requires(sizeof...(Fs) >= 1) POLLUX_NODISCARD_FUTURE auto select_biased(Fs&&... fs) {
    static_assert(detail::check_future_args<Fs...>);
    return SelectBiased<std::remove_cvref_t<Fs>...>(std::in_place, std::forward<Fs>(fs)...);
}

} // namespace pollux
