// asio_echo_server: the baseline of the echo benchmarks, a TCP echo server
// written the way an Asio user writes one by hand: completion handlers, one
// session object per connection kept alive by shared_from_this, one
// single-threaded io_context (concurrency hint 1, as pollux's current-thread
// Runtime uses). No pollux code is involved.
//
// It follows the sample echo servers' contract (DESIGN section 7) so the
// benchmark scripts drive all four alike: `--host H` (default 127.0.0.1),
// `--port P` (0 picks one), `listening on H:P` as the first stdout line
// (flushed), exit 0 after SIGINT or SIGTERM. Like the samples it reads into
// a 16 KiB buffer and keeps at most one buffer in flight per connection
// (it does not read while its echo is unwritten).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    explicit Session(tcp::socket s) : socket_(std::move(s)) {}

    void start() { read(); }

private:
    void read() {
        socket_.async_read_some(
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
        asio::async_write(socket_,
                          asio::buffer(buf_.data(), n),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                              if (ec) {
                                  return; // the socket closes with the last reference
                              }
                              self->read();
                          });
    }

    // End of stream: half-close our side too; any other error: just close.
    void finish(boost::system::error_code ec) {
        if (ec == asio::error::eof) {
            boost::system::error_code ignored;
            socket_.shutdown(tcp::socket::shutdown_send, ignored);
        }
    }

    tcp::socket socket_;
    std::array<char, 16 * 1024> buf_;
};

class Server {
public:
    Server(asio::io_context& io, const tcp::endpoint& ep)
        : acceptor_(io, ep), signals_(io, SIGINT, SIGTERM) {
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
                // No TCP_NODELAY: the sample servers do not set it either.
                std::make_shared<Session>(std::move(s))->start();
            }
            accept();
        });
    }

    tcp::acceptor acceptor_;
    asio::signal_set signals_;
};

} // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    std::string port = "0";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--host" || a == "--port") && i + 1 < argc) {
            (a == "--host" ? host : port) = argv[++i];
        } else {
            std::fprintf(stderr, "usage: %s [--host H] [--port P]\n", argv[0]);
            return 2;
        }
    }
    try {
        asio::io_context io(1);
        tcp::endpoint ep(asio::ip::make_address(host),
                         static_cast<unsigned short>(std::atoi(port.c_str())));
        Server server(io, ep);
        std::printf("listening on %s:%u\n", host.c_str(), server.local_endpoint().port());
        std::fflush(stdout);
        io.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "asio_echo_server: %s\n", e.what());
        return 1;
    }
    return 0;
}
