#pragma once

// Test certificates made at test time with the OpenSSL API (none is checked
// in): a CA, leaf certificates it signs (a server for "localhost" and
// 127.0.0.1, an expired one, a client), and a self-signed one. EC P-256
// keys, so that making them takes milliseconds. The PEM is in memory; write
// it to a file with write_file where a path is wanted.

#include <cstdio>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdexcept>
#include <string>
#include <vector>

namespace pollux::test {

struct TlsIdentity {
    std::string cert_pem; // the leaf only
    std::string key_pem;
};

struct TlsCerts {
    TlsIdentity ca;
    TlsIdentity server;      // CN=localhost, SAN DNS:localhost, IP:127.0.0.1
    TlsIdentity expired;     // like server, notAfter a day in the past
    TlsIdentity client;      // CN=pollux client
    TlsIdentity self_signed; // CN=localhost, signed by itself
};

namespace tls_certs_detail {

inline void check(bool ok, const char* what) {
    if (!ok) {
        throw std::runtime_error(std::string("test certificate: ") + what);
    }
}

inline EVP_PKEY* new_key() {
    EVP_PKEY* k = EVP_EC_gen("P-256");
    check(k != nullptr, "EVP_EC_gen");
    return k;
}

inline std::string pem_of(X509* x) {
    BIO* b = BIO_new(BIO_s_mem());
    check(PEM_write_bio_X509(b, x) == 1, "PEM_write_bio_X509");
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string s(data, static_cast<std::size_t>(n));
    BIO_free(b);
    return s;
}

inline std::string pem_of(EVP_PKEY* k) {
    BIO* b = BIO_new(BIO_s_mem());
    check(PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr) == 1,
          "PEM_write_bio_PrivateKey");
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string s(data, static_cast<std::size_t>(n));
    BIO_free(b);
    return s;
}

inline void add_ext(X509* x, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(e != nullptr, "X509V3_EXT_conf_nid");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

// A certificate for `key` named `cn`, signed by issuer/issuer_key (itself
// when null), valid from `from_days` to `to_days` relative to now.
inline X509* make_cert(EVP_PKEY* key,
                       const char* cn,
                       X509* issuer,
                       EVP_PKEY* issuer_key,
                       bool is_ca,
                       const char* san,
                       long from_days,
                       long to_days,
                       long serial) {
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(
        name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509* signer = issuer != nullptr ? issuer : x;
    if (is_ca) {
        add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, signer, NID_basic_constraints, "CA:FALSE");
    }
    add_ext(x, signer, NID_subject_key_identifier, "hash");
    if (san != nullptr) {
        add_ext(x, signer, NID_subject_alt_name, san);
    }
    check(X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
    return x;
}

inline TlsIdentity
leaf(X509* ca, EVP_PKEY* ca_key, const char* cn, const char* san, long from, long to, long serial) {
    EVP_PKEY* k = new_key();
    X509* x = make_cert(k, cn, ca, ca_key, false, san, from, to, serial);
    TlsIdentity id{pem_of(x), pem_of(k)};
    X509_free(x);
    EVP_PKEY_free(k);
    return id;
}

} // namespace tls_certs_detail

// A fresh set of certificates (made once per call).
inline TlsCerts make_tls_certs() {
    using namespace tls_certs_detail;
    TlsCerts c;
    EVP_PKEY* ca_key = new_key();
    X509* ca = make_cert(ca_key, "pollux test CA", nullptr, nullptr, true, nullptr, -1, 30, 1);
    c.ca = {pem_of(ca), pem_of(ca_key)};
    const char* san = "DNS:localhost,IP:127.0.0.1";
    c.server = leaf(ca, ca_key, "localhost", san, -1, 30, 2);
    c.expired = leaf(ca, ca_key, "localhost", san, -30, -1, 3);
    c.client = leaf(ca, ca_key, "pollux client", nullptr, -1, 30, 4);
    EVP_PKEY* sk = new_key();
    X509* ss = make_cert(sk, "localhost", nullptr, nullptr, false, san, -1, 30, 5);
    c.self_signed = {pem_of(ss), pem_of(sk)};
    X509_free(ss);
    EVP_PKEY_free(sk);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return c;
}

// The certificates every test of an executable shares.
inline const TlsCerts& tls_certs() {
    static const TlsCerts certs = make_tls_certs();
    return certs;
}

inline void write_file(const std::string& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    tls_certs_detail::check(f != nullptr, "fopen");
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
}

} // namespace pollux::test
