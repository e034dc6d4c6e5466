#include <pollux/tls.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

// A TLS stream in steady state allocates nothing per record: OpenSSL's
// record buffers and the BIO pair's ciphertext buffers are made once per
// stream. Counts both the C++ allocations (support/alloc_counter.hpp) and
// OpenSSL's own (CRYPTO_set_mem_functions, set before OpenSSL's first
// allocation by a static initializer of this file).
//
// OpenSSL 3.0 itself (Debian 12's 3.0.x) makes a few small allocations
// inside each SSL_write (3: its record layer's WPACKET bookkeeping) and
// SSL_read (1), freed before the call returns; pollux cannot avoid them.
// So OpenSSL's count is checked to stay the same per record (no buffer
// grows or is remade), and pollux's own to be zero.

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>

#include "support/alloc_counter.hpp"
#include "support/result_string.hpp"
#include "support/tls_certs.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <openssl/crypto.h>

using namespace pollux;
namespace asio = boost::asio;
using pollux::test::allocations;

namespace {

std::atomic<std::size_t> openssl_allocations{0};

void* counting_malloc(std::size_t n, const char*, int) {
    openssl_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n);
}
void* counting_realloc(void* p, std::size_t n, const char*, int) {
    openssl_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::realloc(p, n);
}
void plain_free(void* p, const char*, int) {
    std::free(p);
}

const bool counting_installed =
    CRYPTO_set_mem_functions(counting_malloc, counting_realloc, plain_free) == 1;

} // namespace

TEST_CASE("TlsStream echo allocates nothing per record after warm-up", "[tls][alloc]") {
    REQUIRE(counting_installed);
    Runtime rt;
    rt.block_on([]() -> Async<void> {
        tls::TlsOptions so;
        so.certificate_chain = tls::Pem::memory(test::tls_certs().server.cert_pem);
        so.private_key = tls::Pem::memory(test::tls_certs().server.key_pem);
        tls::TlsOptions co;
        co.ca = tls::Pem::memory(test::tls_certs().ca.cert_pem);
        auto p = net::UnixStream::pair();
        REQUIRE(p);
        auto [c, s] = co_await join(
            tls::TlsConnector::create(co).value().connect("localhost", std::move(p->first)),
            tls::TlsAcceptor::create(so).value().accept(std::move(p->second)));
        REQUIRE(c);
        REQUIRE(s);
        std::array<char, 1024> out{};
        std::array<char, 1024> in{};
        std::size_t cxx_before = 0;
        std::size_t ssl_before = 0;
        std::size_t ssl_half = 0;
        constexpr int warm_up = 20;
        constexpr int rounds = 200;
        for (int i = 0; i < warm_up + rounds; ++i) {
            if (i == warm_up) {
                cxx_before = allocations.load();
                ssl_before = openssl_allocations.load();
            }
            if (i == warm_up + rounds / 2) {
                ssl_half = openssl_allocations.load();
            }
            out[0] = static_cast<char>(i);
            // One await per statement: g++ 12 evaluates a co_await in the
            // right operand of && even when the left one is false.
            auto w1 = co_await io::write_all(*c, asio::buffer(out));
            REQUIRE(w1);
            auto f1 = co_await io::flush(*c);
            REQUIRE(f1);
            auto r1 = co_await io::read_exact(*s, asio::buffer(in));
            REQUIRE(r1);
            auto w2 = co_await io::write_all(*s, asio::buffer(in));
            REQUIRE(w2);
            auto f2 = co_await io::flush(*s);
            REQUIRE(f2);
            auto r2 = co_await io::read_exact(*c, asio::buffer(in));
            REQUIRE(r2);
            REQUIRE(in[0] == static_cast<char>(i));
        }
        const std::size_t cxx = allocations.load() - cxx_before;
        const std::size_t first_half = ssl_half - ssl_before;
        const std::size_t second_half = openssl_allocations.load() - ssl_half;
        CHECK(cxx == 0);
        // Two records each way per round.
        CHECK(first_half == second_half);
        CHECK(first_half <= 2 * 4 * (rounds / 2));
    }());
}
