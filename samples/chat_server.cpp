// chat_server: a line-based chat room over TCP.
//
// What it shows: a `sync::broadcast` channel that every connection
// subscribes to, and per connection a `select` between reading the socket
// and receiving from the channel. Both branches are cancel safe
// (`io::read` takes bytes only in the poll that returns them; a broadcast
// `recv` takes a message only when it is ready), so whichever loses the
// race loses nothing. A reader that falls behind by more than the channel's
// capacity is told how many messages it missed, instead of making the server
// buffer without bound.
//
// Run:    ./chat_server [--host 127.0.0.1] [--port 0]
// Prints: `listening on 127.0.0.1:PORT` (first stdout line, flushed); exits
//         0 after SIGINT or SIGTERM.
// Try:    nc 127.0.0.1 PORT in two terminals, and type. Each client first
//         gets `* you are user N`; the others see `* user N joined`, then
//         `user N: <line>` for each line N sends, and `* user N left`.

#include <pollux/core/async.hpp>
#include <pollux/core/select.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/broadcast.hpp>
#include <pollux/time.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <string>
#include <variant>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct Options {
    std::string host = "127.0.0.1";
    std::string port = "0";
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--host" || a == "--port") && i + 1 < argc) {
            (a == "--host" ? o.host : o.port) = argv[++i];
        } else {
            std::cerr << "usage: " << argv[0] << " [--host H] [--port P]\n";
            return false;
        }
    }
    return true;
}

struct Message {
    std::uint64_t from; // 0: the server itself
    std::string text;   // one line, with its '\n'
};

using Room = pollux::sync::broadcast::Sender<Message>;

// A line longer than this without a '\n' ends the connection: the server
// never buffers without bound on behalf of one client.
constexpr std::size_t max_line = 64 * 1024;

pollux::Async<> serve(pollux::net::TcpStream stream, std::uint64_t id, Room room) {
    // Subscribe before greeting, so the client knows that from the moment it
    // reads the greeting it sees every later message.
    auto inbox = room.subscribe();
    const std::string hello = "* you are user " + std::to_string(id) + "\n";
    if (!co_await pollux::io::write_all(stream, asio::buffer(hello))) {
        co_return;
    }
    (void)room.send(Message{id, "* user " + std::to_string(id) + " joined\n"});

    std::array<char, 4096> buf;
    std::string partial;
    for (;;) {
        auto event =
            co_await pollux::select(pollux::io::read(stream, asio::buffer(buf)), inbox.recv());
        if (event.index() == 0) {
            auto n = std::get<0>(std::move(event));
            if (!n || *n == 0) {
                break; // the client left, or its connection broke
            }
            partial.append(buf.data(), *n);
            for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n')) {
                (void)room.send(
                    Message{id, "user " + std::to_string(id) + ": " + partial.substr(0, nl + 1)});
                partial.erase(0, nl + 1);
            }
            if (partial.size() > max_line) {
                break;
            }
            continue;
        }
        auto msg = std::get<1>(std::move(event));
        std::string text;
        if (msg) {
            if (msg->from == id) {
                continue; // our own line: the others get it, we do not
            }
            text = std::move(msg->text);
        } else if (msg.error().is_lagged()) {
            text = "* you missed " + std::to_string(msg.error().lagged_by()) + " messages\n";
        } else {
            break; // the room closed
        }
        if (!co_await pollux::io::write_all(stream, asio::buffer(text))) {
            break;
        }
    }
    (void)room.send(Message{0, "* user " + std::to_string(id) + " left\n"});
}

pollux::Async<> accept_loop(pollux::net::TcpListener& listener, Room& room) {
    std::uint64_t next_id = 1;
    for (;;) {
        auto conn = co_await listener.accept();
        if (!conn) {
            std::cerr << "accept: " << conn.error().message() << '\n';
            co_await pollux::time::sleep(100ms);
            continue;
        }
        pollux::spawn(serve(std::move(conn->first), next_id++, room)); // detached
    }
}

pollux::Async<int> async_main(Options o) {
    auto sigint = pollux::signal::signal(SIGINT);
    auto sigterm = pollux::signal::signal(SIGTERM);
    auto listener = pollux::net::TcpListener::bind(o.host + ":" + o.port);
    if (!listener) {
        std::cerr << "bind " << o.host << ":" << o.port << ": " << listener.error().message()
                  << '\n';
        co_return 1;
    }
    // 256 messages of history per client; a slower reader is told it lagged.
    // Each connection subscribes; the receiver made with the channel is
    // dropped at once.
    Room room = pollux::sync::broadcast::channel<Message>(256).first;
    auto addr = listener->local_addr().value();
    std::cout << "listening on " << addr.address().to_string() << ":" << addr.port() << std::endl;
    (void)co_await pollux::select(accept_loop(*listener, room), sigint.recv(), sigterm.recv());
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
