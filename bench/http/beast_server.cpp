// beast_server: the HTTP benchmark's Boost.Beast + Asio baseline
// (bench/http/run.sh), with samples/http_server's routes: GET / (a fixed
// body), POST /echo (the body back), 404 otherwise; keep-alive, 8 KiB header
// and 1 MiB body limits. Asio C++20 coroutines, one coroutine per
// connection, one io_context run by THREADS threads (Beast's usual shape).
//
// Usage: beast_server PORT THREADS   (prints `listening on 127.0.0.1:PORT`)

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

static asio::awaitable<void> session(tcp::socket socket) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(8 * 1024);
        parser.body_limit(1024 * 1024);
        co_await http::async_read(
            socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            break;
        }
        auto req = parser.release();
        http::response<http::string_body> res;
        res.version(req.version());
        res.set(http::field::server, "beast");
        res.set(http::field::content_type, "text/plain");
        if (req.target() == "/" && req.method() == http::verb::get) {
            res.result(http::status::ok);
            res.body() = "Hello, world!\n";
        } else if (req.target() == "/echo" && req.method() == http::verb::post) {
            res.result(http::status::ok);
            res.body() = std::move(req.body());
        } else {
            res.result(http::status::not_found);
            res.body() = "not found\n";
        }
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || !req.keep_alive()) {
            break;
        }
    }
    socket.shutdown(tcp::socket::shutdown_send, ec);
}

static asio::awaitable<void> listener(tcp::acceptor& acceptor) {
    for (;;) {
        beast::error_code ec;
        tcp::socket s =
            co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) {
            s.set_option(tcp::no_delay(true), ec);
            asio::co_spawn(acceptor.get_executor(), session(std::move(s)), asio::detached);
        }
    }
}

int main(int argc, char** argv) {
    unsigned short port = argc > 1 ? static_cast<unsigned short>(std::stoi(argv[1])) : 0;
    int threads = argc > 2 ? std::stoi(argv[2]) : 1;
    asio::io_context ioc(threads);
    tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), port});
    std::cout << "listening on 127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
    asio::co_spawn(ioc, listener(acceptor), asio::detached);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { ioc.stop(); });
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) {
        pool.emplace_back([&] { ioc.run(); });
    }
    ioc.run();
    for (auto& t : pool) {
        t.join();
    }
}
