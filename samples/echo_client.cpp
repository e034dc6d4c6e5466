// echo_client: a client for the echo servers, interactive or as a load
// generator.
//
// What it shows: `TcpStream::connect`, `io::BufReader::read_line`,
// `spawn_blocking` for a blocking read of stdin, and many concurrent
// connection tasks joined at the end.
//
// Run:    ./echo_client --port P [--host 127.0.0.1]
//           Interactive: each stdin line is sent and the echoed line printed
//           to stdout. Ends at end of stdin (it half-closes and drains).
//         ./echo_client --port P --conns N --bytes B --seconds S
//           Load: N connections each send B bytes and wait for the B bytes
//           to come back, in a loop for S seconds.
// Prints (load mode), one line:
//   conns=N bytes=B seconds=S round_trips=R rate=X/s p50=Aus p99=Bus errors=E

#include <pollux/core/async.hpp>
#include <pollux/io.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    std::string host = "127.0.0.1";
    std::string port;
    long conns = 0; // 0: interactive
    long bytes = 64;
    long seconds = 5;
};

pollux::Async<int> interactive(std::string addr) {
    auto conn = co_await pollux::net::TcpStream::connect(addr);
    if (!conn) {
        std::cerr << "connect " << addr << ": " << conn.error().message() << '\n';
        co_return 1;
    }
    pollux::io::BufReader<pollux::net::TcpStream> stream(std::move(*conn));
    for (;;) {
        // std::getline blocks, so it runs on the blocking pool.
        std::optional<std::string> line = co_await pollux::spawn_blocking([] {
            std::string l;
            return std::getline(std::cin, l) ? std::optional<std::string>(l + "\n") : std::nullopt;
        });
        if (!line) {
            break;
        }
        auto w = co_await pollux::io::write_all(stream, asio::buffer(*line));
        if (!w) {
            std::cerr << "write: " << w.error().message() << '\n';
            co_return 1;
        }
        std::string echoed;
        auto n = co_await stream.read_line(echoed);
        if (!n || *n == 0) {
            std::cerr << "server closed the connection\n";
            co_return 1;
        }
        std::cout << echoed << std::flush;
    }
    (void)co_await pollux::io::shutdown(stream);
    std::string rest;
    while (true) { // drain what is still in flight
        auto n = co_await stream.read_line(rest);
        if (!n || *n == 0) {
            break;
        }
    }
    std::cout << rest << std::flush;
    co_return 0;
}

struct ConnResult {
    std::vector<std::uint32_t> micros; // one per round trip
    bool error = false;
};

pollux::Async<ConnResult> load_one(std::string addr, std::size_t bytes, Clock::time_point end) {
    ConnResult out;
    auto conn = co_await pollux::net::TcpStream::connect(addr);
    if (!conn) {
        out.error = true;
        co_return out;
    }
    (void)conn->set_nodelay(true);
    std::vector<char> msg(bytes, 'x');
    std::vector<char> back(bytes);
    while (Clock::now() < end) {
        auto t0 = Clock::now();
        auto w = co_await pollux::io::write_all(*conn, asio::buffer(msg));
        auto r = w ? co_await pollux::io::read_exact(*conn, asio::buffer(back))
                   : pollux::Result<std::size_t>(boost::system::in_place_error, w.error());
        if (!r) {
            out.error = true;
            break;
        }
        out.micros.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
    }
    co_return out;
}

pollux::Async<int> load(Options o, std::string addr) {
    auto start = Clock::now();
    auto end = start + std::chrono::seconds(o.seconds);
    std::vector<pollux::JoinHandle<ConnResult>> tasks;
    for (long i = 0; i < o.conns; ++i) {
        tasks.push_back(pollux::spawn(load_one(addr, static_cast<std::size_t>(o.bytes), end)));
    }
    std::vector<std::uint32_t> all;
    long errors = 0;
    for (auto& t : tasks) {
        ConnResult r = co_await t;
        errors += r.error ? 1 : 0;
        all.insert(all.end(), r.micros.begin(), r.micros.end());
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) -> std::uint32_t {
        return all.empty()
                   ? 0
                   : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))];
    };
    std::cout << "conns=" << o.conns << " bytes=" << o.bytes << " seconds=" << o.seconds
              << " round_trips=" << all.size()
              << " rate=" << static_cast<long>(all.size() / elapsed) << "/s p50=" << pct(0.50)
              << "us p99=" << pct(0.99) << "us errors=" << errors << std::endl;
    co_return errors == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        std::string v = argv[i + 1];
        if (a == "--host") {
            o.host = v;
        } else if (a == "--port") {
            o.port = v;
        } else if (a == "--conns") {
            o.conns = std::atol(v.c_str());
        } else if (a == "--bytes") {
            o.bytes = std::atol(v.c_str());
        } else if (a == "--seconds") {
            o.seconds = std::atol(v.c_str());
        } else {
            o.port.clear();
            break;
        }
    }
    if (o.port.empty() || argc % 2 == 0 || o.bytes <= 0 || o.seconds < 0) {
        std::cerr << "usage: " << argv[0]
                  << " --port P [--host H] [--conns N --bytes B --seconds S]\n";
        return 2;
    }
    std::string addr = o.host + ":" + o.port;
    return o.conns > 0 ? pollux::run(load(o, addr)) : pollux::run(interactive(addr));
}
