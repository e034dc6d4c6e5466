#pragma once

/// @file
/// `tls::Certificate`: an X509 certificate (the peer's, from
/// `TlsStream::peer_certificate()`), shared by reference count.

#include <pollux/detail/config.hpp>

#include <string>
#include <vector>

struct x509_st;

namespace pollux::tls {

/// One X509 certificate. Copies share the certificate (`X509_up_ref`).
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: safe for the const members.
class POLLUX_API Certificate {
public:
    /// Takes over one reference to `x509` (not null).
    explicit Certificate(x509_st* x509) noexcept : x509_(x509) {}
    Certificate(const Certificate& other) noexcept;
    Certificate& operator=(const Certificate& other) noexcept;
    Certificate(Certificate&& other) noexcept : x509_(other.x509_) { other.x509_ = nullptr; }
    Certificate& operator=(Certificate&& other) noexcept;
    ~Certificate();

    /// The DER encoding.
    [[nodiscard]] std::vector<unsigned char> der() const;
    /// The subject name, RFC 2253 style ("CN=localhost,O=pollux").
    [[nodiscard]] std::string subject() const;
    /// The issuer name, RFC 2253 style.
    [[nodiscard]] std::string issuer() const;
    /// The `X509*`, still owned by this object (null after a move).
    [[nodiscard]] x509_st* native_handle() const noexcept { return x509_; }

private:
    x509_st* x509_;
};

} // namespace pollux::tls
