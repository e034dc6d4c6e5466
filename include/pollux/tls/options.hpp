#pragma once

/// @file
/// `tls::TlsOptions`: what a `TlsConnector` (client) or `TlsAcceptor`
/// (server) is made from when no `boost::asio::ssl::context` is given:
/// certificates and keys from PEM, verification, ALPN, protocol versions.

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pollux::tls {

/// PEM text, or the path of a PEM file.
struct Pem {
    /// The PEM text, or the file's path when `is_file`.
    std::string data;
    /// Whether `data` is a path.
    bool is_file = false;

    /// PEM read from the file at `path` when the connector or acceptor is made.
    [[nodiscard]] static Pem file(std::string path) { return Pem{std::move(path), true}; }
    /// PEM text held in memory (copied).
    [[nodiscard]] static Pem memory(std::string text) { return Pem{std::move(text), false}; }
};

/// Whether a server asks its clients for a certificate.
enum class ClientAuth {
    /// Never asks (the default).
    none,
    /// Asks; a client without a certificate is accepted, one with a
    /// certificate that does not verify is refused.
    request,
    /// Asks and refuses a client without a verifying certificate.
    require,
};

/// The lowest (or highest) protocol version a side accepts.
enum class Version {
    /// TLS 1.2.
    tls1_2,
    /// TLS 1.3.
    tls1_3,
};

/// Configuration of a `TlsConnector` or a `TlsAcceptor`. The defaults are
/// the safe ones: a client verifies the server's chain against the system's
/// CA store (or `ca_file`/`ca_dir`/`ca_pem`) and checks that it names the
/// domain given to `connect`; TLS 1.2 is the lowest version.
struct TlsOptions {
    /// The certificate chain (leaf first) presented to the peer. Required
    /// for a server; for a client, only if the server asks for one.
    std::optional<Pem> certificate_chain;
    /// The private key of the leaf certificate (unencrypted PEM).
    std::optional<Pem> private_key;
    /// Trust anchors (PEM: one or more CA certificates), replacing the
    /// system's store. A client verifies the server against them; a server
    /// verifies client certificates against them.
    std::optional<Pem> ca;
    /// A directory of hashed CA certificates (`openssl rehash`), in addition
    /// to `ca`.
    std::string ca_dir;
    /// Client side: verify the server's certificate chain and that it names
    /// the domain given to `connect` (`SSL_set1_host`). On by default;
    /// switching it off makes the connection open to interception.
    bool verify_peer = true;
    /// Server side: whether to ask for, or require, a client certificate.
    ClientAuth client_auth = ClientAuth::none;
    /// ALPN protocols in preference order ("h2", "http/1.1"). A client
    /// offers them; a server picks the first of its own list that the
    /// client offers, and refuses a client that offers ALPN but none of
    /// these (`no_application_protocol` alert, RFC 7301). Empty: no ALPN.
    std::vector<std::string> alpn;
    /// The lowest protocol version accepted.
    Version min_version = Version::tls1_2;
    /// The highest protocol version accepted, if not the newest.
    std::optional<Version> max_version;
};

} // namespace pollux::tls
