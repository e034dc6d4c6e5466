// echo_server_callback: a TCP echo server written with the libuv-style
// callback API only (pollux::uv) — the way a libuv user would write it, with
// RAII handles.
//
// It shows: a listening uv::Tcp, one uv::Tcp per connection whose memory is
// released in its close callback, backpressure (a connection whose peer does
// not read stops being read), writes that try the kernel first and copy only
// what it did not take (`try_write`, libuv's `uv_try_write`), graceful
// half-close (on eof, queued echoes are flushed, then FIN), and shutdown on
// SIGINT/SIGTERM with uv::Signal.
//
// Run:    ./echo_server_callback [--host 127.0.0.1] [--port 0]
// Prints: listening on 127.0.0.1:PORT     (first line, flushed; --port 0 picks one)
// Then echoes every byte back until SIGINT or SIGTERM, closes every
// connection and exits 0. Try it with `nc 127.0.0.1 PORT`.

#include <pollux/uv.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <optional>
#include <span>
#include <string>

namespace uv = pollux::uv;

namespace {

// Stop reading a connection while this much of its echo is still queued
// (its peer is not reading); resume below half of it.
constexpr std::size_t high_water = 1024 * 1024;

struct Options {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
};

std::optional<Options> parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--host" || arg == "--port") && i + 1 < argc) {
            const std::string value = argv[++i];
            if (arg == "--host") {
                o.host = value;
            } else {
                char* end = nullptr;
                const unsigned long p = std::strtoul(value.c_str(), &end, 10);
                if (end == value.c_str() || *end != '\0' || p > 65535) {
                    return std::nullopt;
                }
                o.port = static_cast<unsigned short>(p);
            }
        } else {
            return std::nullopt;
        }
    }
    return o;
}

class Server {
public:
    explicit Server(uv::Loop& loop) : loop_(loop), listener_(loop), sigint_(loop), sigterm_(loop) {}

    // Binds, listens and watches the signals; prints the first line.
    bool start(const Options& opts, const boost::asio::ip::address& addr) {
        if (auto ec = listener_.bind({addr, opts.port})) {
            std::fprintf(
                stderr, "bind %s:%u: %s\n", opts.host.c_str(), opts.port, ec.message().c_str());
            return false;
        }
        if (auto ec = listener_.listen(
                128, [this](boost::system::error_code ec) { on_connection(ec); })) {
            std::fprintf(stderr, "listen: %s\n", ec.message().c_str());
            return false;
        }
        auto stop = [this](int) { shut_down(); };
        if (sigint_.start(stop, SIGINT) || sigterm_.start(stop, SIGTERM)) {
            std::fprintf(stderr, "cannot watch SIGINT/SIGTERM\n");
            return false;
        }
        std::printf(
            "listening on %s:%u\n", opts.host.c_str(), listener_.getsockname().value().port());
        std::fflush(stdout);
        return true;
    }

    void shut_down() {
        if (listener_.is_closing()) {
            return;
        }
        listener_.close();
        sigint_.close();
        sigterm_.close();
        for (auto& c : conns_) {
            if (!c.tcp.is_closing()) {
                close_connection(c);
            }
        }
    }

private:
    struct Connection {
        explicit Connection(uv::Loop& loop) : tcp(loop) {}
        uv::Tcp tcp;
        std::list<Connection>::iterator self;
        bool paused = false;
    };

    void on_connection(boost::system::error_code ec) {
        if (ec) {
            // EMFILE and friends: the listener backs off by itself.
            std::fprintf(stderr, "accept: %s\n", ec.message().c_str());
            return;
        }
        Connection& c = conns_.emplace_back(loop_);
        c.self = std::prev(conns_.end());
        if (listener_.accept(c.tcp) || start_reading(c)) {
            close_connection(c);
        }
    }

    boost::system::error_code start_reading(Connection& c) {
        return c.tcp.read_start([this, &c](boost::system::error_code ec,
                                           std::span<const char> data) {
            if (ec == boost::asio::error::eof) {
                // Flush what is queued, send FIN, then close.
                if (c.tcp.shutdown(
                        [this, &c](boost::system::error_code) { close_connection(c); })) {
                    close_connection(c);
                }
                return;
            }
            if (ec) {
                close_connection(c);
                return;
            }
            // Send what the kernel takes now (no copy, no request), then
            // queue a copy of the rest: `data` is only valid during this call.
            const auto sent = c.tcp.try_write(boost::asio::buffer(data.data(), data.size()));
            if (!sent && sent.error() != boost::asio::error::would_block) {
                close_connection(c);
                return;
            }
            const auto rest = data.subspan(sent ? *sent : 0);
            if (rest.empty()) {
                return;
            }
            if (c.tcp.write(std::string(rest.begin(), rest.end()),
                            [this, &c](boost::system::error_code wec) { on_written(c, wec); })) {
                close_connection(c);
                return;
            }
            if (c.tcp.write_queue_size() > high_water) {
                c.tcp.read_stop();
                c.paused = true;
            }
        });
    }

    void on_written(Connection& c, boost::system::error_code ec) {
        if (ec) {
            if (!c.tcp.is_closing()) {
                close_connection(c);
            }
            return;
        }
        if (c.paused && c.tcp.write_queue_size() < high_water / 2 && !c.tcp.is_closing()) {
            c.paused = false;
            if (start_reading(c)) {
                close_connection(c);
            }
        }
    }

    void close_connection(Connection& c) {
        if (c.tcp.is_closing()) {
            return;
        }
        // The connection's memory is released in its close callback.
        c.tcp.close([this, it = c.self] { conns_.erase(it); });
    }

    uv::Loop& loop_;
    uv::Tcp listener_;
    uv::Signal sigint_;
    uv::Signal sigterm_;
    // Each Connection lives in its list node: one allocation per connection
    // (an idle connection's memory: docs/performance.md, "Idle connections").
    std::list<Connection> conns_;
};

} // namespace

int main(int argc, char** argv) {
    auto opts = parse_args(argc, argv);
    if (!opts) {
        std::fprintf(stderr, "usage: %s [--host H] [--port P]\n", argv[0]);
        return 2;
    }
    uv::Loop loop;
    Server server(loop);

    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(opts->host, ec);
    if (!ec) {
        if (!server.start(*opts, addr)) {
            return 1;
        }
    } else {
        // A host name: resolve it on the loop first.
        bool ok = false;
        (void)uv::getaddrinfo(
            loop, opts->host, "", [&](boost::system::error_code rec, uv::AddrInfoResults r) {
                if (rec || r.empty()) {
                    std::fprintf(
                        stderr, "resolve %s: %s\n", opts->host.c_str(), rec.message().c_str());
                    return;
                }
                ok = server.start(*opts, r.begin()->endpoint().address());
            });
        loop.run(uv::RunMode::Once);
        while (!ok && loop.active_requests() > 0) {
            loop.run(uv::RunMode::Once);
        }
        if (!ok) {
            server.shut_down();
            loop.run();
            return 1;
        }
    }
    loop.run();
    return 0;
}
