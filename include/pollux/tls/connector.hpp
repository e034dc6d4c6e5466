#pragma once

/// @file
/// `tls::TlsConnector` (client) and `tls::TlsAcceptor` (server): the
/// factories of `TlsStream`s, made from `TlsOptions` or a
/// `boost::asio::ssl::context` (tokio-openssl / tokio-native-tls's names).

#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/detail/tls_engine.hpp>
#include <pollux/tls/options.hpp>
#include <pollux/tls/tls_stream.hpp>

#include <memory>
#include <string_view>
#include <utility>

struct ssl_ctx_st;

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace pollux::tls {

/// Makes client `TlsStream`s. Cheap to copy: copies share one `SSL_CTX`
/// and one session cache, and every stream keeps them alive.
///
/// Session resumption: the connector keeps the newest session each server
/// (by the `domain` given to `connect`) handed out, and the next `connect`
/// to that domain offers it (`TlsStream::session_reused()` says whether the
/// server took it).
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe (`connect` from several
/// threads; the session cache has a lock).
class POLLUX_API TlsConnector {
public:
    /// A connector configured by `options` (verification on by default:
    /// the system's CA store unless `options.ca`/`ca_dir` is given).
    /// Errors: OpenSSL's, in `tls::openssl_category()` (a file that does not
    /// exist, PEM that does not parse, a key that does not match).
    static Result<TlsConnector> create(const TlsOptions& options);

    /// A connector on an Asio context (its `native_handle()`, shared by
    /// reference count). Verification follows the context's verify mode:
    /// Asio's default is `verify_none`, so call
    /// `ctx.set_verify_mode(boost::asio::ssl::verify_peer)`; the hostname
    /// is then checked against `connect`'s `domain`. The connector installs
    /// its session cache callback on the context. Callbacks set through the
    /// Asio object (a verify callback) live in it: keep it alive while
    /// streams are made.
    explicit TlsConnector(boost::asio::ssl::context& ctx);

    /// A connector on an `SSL_CTX*` (shared by reference count).
    static TlsConnector from_native(ssl_ctx_st* ctx);

    /// The client handshake over `stream` for the server `domain` (a DNS
    /// name or an IP address): sends SNI (for names), verifies the server's
    /// certificate and that it names `domain` (when verification is on).
    /// See `Handshake` for its errors and cancel safety.
    template <Transport S>
    [[nodiscard]] Handshake<S> connect(std::string_view domain, S stream) const {
        return Handshake<S>(detail::TlsEngine::create(shared_, false, domain), std::move(stream));
    }

    /// The `SSL_CTX*`.
    [[nodiscard]] ssl_ctx_st* native_handle() const noexcept;

private:
    explicit TlsConnector(std::shared_ptr<detail::TlsShared> shared) noexcept
        : shared_(std::move(shared)) {}
    std::shared_ptr<detail::TlsShared> shared_;
};

/// Makes server `TlsStream`s. Cheap to copy, as `TlsConnector`.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe.
class POLLUX_API TlsAcceptor {
public:
    /// An acceptor configured by `options`, which must hold a certificate
    /// chain and its private key. Errors: OpenSSL's, in
    /// `tls::openssl_category()`; `invalid_argument` without a certificate
    /// or key.
    static Result<TlsAcceptor> create(const TlsOptions& options);

    /// An acceptor on an Asio context (shared by reference count).
    explicit TlsAcceptor(boost::asio::ssl::context& ctx);

    /// An acceptor on an `SSL_CTX*` (shared by reference count).
    static TlsAcceptor from_native(ssl_ctx_st* ctx);

    /// The server handshake over `stream`. A bad client (not TLS, no
    /// shared version or cipher, a certificate that does not verify when
    /// one is required) fails this handshake only. See `Handshake`.
    template <Transport S>
    [[nodiscard]] Handshake<S> accept(S stream) const {
        return Handshake<S>(detail::TlsEngine::create(shared_, true, {}), std::move(stream));
    }

    /// The `SSL_CTX*`.
    [[nodiscard]] ssl_ctx_st* native_handle() const noexcept;

private:
    explicit TlsAcceptor(std::shared_ptr<detail::TlsShared> shared) noexcept
        : shared_(std::move(shared)) {}
    std::shared_ptr<detail::TlsShared> shared_;
};

} // namespace pollux::tls
