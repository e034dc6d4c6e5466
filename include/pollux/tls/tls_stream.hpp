#pragma once

/// @file
/// `tls::TlsStream<S>`: TLS over any `io::AsyncRead + io::AsyncWrite`
/// transport `S` (net::TcpStream, net::UnixStream, a net::pipe pair's ends
/// joined, sim::TcpStream), itself `AsyncRead + AsyncWrite`
/// (tokio-openssl's `SslStream`). Made by `TlsConnector::connect` or
/// `TlsAcceptor::accept` (tls/connector.hpp).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/tls_engine.hpp>
#include <pollux/io/async_read.hpp>
#include <pollux/io/async_write.hpp>
#include <pollux/tls/certificate.hpp>
#include <pollux/tls/error.hpp>

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

namespace pollux::tls {

/// What a TLS stream can run over.
template <class S>
concept Transport = io::AsyncRead<S> && io::AsyncWrite<S> && std::movable<S>;

template <Transport S>
class Handshake;
template <Transport S>
class KeyUpdate;

/// A TLS connection over the transport `S`, after its handshake. It is
/// `io::AsyncRead` and `io::AsyncWrite`, so `io::read`, `io::write_all`,
/// `io::flush`, `io::shutdown`, `io::copy` and `BufReader` work on it as on
/// a socket.
///
/// Dropping it closes the transport without a close_notify (the peer reads
/// `stream_truncated`): `io::shutdown` first for a clean end.
///
/// How it works: OpenSSL runs on memory (a BIO of pollux's over two fixed
/// buffers, 51 KiB per stream besides OpenSSL's own record buffers,
/// allocated once); each poll moves
/// ciphertext between those buffers and `S` with `S::poll_read` and
/// `S::poll_write`, so it needs no thread and no descriptor of its own. A
/// record written while nothing waits to be sent goes to `S::poll_write`
/// straight from OpenSSL's buffer; only what `S` does not take is copied.
///
/// @par Cancel safety
/// `poll_read` is cancel safe: decrypted bytes that do not fit the caller's
/// buffer stay in OpenSSL's record buffer, and the next read returns them;
/// ciphertext read from `S` stays in the stream. `poll_write` returns
/// `Ready(n)` once OpenSSL took `n` bytes (at most one record, 16 KiB): they
/// are encrypted and sent to `S` by this poll as far as `S` takes them, the
/// rest kept in the output buffer and sent by later polls of any kind, and
/// by `poll_flush`; `Pending` means none was taken. So a
/// dropped `io::write_all` may have sent a prefix, as on a socket; call
/// `io::flush` (or `io::shutdown`) to know the bytes reached `S`.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe (one task drives it, as a
/// socket; `io::split` gives a read and a write half for one task).
/// @par Errors
/// `tls::errc::stream_truncated` when `S` ends without the peer's
/// close_notify; OpenSSL's errors in `tls::openssl_category()` (e.g. "bad
/// record mac", "decryption failed" for garbage records); `S`'s errors
/// unchanged.
template <Transport S>
class TlsStream {
public:
    TlsStream(TlsStream&&) noexcept = default;
    TlsStream& operator=(TlsStream&&) noexcept = default;

    /// `io::AsyncRead`: Ready(n) with decrypted bytes, Ready(0) once the
    /// peer's close_notify was read (end of stream), or an error:
    /// `stream_truncated` if `S` reached end of stream first. Cancel safe.
    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf) {
        if (buf.size() == 0) {
            return Ready{Result<std::size_t>(std::size_t{0})};
        }
        for (;;) {
            detail::TlsStepResult r = engine_->read(buf);
            switch (r.step) {
            case detail::TlsStep::done:
                // Anything OpenSSL queued while reading (a key update's
                // answer) goes out on the way; its readiness wakes us later.
                (void)poll_send(cx);
                return Ready{Result<std::size_t>(r.n)};
            case detail::TlsStep::closed:
                return Ready{Result<std::size_t>(std::size_t{0})};
            case detail::TlsStep::failed:
                return Ready{Result<std::size_t>(r.ec)};
            case detail::TlsStep::want_write:
                if (auto p = poll_send(cx); p.is_pending() || !p.value()) {
                    return p.is_pending() ? Poll<Result<std::size_t>>(Pending{})
                                          : Ready{Result<std::size_t>(p.value().error())};
                }
                break;
            case detail::TlsStep::want_read:
                (void)poll_send(cx);
                if (auto p = poll_receive(cx); p.is_pending() || !p.value()) {
                    return p.is_pending() ? Poll<Result<std::size_t>>(Pending{})
                                          : Ready{Result<std::size_t>(p.value().error())};
                }
                break;
            }
        }
    }

    /// `io::AsyncWrite`: Ready(n) once OpenSSL encrypted the first `n`
    /// bytes (at most 16 KiB); the ciphertext is sent by this poll as far
    /// as `S` takes it, and by later polls and `poll_flush`. Pending: no
    /// byte was taken (the output buffer has no room for a record). See the
    /// class for what a dropped write may have sent.
    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf) {
        if (buf.size() == 0) {
            return Ready{Result<std::size_t>(std::size_t{0})};
        }
        for (;;) {
            // A record never waits half-written inside OpenSSL (which would
            // pin the caller's buffer for the retry): write only when the
            // output buffer has room for a whole one.
            if (!engine_->write_ready()) {
                auto p = poll_send(cx);
                if (p.is_pending()) {
                    return Pending{};
                }
                if (!p.value()) {
                    return Ready{Result<std::size_t>(p.value().error())};
                }
                continue;
            }
            DirectSend direct{this, &cx, nullptr};
            detail::TlsStepResult r = engine_->write(buf, &direct_send, &direct);
            if (direct.exception) {
                // S's poll_write threw inside OpenSSL's call: the record is
                // in the output buffer (as after a write whose send threw).
                std::rethrow_exception(direct.exception);
            }
            switch (r.step) {
            case detail::TlsStep::done:
                (void)poll_send(cx);
                return Ready{Result<std::size_t>(r.n)};
            case detail::TlsStep::want_read:
                if (auto p = poll_receive(cx); p.is_pending() || !p.value()) {
                    return p.is_pending() ? Poll<Result<std::size_t>>(Pending{})
                                          : Ready{Result<std::size_t>(p.value().error())};
                }
                break;
            case detail::TlsStep::want_write:
                if (auto p = poll_send(cx); p.is_pending() || !p.value()) {
                    return p.is_pending() ? Poll<Result<std::size_t>>(Pending{})
                                          : Ready{Result<std::size_t>(p.value().error())};
                }
                break;
            case detail::TlsStep::closed:
            case detail::TlsStep::failed:
                return Ready{
                    Result<std::size_t>(r.ec ? r.ec : make_error_code(errc::protocol_error))};
            }
        }
    }

    /// `io::AsyncWrite`: sends every encrypted byte to `S`, then flushes `S`.
    Poll<Result<void>> poll_flush(Context& cx) {
        auto p = poll_send(cx);
        if (p.is_pending() || !p.value()) {
            return p;
        }
        return io_.poll_flush(cx);
    }

    /// `io::AsyncWrite`: sends close_notify (once), flushes, then shuts down
    /// `S`'s write direction. Reading may go on; it does not wait for the
    /// peer's close_notify (read to end of stream for that).
    Poll<Result<void>> poll_shutdown(Context& cx) {
        while (!close_notify_queued_) {
            detail::TlsStepResult r = engine_->shutdown();
            if (r.step == detail::TlsStep::failed) {
                return Ready{Result<void>(r.ec)};
            }
            if (r.step == detail::TlsStep::want_write) {
                auto p = poll_send(cx);
                if (p.is_pending() || !p.value()) {
                    return p;
                }
                continue;
            }
            close_notify_queued_ = true;
        }
        auto p = poll_send(cx);
        if (p.is_pending() || !p.value()) {
            return p;
        }
        return io_.poll_shutdown(cx);
    }

    /// Sends a TLS 1.3 KeyUpdate (new traffic keys for what we send next);
    /// with `request_peer`, asks the peer to update its keys too. The peer
    /// handles it inside its reads. See `KeyUpdate`.
    [[nodiscard]] KeyUpdate<S> key_update(bool request_peer = true) noexcept {
        return KeyUpdate<S>(*this, request_peer);
    }

    /// The ALPN protocol both sides agreed on, if any.
    [[nodiscard]] std::optional<std::string_view> alpn_protocol() const noexcept {
        return engine_->alpn_protocol();
    }
    /// The SNI name the client sent (on either side), if any.
    [[nodiscard]] std::optional<std::string_view> server_name() const noexcept {
        return engine_->server_name();
    }
    /// Whether the handshake resumed an earlier session.
    [[nodiscard]] bool session_reused() const noexcept { return engine_->session_reused(); }
    /// The protocol version: "TLSv1.3", "TLSv1.2".
    [[nodiscard]] std::string_view protocol_version() const noexcept {
        return engine_->protocol_version();
    }
    /// The cipher suite, by OpenSSL's name ("TLS_AES_256_GCM_SHA384").
    [[nodiscard]] std::string_view cipher() const noexcept { return engine_->cipher(); }
    /// The peer's leaf certificate, if it sent one (a server always does;
    /// a client when asked and it has one).
    [[nodiscard]] std::optional<Certificate> peer_certificate() const {
        return engine_->peer_certificate();
    }
    /// The `SSL*`, for what pollux does not wrap. Do not change its BIOs.
    /// Ask for it for each use rather than keeping it: a read that found
    /// nothing to decrypt remembers that OpenSSL was idle until the next
    /// call into OpenSSL by the stream or this call (so that, say, an
    /// `SSL_key_update` made through it goes out with the next read).
    [[nodiscard]] ssl_st* native_handle() const noexcept { return engine_->native_handle(); }
    /// The transport.
    [[nodiscard]] S& get_ref() noexcept { return io_; }
    /// The transport.
    [[nodiscard]] const S& get_ref() const noexcept { return io_; }

private:
    friend class Handshake<S>;
    friend class KeyUpdate<S>;

    TlsStream(S io, std::unique_ptr<detail::TlsEngine> engine) noexcept
        : io_(std::move(io)), engine_(std::move(engine)) {}

    // Drives SSL_do_handshake until done: the handshake, or (after it) a
    // queued key update. Ready(ok) once its last byte reached `S`.
    Poll<Result<void>> poll_handshake(Context& cx) {
        for (;;) {
            detail::TlsStepResult r = engine_->handshake();
            switch (r.step) {
            case detail::TlsStep::done:
                return poll_send(cx);
            case detail::TlsStep::want_write:
                if (auto p = poll_send(cx); p.is_pending() || !p.value()) {
                    return p;
                }
                break;
            case detail::TlsStep::want_read: {
                // Our flight goes out before we wait for the peer's answer;
                // if S cannot take it yet, its readiness wakes us.
                auto s = poll_send(cx);
                if (s.is_ready() && !s.value()) {
                    return s;
                }
                if (auto p = poll_receive(cx); p.is_pending() || !p.value()) {
                    return p;
                }
                break;
            }
            case detail::TlsStep::closed:
            case detail::TlsStep::failed:
                // The alert OpenSSL queued goes out if S takes it now.
                (void)poll_send(cx);
                return Ready{Result<void>(r.ec ? r.ec : make_error_code(errc::stream_truncated))};
            }
        }
    }

    // Sends the output buffer to S until it is empty (Ready(ok)), S would
    // block (Pending; S wakes us) or fails. Most calls find it empty (every
    // read asks, and so does the flush after a write that sent its record):
    // that check is inline (always: g++ kept it a call), the loop is not.
    [[gnu::always_inline]] Poll<Result<void>> poll_send(Context& cx) {
        if (engine_->output().size() == 0) {
            return Ready{Result<void>()};
        }
        return send_output(cx);
    }

    // The engine's write sink (TlsEngine::Sink): the record straight to
    // S's poll_write, from inside SSL_write_ex, when nothing waits in the
    // output buffer; what S does not take now (Pending, which registered
    // our waker, an error, or an exception) goes to the output buffer, and
    // later polls send it and meet the error, as after any write. An
    // exception must not cross OpenSSL's C frames: it is kept here and
    // rethrown once SSL_write_ex returned.
    struct DirectSend {
        TlsStream* stream;
        Context* cx;
        std::exception_ptr exception;
    };
    static std::size_t
    direct_send(void* state, const unsigned char* data, std::size_t len) noexcept {
        auto* d = static_cast<DirectSend*>(state);
        if (d->exception) {
            return 0;
        }
        try {
            Poll<Result<std::size_t>> p = d->stream->io_.poll_write(*d->cx, {data, len});
            if (p.is_ready() && p.value()) {
                return *p.value();
            }
        } catch (...) {
            d->exception = std::current_exception();
        }
        return 0;
    }

    // poll_send's loop, for a non-empty output buffer.
    Poll<Result<void>> send_output(Context& cx) {
        for (;;) {
            boost::asio::const_buffer out = engine_->output();
            if (out.size() == 0) {
                return Ready{Result<void>()};
            }
            Poll<Result<std::size_t>> p = io_.poll_write(cx, out);
            if (p.is_pending()) {
                return Pending{};
            }
            if (!p.value()) {
                return Ready{Result<void>(p.value().error())};
            }
            if (*p.value() == 0) {
                return Ready{Result<void>(make_error_code(boost::system::errc::broken_pipe))};
            }
            engine_->consume_output(*p.value());
        }
    }

    // Reads what S has into the input buffer: Ready(ok) after some bytes,
    // Pending (S wakes us), or an error; end of stream from S, which
    // OpenSSL still wanting bytes makes a truncation, is stream_truncated.
    Poll<Result<void>> poll_receive(Context& cx) {
        if (transport_eof_) {
            return Ready{Result<void>(make_error_code(errc::stream_truncated))};
        }
        boost::asio::mutable_buffer space = engine_->input_space();
        if (space.size() == 0) {
            // OpenSSL wants bytes yet has not taken those it has: cannot
            // happen (its read takes all it is given before asking for
            // more); an error rather than a spin.
            return Ready{Result<void>(make_error_code(errc::protocol_error))};
        }
        Poll<Result<std::size_t>> p = io_.poll_read(cx, space);
        if (p.is_pending()) {
            return Pending{};
        }
        if (!p.value()) {
            return Ready{Result<void>(p.value().error())};
        }
        if (*p.value() == 0) {
            transport_eof_ = true;
            return Ready{Result<void>(make_error_code(errc::stream_truncated))};
        }
        engine_->commit_input(*p.value());
        return Ready{Result<void>()};
    }

    S io_;
    std::unique_ptr<detail::TlsEngine> engine_;
    bool transport_eof_ = false;
    bool close_notify_queued_ = false;
};

/// The future of `TlsConnector::connect` and `TlsAcceptor::accept`: the
/// handshake over `S`. Output: `Result<TlsStream<S>>`.
///
/// @par Cancel safety
/// Not cancel safe: dropping it drops the transport mid-handshake (the
/// connection is lost; nothing else leaks).
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever `S` arranges (its readiness).
/// @par Errors
/// A certificate that does not verify: the code in `tls::verify_category()`
/// ("certificate has expired", "hostname mismatch", "self-signed
/// certificate", ...). A peer that is not speaking TLS, or a failed
/// negotiation: OpenSSL's code in `tls::openssl_category()` ("wrong version
/// number", "http request", "no shared cipher", "tlsv1 alert unknown ca").
/// A peer that closes mid-handshake: `tls::errc::stream_truncated`. `S`'s
/// own errors unchanged. It has no deadline of its own: a peer that stalls
/// stalls it; wrap it in `time::timeout`.
/// @par Preconditions
/// Not polled after Ready (asserts).
template <Transport S>
class POLLUX_NODISCARD_FUTURE Handshake {
public:
    /// What it completes with.
    using Output = Result<TlsStream<S>>;

    /// The handshake of `engine` over `io`; starts nothing. Use
    /// `TlsConnector::connect` or `TlsAcceptor::accept`.
    Handshake(Result<std::unique_ptr<detail::TlsEngine>> engine, S io) {
        if (engine) {
            stream_.emplace(TlsStream<S>(std::move(io), std::move(*engine)));
        } else {
            error_ = engine.error();
        }
    }

    /// Polls the handshake; see the class.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "tls handshake polled after it returned Ready");
        if (!stream_) {
            done_ = true;
            return Ready{Output(error_)};
        }
        Poll<Result<void>> p = stream_->poll_handshake(cx);
        if (p.is_pending()) {
            return Pending{};
        }
        done_ = true;
        if (!p.value()) {
            Output out(p.value().error());
            stream_.reset(); // closes the transport now
            return Ready{std::move(out)};
        }
        return Ready{Output(std::move(*stream_))};
    }

private:
    std::optional<TlsStream<S>> stream_;
    boost::system::error_code error_;
    bool done_ = false;
};

/// The future of `TlsStream::key_update`. Output: `Result<void>`.
///
/// @par Cancel safety
/// Cancel safe once polled: the update is queued at the first poll, and
/// goes out with the stream's next poll of any kind if this is dropped.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Errors
/// OpenSSL's (on a TLS 1.2 connection, which has no key update); `S`'s.
/// @par Preconditions
/// The stream outlives the future. Not polled after Ready (asserts).
template <Transport S>
class POLLUX_NODISCARD_FUTURE KeyUpdate {
public:
    /// What it completes with.
    using Output = Result<void>;

    /// A key update of `stream`; starts nothing.
    KeyUpdate(TlsStream<S>& stream, bool request_peer) noexcept
        : stream_(&stream), request_peer_(request_peer) {}

    /// Polls the update; see the class.
    Poll<Output> poll(Context& cx) {
        POLLUX_ASSERT(!done_, "tls key_update polled after it returned Ready");
        if (!queued_) {
            detail::TlsStepResult r = stream_->engine_->key_update(request_peer_);
            if (r.step == detail::TlsStep::failed) {
                done_ = true;
                return Ready{Output(r.ec)};
            }
            queued_ = true;
        }
        Poll<Output> p = stream_->poll_handshake(cx);
        done_ = p.is_ready();
        return p;
    }

private:
    TlsStream<S>* stream_;
    bool request_peer_;
    bool queued_ = false;
    bool done_ = false;
};

} // namespace pollux::tls
