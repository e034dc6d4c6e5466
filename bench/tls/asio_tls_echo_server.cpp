// asio_tls_echo_server: the TLS echo benchmark's Asio baseline, the echo
// server of bench/echo/asio_echo_server.cpp over `asio::ssl::stream`:
// completion handlers, one session per connection kept alive by
// shared_from_this, one single-threaded io_context (concurrency hint 1). No
// pollux code is involved.
//
// It follows samples/tls_echo's contract, so bench/tls/run.sh drives it
// alike: `--cert C --key K` (PEM), `--host H` (default 127.0.0.1), `--port P`
// (0 picks one), `listening on H:P` as the first stdout line (flushed), exit
// 0 after SIGINT or SIGTERM. `--ciphersuites S` pins the TLS 1.3 suites
// (OpenSSL's list syntax). It reads into a 16 KiB buffer, keeps at most one
// buffer in flight per connection, and answers the peer's close_notify with
// its own.
//
// Build: g++ -std=c++20 -O2 asio_tls_echo_server.cpp -lssl -lcrypto -pthread

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket s, ssl::context& ctx) : stream_(std::move(s), ctx) {}

    void start() {
        stream_.async_handshake(ssl::stream_base::server,
                                [self = shared_from_this()](boost::system::error_code ec) {
                                    if (!ec) {
                                        self->read();
                                    }
                                });
    }

private:
    void read() {
        stream_.async_read_some(
            asio::buffer(buf_),
            [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                if (ec) {
                    self->finish(ec);
                    return;
                }
                self->write(n);
            });
    }

    void write(std::size_t n) {
        asio::async_write(stream_,
                          asio::buffer(buf_.data(), n),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                              if (ec) {
                                  return; // the socket closes with the last reference
                              }
                              self->read();
                          });
    }

    // The peer's close_notify (eof): send ours; any other error: just close.
    void finish(boost::system::error_code ec) {
        if (ec == asio::error::eof) {
            stream_.async_shutdown([self = shared_from_this()](boost::system::error_code) {});
        }
    }

    ssl::stream<tcp::socket> stream_;
    std::array<char, 16 * 1024> buf_;
};

class Server {
public:
    Server(asio::io_context& io, const tcp::endpoint& ep, ssl::context& ctx)
        : ctx_(ctx), acceptor_(io, ep), signals_(io, SIGINT, SIGTERM) {
        signals_.async_wait([&io](boost::system::error_code, int) {
            io.stop(); // the io_context's destructor drops every session
        });
        accept();
    }

    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

private:
    void accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
            if (ec == asio::error::operation_aborted) {
                return;
            }
            if (!ec) {
                // No TCP_NODELAY: samples/tls_echo does not set it either.
                std::make_shared<Session>(std::move(s), ctx_)->start();
            }
            accept();
        });
    }

    ssl::context& ctx_;
    tcp::acceptor acceptor_;
    asio::signal_set signals_;
};

} // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    std::string port = "0";
    std::string cert, key, suites;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--host" || a == "--port" || a == "--cert" || a == "--key" ||
             a == "--ciphersuites") &&
            i + 1 < argc) {
            std::string v = argv[++i];
            (a == "--host"   ? host
             : a == "--port" ? port
             : a == "--cert" ? cert
             : a == "--key"  ? key
                             : suites) = v;
        } else {
            cert.clear();
            break;
        }
    }
    if (cert.empty() || key.empty()) {
        std::fprintf(stderr,
                     "usage: %s --cert C --key K [--host H] [--port P] [--ciphersuites S]\n",
                     argv[0]);
        return 2;
    }
    try {
        ssl::context ctx(ssl::context::tls_server);
        ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3);
        ctx.use_certificate_chain_file(cert);
        ctx.use_private_key_file(key, ssl::context::pem);
        if (!suites.empty() && SSL_CTX_set_ciphersuites(ctx.native_handle(), suites.c_str()) != 1) {
            std::fprintf(stderr, "asio_tls_echo_server: bad --ciphersuites %s\n", suites.c_str());
            return 2;
        }
        asio::io_context io(1);
        tcp::endpoint ep(asio::ip::make_address(host),
                         static_cast<unsigned short>(std::atoi(port.c_str())));
        Server server(io, ep, ctx);
        std::printf("listening on %s:%u\n", host.c_str(), server.local_endpoint().port());
        std::fflush(stdout);
        io.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "asio_tls_echo_server: %s\n", e.what());
        return 1;
    }
    return 0;
}
