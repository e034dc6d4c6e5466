#pragma once

/// @file
/// The `Future` concept: a value that may not be ready yet, driven by `poll`.

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>

#include <concepts>
#include <type_traits>

namespace pollux {

/// A type with `using Output = ...;` and `Poll<Output> poll(Context&)`.
///
/// The contract, as in Rust:
/// 1. Lazy: constructing a future starts nothing; its first `poll` does.
/// 2. A `poll` that returns `Pending` has arranged for the waker of *that*
///    `Context` to be woken when progress is possible. Spurious wakes are
///    allowed; lost wakes are bugs.
/// 3. Polling a future that returned `Ready` is a contract violation
///    (pollux futures assert it in debug builds; wrap one in `fuse` to poll
///    past the end).
/// 4. A future may be moved between polls.
/// 5. Destroying a pending future cancels what it started.
/// 6. A `poll` may throw; the exception reaches whoever awaits the output.
template <class F>
concept Future = requires(F& f, Context& cx) {
    typename std::remove_cvref_t<F>::Output;
    { f.poll(cx) } -> std::same_as<Poll<typename std::remove_cvref_t<F>::Output>>;
};

/// The output type of a future.
template <Future F>
using output_t = typename std::remove_cvref_t<F>::Output;

} // namespace pollux
