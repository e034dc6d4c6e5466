// One TLS connection's OpenSSL state over the engine's own two buffers
// (tls_engine.hpp).
//
// Buffers: the SSL's BIO is one of ours (`engine_bio_method`, made once per
// process): its write appends SSL's ciphertext to the engine's output
// buffer, which the stream sends from (`output`/`consume_output`); its read
// copies from the input buffer, which the stream reads the transport into
// (`input_space`/`commit_input`). Both are allocated once with the engine,
// so a steady stream of records allocates nothing, and no copy is made
// beyond OpenSSL's own record buffers and the one `memcpy` each way that a
// BIO pair made too.
//
// Why not a BIO pair (`BIO_new_bio_pair`, before this): the same buffers,
// but every look at them went through `BIO_ctrl` (pending, write
// guarantee, `BIO_nread0`/`BIO_nwrite0`, and OpenSSL's own calls into the
// pair's control function): 27 control calls, about 2,100 instructions per
// echoed message. Here the stream's side is index arithmetic, and OpenSSL's
// is `bio_read`/`bio_write` below. Unlike tokio-openssl's BIO (rust-openssl
// src/ssl/bio.rs), which calls the stream's poll from inside OpenSSL, this
// one never leaves the engine: OpenSSL never calls back into a future, and
// the transport is still read whole records at a time, with one read per
// message rather than one per record header and body.
#include <pollux/detail/tls_engine.hpp>
#include <pollux/tls/certificate.hpp>
#include <pollux/tls/error.hpp>

#include "shared.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cstring>
#include <new>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace pollux::detail {

namespace {

// OpenSSL's rule for SSL_get_error: the thread's error queue must be empty
// before the I/O call. ERR_clear_error itself costs about 800 instructions
// in OpenSSL 3 (it frees each of the 16 slots' strings, empty or not: a
// quarter of this layer's cost per echoed message); ERR_peek_error about
// 200 (most of it finding the thread's queue): two per echoed message are
// the largest single cost this layer still adds (docs/performance.md, "TLS
// echo", says why it stays). Errors are left there only by other code on
// this thread (step_error takes ours out), so the clear almost never runs.
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

// The BIO method, made once (thread-safe static) and kept for the process
// (never freed: BIOs of it may live until exit): read, write and control
// only. `BIO_meth_set_read_ex`/`write_ex` take the
// size_t forms, which OpenSSL 3 calls without converting (the int forms go
// through an adapter). Null if OpenSSL ran out of memory.
BIO_METHOD* engine_bio_method(int (*read)(BIO*, char*, std::size_t, std::size_t*),
                              int (*write)(BIO*, const char*, std::size_t, std::size_t*),
                              long (*ctrl)(BIO*, int, long, void*)) noexcept {
    static BIO_METHOD* const method = [&]() -> BIO_METHOD* {
        int index = BIO_get_new_index();
        BIO_METHOD* m =
            index == -1 ? nullptr : BIO_meth_new(index | BIO_TYPE_SOURCE_SINK, "pollux tls engine");
        if (m != nullptr &&
            (BIO_meth_set_read_ex(m, read) != 1 || BIO_meth_set_write_ex(m, write) != 1 ||
             BIO_meth_set_ctrl(m, ctrl) != 1)) {
            BIO_meth_free(m);
            m = nullptr;
        }
        return m;
    }();
    return method;
}

} // namespace

// OpenSSL's read: as much of the input buffer as it asks for; with none
// there, "retry" (SSL_get_error then says WANT_READ: the stream reads the
// transport, or waits for it). The read never says end of stream: the
// stream turns the transport's into stream_truncated itself.
int TlsEngine::bio_read(BIO* b, char* data, std::size_t len, std::size_t* done) noexcept {
    auto* e = static_cast<TlsEngine*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    std::size_t n = std::min(len, e->in_end_ - e->in_begin_);
    *done = n;
    if (n == 0) {
        BIO_set_retry_read(b);
        return 0;
    }
    std::memcpy(data, e->in_ + e->in_begin_, n);
    e->in_begin_ += n;
    if (e->in_begin_ == e->in_end_) {
        e->in_begin_ = e->in_end_ = 0;
    }
    return 1;
}

// OpenSSL's write: appends what fits to the output buffer, moving what is
// still unsent to the front first if that makes room; with no room at all,
// "retry" (WANT_WRITE: the stream sends output first). A record is written
// whole (write_ready leaves room for one), a handshake flight in parts.
//
// Inside write() with a sink and nothing waiting in the output buffer (so
// nothing can be overtaken), the bytes go to the sink first, the
// transport's write from the caller's poll_write: those it takes are not
// copied at all (tokio-openssl's BIO writes to the socket the same way);
// the rest is appended as above, and fits, since the buffer is empty.
int TlsEngine::bio_write(BIO* b, const char* data, std::size_t len, std::size_t* done) noexcept {
    auto* e = static_cast<TlsEngine*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    std::size_t direct = 0;
    if (e->sink_ != nullptr && e->out_begin_ == e->out_end_) {
        direct = std::min(
            len, e->sink_(e->sink_state_, reinterpret_cast<const unsigned char*>(data), len));
        if (direct == len) {
            *done = len;
            return 1;
        }
        data += direct;
        len -= direct;
    }
    if (out_capacity - e->out_end_ < len && e->out_begin_ != 0) {
        std::memmove(e->out_, e->out_ + e->out_begin_, e->out_end_ - e->out_begin_);
        e->out_end_ -= e->out_begin_;
        e->out_begin_ = 0;
    }
    std::size_t n = std::min(len, out_capacity - e->out_end_);
    *done = direct + n;
    if (direct + n == 0) {
        BIO_set_retry_write(b);
        return 0;
    }
    std::memcpy(e->out_ + e->out_end_, data, n);
    e->out_end_ += n;
    return 1;
}

// OpenSSL's other requests: a flush succeeds (the stream flushes the
// output), the pending counts are the buffers' bytes (for users of
// `native_handle()`); everything else (kTLS, push/pop, ...) is "not
// supported", 0, as for rust-openssl's BIO.
long TlsEngine::bio_ctrl(BIO* b, int cmd, long /*num*/, void* /*ptr*/) noexcept {
    // OpenSSL 3.0 asks BIO_get_ktls_send/recv about a dozen times per
    // echoed message: those answer before anything else.
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING: {
        auto* e = static_cast<TlsEngine*>(BIO_get_data(b));
        return static_cast<long>(e->in_end_ - e->in_begin_);
    }
    case BIO_CTRL_WPENDING: {
        auto* e = static_cast<TlsEngine*>(BIO_get_data(b));
        return static_cast<long>(e->out_end_ - e->out_begin_);
    }
    default:
        return 0;
    }
}

BIO* TlsEngine::new_bio() noexcept {
    BIO_METHOD* m = engine_bio_method(&bio_read, &bio_write, &bio_ctrl);
    BIO* b = m != nullptr ? BIO_new(m) : nullptr;
    if (b != nullptr) {
        BIO_set_data(b, this);
        BIO_set_init(b, 1);
    }
    return b;
}

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
    e->memory_.reset(new (std::nothrow) unsigned char[out_capacity + in_capacity]);
    if (e->memory_ == nullptr) {
        return boost::system::error_code(make_error_code(boost::system::errc::not_enough_memory));
    }
    e->out_ = e->memory_.get();
    e->in_ = e->out_ + out_capacity;
    e->ssl_ = SSL_new(shared->ctx);
    BIO* bio = e->ssl_ != nullptr ? e->new_bio() : nullptr;
    if (bio == nullptr) {
        unsigned long code = ERR_get_error();
        ERR_clear_error();
        if (code == 0) {
            return boost::system::error_code(
                make_error_code(boost::system::errc::not_enough_memory));
        }
        return boost::system::error_code(static_cast<int>(static_cast<unsigned int>(code)),
                                         tls::openssl_category());
    }
    SSL_set_bio(e->ssl_, bio, bio); // the SSL owns the BIO (one reference for both)
    SSL_set_ex_data(e->ssl_, engine_index(), e.get());
    // A write returns once one record is encrypted (never waits for the
    // whole buffer); the caller's buffer may move between retries. Records
    // never wait half-written (write_ready), so no retry is pinned anyway.
    SSL_set_mode(e->ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_clear_mode(e->ssl_,
                   SSL_MODE_RELEASE_BUFFERS); // keep record buffers: no allocation per record
    SSL_set_options(e->ssl_, SSL_OP_NO_RENEGOTIATION);
    // Read ahead: OpenSSL takes all the input buffer holds in one BIO read
    // (the bytes past its record wait in its own buffer, which
    // SSL_has_pending counts, so starved() still sees them) rather than a
    // read for each record's header and one for its body.
    SSL_set_read_ahead(e->ssl_, 1);
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
        SSL_free(ssl_); // frees the BIO, before the buffers it points at
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
    ssl_idle_ = false;
    clear_errors();
    int ret = SSL_do_handshake(ssl_);
    if (ret == 1) {
        return {TlsStep::done};
    }
    return step_error(ret, true);
}

bool TlsEngine::starved() const noexcept {
    // The input buffer first: after a wake it holds the record, and the
    // three calls into OpenSSL are skipped; so are they when an earlier
    // look found OpenSSL idle and no call into it came since (ssl_idle_).
    if (in_end_ != in_begin_) {
        return false;
    }
    if (!ssl_idle_) {
        ssl_idle_ = SSL_is_init_finished(ssl_) == 1 &&
                    (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) == 0 &&
                    SSL_has_pending(ssl_) == 0;
    }
    return ssl_idle_;
}

TlsStepResult TlsEngine::read(boost::asio::mutable_buffer buf) noexcept {
    if (starved()) {
        return {TlsStep::want_read};
    }
    ssl_idle_ = false;
    clear_errors();
    std::size_t n = 0;
    int ret = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    if (ret == 1) {
        return {TlsStep::done, n};
    }
    return step_error(ret, false);
}

TlsStepResult
TlsEngine::write(boost::asio::const_buffer buf, Sink sink, void* sink_state) noexcept {
    ssl_idle_ = false;
    clear_errors();
    std::size_t n = 0;
    sink_ = sink;
    sink_state_ = sink_state;
    int ret = SSL_write_ex(ssl_, buf.data(), std::min(buf.size(), max_write), &n);
    sink_ = nullptr;
    sink_state_ = nullptr;
    if (ret == 1) {
        return {TlsStep::done, n};
    }
    return step_error(ret, false);
}

TlsStepResult TlsEngine::shutdown() noexcept {
    ssl_idle_ = false;
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
    ssl_idle_ = false;
    clear_errors();
    if (SSL_key_update(
            ssl_, request_peer ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) == 1) {
        return {TlsStep::done};
    }
    return step_error(-1, false);
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
