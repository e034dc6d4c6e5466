#pragma once

/// @file
/// `try_join(f1, f2, ...)`: run several fallible futures concurrently; wait
/// for all of them to succeed, or for the first to fail (futures-rs's
/// `future::try_join` / `try_join!`).

#include <pollux/core/future.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>

#include <boost/system/result.hpp>

#include <concepts>
#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace pollux {

namespace detail {

template <class T>
struct result_traits {
    static constexpr bool is_result = false;
};
template <class T, class E>
struct result_traits<boost::system::result<T, E>> {
    static constexpr bool is_result = true;
    using value_type = T;
    using error_type = E;
};

// A future whose output is some `boost::system::result<T, E>` (Rust's
// TryFuture).
template <class F>
concept TryFuture = Future<F> && result_traits<output_t<F>>::is_result;

template <class F>
using try_value_t = typename result_traits<output_t<F>>::value_type;
template <class F>
using try_error_t = typename result_traits<output_t<F>>::error_type;

template <class F, class... Fs>
struct first_error {
    using type = try_error_t<F>;
};
template <class... Fs>
using first_error_t = typename first_error<Fs...>::type;

} // namespace detail

/// The future returned by `try_join(f1, f2, ...)`: `Output` is
/// `Result<std::tuple<value_t<T1>, ...>, E1>`, where child `i` outputs
/// `boost::system::result<Ti, Ei>` and `E1` is the first child's error type.
template <class... Fs>
class POLLUX_NODISCARD_FUTURE TryJoin {
public:
    /// The error type of the output: the first child's.
    using Error = detail::first_error_t<Fs...>;
    /// What it completes with.
    using Output = Result<std::tuple<value_t<detail::try_value_t<Fs>>...>, Error>;

    /// Made by `try_join(...)`, which is the one to call.
    template <class... Gs>
    explicit TryJoin(std::in_place_t, Gs&&... gs)
        : children_(Slot<Fs>(std::in_place_index<running>, std::forward<Gs>(gs))...) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "TryJoin polled after it returned Ready");
        bool all = true;
        std::optional<Error> error;
        poll_all(cx, all, error, std::index_sequence_for<Fs...>{});
        if (error) {
            // The first error wins: every other branch, running or finished,
            // is destroyed before Ready is returned.
            done_ = true;
            drop_all(std::index_sequence_for<Fs...>{});
            return Ready<Output>{Output(boost::system::in_place_error, std::move(*error))};
        }
        if (!all) {
            return Pending{};
        }
        done_ = true;
        return take_all(std::index_sequence_for<Fs...>{});
    }

private:
    // Each child is running, finished with its value, or gone (after an
    // error). Alternatives are chosen by index: types may coincide.
    static constexpr std::size_t running = 0;
    static constexpr std::size_t finished = 1;
    static constexpr std::size_t gone = 2;
    template <class F>
    using Slot = std::variant<F, value_t<detail::try_value_t<F>>, std::monostate>;

    template <std::size_t... I>
    void poll_all(Context& cx, bool& all, std::optional<Error>& error, std::index_sequence<I...>) {
        // Children are polled in argument order; `||` stops at the first
        // error, so the later ones are not polled again.
        (void)(poll_child<I>(cx, all, error) || ...);
    }

    // Returns true when child `I` failed (and stored its error).
    template <std::size_t I>
    bool poll_child(Context& cx, bool& all, std::optional<Error>& error) {
        auto& slot = std::get<I>(children_);
        if (slot.index() != running) {
            return false;
        }
        auto p = std::get<running>(slot).poll(cx);
        if (p.is_pending()) {
            all = false;
            return false;
        }
        auto& r = p.value();
        if (r.has_error()) {
            error.emplace(r.error());
            return true;
        }
        if constexpr (std::is_void_v<
                          detail::try_value_t<std::tuple_element_t<I, std::tuple<Fs...>>>>) {
            slot.template emplace<finished>();
        } else {
            slot.template emplace<finished>(std::move(*r));
        }
        return false;
    }

    template <std::size_t... I>
    void drop_all(std::index_sequence<I...>) noexcept {
        (std::get<I>(children_).template emplace<gone>(), ...);
    }

    template <std::size_t... I>
    Poll<Output> take_all(std::index_sequence<I...>) {
        return Ready<Output>{Output(boost::system::in_place_value,
                                    std::move(std::get<finished>(std::get<I>(children_)))...)};
    }

    std::tuple<Slot<Fs>...> children_;
    bool done_ = false;
};

/// A future that polls every fallible future given (each outputs a
/// `boost::system::result<Ti, Ei>`, e.g. `pollux::Result<Ti>`), concurrently
/// on the calling task, and is ready with
/// `Result<std::tuple<value_t<Ti>...>, E1>`: all the values, in argument
/// order, once every child succeeded (`void` values become `Unit`); or the
/// first error, as soon as a child fails. Each `Ei` must convert to `E1`.
///
/// "First" is the first failure seen: children are polled in argument order,
/// and the poll stops at the first one that fails. On failure every other
/// branch is destroyed (unfinished ones are cancelled) before `Ready` is
/// returned. Futures are taken by value (move them in).
///
/// @par Cancel safety
/// Not cancel safe in general: dropping a `TryJoin` before it is ready drops
/// (cancels) the unfinished children and drops the values of the finished
/// ones. An error also cancels the other children, as above.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// The children are polled with the caller's `Context`.
/// @par Errors
/// A child's error is the output, not an exception. What a child's poll
/// throws is rethrown at once; drop the `TryJoin` then.
/// @par Preconditions
/// Not polled again after it returned `Ready` (asserts).
/// @par Example
/// @code
/// auto r = pollux::block_on(pollux::try_join(read_header(), read_body()));
/// if (!r) { report(r.error()); }
/// else { auto& [header, body] = *r; }
/// @endcode
template <Future... Fs>
requires(sizeof...(Fs) >= 1) && (detail::TryFuture<Fs> && ...) &&
    (std::constructible_from<detail::first_error_t<std::remove_cvref_t<Fs>...>,
                             detail::try_error_t<Fs>> &&
     ...) POLLUX_NODISCARD_FUTURE TryJoin<std::remove_cvref_t<Fs>...> try_join(Fs&&... fs) {
    return TryJoin<std::remove_cvref_t<Fs>...>(std::in_place, std::forward<Fs>(fs)...);
}

} // namespace pollux
