#pragma once

/// @file
/// `uv::Poll`: libuv's `uv_poll_t` — readiness of a descriptor the caller
/// owns and does the I/O on (libcurl, c-ares, libpq, database drivers).

#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

#include <functional>

namespace pollux::detail {
template <class Sink>
class ReadinessOps;
struct CallbackSink;
} // namespace pollux::detail

namespace pollux::uv {

/// Watches a descriptor for readiness. The descriptor stays the caller's:
/// the handle never reads, writes or closes it. Active while started.
///
/// Readiness is level-like, as libuv documents for `uv_poll_t`: while a
/// watched condition holds after a callback (the callback did not read
/// everything), the callback is called again on a later loop turn; once it
/// no longer holds, the handle waits for the reactor's next readiness
/// without calling back. Each callback costs one `poll(2)` with a zero
/// timeout on the descriptor, which reads its current level and tells the
/// events apart (`POLLRDHUP`, `POLLPRI`).
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Loop thread only.
/// @par Example
/// @code
/// uv::Poll p(loop, fd);
/// p.start(uv::Poll::readable, [&](auto ec, int events) {
///     if (!ec && (events & uv::Poll::readable)) { /* read(fd, ...) */ }
/// });
/// @endcode
class POLLUX_API Poll final : public Handle {
public:
    /// libuv's `UV_READABLE`, `UV_WRITABLE`, `UV_DISCONNECT`, `UV_PRIORITIZED`.
    enum Event : int {
        readable = 1,
        writable = 2,
        /// The peer shut down its writing side (`POLLRDHUP`, Linux).
        disconnect = 4,
        /// Urgent data (`POLLPRI`): reported when the level check after a
        /// readable wake-up sees it (TCP's urgent byte arrives with readable
        /// data); a descriptor that only ever raises `POLLPRI` is not woken.
        prioritized = 8,
    };
    /// `cb(ec, events)`: the watched events that hold; or `bad_descriptor`
    /// (libuv's `UV_EBADF`) with 0 when the descriptor has an error
    /// (`POLLERR`) or is not open (`POLLNVAL`), which stops the handle; or the
    /// reactor's error when it refuses the wait (select past `FD_SETSIZE`),
    /// which stops it too.
    using Callback = std::function<void(boost::system::error_code, int events)>;

    /// A handle for `fd` on `loop` (libuv's `uv_poll_init`). The descriptor
    /// is registered with the loop's reactor and made non-blocking.
    /// @par Errors
    /// Throws `boost::system::system_error`: `EPERM` for a descriptor epoll
    /// cannot watch (a regular file, a directory), as `uv_poll_init`;
    /// `EEXIST` on epoll when another handle (or Asio object) already has
    /// `fd` registered (libuv reports `EEXIST` from the second
    /// `uv_poll_start` instead); the system's error.
    Poll(Loop& loop, int fd);
    /// Closes the handle silently; the descriptor stays open.
    ~Poll();

    /// Starts watching `events` (a mask of `Event`), or changes the events
    /// and the callback of a started handle (`uv_poll_start`). `events == 0`
    /// stops, as libuv. The first callback runs on a later loop turn, never
    /// inside `start`.
    /// @par Errors
    /// `bad_descriptor` if closing.
    /// @par Preconditions
    /// `cb` is not empty; `events` has no other bits (asserts).
    boost::system::error_code start(int events, Callback cb);
    /// Stops at once: no callback runs until the next `start`.
    void stop() noexcept;

    /// The watched descriptor.
    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    void on_close() noexcept override;

    void kick();
    void check();
    void arm();
    static void on_ready(void* self, int direction);

    boost::asio::posix::stream_descriptor desc_;
    pollux::detail::ReadinessOps<pollux::detail::CallbackSink>* ready_ = nullptr;
    Callback cb_;
    int fd_;
    int events_ = 0;
    bool started_ = false;
    bool kick_pending_ = false;
    bool in_flight_[2] = {false, false};
};

} // namespace pollux::uv
