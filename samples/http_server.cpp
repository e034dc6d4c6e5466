// http_server: an HTTP/1.1 server with keep-alive and pipelining, one
// coroutine per connection, scaled across cores with one independent
// current-thread Runtime and one SO_REUSEPORT listener per thread.
//
// What it shows: a protocol parser driven over pollux streams (bytes read
// with `io::read` are fed to the parser; responses are serialized into a
// buffer written with `io::write_all`), per-connection timeouts (one timer
// per connection, `select`ed with each read; `time::timeout` on writes),
// `net::TcpSocket` for socket options before `listen`,
// thread-per-core scaling with no shared run queue, and the same connection
// code over TCP and TLS (`serve_http` is a template over the stream type).
//
// Parser: Boost.Beast's `http::request_parser` (responses, a status line
// and four fields, are formatted by hand: `append_response`). Beast is
// header-only, part of the Boost release pollux already depends on (Debian's libboost1.81-dev),
// well kept and fuzzed, and its parser works on caller-supplied buffers
// (`put(buffer, ec)`), so it needs no Asio stream of its own: pollux owns
// all the I/O.
//
// Run:    ./http_server [--host 127.0.0.1] [--port 0] [--threads 1]
//                       [--tls CERT KEY]
// Prints: `listening on 127.0.0.1:PORT` (first stdout line, flushed), once
//         every thread's listener is bound; exits 0 after SIGINT or
//         SIGTERM, having closed its connections.
// Try:    curl http://127.0.0.1:PORT/
//         curl --data-binary @file http://127.0.0.1:PORT/echo
//
// Routes: `GET /` 200 with a short fixed body; `POST /echo` 200 with the
// request's body (Content-Length or chunked); another method on those paths
// 405; any other path 404. Bad input: a malformed request 400, a header
// (request line and fields) over 8 KiB 431, a body over 1 MiB 413; each of
// those answers with `Connection: close` and closes the connection.
//
// Limits and timeouts (per connection, so one bad client stalls only its own
// task): a request's header must arrive within 30 s of the moment the
// server starts waiting for it (that includes an idle keep-alive
// connection: it is closed after 30 s without a new request); each body
// read and each response write must make progress within 30 s, so a
// client that stops reading holds its connection for at most that long.
// `--threads N` (default 1): N threads, each with its own Runtime and its
// own listener on the same port (SO_REUSEPORT: the kernel spreads the new
// connections among them); with `--port 0` the first listener picks the
// port and the others bind to it.

#include <pollux/core/async.hpp>
#include <pollux/core/by_ref.hpp>
#include <pollux/core/select.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/net/tcp_socket.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/cancellation_token.hpp>
#include <pollux/time.hpp>
#if POLLUX_HTTP_SERVER_TLS
#include <pollux/tls.hpp>
#endif

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using namespace std::string_view_literals;

namespace {

constexpr std::size_t header_limit = 8 * 1024;
constexpr std::uint64_t body_limit = 1024 * 1024;
// Holds a whole header (Beast needs it in one piece) plus some room.
constexpr std::size_t read_buffer_size = 16 * 1024;
constexpr auto header_timeout = 30s;
constexpr auto io_timeout = 30s;
constexpr std::string_view hello_body = "Hello, world!\n";

struct Options {
    std::string host = "127.0.0.1";
    std::string port = "0";
    unsigned threads = 1;
    std::string cert;
    std::string key;
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--host" || a == "--port") && i + 1 < argc) {
            (a == "--host" ? o.host : o.port) = argv[++i];
        } else if (a == "--threads" && i + 1 < argc) {
            o.threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
            if (o.threads == 0) {
                o.threads = 1;
            }
        } else if (a == "--tls" && i + 2 < argc) {
            o.cert = argv[++i];
            o.key = argv[++i];
        } else {
            std::cerr << "usage: " << argv[0]
                      << " [--host H] [--port P] [--threads N] [--tls CERT KEY]\n";
            return false;
        }
    }
    return true;
}

using Request = http::request<http::string_body>;

// Appends a response to `out`: the status line, our fixed fields,
// Content-Length, Connection, then the body. Responses to pipelined
// requests collect in `out` and go out in one write, in request order.
//
// Written by hand rather than through a Beast `http::response` and
// `http::response_serializer`: for a 100-byte response those cost about
// 11,000 instructions (a field list allocated element by element, then a
// serializer walking a cat view of buffers), more than half of what a whole
// request cost (docs/performance.md, "HTTP"). `Connection` follows what
// Beast's `message::keep_alive` writes: `close` when the connection ends,
// `keep-alive` for an HTTP/1.0 client that keeps it, nothing for HTTP/1.1.
void append_response(std::string& out,
                     http::status status,
                     unsigned version,
                     bool keep_alive,
                     std::string_view body,
                     std::string_view allow = {}) {
    const auto code = static_cast<unsigned>(status);
    char line[] = "HTTP/1.1 200 ";
    line[5] = static_cast<char>('0' + version / 10 % 10);
    line[7] = static_cast<char>('0' + version % 10);
    line[9] = static_cast<char>('0' + code / 100 % 10);
    line[10] = static_cast<char>('0' + code / 10 % 10);
    line[11] = static_cast<char>('0' + code % 10);
    out.append(line, sizeof line - 1);
    out += http::obsolete_reason(status);
    out += "\r\nServer: pollux\r\nContent-Type: text/plain\r\n"sv;
    if (!allow.empty()) {
        out += "Allow: "sv;
        out += allow;
        out += "\r\n"sv;
    }
    out += "Content-Length: "sv;
    char digits[20];
    std::size_t i = sizeof digits;
    std::size_t n = body.size();
    do {
        digits[--i] = static_cast<char>('0' + n % 10);
        n /= 10;
    } while (n != 0);
    out.append(digits + i, sizeof digits - i);
    if (!keep_alive) {
        out += "\r\nConnection: close"sv;
    } else if (version < 11) {
        out += "\r\nConnection: keep-alive"sv;
    }
    out += "\r\n\r\n"sv;
    out += body;
}

// The routes. `keep_alive`: whether the request lets the connection stay
// open (the parser says); returned as is.
bool route(const Request& req, bool keep_alive, std::string& out) {
    const unsigned version = req.version();
    if (req.target() == "/") {
        if (req.method() == http::verb::get) {
            append_response(out, http::status::ok, version, keep_alive, hello_body);
        } else {
            append_response(out, http::status::method_not_allowed, version, keep_alive, "", "GET");
        }
    } else if (req.target() == "/echo") {
        if (req.method() == http::verb::post) {
            append_response(out, http::status::ok, version, keep_alive, req.body());
        } else {
            append_response(out, http::status::method_not_allowed, version, keep_alive, "", "POST");
        }
    } else {
        append_response(out, http::status::not_found, version, keep_alive, "not found\n");
    }
    return keep_alive;
}

// The answer to a request the parser refused; the connection closes after it.
void refuse(const beast::error_code& ec, std::string& out) {
    http::status status = http::status::bad_request;
    if (ec == http::error::header_limit) {
        status = http::status::request_header_fields_too_large;
    } else if (ec == http::error::body_limit) {
        status = http::status::payload_too_large;
    }
    std::string body(http::obsolete_reason(status));
    body += '\n';
    append_response(out, status, 11, false, body);
}

// One connection: read, parse every complete request in what was read,
// answer them all in one write, repeat. Unparsed bytes wait in `buf`
// [begin, end): Beast's `put` consumes a header only once all of it is
// there, and a body as it comes (a chunked one chunk by chunk).
//
// Invariants: at most one read or one write is in flight (a client that
// does not read makes our write wait, so we stop reading its requests:
// backpressure, never unbounded buffering); `parser` is engaged between a
// request's first byte being awaited and its last byte being parsed;
// `deadline` bounds the wait for the current request's header; `watchdog`,
// once engaged, has a deadline no later than the current read's, and is not
// finished (it is replaced as soon as it fires).
template <class S>
pollux::Async<> serve_http(S stream) {
    std::unique_ptr<char[]> buf = std::make_unique_for_overwrite<char[]>(read_buffer_size);
    std::size_t begin = 0;
    std::size_t end = 0;
    std::string out;
    std::optional<http::request_parser<http::string_body>> parser;
    pollux::time::Instant deadline{};
    // Engaged from the first read on; see the read below.
    std::optional<pollux::time::Sleep> watchdog;
    bool sent_continue = false;
    for (;;) {
        bool close = false;
        for (;;) {
            if (!parser) {
                parser.emplace();
                parser->header_limit(header_limit);
                parser->body_limit(body_limit);
                parser->eager(true);
                deadline = pollux::time::Clock::now() + header_timeout;
                sent_continue = false;
            }
            if (begin == end) {
                break;
            }
            beast::error_code ec;
            std::size_t n = parser->put(asio::buffer(buf.get() + begin, end - begin), ec);
            begin += n;
            if (ec == http::error::need_more) {
                break;
            }
            if (ec) {
                refuse(ec, out);
                close = true;
                break;
            }
            if (parser->is_done()) {
                // Answered from the parser's own message (the keep-alive
                // flag it worked out while parsing), then dropped.
                const bool keep_alive = route(parser->get(), parser->keep_alive(), out);
                parser.reset();
                if (!keep_alive) {
                    close = true;
                    break;
                }
                continue;
            }
            if (parser->is_header_done() && !sent_continue) {
                // curl waits for this (or a second) before sending a body.
                sent_continue = true;
                auto expect = parser->get()[http::field::expect];
                if (beast::iequals(expect, "100-continue")) {
                    out += "HTTP/1.1 100 Continue\r\n\r\n";
                }
            }
            if (n == 0) {
                break; // nothing consumed and nothing wrong: wait for more
            }
        }
        // Make room: move the unparsed tail to the front.
        if (begin == end) {
            begin = end = 0;
        } else if (begin > 0) {
            std::memmove(buf.get(), buf.get() + begin, end - begin);
            end -= begin;
            begin = 0;
        }
        if (end == read_buffer_size && !close) {
            // Beast would have refused a header this long (431); this is a
            // line it cannot consume in pieces (a huge chunk-size line).
            refuse(http::error::bad_chunk, out);
            close = true;
        }
        if (!out.empty()) {
            auto w = pollux::flatten(co_await pollux::time::timeout(
                io_timeout, pollux::io::write_all(stream, asio::buffer(out))));
            if (!w || !(co_await pollux::io::flush(stream))) {
                co_return; // the client went away or stopped reading
            }
            out.clear();
        }
        if (close) {
            break;
        }
        // The read's deadline is checked against `watchdog`, one timer for
        // the connection, rather than a timer armed and cancelled around
        // every read (`time::timeout_at`: about 1,500 instructions and a
        // timer-queue insert and remove per request). The watchdog is
        // armed for a deadline no later than `until`; when it fires before
        // `until` (it was armed for an earlier wait) it is re-armed for
        // `until` and the read goes on, so each read still ends at its own
        // deadline, and a busy connection re-arms about once per timeout.
        auto until = parser->is_header_done() ? pollux::time::Clock::now() + io_timeout : deadline;
        if (!watchdog || watchdog->deadline() > until) {
            watchdog.emplace(until);
        }
        std::optional<std::size_t> n;
        while (!n) {
            auto r = co_await pollux::select_biased(
                pollux::io::read(stream, asio::buffer(buf.get() + end, read_buffer_size - end)),
                pollux::by_ref(*watchdog));
            if (r.index() == 0) {
                auto& got = std::get<0>(r);
                if (!got || *got == 0) {
                    co_return; // end of stream or an error such as a reset
                }
                n = *got;
            } else if (pollux::time::Clock::now() >= until) {
                co_return; // timed out
            } else {
                watchdog.emplace(until);
            }
        }
        end += *n;
    }
    (void)co_await pollux::time::timeout(io_timeout, pollux::io::shutdown(stream));
}

// The per-thread part that differs between HTTP and HTTPS.
struct Plain {
    pollux::Async<> serve(pollux::net::TcpStream tcp) const { return serve_http(std::move(tcp)); }
};

#if POLLUX_HTTP_SERVER_TLS
struct Tls {
    pollux::tls::TlsAcceptor acceptor;

    static pollux::Async<> handshake_then_serve(pollux::net::TcpStream tcp,
                                                pollux::tls::TlsAcceptor acceptor) {
        // The handshake is bounded like a header: a client that stalls it
        // is dropped.
        auto tls = pollux::flatten(
            co_await pollux::time::timeout(header_timeout, acceptor.accept(std::move(tcp))));
        if (tls) {
            co_await serve_http(std::move(*tls));
        }
    }
    pollux::Async<> serve(pollux::net::TcpStream tcp) const {
        return handshake_then_serve(std::move(tcp), acceptor);
    }
};
#endif

template <class Proto>
pollux::Async<> accept_loop(pollux::net::TcpListener& listener, Proto proto) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (!conn) {
            // EMFILE and friends never get here: the listener backs off by
            // itself. What does is unexpected; don't spin on it.
            std::cerr << "accept: " << conn.error().message() << '\n';
            co_await pollux::time::sleep(100ms);
            continue;
        }
        // Responses go out in one write per batch; don't let Nagle hold the
        // last segment of one back.
        (void)conn->first.set_nodelay(true);
        pollux::spawn(proto.serve(std::move(conn->first))); // detached
    }
}

// A listener on `addr:port` that shares its port with the other threads'
// (SO_REUSEPORT), on the current task's runtime.
pollux::Result<pollux::net::TcpListener> make_listener(const asio::ip::address& addr,
                                                       std::uint16_t port) {
    auto sock = addr.is_v6() ? pollux::net::TcpSocket::new_v6() : pollux::net::TcpSocket::new_v4();
    if (!sock) {
        return sock.error();
    }
    auto r = sock->set_reuseaddr(true);
    if (r) {
        r = sock->set_reuseport(true);
    }
    if (r) {
        r = sock->bind({addr, port});
    }
    if (!r) {
        return r.error();
    }
    return std::move(*sock).listen(1024);
}

// Serves on `listener` until `stop` is cancelled, or until signal SIGINT
// or SIGTERM when `signals` (the main thread).
template <class Proto>
pollux::Async<>
serve_until(pollux::net::TcpListener& listener, Proto proto, pollux::sync::CancellationToken stop) {
    (void)co_await pollux::select(accept_loop(listener, std::move(proto)), stop.cancelled());
}

struct Setup {
    Options options;
    asio::ip::address addr;
    pollux::sync::CancellationToken stop;
    // bound[i]: thread i's bind outcome. Made before any thread starts and
    // destroyed after they are joined, so no promise dies while set_value
    // is still running in its thread.
    std::vector<std::promise<boost::system::error_code>> bound;
};

// Runs `f(proto)` with the protocol object of this thread (TLS acceptors are
// made per thread, so no OpenSSL object is shared between runtimes).
template <class F>
pollux::Async<int> with_proto(const Setup& setup, F f) {
    if (setup.options.cert.empty()) {
        co_return co_await f(Plain{});
    }
#if POLLUX_HTTP_SERVER_TLS
    pollux::tls::TlsOptions tls_options;
    tls_options.certificate_chain = pollux::tls::Pem::file(setup.options.cert);
    tls_options.private_key = pollux::tls::Pem::file(setup.options.key);
    auto acceptor = pollux::tls::TlsAcceptor::create(tls_options);
    if (!acceptor) {
        std::cerr << "certificate/key: " << acceptor.error().message() << '\n';
        co_return 1;
    }
    // A named local, not `f(Tls{*acceptor})`: g++ 12 destroys a braced
    // temporary inside a co_await expression twice (docs/debugging.md).
    Tls proto{*acceptor};
    co_return co_await f(std::move(proto));
#else
    std::cerr << "--tls: this build has no pollux::tls (configure with -Dtls=enabled)\n";
    co_return 1;
#endif
}

// Threads 1..N-1: bind to `port`, report the outcome, serve until stopped.
pollux::Async<int> worker_main(Setup& setup, std::uint16_t port, unsigned i) {
    bool reported = false;
    int rc = co_await with_proto(setup, [&](auto proto) -> pollux::Async<int> {
        auto listener = make_listener(setup.addr, port);
        reported = true;
        setup.bound[i].set_value(listener ? boost::system::error_code{} : listener.error());
        if (listener) {
            co_await serve_until(*listener, std::move(proto), setup.stop);
        }
        co_return 0;
    });
    if (!reported) {
        // with_proto failed (it said why on stderr).
        setup.bound[i].set_value(make_error_code(boost::system::errc::invalid_argument));
    }
    co_return rc;
}

// Thread 0 (main): bind first, start the other threads, announce, serve
// until a signal, then stop the others (main() joins them).
pollux::Async<int> async_main(Setup& setup, std::vector<std::thread>& threads) {
    // Register the signals before announcing the port, so a signal sent as
    // soon as the line is read is not lost.
    auto sigint = pollux::signal::signal(SIGINT);
    auto sigterm = pollux::signal::signal(SIGTERM);
    co_return co_await with_proto(setup, [&](auto proto) -> pollux::Async<int> {
        const Options& o = setup.options;
        auto listener = make_listener(setup.addr, static_cast<std::uint16_t>(std::stoul(o.port)));
        if (!listener) {
            std::cerr << "bind " << o.host << ":" << o.port << ": " << listener.error().message()
                      << '\n';
            co_return 1;
        }
        auto addr = listener->local_addr().value();
        for (unsigned i = 1; i < o.threads; ++i) {
            auto result = setup.bound[i].get_future();
            threads.emplace_back([&setup, port = addr.port(), i] {
                (void)pollux::run(worker_main(setup, port, i));
            });
            // Startup only: blocking this runtime while a thread binds is fine.
            if (auto ec = result.get()) {
                std::cerr << "bind (thread " << i << "): " << ec.message() << '\n';
                setup.stop.cancel();
                co_return 1;
            }
        }
        std::cout << "listening on " << addr.address().to_string() << ":" << addr.port()
                  << std::endl;
        (void)co_await pollux::select(
            serve_until(*listener, std::move(proto), setup.stop), sigint.recv(), sigterm.recv());
        setup.stop.cancel();
        co_return 0; // the Runtime drops the connection tasks, closing their sockets
    });
}

} // namespace

int main(int argc, char** argv) {
    Setup setup;
    if (!parse(argc, argv, setup.options)) {
        return 2;
    }
    boost::system::error_code ec;
    setup.addr = asio::ip::make_address(setup.options.host, ec);
    if (ec || setup.options.port.find_first_not_of("0123456789") != std::string::npos ||
        setup.options.port.empty() || std::stoul(setup.options.port) > 65535) {
        std::cerr << "--host takes a numeric address and --port a number\n";
        return 2;
    }
    std::vector<std::thread> threads;
    threads.reserve(setup.options.threads);
    setup.bound.resize(setup.options.threads);
    int rc = pollux::run(async_main(setup, threads));
    setup.stop.cancel();
    for (auto& t : threads) {
        t.join(); // each thread's Runtime closes its connections as it ends
    }
    return rc;
}
