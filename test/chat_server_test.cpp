// Black-box test of samples/chat_server (issue: sync primitives and
// channels): three clients connect, each message reaches the other two, and
// a client that disconnects is dropped cleanly. The server's path comes in
// POLLUX_CHAT_SERVER (samples/meson.build sets it).

#include "support/server_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <istream>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using pollux::test::ServerProcess;

namespace {

// A blocking line client with a receive timeout, so a missing message fails
// the test instead of hanging it.
class Client {
public:
    Client(asio::io_context& io, const tcp::endpoint& ep) : sock_(io) {
        sock_.connect(ep);
        timeval tv{10, 0};
        ::setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        greeting_ = line();
    }

    std::string line() {
        asio::read_until(sock_, buf_, '\n');
        std::istream in(&buf_);
        std::string l;
        std::getline(in, l);
        return l;
    }

    // Reads lines until one contains `needle`; throws on timeout or EOF.
    std::string until(const std::string& needle) {
        for (;;) {
            std::string l = line();
            if (l.find(needle) != std::string::npos) {
                return l;
            }
        }
    }

    void say(const std::string& text) { asio::write(sock_, asio::buffer(text + "\n")); }
    void close() { sock_.close(); }
    const std::string& greeting() const { return greeting_; }

private:
    tcp::socket sock_;
    asio::streambuf buf_;
    std::string greeting_;
};

const char* server_path() {
    return std::getenv("POLLUX_CHAT_SERVER");
}

} // namespace

TEST_CASE("chat_server delivers each client's line to the two others", "[samples][chat]") {
    ServerProcess server(server_path());
    asio::io_context io;
    Client a(io, server.endpoint()), b(io, server.endpoint()), c(io, server.endpoint());
    REQUIRE(a.greeting() == "* you are user 1");
    REQUIRE(c.greeting() == "* you are user 3");

    a.say("hello from a");
    REQUIRE(b.until("hello from a") == "user 1: hello from a");
    REQUIRE(c.until("hello from a") == "user 1: hello from a");

    c.say("hi from c");
    REQUIRE(a.until("hi from c") == "user 3: hi from c");
    REQUIRE(b.until("hi from c") == "user 3: hi from c");
}

TEST_CASE("chat_server drops a client that disconnects and keeps serving the others",
          "[samples][chat]") {
    ServerProcess server(server_path());
    asio::io_context io;
    Client a(io, server.endpoint()), b(io, server.endpoint());
    auto c = std::make_unique<Client>(io, server.endpoint());
    c->close();
    c.reset();
    REQUIRE(a.until("left") == "* user 3 left");
    REQUIRE(b.until("left") == "* user 3 left");
    b.say("still here");
    REQUIRE(a.until("still here") == "user 2: still here");
}

TEST_CASE("chat_server exits 0 on SIGTERM with clients connected", "[samples][chat]") {
    ServerProcess server(server_path());
    asio::io_context io;
    Client a(io, server.endpoint()), b(io, server.endpoint());
    ::kill(server.pid(), SIGTERM);
    auto status = server.wait_exit(std::chrono::seconds(10));
    REQUIRE(status.has_value());
    REQUIRE(WIFEXITED(*status));
    REQUIRE(WEXITSTATUS(*status) == 0);
}
