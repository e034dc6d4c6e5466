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
//         ./echo_client --port P --conns N --bytes B --round-trips T
//           Load, a fixed amount: T round trips in all, spread evenly over
//           the N connections (what bench/echo/deterministic.sh counts).
//           With --pace-us U, each connection pauses U microseconds after
//           each round trip, so every request finds the server idle.
//         ./echo_client --port P --conns N --bytes B --shape sweep
//                       (--seconds S | --round-trips T)
//           Load in sweeps: one task writes one message on every
//           connection, then reads every reply, and only then starts the
//           next sweep. The server finds the N requests readable together,
//           one in each socket: busy, but never saturated (the default
//           shape, pingpong, runs each connection's round trips on its own).
//         ./echo_client --ports P1,P2,.. --conns N --bytes B
//                       [--slice-ms M] [--rounds R]
//           Interleaved load (bench/echo/run.sh): N connections to each
//           port, opened first; then the load switches from port to port
//           every M ms (default 300), R times round all ports (default 3),
//           after one warm-up slice each, so drift on a shared machine hits
//           every server alike.
//         ./echo_client --port P --conns N --idle S [--bytes B]
//           Idle: opens N connections (one round trip of B bytes each when
//           B > 0; default 0), prints `connected N`, holds them S seconds.
// Prints (load mode), one line:
//   conns=N bytes=B seconds=S round_trips=R rate=X/s p50=Aus p99=Bus errors=E
// (interleaved mode: one such line per port, starting `port=P`, where rate
// is the median over that port's slices and min/max are given too, and
// all_round_trips counts the warm-up slices as well).

#include <pollux/core/async.hpp>
#include <pollux/io.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time.hpp>

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
    std::vector<std::string> ports; // interleaved mode when not empty
    long conns = 0;                 // 0: interactive
    long bytes = 64;
    bool bytes_given = false;
    long seconds = 5;
    long round_trips = -1; // -1: run for `seconds` instead
    long pace_us = 0;      // pause after each round trip (each sweep)
    bool sweep = false;    // --shape sweep
    long slice_ms = 300;
    long rounds = 3;
    long idle = -1; // -1: not the idle mode
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

// Round trips on `conn` until `end` or until `count` were made (count < 0:
// no limit), appending each one's latency to `out`; a pause of `pace`
// after each one.
pollux::Async<> round_trips(pollux::net::TcpStream& conn,
                            std::size_t bytes,
                            Clock::time_point end,
                            long count,
                            ConnResult& out,
                            std::chrono::microseconds pace = {}) {
    std::vector<char> msg(bytes, 'x');
    std::vector<char> back(bytes);
    for (long i = 0; count < 0 ? Clock::now() < end : i < count; ++i) {
        auto t0 = Clock::now();
        auto w = co_await pollux::io::write_all(conn, asio::buffer(msg));
        auto r = w ? co_await pollux::io::read_exact(conn, asio::buffer(back))
                   : pollux::Result<std::size_t>(boost::system::in_place_error, w.error());
        if (!r) {
            out.error = true;
            break;
        }
        out.micros.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
        if (pace.count() > 0) {
            co_await pollux::time::sleep(pace);
        }
    }
}

pollux::Async<ConnResult> load_one(std::string addr,
                                   std::size_t bytes,
                                   Clock::time_point end,
                                   long count,
                                   std::chrono::microseconds pace) {
    ConnResult out;
    auto conn = co_await pollux::net::TcpStream::connect(addr);
    if (!conn) {
        out.error = true;
        co_return out;
    }
    (void)conn->set_nodelay(true);
    co_await round_trips(*conn, bytes, end, count, out, pace);
    co_return out;
}

// The `p` quantile of sorted `v` (0 when empty).
template <class T>
T quantile(const std::vector<T>& v, double p) {
    return v.empty() ? T{} : v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

// The load modes' one line of output; `all` is every round trip's latency.
void report(const Options& o,
            std::vector<std::uint32_t>& all,
            long errors,
            Clock::time_point start) {
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::sort(all.begin(), all.end());
    std::cout << "conns=" << o.conns << " bytes=" << o.bytes << " seconds=" << o.seconds
              << " round_trips=" << all.size()
              << " rate=" << static_cast<long>(all.size() / elapsed)
              << "/s p50=" << quantile(all, 0.50) << "us p99=" << quantile(all, 0.99)
              << "us errors=" << errors << std::endl;
}

// --shape sweep: the connections are opened first; then each sweep writes
// one message on every connection and reads the replies in the same order.
// A round trip's latency runs from the start of its sweep to its reply.
pollux::Async<int> load_sweep(Options o, std::string addr) {
    std::vector<pollux::net::TcpStream> conns;
    for (long i = 0; i < o.conns; ++i) {
        auto conn = co_await pollux::net::TcpStream::connect(addr);
        if (!conn) {
            std::cerr << "connect " << addr << ": " << conn.error().message() << '\n';
            co_return 1;
        }
        (void)conn->set_nodelay(true);
        conns.push_back(std::move(*conn));
    }
    const auto start = Clock::now();
    const auto end = start + std::chrono::seconds(o.seconds);
    std::vector<char> msg(static_cast<std::size_t>(o.bytes), 'x');
    std::vector<char> back(msg.size());
    std::vector<std::uint32_t> all;
    bool error = false;
    long done = 0;
    while (!error && (o.round_trips < 0 ? Clock::now() < end : done < o.round_trips)) {
        // --round-trips T: the last sweep covers the first T % N connections.
        const std::size_t k =
            o.round_trips < 0 ? conns.size()
                              : static_cast<std::size_t>(std::min(o.conns, o.round_trips - done));
        const auto t0 = Clock::now();
        for (std::size_t i = 0; i < k && !error; ++i) {
            error = !co_await pollux::io::write_all(conns[i], asio::buffer(msg));
        }
        for (std::size_t i = 0; i < k && !error; ++i) {
            if (!co_await pollux::io::read_exact(conns[i], asio::buffer(back))) {
                error = true;
                break;
            }
            all.push_back(static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
        }
        done += static_cast<long>(k);
        if (o.pace_us > 0) {
            co_await pollux::time::sleep(std::chrono::microseconds(o.pace_us));
        }
    }
    report(o, all, error ? 1 : 0, start);
    co_return error ? 1 : 0;
}

pollux::Async<int> load(Options o, std::string addr) {
    auto start = Clock::now();
    auto end = start + std::chrono::seconds(o.seconds);
    std::vector<pollux::JoinHandle<ConnResult>> tasks;
    for (long i = 0; i < o.conns; ++i) {
        // --round-trips T: T / N each, the first T % N connections one more.
        long count =
            o.round_trips < 0 ? -1 : o.round_trips / o.conns + (i < o.round_trips % o.conns);
        tasks.push_back(pollux::spawn(load_one(addr,
                                               static_cast<std::size_t>(o.bytes),
                                               end,
                                               count,
                                               std::chrono::microseconds(o.pace_us))));
    }
    std::vector<std::uint32_t> all;
    long errors = 0;
    for (auto& t : tasks) {
        ConnResult r = co_await t;
        errors += r.error ? 1 : 0;
        all.insert(all.end(), r.micros.begin(), r.micros.end());
    }
    report(o, all, errors, start);
    co_return errors == 0 ? 0 : 1;
}

// What the interleaved mode gathers for one port.
struct PortResult {
    std::vector<pollux::net::TcpStream> conns;
    std::vector<double> rates; // round trips/s, one per measured slice
    std::vector<std::uint32_t> micros;
    long round_trips = 0;     // in the measured slices
    long all_round_trips = 0; // warm-up slices too
    long errors = 0;
};

// One connection's part of a slice.
pollux::Async<ConnResult>
slice_one(pollux::net::TcpStream& conn, std::size_t bytes, Clock::time_point end) {
    ConnResult out;
    co_await round_trips(conn, bytes, end, -1, out);
    co_return out;
}

// One slice: every connection of `port` makes round trips until `end`.
pollux::Async<> run_slice(PortResult& port, std::size_t bytes, long ms, bool measured) {
    auto start = Clock::now();
    auto end = start + std::chrono::milliseconds(ms);
    std::vector<pollux::JoinHandle<ConnResult>> tasks;
    tasks.reserve(port.conns.size());
    for (auto& c : port.conns) {
        tasks.push_back(pollux::spawn(slice_one(c, bytes, end)));
    }
    long count = 0;
    for (auto& t : tasks) {
        ConnResult r = co_await t;
        port.errors += r.error ? 1 : 0;
        count += static_cast<long>(r.micros.size());
        port.all_round_trips += static_cast<long>(r.micros.size());
        if (measured) {
            port.micros.insert(port.micros.end(), r.micros.begin(), r.micros.end());
        }
    }
    if (measured) {
        port.round_trips += count;
        port.rates.push_back(count / std::chrono::duration<double>(Clock::now() - start).count());
    }
}

pollux::Async<int> interleaved(Options o) {
    std::vector<PortResult> ports(o.ports.size());
    for (std::size_t p = 0; p < ports.size(); ++p) {
        // One connection at a time, so no listen backlog overflows.
        for (long i = 0; i < o.conns; ++i) {
            auto conn = co_await pollux::net::TcpStream::connect(o.host + ":" + o.ports[p]);
            if (!conn) {
                std::cerr << "connect " << o.host << ":" << o.ports[p] << ": "
                          << conn.error().message() << '\n';
                co_return 1;
            }
            (void)conn->set_nodelay(true);
            ports[p].conns.push_back(std::move(*conn));
        }
    }
    const auto bytes = static_cast<std::size_t>(o.bytes);
    for (long round = 0; round <= o.rounds; ++round) { // round 0 warms up
        for (auto& port : ports) {
            co_await run_slice(port, bytes, o.slice_ms, round > 0);
        }
    }
    long errors = 0;
    for (std::size_t p = 0; p < ports.size(); ++p) {
        auto& r = ports[p];
        std::sort(r.micros.begin(), r.micros.end());
        std::sort(r.rates.begin(), r.rates.end());
        errors += r.errors;
        std::cout << "port=" << o.ports[p] << " conns=" << o.conns << " bytes=" << o.bytes
                  << " slices=" << r.rates.size() << " round_trips=" << r.round_trips
                  << " all_round_trips=" << r.all_round_trips
                  << " rate=" << static_cast<long>(quantile(r.rates, 0.5))
                  << "/s min=" << static_cast<long>(r.rates.empty() ? 0 : r.rates.front())
                  << "/s max=" << static_cast<long>(r.rates.empty() ? 0 : r.rates.back())
                  << "/s p50=" << quantile(r.micros, 0.50) << "us p99=" << quantile(r.micros, 0.99)
                  << "us errors=" << r.errors << std::endl;
    }
    co_return errors == 0 ? 0 : 1;
}

pollux::Async<int> idle(Options o, std::string addr) {
    std::vector<pollux::net::TcpStream> conns;
    conns.reserve(static_cast<std::size_t>(o.conns));
    for (long i = 0; i < o.conns; ++i) {
        auto conn = co_await pollux::net::TcpStream::connect(addr);
        if (!conn) {
            std::cerr << "connect " << addr << " (connection " << i + 1
                      << "): " << conn.error().message() << '\n';
            co_return 1;
        }
        if (o.bytes > 0) {
            ConnResult r;
            co_await round_trips(*conn, static_cast<std::size_t>(o.bytes), Clock::now(), 1, r);
            if (r.error) {
                co_return 1;
            }
        }
        conns.push_back(std::move(*conn));
    }
    std::cout << "connected " << conns.size() << std::endl;
    co_await pollux::time::sleep(std::chrono::seconds(o.idle));
    co_return 0;
}

// "a,b,c" -> {"a", "b", "c"}
std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto comma = s.find(',', start);
        out.push_back(s.substr(start, comma - start));
        if (comma == std::string::npos) {
            return out;
        }
        start = comma + 1;
    }
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
            o.bytes_given = true;
        } else if (a == "--seconds") {
            o.seconds = std::atol(v.c_str());
        } else if (a == "--round-trips") {
            o.round_trips = std::atol(v.c_str());
        } else if (a == "--pace-us") {
            o.pace_us = std::atol(v.c_str());
        } else if (a == "--ports") {
            o.ports = split_commas(v);
        } else if (a == "--slice-ms") {
            o.slice_ms = std::atol(v.c_str());
        } else if (a == "--rounds") {
            o.rounds = std::atol(v.c_str());
        } else if (a == "--idle") {
            o.idle = std::atol(v.c_str());
        } else if (a == "--shape" && (v == "pingpong" || v == "sweep")) {
            o.sweep = v == "sweep";
        } else {
            o.port.clear();
            break;
        }
    }
    if (o.idle >= 0 && !o.bytes_given) {
        o.bytes = 0; // idle connections send nothing unless asked to
    }
    const bool bad_ports =
        std::any_of(o.ports.begin(), o.ports.end(), [](const std::string& p) { return p.empty(); });
    if ((o.port.empty() && o.ports.empty()) || argc % 2 == 0 || bad_ports ||
        o.bytes < (o.idle >= 0 ? 0 : 1) || o.seconds < 0 || o.slice_ms <= 0 || o.rounds < 1 ||
        o.pace_us < 0 ||
        ((!o.ports.empty() || o.idle >= 0 || o.round_trips >= 0 || o.sweep) && o.conns <= 0) ||
        (o.sweep && (!o.ports.empty() || o.idle >= 0))) {
        std::cerr << "usage: " << argv[0]
                  << " --port P [--host H] [--conns N --bytes B (--seconds S | --round-trips T)]\n"
                  << "       [--pace-us U] [--shape pingpong|sweep]\n"
                  << "       " << argv[0]
                  << " --ports P1,P2,.. --conns N --bytes B [--slice-ms M] [--rounds R]\n"
                  << "       " << argv[0] << " --port P --conns N --idle S [--bytes B]\n";
        return 2;
    }
    if (!o.ports.empty()) {
        return pollux::run(interleaved(o));
    }
    std::string addr = o.host + ":" + o.port;
    if (o.idle >= 0) {
        return pollux::run(idle(o, addr));
    }
    if (o.sweep) {
        return pollux::run(load_sweep(o, addr));
    }
    return o.conns > 0 ? pollux::run(load(o, addr)) : pollux::run(interactive(addr));
}
