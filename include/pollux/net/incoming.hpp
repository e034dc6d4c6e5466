#pragma once

/// @file
/// `net::Incoming<L, S>`: a listener's connections as a `Stream`
/// (`TcpListener::incoming()`, `UnixListener::incoming()`; tokio 0.2's
/// `incoming()`, tokio-stream's `TcpListenerStream`/`UnixListenerStream`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>

#include <optional>
#include <utility>

namespace pollux::net {

/// A `Stream` of the connections a listener `L` accepts: `Item` is
/// `Result<S>`, the accepted stream (the peer's address is dropped; use
/// `peer_addr()` on the stream, or `accept()` for both at once). It borrows
/// the listener, which must outlive it.
///
/// Accept errors are items and the stream goes on after them (tokio's
/// rule): the listener already retries per-connection errors and backs off
/// on resource errors (`TcpListener::accept`), so what reaches the stream
/// is rare and worth seeing. A `TcpListener` that was `close()`d ends the
/// stream (`nullopt`) instead of giving `bad_descriptor` forever; a
/// `UnixListener`'s stream never ends.
///
/// @par Cancel safety
/// Cancel safe, as `accept()` is: dropping a `next(incoming)` future, or
/// the stream, takes no connection (a connection is taken only by the poll
/// that returns it).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. Poll it on the
/// listener's executor.
/// @par Wakes / resumes on
/// The listener's executor, when a connection is ready to accept (or its
/// back-off timer fires).
/// @par Errors
/// As items: the listener's accept errors (see `TcpListener::accept`).
///
/// @par Example
/// @code
/// auto listener = pollux::net::TcpListener::bind("127.0.0.1:0").value();
/// auto conns = listener.incoming();
/// while (auto conn = co_await pollux::next(conns)) {
///     if (*conn) { pollux::spawn(serve(std::move(**conn))); }
/// }
/// @endcode
template <class L, class S>
class [[nodiscard("streams do nothing unless polled")]] Incoming {
public:
    /// An accepted stream, or an accept error.
    using Item = Result<S>;

    /// The connections of `l`. Use `l.incoming()` rather than this.
    explicit Incoming(L & l) noexcept : l_(&l) {
    }

    /// The next connection; see the class.
    Poll<std::optional<Item>> poll_next(Context & cx) {
        using Out = std::optional<Item>;
        if constexpr (requires(const L& cl) { cl.is_open(); }) {
            if (!l_->is_open()) {
                return Ready<Out>{Out()};
            }
        }
        auto p = l_->poll_accept(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        if (!p.value()) {
            return Ready<Out>{Out(Item(boost::system::in_place_error, p.value().error()))};
        }
        return Ready<Out>{Out(Item(boost::system::in_place_value, std::move(p.value()->first)))};
    }

    /// The listener.
    [[nodiscard]] L& get_ref() const noexcept {
        return *l_;
    }

private:
    L* l_;
};

} // namespace pollux::net
