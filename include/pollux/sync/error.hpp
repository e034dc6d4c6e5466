#pragma once

/// @file
/// The errors of `pollux::sync`: the condition enum `sync::errc` with its
/// error category (for `Result<T>` outputs), the precise enums of the `try_*`
/// calls (tokio's `TryRecvError`, `TryAcquireError`, `TryLockError`), and
/// `SendError<T>` / `TrySendError<T>`, which hand an unsent value back.

#include <boost/assert/source_location.hpp>
#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

namespace pollux::sync {

/// Conditions of the sync primitives, as `boost::system::error_code` values of
/// `sync::category()`.
enum class errc {
    /// The other side of the channel is gone, or the primitive was closed.
    closed = 1,
    /// Nothing to receive yet (try_recv).
    empty,
    /// No capacity left (try_send).
    full,
    /// A broadcast receiver fell behind and values were overwritten.
    lagged,
    /// A semaphore had too few permits (try_acquire).
    no_permits,
    /// A lock is held (try_lock, try_read, try_write).
    would_block,
};

} // namespace pollux::sync

namespace pollux::detail {

class SyncErrorCategory final : public boost::system::error_category {
public:
    // A fixed id makes codes from copies of this category in different
    // shared objects compare equal (Boost.System's rule for inline categories).
    constexpr SyncErrorCategory() noexcept : boost::system::error_category(0x706f6c6c75787379ULL) {}

    const char* name() const noexcept override { return "pollux.sync"; }

    std::string message(int ev) const override {
        using sync::errc;
        switch (static_cast<errc>(ev)) {
        case errc::closed:
            return "channel closed";
        case errc::empty:
            return "channel empty";
        case errc::full:
            return "channel full";
        case errc::lagged:
            return "receiver lagged behind";
        case errc::no_permits:
            return "no permits available";
        case errc::would_block:
            return "lock is held";
        }
        return "unknown pollux.sync error";
    }
};

} // namespace pollux::detail

namespace pollux::sync {

/// The category of every `pollux::sync` error code.
[[nodiscard]] inline const boost::system::error_category& category() noexcept {
    static constexpr pollux::detail::SyncErrorCategory instance;
    return instance;
}

/// The error code of `e`, in `sync::category()`.
[[nodiscard]] inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category()};
}

/// Why `try_recv` gave no value.
enum class TryRecvError {
    /// Nothing is there now; a value may still come.
    empty = static_cast<int>(errc::empty),
    /// No value will ever come: the senders are gone (or the receiver was
    /// closed) and the channel is drained.
    closed = static_cast<int>(errc::closed),
};

/// Why `try_acquire` gave no permit.
enum class TryAcquireError {
    closed = static_cast<int>(errc::closed),
    no_permits = static_cast<int>(errc::no_permits),
};

/// Why `try_lock` (`try_read`, `try_write`) gave no guard.
enum class TryLockError {
    would_block = static_cast<int>(errc::would_block),
};

/// The kind of a `TrySendError`.
enum class TrySendErrorKind {
    full = static_cast<int>(errc::full),
    closed = static_cast<int>(errc::closed),
};

/// The error code of `e`, in `sync::category()`.
[[nodiscard]] inline boost::system::error_code make_error_code(TryRecvError e) noexcept {
    return {static_cast<int>(e), category()};
}
/// The error code of `e`, in `sync::category()`.
[[nodiscard]] inline boost::system::error_code make_error_code(TryAcquireError e) noexcept {
    return {static_cast<int>(e), category()};
}
/// The error code of `e`, in `sync::category()`.
[[nodiscard]] inline boost::system::error_code make_error_code(TryLockError e) noexcept {
    return {static_cast<int>(e), category()};
}
/// The error code of `e`, in `sync::category()`.
[[nodiscard]] inline boost::system::error_code make_error_code(TrySendErrorKind e) noexcept {
    return {static_cast<int>(e), category()};
}

/// Prints the error's message (so `Result<T, E>` and test frameworks can
/// print it).
template <class E>
requires std::is_same_v<E, errc> || std::is_same_v<E, TryRecvError> ||
    std::is_same_v<E, TryAcquireError> || std::is_same_v<E, TryLockError> ||
    std::is_same_v<E, TrySendErrorKind>
        std::ostream& operator<<(std::ostream& os, E e) {
    return os << make_error_code(e).message();
}

/// A send failed because every receiver is gone (or closed); `value` is the
/// value that was not sent (tokio's `SendError<T>`).
template <class T>
struct SendError {
    /// The value that was not sent, handed back.
    T value;

    /// Always `errc::closed`.
    [[nodiscard]] boost::system::error_code code() const noexcept {
        return make_error_code(errc::closed);
    }
};

/// A `try_send` failed; `value` is the value that was not sent (tokio's
/// `TrySendError<T>`: `Full(T)` or `Closed(T)`).
template <class T>
struct TrySendError {
    /// `full` or `closed`.
    using Kind = TrySendErrorKind;
    /// The channel was full: a receiver may still take values.
    static constexpr Kind full = Kind::full;
    /// Every receiver is gone.
    static constexpr Kind closed = Kind::closed;

    /// Why the send failed.
    Kind kind;
    /// The value that was not sent, handed back.
    T value;

    /// True if the channel was full.
    [[nodiscard]] bool is_full() const noexcept { return kind == Kind::full; }
    /// True if every receiver is gone.
    [[nodiscard]] bool is_closed() const noexcept { return kind == Kind::closed; }
    /// `errc::full` or `errc::closed`, in `sync::category()`.
    [[nodiscard]] boost::system::error_code code() const noexcept { return make_error_code(kind); }

    /// True if `e` is of kind `k`.
    friend bool operator==(const TrySendError& e, Kind k) noexcept { return e.kind == k; }
};

/// The outcome of an operation that hands a value back when it fails:
/// `Result<void, E>` in spirit, with `E` a `SendError<T>` or
/// `TrySendError<T>`. It exists because Boost 1.81's `result::error()`
/// returns a copy, which would make a move-only value impossible to recover;
/// here `std::move(r).error().value` moves it out.
template <class E>
class [[nodiscard]] SendResult {
public:
    /// Success.
    SendResult() noexcept = default;
    /// Failure with `e`.
    SendResult(E e) noexcept(std::is_nothrow_move_constructible_v<E>) : err_(std::move(e)) {}

    /// True on success.
    [[nodiscard]] bool has_value() const noexcept { return !err_.has_value(); }
    /// True on failure.
    [[nodiscard]] bool has_error() const noexcept { return err_.has_value(); }
    /// True on success.
    explicit operator bool() const noexcept { return has_value(); }

    /// @par Preconditions
    /// `has_error()`.
    [[nodiscard]] E& error() & noexcept { return *err_; }
    /// The failure.
    /// @par Preconditions
    /// `has_error()`.
    [[nodiscard]] const E& error() const& noexcept { return *err_; }
    /// Moves the failure out (and with it the value that was not sent).
    /// @par Preconditions
    /// `has_error()`.
    [[nodiscard]] E&& error() && noexcept { return std::move(*err_); }

    /// The error code of the failure (`errc::closed`, `errc::full`), or a
    /// success code.
    [[nodiscard]] boost::system::error_code code() const noexcept {
        return err_ ? err_->code() : boost::system::error_code();
    }

    /// Throws `boost::system::system_error(code())` on failure.
    void value() const {
        if (err_) {
            boost::throw_exception(boost::system::system_error(err_->code()));
        }
    }

private:
    std::optional<E> err_;
};

// `Result<T, E>::value()` on an error throws through these (found by ADL):
// the exception is a `boost::system::system_error` with the matching code.

/// Makes `Result<T, errc>::value()` throw `boost::system::system_error`
/// with the matching code (found by ADL); so do the overloads below.
[[noreturn]] inline void throw_exception_from_error(errc e, const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(make_error_code(e)), loc);
}
/// As above, for `TryRecvError`.
[[noreturn]] inline void throw_exception_from_error(TryRecvError e,
                                                    const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(make_error_code(e)), loc);
}
/// As above, for `TryAcquireError`.
[[noreturn]] inline void throw_exception_from_error(TryAcquireError e,
                                                    const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(make_error_code(e)), loc);
}
/// As above, for `TryLockError`.
[[noreturn]] inline void throw_exception_from_error(TryLockError e,
                                                    const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(make_error_code(e)), loc);
}
} // namespace pollux::sync

namespace boost::system {
template <>
struct is_error_code_enum<pollux::sync::errc> : std::true_type {};
template <>
struct is_error_code_enum<pollux::sync::TryRecvError> : std::true_type {};
template <>
struct is_error_code_enum<pollux::sync::TryAcquireError> : std::true_type {};
template <>
struct is_error_code_enum<pollux::sync::TryLockError> : std::true_type {};
template <>
struct is_error_code_enum<pollux::sync::TrySendErrorKind> : std::true_type {};
} // namespace boost::system
