// TlsConnector and TlsAcceptor: an SSL_CTX from TlsOptions (or a caller's),
// the client session cache and the server's ALPN choice; and Certificate.

#include <pollux/tls/certificate.hpp>
#include <pollux/tls/connector.hpp>
#include <pollux/tls/error.hpp>

#include "shared.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace pollux::detail {

TlsShared::~TlsShared() {
    for (auto& [domain, session] : sessions) {
        SSL_SESSION_free(session);
    }
    SSL_CTX_free(ctx);
}

void TlsShared::store_session(const std::string& domain, SSL_SESSION* session) noexcept {
    std::lock_guard lock(mutex);
    auto [it, inserted] = sessions.try_emplace(domain, session);
    if (!inserted) {
        SSL_SESSION_free(it->second);
        it->second = session;
    }
}

SSL_SESSION* TlsShared::find_session(const std::string& domain) noexcept {
    std::lock_guard lock(mutex);
    auto it = sessions.find(domain);
    if (it == sessions.end() || SSL_SESSION_is_resumable(it->second) != 1) {
        return nullptr;
    }
    SSL_SESSION_up_ref(it->second);
    return it->second;
}

} // namespace pollux::detail

namespace pollux::tls {

namespace {

using detail::TlsShared;

boost::system::error_code openssl_error() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return make_error_code(errc::protocol_error);
    }
    return {static_cast<int>(static_cast<unsigned int>(code)), openssl_category()};
}

// A new session from the server (TLS 1.3: a ticket read after the
// handshake): the connector keeps it for the engine's domain. Returning 1
// takes over the reference.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* engine = static_cast<detail::TlsEngine*>(SSL_get_ex_data(ssl, detail::engine_index()));
    if (engine == nullptr) {
        return 0;
    }
    engine->store_session(session);
    return 1;
}

void install_session_cache(SSL_CTX* ctx) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
}

// The server's ALPN choice: its own first protocol the client offers; a
// client that offers only others is refused (RFC 7301's
// no_application_protocol).
int on_alpn_select(SSL*,
                   const unsigned char** out,
                   unsigned char* outlen,
                   const unsigned char* in,
                   unsigned int inlen,
                   void* arg) {
    auto* shared = static_cast<TlsShared*>(arg);
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen,
                              outlen,
                              shared->alpn.data(),
                              static_cast<unsigned int>(shared->alpn.size()),
                              in,
                              inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

int version_of(Version v) {
    return v == Version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

BioPtr memory_bio(const std::string& text) {
    return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
}

bool load_chain(SSL_CTX* ctx, const Pem& pem) {
    if (pem.is_file) {
        return SSL_CTX_use_certificate_chain_file(ctx, pem.data.c_str()) == 1;
    }
    BioPtr bio = memory_bio(pem.data);
    X509* leaf = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (leaf == nullptr) {
        return false;
    }
    bool ok = SSL_CTX_use_certificate(ctx, leaf) == 1;
    X509_free(leaf);
    while (ok) {
        X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        if (ca == nullptr) {
            ERR_clear_error(); // the end of the PEM text
            break;
        }
        ok = SSL_CTX_add0_chain_cert(ctx, ca) == 1;
        if (!ok) {
            X509_free(ca);
        }
    }
    return ok;
}

bool load_key(SSL_CTX* ctx, const Pem& pem) {
    if (pem.is_file) {
        return SSL_CTX_use_PrivateKey_file(ctx, pem.data.c_str(), SSL_FILETYPE_PEM) == 1;
    }
    BioPtr bio = memory_bio(pem.data);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (key == nullptr) {
        return false;
    }
    bool ok = SSL_CTX_use_PrivateKey(ctx, key) == 1;
    EVP_PKEY_free(key);
    return ok;
}

bool load_ca(SSL_CTX* ctx, const Pem& pem) {
    if (pem.is_file) {
        return SSL_CTX_load_verify_locations(ctx, pem.data.c_str(), nullptr) == 1;
    }
    BioPtr bio = memory_bio(pem.data);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    for (;;) {
        X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        if (x == nullptr) {
            ERR_clear_error();
            break;
        }
        bool ok = X509_STORE_add_cert(store, x) == 1;
        X509_free(x);
        if (!ok) {
            return false;
        }
        ++count;
    }
    if (count == 0) {
        // Nothing parsed: say so with OpenSSL's own code.
        ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
        return false;
    }
    return true;
}

Result<std::shared_ptr<TlsShared>> build(const TlsOptions& o, bool server) {
    ERR_clear_error();
    SSL_CTX* raw = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (raw == nullptr) {
        return openssl_error();
    }
    auto shared = std::make_shared<TlsShared>(raw, server);
    SSL_CTX* ctx = shared->ctx;
    if (SSL_CTX_set_min_proto_version(ctx, version_of(o.min_version)) != 1 ||
        (o.max_version && SSL_CTX_set_max_proto_version(ctx, version_of(*o.max_version)) != 1)) {
        return openssl_error();
    }
    if (server && (!o.certificate_chain || !o.private_key)) {
        return make_error_code(boost::system::errc::invalid_argument);
    }
    if (o.certificate_chain && !load_chain(ctx, *o.certificate_chain)) {
        return openssl_error();
    }
    if (o.private_key && (!load_key(ctx, *o.private_key) || SSL_CTX_check_private_key(ctx) != 1)) {
        return openssl_error();
    }
    bool verifies = server ? o.client_auth != ClientAuth::none : o.verify_peer;
    if (verifies) {
        if (o.ca && !load_ca(ctx, *o.ca)) {
            return openssl_error();
        }
        if (!o.ca_dir.empty() &&
            SSL_CTX_load_verify_locations(ctx, nullptr, o.ca_dir.c_str()) != 1) {
            return openssl_error();
        }
        if (!o.ca && o.ca_dir.empty() && SSL_CTX_set_default_verify_paths(ctx) != 1) {
            return openssl_error();
        }
    }
    if (server) {
        int mode = SSL_VERIFY_NONE;
        if (o.client_auth == ClientAuth::request) {
            mode = SSL_VERIFY_PEER;
        } else if (o.client_auth == ClientAuth::require) {
            mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
        SSL_CTX_set_verify(ctx, mode, nullptr);
        // Resumption needs a session id context once clients are verified.
        static const unsigned char sid_ctx[] = "pollux";
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    } else {
        SSL_CTX_set_verify(ctx, o.verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    }
    if (!o.alpn.empty()) {
        for (const std::string& p : o.alpn) {
            if (p.empty() || p.size() > 255) {
                return make_error_code(boost::system::errc::invalid_argument);
            }
            shared->alpn.push_back(static_cast<unsigned char>(p.size()));
            shared->alpn.insert(shared->alpn.end(), p.begin(), p.end());
        }
        if (server) {
            SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, shared.get());
        } else if (SSL_CTX_set_alpn_protos(
                       ctx, shared->alpn.data(), static_cast<unsigned int>(shared->alpn.size())) !=
                   0) { // 0 is success here
            return openssl_error();
        }
    }
    if (!server) {
        install_session_cache(ctx);
    }
    return shared;
}

std::shared_ptr<TlsShared> adopt(SSL_CTX* ctx, bool server) {
    SSL_CTX_up_ref(ctx);
    auto shared = std::make_shared<TlsShared>(ctx, server);
    if (!server) {
        install_session_cache(ctx);
    }
    return shared;
}

} // namespace

Result<TlsConnector> TlsConnector::create(const TlsOptions& options) {
    auto shared = build(options, false);
    if (!shared) {
        return shared.error();
    }
    return TlsConnector(std::move(*shared));
}

TlsConnector::TlsConnector(boost::asio::ssl::context& ctx)
    : shared_(adopt(ctx.native_handle(), false)) {
}

TlsConnector TlsConnector::from_native(ssl_ctx_st* ctx) {
    return TlsConnector(adopt(ctx, false));
}

ssl_ctx_st* TlsConnector::native_handle() const noexcept {
    return shared_->ctx;
}

Result<TlsAcceptor> TlsAcceptor::create(const TlsOptions& options) {
    auto shared = build(options, true);
    if (!shared) {
        return shared.error();
    }
    return TlsAcceptor(std::move(*shared));
}

TlsAcceptor::TlsAcceptor(boost::asio::ssl::context& ctx)
    : shared_(adopt(ctx.native_handle(), true)) {
}

TlsAcceptor TlsAcceptor::from_native(ssl_ctx_st* ctx) {
    return TlsAcceptor(adopt(ctx, true));
}

ssl_ctx_st* TlsAcceptor::native_handle() const noexcept {
    return shared_->ctx;
}

// Certificate.

Certificate::Certificate(const Certificate& other) noexcept : x509_(other.x509_) {
    if (x509_ != nullptr) {
        X509_up_ref(x509_);
    }
}

Certificate& Certificate::operator=(const Certificate& other) noexcept {
    if (this != &other) {
        Certificate copy(other);
        *this = std::move(copy);
    }
    return *this;
}

Certificate& Certificate::operator=(Certificate&& other) noexcept {
    if (this != &other) {
        if (x509_ != nullptr) {
            X509_free(x509_);
        }
        x509_ = other.x509_;
        other.x509_ = nullptr;
    }
    return *this;
}

Certificate::~Certificate() {
    if (x509_ != nullptr) {
        X509_free(x509_);
    }
}

std::vector<unsigned char> Certificate::der() const {
    int n = i2d_X509(x509_, nullptr);
    if (n <= 0) {
        return {};
    }
    std::vector<unsigned char> out(static_cast<std::size_t>(n));
    unsigned char* p = out.data();
    i2d_X509(x509_, &p);
    return out;
}

namespace {
std::string print_name(const X509_NAME* name) {
    BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
    X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n > 0 ? n : 0));
}
} // namespace

std::string Certificate::subject() const {
    return print_name(X509_get_subject_name(x509_));
}

std::string Certificate::issuer() const {
    return print_name(X509_get_issuer_name(x509_));
}

} // namespace pollux::tls
