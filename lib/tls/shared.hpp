#pragma once

// The state a TlsConnector or TlsAcceptor shares with every TlsStream it
// made (each engine holds a shared_ptr): the SSL_CTX (one reference), the
// client's session cache, the server's ALPN list. Its lifetime covers every
// SSL made from the context, so the callbacks below may use it while any
// handshake runs.

#include <pollux/detail/tls_engine.hpp>

#include <mutex>
#include <openssl/ssl.h>
#include <string>
#include <unordered_map>
#include <vector>

namespace pollux::detail {

struct TlsShared {
    explicit TlsShared(SSL_CTX* c, bool srv) noexcept : ctx(c), server(srv) {}
    TlsShared(const TlsShared&) = delete;
    TlsShared& operator=(const TlsShared&) = delete;
    ~TlsShared();

    // Stores `session` (one reference, taken over) as the newest for `domain`.
    void store_session(const std::string& domain, SSL_SESSION* session) noexcept;
    // The newest session for `domain` with one reference for the caller, or null.
    SSL_SESSION* find_session(const std::string& domain) noexcept;

    SSL_CTX* ctx;
    bool server;
    // Server: the ALPN protocols in wire format (length-prefixed).
    std::vector<unsigned char> alpn;

    std::mutex mutex; // guards sessions
    std::unordered_map<std::string, SSL_SESSION*> sessions;
};

// The ex_data index of SSL objects that points at their TlsEngine.
int engine_index() noexcept;

} // namespace pollux::detail
