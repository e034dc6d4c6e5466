#include <pollux/net/unix_listener.hpp>
#include <pollux/net/unix_stream.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/select.hpp>
#include <pollux/io.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace pollux;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using net::UnixListener;
using net::UnixStream;

namespace {

std::string temp_socket_path() {
    return (std::filesystem::temp_directory_path() /
            ("pollux_unix_test_" + std::to_string(::getpid()) + ".sock"))
        .string();
}

} // namespace

TEST_CASE("UnixListener accepts and UnixStream connects and echoes", "[net][unix]") {
    const std::string path = temp_socket_path();
    std::filesystem::remove(path);
    Runtime rt;
    rt.block_on([](std::string path) -> Async<> {
        auto l = UnixListener::bind(path);
        REQUIRE(l);
        REQUIRE(l->local_addr().value().path() == path);
        auto again = UnixListener::bind(path);
        REQUIRE_FALSE(again);
        REQUIRE(again.error() == asio::error::address_in_use);
        auto server = spawn([](UnixListener& l) -> Async<> {
            auto conn = co_await l.accept();
            REQUIRE(conn);
            auto [rd, wr] = conn->first.split();
            auto n = co_await io::copy(rd, wr);
            REQUIRE(n);
            auto s = co_await io::shutdown(conn->first);
            REQUIRE(s);
        }(*l));
        auto c = co_await UnixStream::connect(path);
        REQUIRE(c);
        REQUIRE(c->peer_addr().value().path() == path);
        io::BufReader<UnixStream> reader(std::move(*c));
        std::string req = "hello\nworld\n";
        auto w = co_await io::write_all(reader, asio::buffer(req));
        REQUIRE(w);
        auto sd = co_await io::shutdown(reader);
        REQUIRE(sd);
        std::string line;
        auto n1 = co_await reader.read_line(line);
        REQUIRE(*n1 == 6);
        auto n2 = co_await reader.read_line(line);
        REQUIRE(*n2 == 6);
        REQUIRE(line == req);
        auto n3 = co_await reader.read_line(line);
        REQUIRE(*n3 == 0);
        co_await server;
    }(path));
    std::filesystem::remove(path);
}

TEST_CASE("UnixStream connect to a missing path fails", "[net][unix]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto c = co_await UnixStream::connect("/nonexistent/pollux.sock");
        REQUIRE_FALSE(c);
        REQUIRE(c.error() == boost::system::errc::no_such_file_or_directory);
    }());
}

TEST_CASE("UnixStream pair reads are cancel safe under select", "[net][unix][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        auto& [a, b] = *p;
        auto writer = spawn([](UnixStream& s) -> Async<> {
            for (int i = 0; i < 200; ++i) {
                std::string chunk(97, char('a' + i % 26));
                auto w = co_await io::write_all(s, asio::buffer(chunk));
                REQUIRE(w);
                if (i % 20 == 0) {
                    co_await time::sleep(1ms);
                }
            }
            auto sd = co_await io::shutdown(s);
            REQUIRE(sd);
        }(a));
        std::string got;
        char buf[300];
        for (;;) {
            auto v = co_await select(io::read(b, asio::buffer(buf)), time::sleep(100us));
            if (v.index() == 1) {
                continue;
            }
            auto& n = std::get<0>(v);
            REQUIRE(n);
            if (*n == 0) {
                break;
            }
            got.append(buf, *n);
        }
        co_await writer;
        REQUIRE(got.size() == 200 * 97);
        for (int i = 0; i < 200; ++i) {
            REQUIRE(got.substr(static_cast<std::size_t>(i) * 97, 97) ==
                    std::string(97, char('a' + i % 26)));
        }
    }());
}
