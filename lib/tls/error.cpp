#include <pollux/tls/error.hpp>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <string>

namespace pollux::tls {

namespace {

// Fixed ids make codes from copies of a category compare equal, as
// pollux::sync's do; these live in the library only.
class TlsCategory final : public boost::system::error_category {
public:
    constexpr TlsCategory() noexcept : boost::system::error_category(0x706f6c6c7578746cULL) {}
    const char* name() const noexcept override { return "pollux.tls"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::stream_truncated:
            return "stream truncated (end of stream without close_notify)";
        case errc::protocol_error:
            return "TLS protocol error";
        }
        return "unknown pollux.tls error";
    }
};

class OpensslCategory final : public boost::system::error_category {
public:
    constexpr OpensslCategory() noexcept : boost::system::error_category(0x706f6c6c75786f73ULL) {}
    const char* name() const noexcept override { return "pollux.tls.openssl"; }
    std::string message(int ev) const override {
        auto code = static_cast<unsigned long>(static_cast<unsigned int>(ev));
        if (const char* reason = ERR_reason_error_string(code)) {
            return reason;
        }
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        return buf;
    }
};

class VerifyCategory final : public boost::system::error_category {
public:
    constexpr VerifyCategory() noexcept : boost::system::error_category(0x706f6c6c75787663ULL) {}
    const char* name() const noexcept override { return "pollux.tls.verify"; }
    std::string message(int ev) const override {
        return std::string("certificate verify failed: ") + X509_verify_cert_error_string(ev);
    }
};

} // namespace

const boost::system::error_category& category() noexcept {
    static constexpr TlsCategory instance;
    return instance;
}

const boost::system::error_category& openssl_category() noexcept {
    static constexpr OpensslCategory instance;
    return instance;
}

const boost::system::error_category& verify_category() noexcept {
    static constexpr VerifyCategory instance;
    return instance;
}

} // namespace pollux::tls
