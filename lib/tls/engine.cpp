// One TLS connection's OpenSSL state over a BIO pair (tls_engine.hpp).
//
// Buffers: `BIO_new_bio_pair` makes two BIOs with one fixed buffer each,
// allocated here and never grown: SSL writes ciphertext into the internal
// BIO's buffer (out_size), which the stream reads from the network BIO
// (`output`, BIO_nread0) and sends to its transport; the stream reads the
// transport straight into the network BIO's buffer (`input_space`,
// BIO_nwrite0; in_size), which SSL reads from the internal BIO. So no copy
// is made beyond OpenSSL's own record buffers, and a steady stream of
// records allocates nothing.

#include <pollux/detail/tls_engine.hpp>
#include <pollux/tls/certificate.hpp>
#include <pollux/tls/error.hpp>

#include "shared.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cstring>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace pollux::detail {

namespace {

// The output buffer holds two records of the largest size OpenSSL makes
// (16 KiB of plaintext plus at most a few hundred bytes of header, IV, MAC
// and padding); the input buffer a bit more than one.
constexpr std::size_t record_slack = 1024;
constexpr std::size_t out_size = 2 * (TlsEngine::max_write + record_slack);
constexpr std::size_t in_size = TlsEngine::max_write + record_slack;

// OpenSSL's rule for SSL_get_error: the thread's error queue must be empty
// before the I/O call. ERR_clear_error itself costs about 800 instructions
// in OpenSSL 3 (it frees each of the 16 slots' strings, empty or not: a
// quarter of this layer's cost per echoed message); ERR_peek_error is a
// look at the queue's two indexes. Errors are left there only by other code
// on this thread (step_error takes ours out), so the clear almost never
// runs.
void clear_errors() noexcept {
    if (ERR_peek_error() != 0) {
        ERR_clear_error();
    }
}

bool is_ip_literal(std::string_view s) {
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address(std::string(s), ec);
    return !ec;
}

} // namespace

int engine_index() noexcept {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

Result<std::unique_ptr<TlsEngine>>
TlsEngine::create(const std::shared_ptr<TlsShared>& shared, bool server, std::string_view domain) {
    ERR_clear_error();
    std::unique_ptr<TlsEngine> e(new TlsEngine());
    e->shared_ = shared;
    e->domain_ = std::string(domain);
    e->ssl_ = SSL_new(shared->ctx);
    BIO* internal = nullptr;
    if (e->ssl_ == nullptr || BIO_new_bio_pair(&internal, out_size, &e->network_, in_size) != 1) {
        unsigned long code = ERR_get_error();
        ERR_clear_error();
        return boost::system::error_code(static_cast<int>(static_cast<unsigned int>(code)),
                                         tls::openssl_category());
    }
    SSL_set_bio(e->ssl_, internal, internal); // the SSL owns the internal BIO
    SSL_set_ex_data(e->ssl_, engine_index(), e.get());
    // A write returns once one record is encrypted (never waits for the
    // whole buffer); the caller's buffer may move between retries. Records
    // never wait half-written (write_ready), so no retry is pinned anyway.
    SSL_set_mode(e->ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_clear_mode(e->ssl_,
                   SSL_MODE_RELEASE_BUFFERS); // keep record buffers: no allocation per record
    SSL_set_options(e->ssl_, SSL_OP_NO_RENEGOTIATION);
    if (server) {
        SSL_set_accept_state(e->ssl_);
        return e;
    }
    SSL_set_connect_state(e->ssl_);
    bool verify = (SSL_get_verify_mode(e->ssl_) & SSL_VERIFY_PEER) != 0;
    if (verify && domain.empty()) {
        return boost::system::error_code(make_error_code(boost::system::errc::invalid_argument));
    }
    if (!domain.empty()) {
        bool ok = true;
        if (is_ip_literal(domain)) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(e->ssl_), e->domain_.c_str()) == 1;
        } else {
            // SNI names the server; the hostname check holds its certificate to it.
            ok = SSL_set_tlsext_host_name(e->ssl_, e->domain_.c_str()) == 1 &&
                 SSL_set1_host(e->ssl_, e->domain_.c_str()) == 1;
        }
        if (!ok) {
            ERR_clear_error();
            return boost::system::error_code(
                make_error_code(boost::system::errc::invalid_argument));
        }
        if (SSL_SESSION* s = shared->find_session(e->domain_)) {
            SSL_set_session(e->ssl_, s);
            SSL_SESSION_free(s);
        }
    }
    return e;
}

TlsEngine::~TlsEngine() {
    if (ssl_ != nullptr) {
        SSL_free(ssl_); // frees the internal BIO
    }
    if (network_ != nullptr) {
        BIO_free(network_);
    }
}

TlsStepResult TlsEngine::step_error(int ret, bool handshake) noexcept {
    int err = SSL_get_error(ssl_, ret);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return {TlsStep::want_read};
    case SSL_ERROR_WANT_WRITE:
        return {TlsStep::want_write};
    case SSL_ERROR_ZERO_RETURN:
        return {TlsStep::closed};
    default:
        break;
    }
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    TlsStepResult r{TlsStep::failed};
    long verify = SSL_get_verify_result(ssl_);
    if (handshake && verify != X509_V_OK &&
        (code == 0 || ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED)) {
        r.ec = boost::system::error_code(static_cast<int>(verify), tls::verify_category());
    } else if (code != 0) {
        r.ec = boost::system::error_code(static_cast<int>(static_cast<unsigned int>(code)),
                                         tls::openssl_category());
    } else if (err == SSL_ERROR_SYSCALL) {
        r.ec = make_error_code(tls::errc::stream_truncated);
    } else {
        r.ec = make_error_code(tls::errc::protocol_error);
    }
    return r;
}

TlsStepResult TlsEngine::handshake() noexcept {
    clear_errors();
    int ret = SSL_do_handshake(ssl_);
    if (ret == 1) {
        return {TlsStep::done};
    }
    return step_error(ret, true);
}

bool TlsEngine::starved() const noexcept {
    return SSL_is_init_finished(ssl_) == 1 &&
           (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) == 0 && SSL_has_pending(ssl_) == 0 &&
           BIO_ctrl_wpending(network_) == 0;
}

TlsStepResult TlsEngine::read(boost::asio::mutable_buffer buf) noexcept {
    if (starved()) {
        return {TlsStep::want_read};
    }
    clear_errors();
    std::size_t n = 0;
    int ret = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    if (ret == 1) {
        return {TlsStep::done, n};
    }
    return step_error(ret, false);
}

bool TlsEngine::write_ready() const noexcept {
    return BIO_ctrl_get_write_guarantee(SSL_get_wbio(ssl_)) >= max_write + record_slack;
}

TlsStepResult TlsEngine::write(boost::asio::const_buffer buf) noexcept {
    clear_errors();
    std::size_t n = 0;
    int ret = SSL_write_ex(ssl_, buf.data(), std::min(buf.size(), max_write), &n);
    if (ret == 1) {
        return {TlsStep::done, n};
    }
    return step_error(ret, false);
}

TlsStepResult TlsEngine::shutdown() noexcept {
    clear_errors();
    int ret = SSL_shutdown(ssl_);
    if (ret >= 0) {
        return {TlsStep::done}; // 0: close_notify queued; 1: the peer's was read too
    }
    TlsStepResult r = step_error(ret, false);
    if (r.step == TlsStep::want_read || r.step == TlsStep::closed) {
        return {TlsStep::done};
    }
    return r;
}

TlsStepResult TlsEngine::key_update(bool request_peer) noexcept {
    clear_errors();
    if (SSL_key_update(
            ssl_, request_peer ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) == 1) {
        return {TlsStep::done};
    }
    return step_error(-1, false);
}

boost::asio::const_buffer TlsEngine::output() noexcept {
    // BIO_nread0 on an empty buffer goes through a failing 1-byte BIO_read
    // (a few hundred instructions); the pending count is one BIO_ctrl.
    if (BIO_ctrl_pending(network_) == 0) {
        return {};
    }
    char* p = nullptr;
    int n = BIO_nread0(network_, &p);
    return n > 0 ? boost::asio::const_buffer(p, static_cast<std::size_t>(n))
                 : boost::asio::const_buffer();
}

void TlsEngine::consume_output(std::size_t n) noexcept {
    char* p = nullptr;
    (void)BIO_nread(network_, &p, static_cast<int>(n));
}

boost::asio::mutable_buffer TlsEngine::input_space() noexcept {
    char* p = nullptr;
    int n = BIO_nwrite0(network_, &p);
    return n > 0 ? boost::asio::mutable_buffer(p, static_cast<std::size_t>(n))
                 : boost::asio::mutable_buffer();
}

void TlsEngine::commit_input(std::size_t n) noexcept {
    char* p = nullptr;
    (void)BIO_nwrite(network_, &p, static_cast<int>(n));
}

std::optional<std::string_view> TlsEngine::alpn_protocol() const noexcept {
    const unsigned char* p = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    if (p == nullptr || len == 0) {
        return std::nullopt;
    }
    return std::string_view(reinterpret_cast<const char*>(p), len);
}

std::optional<std::string_view> TlsEngine::server_name() const noexcept {
    const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) {
        return std::nullopt;
    }
    return std::string_view(name);
}

bool TlsEngine::session_reused() const noexcept {
    return SSL_session_reused(ssl_) == 1;
}

std::string_view TlsEngine::protocol_version() const noexcept {
    return SSL_get_version(ssl_);
}

std::string_view TlsEngine::cipher() const noexcept {
    const char* c = SSL_get_cipher_name(ssl_);
    return c != nullptr ? std::string_view(c) : std::string_view();
}

std::optional<tls::Certificate> TlsEngine::peer_certificate() const {
    X509* x = SSL_get1_peer_certificate(ssl_);
    if (x == nullptr) {
        return std::nullopt;
    }
    return tls::Certificate(x);
}

void TlsEngine::store_session(void* session) noexcept {
    shared_->store_session(domain_, static_cast<SSL_SESSION*>(session));
}

} // namespace pollux::detail
