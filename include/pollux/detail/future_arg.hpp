#pragma once

// The check behind every function that takes a future by forwarding
// reference and moves it in (`spawn`, `join`, `select`, `time::timeout`,
// `Runtime::spawn`): a readable compile error for the two common mistakes.
//
// Constraining those functions with `Future F` alone turns a mistake into
// "no matching function for call to spawn(...)" followed by a page of
// candidates. Instead they are constrained with `FutureArg`, which also lets
// the two mistakes through overload resolution, and their bodies start with
// `static_assert(CheckFutureArg<F>::ok)`, whose own `static_assert` is then
// the first error g++ prints, naming the mistake:
//   (a) an lvalue future, which would be copied (or fail to copy, for a
//       move-only one) rather than moved;
//   (b) a callable, such as a coroutine function, instead of the future it
//       returns.
// test/compile_fail/ checks the first error line of each.

#include <pollux/core/future.hpp>

#include <concepts>
#include <type_traits>

namespace pollux::detail {

// Something one calls to get a future: a function (of any arguments, as in
// `spawn(serve)` for `Async<> serve(TcpStream)`), a lambda or function object
// with one `operator()`, or anything invocable with no arguments.
template <class F>
concept FunctionLike = std::is_function_v<std::remove_pointer_t<std::remove_cvref_t<F>>>;
template <class F>
concept HasCallOperator = requires {
    &std::remove_cvref_t<F>::operator();
};
template <class F>
concept InvocableBare = std::is_invocable_v<std::add_lvalue_reference_t<std::remove_cvref_t<F>>>;
template <class F>
concept Callable = FunctionLike<F> || HasCallOperator<F> || InvocableBare<F>;

// A future, or one of the two mistakes `CheckFutureArg` names.
template <class F>
concept FutureArg = Future<F> || Callable<F>;

// `output_t<F>` for a future, `void` for a mistake, so that a declared return
// type (`JoinHandle<...>`) does not fail before the `static_assert` does.
template <class F>
struct ArgOutput {
    using type = void;
};
template <Future F>
struct ArgOutput<F> {
    using type = output_t<F>;
};
template <class F>
using arg_output_t = typename ArgOutput<F>::type;

// Fails to compile, naming the mistake, unless `F` is a future taken by
// rvalue. `F` is the deduced type of a forwarding reference. A class
// template, not a function, because g++ instantiates a class at once where it
// is named, but may defer a function's body to the end of the translation
// unit, after the errors it should have preceded. Use it as
// `static_assert(detail::CheckFutureArg<F>::ok);`.
template <class F>
struct CheckFutureArg {
    static_assert(Future<F> || !Callable<F>,
                  "this is a callable, not a future: call it, e.g. spawn(f()) not spawn(f)");
    static_assert(!Future<F> || !std::is_lvalue_reference_v<F>,
                  "pass the future as an rvalue: std::move(f), or pollux::by_ref(f) to keep it");
    static constexpr bool ok = true;
};

// `CheckFutureArg` for each of a pack, in order.
template <class... Fs>
inline constexpr bool check_future_args = (CheckFutureArg<Fs>::ok && ...);

// For a forwarding constructor of the future `Self`: fails to compile, naming
// the mistake, when given an lvalue `Self` (which picks the forwarding
// constructor over the deleted copy).
template <class I, class Self>
struct CheckNotSelfLvalue {
    static_assert(!std::is_same_v<std::remove_cvref_t<I>, Self> || !std::is_lvalue_reference_v<I>,
                  "pass the future as an rvalue: std::move(f), or pollux::by_ref(f) to keep it");
    static constexpr bool ok = true;
};

} // namespace pollux::detail
