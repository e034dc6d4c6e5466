#pragma once

/// @file
/// The OpenSSL side of `tls::TlsStream` (not API): one `SSL` whose
/// ciphertext goes through two fixed buffers of the engine's own (a BIO
/// of pollux's, lib/tls/engine.cpp), so that the template
/// `TlsStream<S>` can move it to and from any `io::AsyncRead +
/// io::AsyncWrite` transport by polling. Defined in lib/tls/engine.cpp.

#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct ssl_st;
struct bio_st;

namespace pollux::tls {
class Certificate;
}

namespace pollux::detail {

/// A connector's or acceptor's state, shared with every stream it made
/// (lib/tls/shared.hpp): the SSL_CTX, the client's session cache, the
/// server's ALPN list.
struct TlsShared;

/// What one step of the engine asks of its caller.
enum class TlsStep {
    /// The operation completed (`n` says how many bytes for read/write).
    done,
    /// OpenSSL needs ciphertext from the peer: fill `input_space()`.
    want_read,
    /// OpenSSL's output buffer is full: send `output()` first.
    want_write,
    /// The peer's close_notify was read (read: end of stream).
    closed,
    /// A fatal error, in `ec`.
    failed,
};

/// The outcome of one engine step.
struct TlsStepResult {
    /// What happened.
    TlsStep step;
    /// Bytes read or written, for `done`.
    std::size_t n = 0;
    /// The error, for `failed`.
    boost::system::error_code ec{};
};

/// One TLS connection's OpenSSL state. Every call is non-blocking and never
/// touches a descriptor: ciphertext leaves through `output()` and comes in
/// through `input_space()`, both views into the engine's two fixed
/// buffers, allocated once with the engine. The SSL's BIO reads and writes
/// those buffers with one `memcpy` (lib/tls/engine.cpp); the stream's side
/// is the index arithmetic below.
///
/// Each buffer holds its bytes at `[begin, end)`; both indexes go back to 0
/// whenever it empties. Bytes move to the front only when the input buffer
/// is asked for room while OpenSSL has left some there (it takes all it has
/// before it asks for more, so rarely), or when OpenSSL writes more than
/// fits after the output's `end`: in the steady state nothing moves.
class POLLUX_API TlsEngine {
public:
    /// The largest plaintext given to one `SSL_write`: one record, so that
    /// it never splits a record across a full buffer (see `write_ready`).
    static constexpr std::size_t max_write = 16384;
    /// More than one record's header, IV, MAC and padding.
    static constexpr std::size_t record_slack = 1024;
    /// The output buffer's size: two records of the largest size OpenSSL
    /// makes.
    static constexpr std::size_t out_capacity = 2 * (max_write + record_slack);
    /// The input buffer's size: a bit more than one record.
    static constexpr std::size_t in_capacity = max_write + record_slack;

    /// An engine for a client connecting to `domain` (SNI and hostname
    /// check) or a server. Errors: OpenSSL's (out of memory), or
    /// `invalid_argument` for a client that verifies with an empty domain.
    static Result<std::unique_ptr<TlsEngine>>
    create(const std::shared_ptr<TlsShared>& shared, bool server, std::string_view domain);

    TlsEngine(const TlsEngine&) = delete;
    TlsEngine& operator=(const TlsEngine&) = delete;
    ~TlsEngine();

    /// `SSL_do_handshake`: the handshake, or a post-handshake message such
    /// as a queued key update.
    TlsStepResult handshake() noexcept;
    /// `SSL_read_ex` into `buf` (non-empty); `want_read` without calling
    /// it when `starved()`.
    TlsStepResult read(boost::asio::mutable_buffer buf) noexcept;
    /// Whether a read can only say `want_read`: the handshake is done (no
    /// fatal error, no key update queued: OpenSSL puts the connection back
    /// "in init" for those), the peer's close_notify has not been read, and
    /// no byte is waiting, neither decrypted or part of a record in the
    /// SSL's buffers nor ciphertext in the input buffer. Then `SSL_read_ex`
    /// would only ask the BIO for bytes it does not have (a failed read,
    /// `SSL_get_error` and the error queue: over a thousand instructions,
    /// twice per echoed message before this check). OpenSSL's part of the
    /// answer (three calls) is kept until the next call into OpenSSL: only
    /// such a call can change it.
    [[nodiscard]] bool starved() const noexcept;
    /// Where `write` may send a record straight away: called from inside
    /// `SSL_write_ex` with the ciphertext when the output buffer is empty;
    /// returns how many of its bytes the transport took now (0 when it
    /// would block, failed or threw: the caller keeps what it needs to
    /// report that after `write` returns). Bytes it did not take go to the
    /// output buffer, as without it.
    using Sink = std::size_t (*)(void* state, const unsigned char* data, std::size_t len) noexcept;
    /// `SSL_write_ex` of at most `max_write` bytes of `buf` (non-empty);
    /// with a `sink`, the record goes to it first (see `Sink`), saving its
    /// copy through the output buffer.
    /// Preconditions: `write_ready()`.
    TlsStepResult
    write(boost::asio::const_buffer buf, Sink sink = nullptr, void* sink_state = nullptr) noexcept;
    /// Whether the output buffer has room for a whole record, so that a
    /// `write` cannot stop half-way through one.
    [[nodiscard]] bool write_ready() const noexcept {
        return out_capacity - (out_end_ - out_begin_) >= max_write + record_slack;
    }
    /// `SSL_shutdown`: queues close_notify.
    TlsStepResult shutdown() noexcept;
    /// `SSL_key_update`: schedules a key update (sent by `handshake()`).
    TlsStepResult key_update(bool request_peer) noexcept;

    /// Ciphertext waiting to be sent (empty when none).
    [[nodiscard]] boost::asio::const_buffer output() const noexcept {
        return {out_ + out_begin_, out_end_ - out_begin_};
    }
    /// Marks `n` bytes of `output()` as sent.
    void consume_output(std::size_t n) noexcept {
        out_begin_ += n;
        if (out_begin_ == out_end_) {
            out_begin_ = out_end_ = 0;
        }
    }
    /// Room for ciphertext from the peer (empty when the buffer is full).
    /// Bytes OpenSSL has not taken yet move to the front first, so the room
    /// is all the buffer has.
    [[nodiscard]] boost::asio::mutable_buffer input_space() noexcept {
        if (in_begin_ != 0) {
            std::memmove(in_, in_ + in_begin_, in_end_ - in_begin_);
            in_end_ -= in_begin_;
            in_begin_ = 0;
        }
        return {in_ + in_end_, in_capacity - in_end_};
    }
    /// Marks `n` bytes written into `input_space()` as received.
    void commit_input(std::size_t n) noexcept { in_end_ += n; }

    /// The negotiated ALPN protocol, if any.
    [[nodiscard]] std::optional<std::string_view> alpn_protocol() const noexcept;
    /// The SNI name (the client's request, as the server saw it).
    [[nodiscard]] std::optional<std::string_view> server_name() const noexcept;
    /// Whether the handshake resumed an earlier session.
    [[nodiscard]] bool session_reused() const noexcept;
    /// "TLSv1.3", "TLSv1.2", ...
    [[nodiscard]] std::string_view protocol_version() const noexcept;
    /// The negotiated cipher suite's OpenSSL name.
    [[nodiscard]] std::string_view cipher() const noexcept;
    /// The peer's leaf certificate, if it sent one.
    [[nodiscard]] std::optional<tls::Certificate> peer_certificate() const;
    /// The `SSL*`. What the caller does with it may change what `starved()`
    /// kept, so that is forgotten.
    [[nodiscard]] ssl_st* native_handle() const noexcept {
        ssl_idle_ = false;
        return ssl_;
    }

    /// Stores a session the server sent (the new-session callback).
    void store_session(void* session) noexcept;

private:
    TlsEngine() = default;
    TlsStepResult step_error(int ret, bool handshake) noexcept;
    // The BIO's read and write (lib/tls/engine.cpp): OpenSSL's side of the
    // two buffers.
    static int bio_read(bio_st* b, char* data, std::size_t len, std::size_t* done) noexcept;
    static int bio_write(bio_st* b, const char* data, std::size_t len, std::size_t* done) noexcept;
    static long bio_ctrl(bio_st* b, int cmd, long num, void* ptr) noexcept;
    // A BIO of that method over this engine's buffers, or null.
    bio_st* new_bio() noexcept;

    std::shared_ptr<TlsShared> shared_;
    std::string domain_;
    ssl_st* ssl_ = nullptr;
    // One allocation for both buffers: out_capacity bytes, then in_capacity.
    std::unique_ptr<unsigned char[]> memory_;
    // Ciphertext for the transport: OpenSSL appends, the stream takes from
    // the front.
    unsigned char* out_ = nullptr;
    std::size_t out_begin_ = 0;
    std::size_t out_end_ = 0;
    // Ciphertext from the transport: the stream appends, OpenSSL takes from
    // the front.
    unsigned char* in_ = nullptr;
    std::size_t in_begin_ = 0;
    std::size_t in_end_ = 0;
    // starved()'s OpenSSL half, known true: the handshake is done, no
    // close_notify read, nothing pending in the SSL. Only a call into
    // OpenSSL on ssl_ can make it false, so each one (every engine
    // operation, and native_handle(), which lets the caller make them)
    // forgets it. Saves the three calls when a read that found nothing is
    // polled again after the wake (once per echoed message).
    mutable bool ssl_idle_ = false;
    // write()'s sink, set only for the length of its SSL_write_ex.
    Sink sink_ = nullptr;
    void* sink_state_ = nullptr;
};

} // namespace pollux::detail
