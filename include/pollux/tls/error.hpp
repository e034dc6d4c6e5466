#pragma once

/// @file
/// The errors of `pollux::tls`: pollux's own conditions (`tls::errc`, in
/// `tls::category()`), OpenSSL's error codes (`tls::openssl_category()`: the
/// value is `ERR_get_error()`'s packed code, the message OpenSSL's reason
/// string) and certificate verification results (`tls::verify_category()`:
/// the value is `SSL_get_verify_result()`'s `X509_V_ERR_*`, the message
/// `X509_verify_cert_error_string`, e.g. "certificate has expired" or
/// "hostname mismatch"). Needs a pollux built with TLS (`-Dtls`).

#include <pollux/detail/config.hpp>

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>

#include <string>
#include <type_traits>

namespace pollux::tls {

/// pollux's own TLS conditions, as `boost::system::error_code` values of
/// `tls::category()`.
enum class errc {
    /// The transport reached end of stream without the peer's close_notify
    /// (Asio's `ssl::error::stream_truncated`): the data read so far may be
    /// cut short by an attacker. Also a peer that closes mid-handshake.
    stream_truncated = 1,
    /// The peer sent bytes that are not TLS where a handshake was expected
    /// (e.g. a plain-text client). OpenSSL's own code is in
    /// `openssl_category()` when it reported one; this is used when it did not.
    protocol_error,
};

/// The category of `tls::errc` codes ("pollux.tls").
POLLUX_API const boost::system::error_category& category() noexcept;

/// The category of OpenSSL's packed error codes ("pollux.tls.openssl"); the
/// message is OpenSSL's reason string ("wrong version number", "packet length
/// too long", ...).
POLLUX_API const boost::system::error_category& openssl_category() noexcept;

/// The category of X509 verification results ("pollux.tls.verify"): a
/// handshake that failed because the peer's certificate did not verify
/// reports `SSL_get_verify_result()` here ("certificate has expired",
/// "hostname mismatch", "unable to get local issuer certificate", ...).
POLLUX_API const boost::system::error_category& verify_category() noexcept;

/// The error code of `e`, in `tls::category()`.
[[nodiscard]] inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category()};
}

} // namespace pollux::tls

namespace boost::system {
template <>
struct is_error_code_enum<pollux::tls::errc> : std::true_type {};
} // namespace boost::system
