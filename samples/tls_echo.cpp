// tls_echo: the echo server of echo_server_coro over TLS.
//
// What it shows: a `tls::TlsAcceptor` made from a certificate and key in
// PEM files, the TLS handshake of each accepted `net::TcpStream` under
// `time::timeout` (a client that stalls its handshake is dropped), and the
// same echo loop as over plain TCP, since a `tls::TlsStream` is
// `io::AsyncRead + io::AsyncWrite`. A client that is not TLS, or fails its
// handshake, costs only its own connection (one line on stderr). SIGINT or
// SIGTERM stops it; connections are dropped with the Runtime.
//
// Run:    ./tls_echo --cert cert.pem --key key.pem [--host 127.0.0.1] [--port 0]
//         (make a test pair: openssl req -x509 -newkey ec -pkeyopt
//          ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem
//          -days 1 -subj /CN=localhost)
// Prints: `listening on 127.0.0.1:PORT` (first stdout line, flushed), then
//         nothing until a signal; exits 0 after SIGINT or SIGTERM.
// Try:    openssl s_client -connect 127.0.0.1:PORT -servername localhost -quiet

#include <pollux/core/async.hpp>
#include <pollux/core/select.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>
#include <pollux/tls.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <iostream>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct Options {
    std::string host = "127.0.0.1";
    std::string port = "0";
    std::string cert;
    std::string key;
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--host" || a == "--port" || a == "--cert" || a == "--key") && i + 1 < argc) {
            std::string v = argv[++i];
            (a == "--host" ? o.host : a == "--port" ? o.port : a == "--cert" ? o.cert : o.key) = v;
        } else {
            o.cert.clear();
            break;
        }
    }
    if (o.cert.empty() || o.key.empty()) {
        std::cerr << "usage: " << argv[0] << " --cert CERT --key KEY [--host H] [--port P]\n";
        return false;
    }
    return true;
}

// The handshake, bounded (a client that stalls it is dropped), then echo
// until the peer's close_notify; ours goes back with io::shutdown.
pollux::Async<> serve(pollux::net::TcpStream tcp, pollux::tls::TlsAcceptor acceptor) {
    auto tls =
        pollux::flatten(co_await pollux::time::timeout(10s, acceptor.accept(std::move(tcp))));
    if (!tls) {
        std::cerr << "handshake: " << tls.error().message() << '\n';
        co_return;
    }
    std::array<char, 16 * 1024> buf;
    for (;;) {
        auto n = co_await pollux::io::read(*tls, asio::buffer(buf));
        if (!n || *n == 0) {
            break; // close_notify, or an error such as a truncated stream
        }
        // write_all hands the bytes to OpenSSL; flush sends them now
        // rather than with the next read.
        auto w = co_await pollux::io::write_all(*tls, asio::buffer(buf.data(), *n));
        if (!w || !(co_await pollux::io::flush(*tls))) {
            co_return;
        }
    }
    (void)co_await pollux::io::shutdown(*tls);
}

pollux::Async<> accept_loop(pollux::net::TcpListener& listener, pollux::tls::TlsAcceptor acceptor) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (!conn) {
            std::cerr << "accept: " << conn.error().message() << '\n';
            co_await pollux::time::sleep(100ms);
            continue;
        }
        pollux::spawn(serve(std::move(conn->first), acceptor)); // detached
    }
}

pollux::Async<int> async_main(Options o) {
    pollux::tls::TlsOptions tls_options;
    tls_options.certificate_chain = pollux::tls::Pem::file(o.cert);
    tls_options.private_key = pollux::tls::Pem::file(o.key);
    auto acceptor = pollux::tls::TlsAcceptor::create(tls_options);
    if (!acceptor) {
        std::cerr << "certificate/key: " << acceptor.error().message() << '\n';
        co_return 1;
    }
    auto sigint = pollux::signal::signal(SIGINT);
    auto sigterm = pollux::signal::signal(SIGTERM);
    auto listener = pollux::net::TcpListener::bind(o.host + ":" + o.port);
    if (!listener) {
        std::cerr << "bind " << o.host << ":" << o.port << ": " << listener.error().message()
                  << '\n';
        co_return 1;
    }
    auto addr = listener->local_addr().value();
    std::cout << "listening on " << addr.address().to_string() << ":" << addr.port() << std::endl;
    (void)co_await pollux::select(accept_loop(*listener, *acceptor), sigint.recv(), sigterm.recv());
    co_return 0; // the Runtime drops the connection tasks, closing their sockets
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        return 2;
    }
    return pollux::run(async_main(o));
}
