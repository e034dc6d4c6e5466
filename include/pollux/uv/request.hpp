#pragma once

/// @file
/// `uv::Request`: what `queue_work` and `getaddrinfo` return — a way to
/// cancel the request (libuv's `uv_cancel`) and to ask whether it finished.

#include <pollux/detail/config.hpp>

#include <boost/system/error_code.hpp>

#include <memory>
#include <utility>

namespace pollux::uv {

namespace detail {

// What each kind of request implements. Loop thread only.
class RequestState {
public:
    virtual ~RequestState() = default;
    virtual boost::system::error_code cancel() = 0;
    [[nodiscard]] bool done() const noexcept { return done_; }

protected:
    bool done_ = false; // the callback has run (or is running)
};

} // namespace detail

/// A request in flight (libuv's `uv_req_t`, by shared reference). Dropping
/// it cancels nothing: the request runs to its callback either way. A
/// default-constructed Request refers to nothing.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
class POLLUX_API Request {
public:
    Request() = default;
    /// Used by `queue_work` and `getaddrinfo`, which make requests.
    explicit Request(std::shared_ptr<detail::RequestState> state) noexcept
        : state_(std::move(state)) {}

    /// Cancels the request if it has not started (`uv_cancel`): its callback
    /// then runs from the loop with `boost::asio::error::operation_aborted`.
    ///
    /// @par Errors
    /// `errc::device_or_resource_busy` if it already started or finished
    /// (its callback runs, or ran, normally); `errc::invalid_argument` for
    /// an empty Request.
    boost::system::error_code cancel();

    /// True once the callback has run.
    [[nodiscard]] bool done() const noexcept { return state_ && state_->done(); }
    /// True if it refers to a request (is not default-constructed).
    explicit operator bool() const noexcept { return static_cast<bool>(state_); }

private:
    std::shared_ptr<detail::RequestState> state_;
};

} // namespace pollux::uv
