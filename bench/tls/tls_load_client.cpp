// tls_load_client: the TLS echo benchmark's load generator (bench/tls/run.sh).
// It opens --conns TLS connections to each server in --ports, pinning the
// TLS 1.3 suite with --ciphersuites (so every server negotiates the same
// one), then measures closed-loop ping-pong: each connection writes --bytes
// bytes, reads the echo back in full, checks it, and writes again. The
// servers take turns in time slices (A B C A B C ..., one warm-up round,
// then --rounds measured rounds of --slice-ms each); in a slice only that
// server's connections run, so drift on a shared machine hits every server
// alike.
//
// With --messages N it makes instead exactly N round trips on every
// connection, server after server, and prints
//   port=P cipher=NAME messages=M errors=E
// (bench/tls/deterministic.sh counts the servers' instructions and syscalls
// over a fixed number of messages with it).
//
// Prints one line per server:
//   port=P cipher=NAME rate=MEDIAN min=MIN max=MAX errors=E
//          [cpu_ns_per_msg=NS server_cpu=PCT]
// (messages/s: round trips completed inside a slice over its length; with
// --pids, one server pid per port, the server's CPU time (/proc) per
// message echoed and in percent of the slices' time, over the measured
// slices: a server below 100% was not the limit, and its CPU per message
// is then the fairer comparison), then
// `client_cpu=PCT` (CPU time of this process over the measured wall time,
// in percent of one core: near 100 x --threads means the client, not the
// server, may be the limit).
//
// Build: g++ -std=c++20 -O2 tls_load_client.cpp -lssl -lcrypto -pthread

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// The server whose connections run now (-1: none), and how many connections
// are still between a kick and noticing that their slice ended.
std::atomic<int> active{-1};
std::atomic<int> busy{0};

struct Conn {
    Conn(asio::io_context& io, ssl::context& ctx, int server, std::size_t bytes)
        : stream(io, ctx), server(server), out(bytes), in(bytes) {
        for (std::size_t i = 0; i < bytes; ++i) {
            out[i] = static_cast<char>('a' + i % 26);
        }
    }

    // Runs on the connection's own io_context thread only; `count` and
    // `errors` are read by the controller after `busy` drops to zero.
    void step() {
        if (dead || active.load(std::memory_order_acquire) != server ||
            (limit >= 0 && count >= limit)) {
            busy.fetch_sub(1, std::memory_order_acq_rel);
            return;
        }
        asio::async_write(
            stream, asio::buffer(out), [this](boost::system::error_code ec, std::size_t) {
                if (ec) {
                    fail();
                    return;
                }
                asio::async_read(
                    stream, asio::buffer(in), [this](boost::system::error_code ec2, std::size_t) {
                        if (ec2 || std::memcmp(in.data(), out.data(), in.size()) != 0) {
                            fail();
                            return;
                        }
                        // Only round trips that end inside the slice count.
                        if (active.load(std::memory_order_acquire) == server) {
                            ++count;
                        }
                        step();
                    });
            });
    }

    void fail() {
        dead = true;
        ++errors;
        busy.fetch_sub(1, std::memory_order_acq_rel);
    }

    ssl::stream<tcp::socket> stream;
    int server;
    std::vector<char> out, in;
    long count = 0;
    long limit = -1; // --messages: stop after this many round trips
    long errors = 0;
    bool dead = false;
};

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The CPU time (user + system) process `pid` has used, from /proc; -1 when
// it cannot be read.
double process_cpu_seconds(const std::string& pid) {
    std::ifstream f("/proc/" + pid + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto paren = stat.rfind(')');
    if (pid.empty() || paren == std::string::npos) {
        return -1;
    }
    // After the command's ")": state is field 3, utime and stime 14 and 15.
    std::stringstream ss(stat.substr(paren + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && ss >> field; ++i) {
        if (i == 14) {
            utime = std::stod(field);
        } else if (i == 15) {
            stime = std::stod(field);
        }
    }
    return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

} // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", ports_arg, pids_arg, suites = "TLS_AES_128_GCM_SHA256";
    int conns = 64, rounds = 3, slice_ms = 1000, threads = 2;
    long messages = 0;
    std::size_t bytes = 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i], v = argv[i + 1];
        if (a == "--host") {
            host = v;
        } else if (a == "--ports") {
            ports_arg = v;
        } else if (a == "--pids") {
            pids_arg = v;
        } else if (a == "--ciphersuites") {
            suites = v;
        } else if (a == "--conns") {
            conns = std::stoi(v);
        } else if (a == "--bytes") {
            bytes = std::stoul(v);
        } else if (a == "--rounds") {
            rounds = std::stoi(v);
        } else if (a == "--slice-ms") {
            slice_ms = std::stoi(v);
        } else if (a == "--threads") {
            threads = std::stoi(v);
        } else if (a == "--messages") {
            messages = std::stol(v);
        } else {
            ports_arg.clear();
        }
    }
    if (ports_arg.empty() || argc % 2 == 0 || conns < 1 || bytes < 1 || rounds < 1 ||
        slice_ms < 1 || threads < 1 || messages < 0) {
        std::fprintf(
            stderr,
            "usage: %s --ports P1,P2,.. [--host H] [--conns 64] [--bytes 1024] "
            "[--rounds 3] [--slice-ms 1000] [--threads 2] [--ciphersuites S] [--pids PID1,..] "
            "[--messages N]\n",
            argv[0]);
        return 2;
    }
    std::vector<std::string> ports, pids;
    {
        std::stringstream ss(ports_arg);
        for (std::string p; std::getline(ss, p, ',');) {
            ports.push_back(p);
        }
        std::stringstream ps(pids_arg);
        for (std::string p; std::getline(ps, p, ',');) {
            pids.push_back(p);
        }
        pids.resize(ports.size());
    }
    try {
        ssl::context ctx(ssl::context::tls_client);
        SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION);
        if (SSL_CTX_set_ciphersuites(ctx.native_handle(), suites.c_str()) != 1) {
            std::fprintf(stderr, "tls_load_client: bad --ciphersuites %s\n", suites.c_str());
            return 2;
        }
        ctx.set_verify_mode(ssl::verify_none); // a throwaway self-signed certificate

        std::vector<std::unique_ptr<asio::io_context>> ios;
        for (int t = 0; t < threads; ++t) {
            ios.push_back(std::make_unique<asio::io_context>(1));
        }
        // Connections and handshakes, synchronously, before any thread runs.
        std::vector<std::vector<std::unique_ptr<Conn>>> by_server(ports.size());
        std::vector<std::string> cipher(ports.size());
        tcp::resolver resolver(*ios[0]);
        int next = 0;
        for (std::size_t s = 0; s < ports.size(); ++s) {
            auto eps = resolver.resolve(host, ports[s]);
            for (int c = 0; c < conns; ++c) {
                auto conn =
                    std::make_unique<Conn>(*ios[next++ % threads], ctx, static_cast<int>(s), bytes);
                asio::connect(conn->stream.lowest_layer(), eps);
                conn->stream.lowest_layer().set_option(tcp::no_delay(true));
                conn->stream.handshake(ssl::stream_base::client);
                cipher[s] =
                    SSL_CIPHER_get_name(SSL_get_current_cipher(conn->stream.native_handle()));
                by_server[s].push_back(std::move(conn));
            }
        }
        std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
        std::vector<std::thread> pool;
        for (auto& io : ios) {
            guards.push_back(asio::make_work_guard(*io));
            pool.emplace_back([&io] { io->run(); });
        }

        if (messages > 0) {
            // A fixed count, server after server, no slices: every
            // connection makes `messages` round trips.
            for (std::size_t s = 0; s < ports.size(); ++s) {
                busy.store(static_cast<int>(by_server[s].size()), std::memory_order_release);
                active.store(static_cast<int>(s), std::memory_order_release);
                for (auto& c : by_server[s]) {
                    c->limit = messages;
                    asio::post(c->stream.get_executor(), [p = c.get()] { p->step(); });
                }
                while (busy.load(std::memory_order_acquire) != 0) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                active.store(-1, std::memory_order_release);
                long count = 0, errors = 0;
                for (auto& c : by_server[s]) {
                    count += c->count;
                    errors += c->errors;
                }
                std::printf("port=%s cipher=%s messages=%ld errors=%ld\n",
                            ports[s].c_str(),
                            cipher[s].c_str(),
                            count,
                            errors);
            }
            std::fflush(stdout);
            for (auto& io : ios) {
                io->stop();
            }
            for (auto& t : pool) {
                t.join();
            }
            return 0;
        }
        std::vector<std::vector<double>> rates(ports.size());
        // Per server over the measured slices: its CPU seconds, the
        // messages it echoed and the slices' length.
        std::vector<double> server_cpu(ports.size()), msgs(ports.size()), busy_secs(ports.size());
        double cpu0 = 0;
        auto wall0 = Clock::now();
        for (int r = 0; r <= rounds; ++r) { // round 0 warms up
            if (r == 1) {
                cpu0 = cpu_seconds();
                wall0 = Clock::now();
            }
            for (std::size_t s = 0; s < ports.size(); ++s) {
                long before = 0;
                for (auto& c : by_server[s]) {
                    before += c->count;
                }
                busy.store(static_cast<int>(by_server[s].size()), std::memory_order_release);
                double cpu_before = process_cpu_seconds(pids[s]);
                auto start = Clock::now();
                active.store(static_cast<int>(s), std::memory_order_release);
                for (auto& c : by_server[s]) {
                    asio::post(c->stream.get_executor(), [p = c.get()] { p->step(); });
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(slice_ms));
                active.store(-1, std::memory_order_release);
                auto end = Clock::now();
                while (busy.load(std::memory_order_acquire) != 0) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                long after = 0;
                for (auto& c : by_server[s]) {
                    after += c->count;
                }
                double secs = std::chrono::duration<double>(end - start).count();
                double cpu_after = process_cpu_seconds(pids[s]);
                if (r > 0) {
                    rates[s].push_back(static_cast<double>(after - before) / secs);
                    server_cpu[s] += cpu_after - cpu_before;
                    msgs[s] += static_cast<double>(after - before);
                    busy_secs[s] += secs;
                }
            }
        }
        double cpu = cpu_seconds() - cpu0;
        double wall = std::chrono::duration<double>(Clock::now() - wall0).count();
        for (std::size_t s = 0; s < ports.size(); ++s) {
            auto v = rates[s];
            std::sort(v.begin(), v.end());
            long errors = 0;
            for (auto& c : by_server[s]) {
                errors += c->errors;
            }
            std::printf("port=%s cipher=%s rate=%.0f min=%.0f max=%.0f errors=%ld",
                        ports[s].c_str(),
                        cipher[s].c_str(),
                        v[v.size() / 2],
                        v.front(),
                        v.back(),
                        errors);
            if (!pids[s].empty() && msgs[s] > 0) {
                std::printf(" cpu_ns_per_msg=%.0f server_cpu=%.0f",
                            1e9 * server_cpu[s] / msgs[s],
                            100.0 * server_cpu[s] / busy_secs[s]);
            }
            std::printf("\n");
        }
        std::printf("client_cpu=%.0f\n", 100.0 * cpu / wall);
        std::fflush(stdout);
        for (auto& io : ios) {
            io->stop();
        }
        for (auto& t : pool) {
            t.join();
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tls_load_client: %s\n", e.what());
        return 1;
    }
    return 0;
}
