// echo_server_poll: a TCP echo server with no coroutines: each connection is
// a hand-written `Future` state machine, the Rust way.
//
// What it shows: implementing `poll(Context&)` by hand on top of the
// readiness functions `TcpStream::poll_read`/`poll_write`/`poll_shutdown`
// and `TcpListener::poll_accept`; returning Pending only after a callee
// returned Pending (which registered our waker); spawning futures from
// inside a poll; stopping on SIGINT/SIGTERM by polling `signal::Signal` as a
// stream. Sockets and signals are created with an explicit executor.
//
// Run:    ./echo_server_poll [--host 127.0.0.1] [--port 0]
// Prints: `listening on 127.0.0.1:PORT` (first stdout line, flushed); exits
//         0 after SIGINT or SIGTERM, dropping (closing) every connection.

#include <pollux/core/future.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>

#include <array>
#include <csignal>
#include <cstddef>
#include <iostream>
#include <memory>
#include <string>

namespace asio = boost::asio;
using pollux::Context;
using pollux::Pending;
using pollux::Poll;
using pollux::Ready;

namespace {

// One connection:
//
//   reading --(n bytes)--> writing --(all n written)--> reading
//   reading --(end of stream or error)--> shutting_down --> done (Ready)
//   writing --(error)--> done (Ready)
//
// The buffer lives on the heap so the future stays small and cheap to move
// (it is moved into the task by spawn). make_unique_for_overwrite leaves it
// uninitialised: make_unique would zero all 16 KiB and so make every page of
// it resident for every connection, idle or not.
class EchoConnection {
public:
    using Output = void;

    explicit EchoConnection(pollux::net::TcpStream s)
        : stream_(std::move(s)),
          buf_(std::make_unique_for_overwrite<std::array<char, 16 * 1024>>()) {}

    Poll<void> poll(Context& cx) {
        for (;;) {
            switch (state_) {
            case State::reading: {
                auto p = stream_.poll_read(cx, asio::buffer(*buf_));
                if (p.is_pending()) {
                    return Pending{}; // poll_read registered our waker
                }
                if (!p.value() || *p.value() == 0) {
                    state_ = State::shutting_down;
                    break;
                }
                len_ = *p.value();
                off_ = 0;
                state_ = State::writing;
                break;
            }
            case State::writing: {
                auto p = stream_.poll_write(cx, asio::buffer(buf_->data() + off_, len_ - off_));
                if (p.is_pending()) {
                    return Pending{};
                }
                if (!p.value()) {
                    state_ = State::done;
                    return Ready<void>{};
                }
                off_ += *p.value();
                if (off_ == len_) {
                    state_ = State::reading;
                }
                break;
            }
            case State::shutting_down:
                (void)stream_.poll_shutdown(cx); // always Ready for TCP
                state_ = State::done;
                return Ready<void>{};
            case State::done:
                POLLUX_ASSERT(false, "EchoConnection polled after it returned Ready");
                return Ready<void>{};
            }
        }
    }

private:
    enum class State { reading, writing, shutting_down, done };

    pollux::net::TcpStream stream_;
    std::unique_ptr<std::array<char, 16 * 1024>> buf_;
    std::size_t len_ = 0;
    std::size_t off_ = 0;
    State state_ = State::reading;
};

// Accepts until a signal arrives; Output: the exit status.
class Server {
public:
    using Output = int;

    Server(pollux::net::TcpListener l,
           pollux::signal::Signal sigint,
           pollux::signal::Signal sigterm)
        : listener_(std::move(l)), sigint_(std::move(sigint)), sigterm_(std::move(sigterm)) {}

    Poll<int> poll(Context& cx) {
        // Signals first: they win over a busy listener.
        if (sigint_.poll_next(cx).is_ready() || sigterm_.poll_next(cx).is_ready()) {
            return Ready{0};
        }
        for (;;) {
            auto p = listener_.poll_accept(cx);
            if (p.is_pending()) {
                return Pending{}; // also when the task's budget is spent
            }
            if (!p.value()) {
                std::cerr << "accept: " << p.value().error().message() << '\n';
                return Ready{1}; // not a per-connection or resource error
            }
            pollux::spawn(EchoConnection(std::move(p.value()->first))); // detached
        }
    }

private:
    pollux::net::TcpListener listener_;
    pollux::signal::Signal sigint_;
    pollux::signal::Signal sigterm_;
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
            std::cerr << "usage: " << argv[0] << " [--host H] [--port P]\n";
            return 2;
        }
    }
    pollux::Runtime rt;
    auto ex = rt.io_context().get_executor();
    auto sigint = pollux::signal::signal(ex, SIGINT);
    auto sigterm = pollux::signal::signal(ex, SIGTERM);
    auto listener = pollux::net::TcpListener::bind(host + ":" + port, ex);
    if (!listener) {
        std::cerr << "bind " << host << ":" << port << ": " << listener.error().message() << '\n';
        return 1;
    }
    auto addr = listener->local_addr().value();
    std::cout << "listening on " << addr.address().to_string() << ":" << addr.port() << std::endl;
    return rt.block_on(Server(std::move(*listener), std::move(sigint), std::move(sigterm)));
}
