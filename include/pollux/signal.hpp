#pragma once

/// @file
/// `pollux::signal` (tokio's `signal` module): `ctrl_c()`, the future of the
/// next SIGINT, and `signal(signum)`, a `Signal` that stays registered and
/// yields each delivery of a POSIX signal.
///
/// Both register when they are made (inside a task, or given an executor),
/// not when first polled, so a signal that arrives in between is kept.
///
/// Process-wide signal dispositions: pollux changes them only through
/// `boost::asio::signal_set`, and only while a `Signal` (or a registered
/// `ctrl_c()` future) lives. Asio installs its own handler for the signal
/// number when the first signal_set in the process registers it, and sets
/// the disposition back to `SIG_DFL` (not to whatever was installed before)
/// when the last one goes away. Handlers installed with `signal(2)` or
/// `sigaction(2)` while a Signal lives are overwritten by Asio, or overwrite
/// it. Signals are delivered to every live Signal of that number, on every
/// io_context.

#include <pollux/asio.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/future.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/io_block.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <csignal>
#include <optional>
#include <utility>

namespace pollux::detail {

using SignalSetPtr = IoBlockPtr<boost::asio::signal_set>;

// A new signal_set on `ex` registered for `signum`; `ec` says why not.
inline SignalSetPtr
make_signal_set(const boost::asio::any_io_executor& ex, int signum, boost::system::error_code& ec) {
    SignalSetPtr set = SignalSetPtr::make(ex);
    set->io.add(signum, ec);
    return set;
}

// Keeps a wait in flight on `set` and takes its result when it completes.
inline Poll<Result<int>> poll_signal_set(SignalSetPtr& set, Context& cx) {
    if (!set->wait) {
        set->wait.emplace(set->io.async_wait(use_future));
    }
    Poll<Result<int>> p = Pending{};
    try {
        p = set->wait->poll(cx);
    } catch (...) {
        set->wait.reset();
        throw;
    }
    if (p.is_ready()) {
        set->wait.reset();
    }
    return p;
}

} // namespace pollux::detail

namespace pollux::signal {

class Signal;

/// The future returned by `Signal::recv()`: the number of the next delivered
/// signal. It borrows the Signal, which must outlive it.
///
/// @par Cancel safety
/// Cancel safe: dropping a pending Recv loses no signal. The wait in flight
/// belongs to the Signal, and signals that arrive while nobody waits are
/// counted by the signal_set and delivered to later `recv()` calls.
/// @par Thread safety
/// As the Signal: distinct objects: safe; shared objects: unsafe.
/// @par Wakes / resumes on
/// See `Signal`.
/// @par Errors
/// See `Signal`.
/// @par Preconditions
/// Not polled again after it returned Ready (asserts).
class POLLUX_NODISCARD_FUTURE Recv {
public:
    /// What it completes with.
    using Output = Result<int>;

    /// Made by `recv(...)`, which is the one to call.
    explicit Recv(Signal& signal) noexcept : signal_(&signal) {}

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Result<int>> poll(Context& cx);

private:
    Signal* signal_;
};

/// A registration for one POSIX signal number, made by `signal(signum)`. It
/// is registered from construction until destruction (an Asio
/// `signal_set`), so signals that arrive between two `recv()` calls, or
/// before the first, are not lost: the signal_set counts them, and each is
/// delivered to one later `recv()`. (The OS may still merge a burst of one
/// signal number that arrives before Asio's handler runs; at least one of
/// them is delivered.)
///
/// `recv()` is a future of `Result<int>`, the signal number. A Signal is
/// also a `Stream<Item = int>`: `co_await pollux::next(sig)`; the stream
/// ends (`nullopt`) only if a wait fails, which Asio documents for no case
/// but cancellation.
///
/// See the file comment for what a Signal does to the process's signal
/// dispositions.
///
/// @par Cancel safety
/// Cancel safe: see `Recv`. Dropping the Signal cancels its wait in flight
/// (`cancellation_type::terminal`, emitted on the dropping thread; signal_set waits
/// honour terminal, partial and total cancellation) and unregisters it;
/// signals counted but not yet received are dropped with it.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. It may be dropped on any
/// thread (a drop on another thread cancels the wait right there: Asio's
/// signal service locks for it).
/// @par Wakes / resumes on
/// The waker of the latest poll is woken from the thread that runs the
/// signal_set's completion, on the executor the Signal was made for.
/// @par Errors
/// `signal()` throws as documented there. `recv()` yields Asio's error codes
/// unchanged (none expected). A poll rethrows what the wait's initiation
/// throws (`std::bad_alloc`).
/// @par Example
/// @code
/// auto hup = pollux::signal::signal(SIGHUP);
/// while (co_await hup.recv()) {
///     reload_config();
/// }
/// @endcode
class POLLUX_NODISCARD_FUTURE Signal {
public:
    /// The type of the items it yields.
    using Item = int;

    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Signal(Signal&&) noexcept = default;
    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    Signal& operator=(Signal&&) noexcept = default;

    /// The next delivered signal's number, as a future; see `Recv`.
    POLLUX_NODISCARD_FUTURE Recv recv() noexcept { return Recv(*this); }

    /// Ready with the next delivered signal's number.
    Poll<Result<int>> poll_recv(Context& cx) {
        POLLUX_ASSERT(set_, "Signal polled after it was moved from");
        return detail::poll_signal_set(set_, cx);
    }

    /// The Stream face: the signal number; `nullopt` if a wait failed.
    Poll<std::optional<int>> poll_next(Context& cx) {
        Poll<Result<int>> p = poll_recv(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        Result<int>& r = p.value();
        return Ready{r ? std::optional<int>(*r) : std::nullopt};
    }

    /// The signal number it is registered for.
    [[nodiscard]] int signum() const noexcept { return signum_; }

private:
    friend Signal signal(const boost::asio::any_io_executor& ex, int signum);

    Signal(detail::SignalSetPtr set, int signum) noexcept : set_(std::move(set)), signum_(signum) {}

    detail::SignalSetPtr set_;
    int signum_;
};

inline Poll<Result<int>> Recv::poll(Context& cx) {
    POLLUX_ASSERT(signal_ != nullptr, "Recv polled after it returned Ready");
    Poll<Result<int>> p = signal_->poll_recv(cx);
    if (p.is_ready()) {
        signal_ = nullptr;
    }
    return p;
}

/// Registers for `signum` on `ex` (any Asio executor of an io_context) and
/// returns the `Signal`. Registration happens in this call, so a signal
/// raised right after it returns is delivered to the first `recv()`.
///
/// @par Thread safety
/// Safe from any thread.
/// @par Errors
/// Throws `boost::system::system_error` when Asio cannot register `signum`
/// (`invalid_argument` for a number out of range; the errno of `sigaction`,
/// such as EINVAL for SIGKILL or SIGSTOP).
POLLUX_NODISCARD_FUTURE inline Signal signal(const boost::asio::any_io_executor& ex, int signum) {
    boost::system::error_code ec;
    detail::SignalSetPtr set = detail::make_signal_set(ex, signum, ec);
    if (ec) {
        throw boost::system::system_error(ec, "pollux::signal::signal");
    }
    return Signal(std::move(set), signum);
}

/// Registers for `signum` on the executor of the pollux task running on this
/// thread. See `Signal`.
///
/// @par Errors
/// Throws `std::logic_error` outside a pollux task, and what
/// `signal(executor, signum)` throws.
/// @par Example
/// @code
/// auto term = pollux::signal::signal(SIGTERM);
/// co_await term.recv();
/// @endcode
POLLUX_NODISCARD_FUTURE inline Signal signal(int signum) {
    return signal(pollux::detail::executor_of_current_task("pollux::signal::signal"), signum);
}

/// The future returned by `ctrl_c()`: `Result<void>`, ok at the next SIGINT.
///
/// Registered from construction: `ctrl_c()` called inside a pollux task, and
/// `ctrl_c(executor)` anywhere, register SIGINT before they return, so a
/// SIGINT that arrives between then and the first poll is kept (the
/// signal_set counts it) and completes the first poll. This differs from
/// tokio, whose `ctrl_c()` registers on first poll and warns about exactly
/// that gap (docs/decisions.md). Only `ctrl_c()` called outside any task
/// (say in `main`, to hand to `Runtime::block_on`) has no executor to
/// register on; it registers on its first poll, on the executor of the task
/// polling it, and does not see a SIGINT that arrives before.
/// Registration stays until the future is destroyed, then the SIGINT
/// disposition follows the rules in the file comment.
///
/// @par Cancel safety
/// Cancel safe in that nothing else is lost: dropping it before it completes
/// (polled or not) cancels its wait, if any (`cancellation_type::terminal`),
/// and unregisters SIGINT; a SIGINT that arrives later is not seen by it.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// The waker of the latest poll is woken from the thread that runs the
/// signal_set's completion, on the executor it was registered on.
/// @par Errors
/// A poll throws `std::logic_error` when it has to register (see above) and
/// runs outside a pollux task. The output holds the error if Asio cannot
/// register SIGINT or the wait fails.
/// @par Preconditions
/// Not polled again after it returned Ready (asserts).
/// @par Example
/// @code
/// auto stop = pollux::signal::ctrl_c(); // SIGINT is ours from here on
/// std::cout << "ready" << std::endl;    // so Ctrl-C right after this is seen
/// co_await std::move(stop);
/// std::puts("shutting down");
/// @endcode
class POLLUX_NODISCARD_FUTURE CtrlC {
public:
    /// What it completes with.
    using Output = Result<void>;

    /// Not registered yet: registers on its first poll (what `ctrl_c()`
    /// makes outside a task).
    CtrlC() noexcept = default;
    /// Registers SIGINT on `ex` now; a failure is kept for the first poll.
    /// Throws `std::bad_alloc`.
    explicit CtrlC(const boost::asio::any_io_executor& ex) { register_on(ex); }
    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    CtrlC(CtrlC&&) noexcept = default;
    /// Moves it; allowed at any time, also between polls (there is no `Pin`).
    CtrlC& operator=(CtrlC&&) noexcept = default;

    /// One step of the Future protocol: Ready with the output, or Pending with
    /// the waker of `cx` registered. Cancel safety and errors: see the class
    /// and the function that returns it.
    Poll<Result<void>> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "CtrlC polled after it returned Ready");
        if (!set_ && !error_) {
            register_on(pollux::detail::executor_of_current_task("pollux::signal::ctrl_c"));
        }
        if (error_) {
            done_ = true;
            return Ready{Result<void>(boost::system::in_place_error, error_)};
        }
        Poll<Result<int>> p = detail::poll_signal_set(set_, cx);
        if (p.is_pending()) {
            return Pending{};
        }
        done_ = true;
        const Result<int>& r = p.value();
        return Ready{r ? Result<void>() : Result<void>(boost::system::in_place_error, r.error())};
    }

private:
    // Afterwards exactly one of `set_` (registered) and `error_` (could not
    // register; reported by the next poll) is set.
    void register_on(const boost::asio::any_io_executor& ex) {
        set_ = detail::make_signal_set(ex, SIGINT, error_);
        if (error_) {
            set_.reset();
        }
    }

    detail::SignalSetPtr set_;
    boost::system::error_code error_;
    bool done_ = false;
};

/// A future that completes (ok) at the next SIGINT (Ctrl-C). Called inside a
/// pollux task, it registers SIGINT on that task's executor before it
/// returns; outside a task, on its first poll. See `CtrlC`.
///
/// @par Errors
/// Throws `std::bad_alloc`; see `CtrlC` for the rest.
POLLUX_NODISCARD_FUTURE inline CtrlC ctrl_c() {
    if (pollux::detail::TaskHeader* task = pollux::detail::current_task()) {
        return CtrlC(task->executor());
    }
    return CtrlC();
}

/// A future that completes (ok) at the next SIGINT, registered on `ex` (any
/// Asio executor of an io_context) before this returns, inside a task or not.
/// See `CtrlC`.
///
/// @par Errors
/// Throws `std::bad_alloc`; see `CtrlC` for the rest.
POLLUX_NODISCARD_FUTURE inline CtrlC ctrl_c(const boost::asio::any_io_executor& ex) {
    return CtrlC(ex);
}

} // namespace pollux::signal
