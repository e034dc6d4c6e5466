#include <pollux/sim/tcp_listener.hpp>
#include <pollux/sim/tcp_stream.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/io/async_read.hpp>
#include <pollux/io/async_write.hpp>
#include <pollux/io/copy.hpp>
#include <pollux/io/read.hpp>
#include <pollux/io/read_exact.hpp>
#include <pollux/io/shutdown.hpp>
#include <pollux/io/write_all.hpp>
#include <pollux/join_handle.hpp>
#include <pollux/sim/network.hpp>
#include <pollux/sim/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/clock.hpp>
#include <pollux/time/sleep.hpp>
#include <pollux/time/timeout.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
namespace sim = pollux::sim;
namespace io = pollux::io;
using boost::asio::buffer;
using endpoint = boost::asio::ip::tcp::endpoint;

namespace {

const auto server_ip = boost::asio::ip::make_address("10.0.0.2");
constexpr std::uint16_t echo_port = 7000;

template <class T>
T ok_or_throw(pollux::Result<T> r, const char* what) {
    if (!r) {
        throw boost::system::system_error(r.error(), what);
    }
    if constexpr (!std::is_void_v<T>) {
        return std::move(*r);
    }
}

pollux::Async<void> echo_connection(sim::TcpStream s) {
    auto [r, w] = s.split();
    (void)co_await io::copy(r, w);
    (void)co_await io::shutdown(w);
}

// Accepts for ever; each connection is echoed by its own task.
pollux::Async<void> echo_server() {
    auto l = sim::TcpListener::bind(endpoint(boost::asio::ip::address_v4::any(), echo_port));
    if (!l) {
        throw boost::system::system_error(l.error(), "bind");
    }
    for (;;) {
        auto c = co_await l->accept();
        if (!c) {
            co_return;
        }
        pollux::spawn(echo_connection(std::move(c->first)));
    }
}

// Reads until end of stream.
template <class R>
pollux::Async<std::string> read_to_end(R& s) {
    std::string out;
    char chunk[4096];
    for (;;) {
        std::size_t n = ok_or_throw(co_await io::read(s, buffer(chunk)), "read");
        if (n == 0) {
            co_return out;
        }
        out.append(chunk, n);
    }
}

pollux::Async<void> send_and_shutdown(sim::TcpStream::WriteHalf* w, const std::string* msg) {
    ok_or_throw(co_await io::write_all(*w, buffer(*msg)), "write_all");
    ok_or_throw(co_await io::shutdown(*w), "shutdown");
}

// Connects, sends `msg` and shuts down while it reads the echo to its end.
// (Writing it all before reading would deadlock once both windows fill, as
// it would over real TCP.)
pollux::Async<std::string> echo_once(std::string msg) {
    auto s =
        ok_or_throw(co_await sim::TcpStream::connect(endpoint(server_ip, echo_port)), "connect");
    auto [r, w] = s.split();
    auto both = co_await pollux::join(send_and_shutdown(&w, &msg), read_to_end(r));
    co_return std::get<1>(std::move(both));
}

// The same, but writing everything before reading anything.
pollux::Async<std::string> echo_write_first(std::string msg) {
    auto s =
        ok_or_throw(co_await sim::TcpStream::connect(endpoint(server_ip, echo_port)), "connect");
    ok_or_throw(co_await io::write_all(s, buffer(msg)), "write_all");
    ok_or_throw(co_await io::shutdown(s), "shutdown");
    co_return co_await read_to_end(s);
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    }
    return s;
}

pollux::Async<pollux::Result<sim::TcpStream>> connect_to(endpoint ep) {
    co_return co_await sim::TcpStream::connect(ep);
}

// How long (virtual time) the connect and then one echo of a short message take.
pollux::Async<std::pair<pollux::time::Duration, pollux::time::Duration>> timed_echo() {
    const auto t0 = pollux::time::Clock::now();
    auto s =
        ok_or_throw(co_await sim::TcpStream::connect(endpoint(server_ip, echo_port)), "connect");
    const auto t1 = pollux::time::Clock::now();
    ok_or_throw(co_await io::write_all(s, buffer("ping", 4)), "write_all");
    char back[4];
    ok_or_throw(co_await io::read_exact(s, buffer(back)), "read_exact");
    const auto t2 = pollux::time::Clock::now();
    co_return std::pair{t1 - t0, t2 - t1};
}

} // namespace

TEST_CASE("sim::TcpStream is an io::AsyncRead and io::AsyncWrite", "[sim][net]") {
    STATIC_REQUIRE(io::AsyncRead<sim::TcpStream>);
    STATIC_REQUIRE(io::AsyncWrite<sim::TcpStream>);
}

TEST_CASE("sim::TcpStream echoes through a sim::TcpListener with io::copy", "[sim][net]") {
    sim::Runtime rt(1);
    const auto server = rt.network().add_host(server_ip);
    rt.spawn_on(server, echo_server());
    // Larger than the window, so the writer waits for the reader.
    const std::string msg = pattern(3 * sim::Network::window + 123);
    REQUIRE(rt.block_on(echo_once(msg)) == msg);
}

TEST_CASE("sim::Runtime reports the deadlock of a client that writes a large echo before reading",
          "[sim][net]") {
    sim::Runtime rt(1);
    const auto server = rt.network().add_host(server_ip);
    rt.spawn_on(server, echo_server());
    const std::string msg = pattern(3 * sim::Network::window);
    REQUIRE_THROWS_AS(rt.block_on(echo_write_first(msg)), sim::Deadlock);
}

TEST_CASE("sim::TcpStream::connect to a port nobody listens on is refused", "[sim][net]") {
    sim::Runtime rt(2);
    rt.network().add_host(server_ip);
    auto r = rt.block_on(connect_to(endpoint(server_ip, 9)));
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error() == boost::asio::error::connection_refused);
    REQUIRE(rt.elapsed() == 2ms); // the SYN there and the RST back, 1 ms each
}

TEST_CASE("sim::TcpStream::connect to an address no host has is unreachable", "[sim][net]") {
    sim::Runtime rt(3);
    auto r = rt.block_on(connect_to(endpoint(server_ip, echo_port)));
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error() == boost::asio::error::host_unreachable);
}

TEST_CASE("sim::TcpStream sees the link's latency on the virtual clock", "[sim][net]") {
    sim::Runtime rt(4);
    const auto server = rt.network().add_host(server_ip);
    sim::LinkFaults slow;
    slow.latency = 50ms;
    rt.network().set_link_faults(0, server, slow);
    rt.spawn_on(server, echo_server());
    const auto [connect_time, echo_time] = rt.block_on(timed_echo());
    REQUIRE(connect_time == 100ms);
    REQUIRE(echo_time == 100ms);
}

TEST_CASE("sim::TcpStream delivers every byte in order despite loss and reordering", "[sim][net]") {
    sim::Runtime rt(5);
    const auto server = rt.network().add_host(server_ip);
    sim::LinkFaults bad;
    bad.latency = 5ms;
    bad.jitter = 20ms;
    bad.loss = 0.2;
    bad.reorder = true;
    rt.network().set_link_faults(0, server, bad);
    rt.spawn_on(server, echo_server());
    const std::string msg = pattern(200'000);
    REQUIRE(rt.block_on(echo_once(msg)) == msg);
    const sim::NetworkStats st = rt.network().stats();
    REQUIRE(st.retransmissions > 0);
    REQUIRE(st.out_of_order > 0);
}

namespace {

// Sends "ping" across a partition: the echo cannot come back before the
// heal. Returns (timed out during the partition, the echo after the heal,
// virtual time from heal to echo).
pollux::Async<std::tuple<bool, std::string, pollux::time::Duration>>
ping_across_partition(sim::Network* net, sim::HostId server) {
    auto s =
        ok_or_throw(co_await sim::TcpStream::connect(endpoint(server_ip, echo_port)), "connect");
    net->partition(0, server);
    ok_or_throw(co_await io::write_all(s, buffer("ping", 4)), "write_all");
    char back[4] = {};
    auto first = co_await pollux::time::timeout(10s, io::read(s, buffer(back)));
    const bool timed_out = !first && first.error() == pollux::time::errc::elapsed;
    net->heal(0, server);
    const auto healed_at = pollux::time::Clock::now();
    ok_or_throw(co_await io::read_exact(s, buffer(back)), "read_exact");
    co_return std::tuple{timed_out, std::string(back, 4), pollux::time::Clock::now() - healed_at};
}

} // namespace

TEST_CASE("sim::Network::partition holds segments back until heal", "[sim][net]") {
    sim::Runtime rt(6);
    const auto server = rt.network().add_host(server_ip);
    rt.spawn_on(server, echo_server());
    const auto [timed_out, echo, after_heal] =
        rt.block_on(ping_across_partition(&rt.network(), server));
    REQUIRE(timed_out);
    REQUIRE(echo == "ping");
    // The next retransmission gets through: at most the capped timeout
    // (plus its latency) each way.
    REQUIRE(after_heal <= 2 * (sim::LinkFaults{}.max_retransmit_timeout + 1ms));
    REQUIRE(rt.network().stats().retransmissions > 0);
}

namespace {

pollux::Async<pollux::Result<std::size_t>> accept_and_read() {
    auto l = sim::TcpListener::bind(endpoint(boost::asio::ip::address_v4::any(), echo_port));
    auto c = ok_or_throw(co_await l->accept(), "accept");
    char buf[16];
    co_return co_await io::read(c.first, buffer(buf));
}

struct ResetOutcome {
    std::size_t resets = 0;
    pollux::Result<std::size_t> client_read;
    pollux::Result<void> client_write;
    pollux::Result<std::size_t> server_read;
};

pollux::Async<ResetOutcome> reset_connection(sim::Network* net,
                                             sim::HostId server,
                                             pollux::JoinHandle<pollux::Result<std::size_t>> srv) {
    auto s =
        ok_or_throw(co_await sim::TcpStream::connect(endpoint(server_ip, echo_port)), "connect");
    co_await pollux::time::sleep(10ms); // the server has accepted and waits in read
    ResetOutcome out;
    out.resets = net->reset(0, server);
    char buf[16];
    out.client_read = co_await io::read(s, buffer(buf));
    out.client_write = co_await io::write_all(s, buffer("x", 1));
    out.server_read = co_await std::move(srv);
    co_return out;
}

} // namespace

TEST_CASE("sim::Network::reset gives connection_reset on both ends", "[sim][net]") {
    sim::Runtime rt(7);
    const auto server = rt.network().add_host(server_ip);
    auto srv = rt.spawn_on(server, accept_and_read());
    const ResetOutcome out = rt.block_on(reset_connection(&rt.network(), server, std::move(srv)));
    REQUIRE(out.resets == 1);
    REQUIRE(out.client_read.error() == boost::asio::error::connection_reset);
    REQUIRE(out.client_write.error() == boost::asio::error::connection_reset);
    REQUIRE(out.server_read.error() == boost::asio::error::connection_reset);
}

namespace {

pollux::Async<std::vector<std::string>> peer_close_outcome() {
    auto l = ok_or_throw(sim::TcpListener::bind(endpoint(boost::asio::ip::address_v4::any(), 0)),
                         "bind");
    const endpoint ep = ok_or_throw(l.local_addr(), "local_addr");
    auto client = ok_or_throw(co_await sim::TcpStream::connect(
                                  endpoint(boost::asio::ip::make_address("127.0.0.1"), ep.port())),
                              "connect");
    std::vector<std::string> out;
    {
        auto accepted = ok_or_throw(co_await l.accept(), "accept");
        out.push_back(accepted.second == ok_or_throw(client.local_addr(), "local") ? "peer ok"
                                                                                   : "peer wrong");
    } // the accepted stream is closed here
    char buf[4];
    auto r = co_await io::read(client, buffer(buf));
    out.push_back(r ? "read " + std::to_string(*r) : r.error().message());
    auto w = co_await io::write_all(client, buffer("x", 1));
    out.push_back(w ? "write ok"
                    : (w.error() == boost::asio::error::broken_pipe ? "broken_pipe" : "other"));
    co_return out;
}

} // namespace

TEST_CASE("sim::TcpStream reads end of stream and fails writes once the peer closed",
          "[sim][net]") {
    sim::Runtime rt(8);
    const auto out = rt.block_on(peer_close_outcome());
    REQUIRE(out == std::vector<std::string>{"peer ok", "read 0", "broken_pipe"});
}

namespace {

pollux::Async<std::vector<pollux::Result<void>>> bind_errors(boost::asio::ip::address other) {
    std::vector<pollux::Result<void>> out;
    auto first = sim::TcpListener::bind(endpoint(boost::asio::ip::address_v4::any(), echo_port));
    out.push_back(first ? pollux::Result<void>() : pollux::Result<void>(first.error()));
    auto second = sim::TcpListener::bind(endpoint(boost::asio::ip::address_v4::any(), echo_port));
    out.push_back(second ? pollux::Result<void>() : pollux::Result<void>(second.error()));
    auto elsewhere = sim::TcpListener::bind(endpoint(other, echo_port));
    out.push_back(elsewhere ? pollux::Result<void>() : pollux::Result<void>(elsewhere.error()));
    co_return out;
}

} // namespace

TEST_CASE("sim::TcpListener::bind reports a taken port and a foreign address", "[sim][net]") {
    sim::Runtime rt(9);
    rt.network().add_host(server_ip);
    const auto out = rt.block_on(bind_errors(server_ip));
    REQUIRE(out.size() == 3);
    REQUIRE(out[0].has_value());
    REQUIRE(out[1].error() == boost::asio::error::address_in_use);
    REQUIRE(out[2].error() == boost::system::errc::address_not_available);
}

TEST_CASE("sim::TcpListener::bind outside a simulation throws std::logic_error", "[sim][net]") {
    REQUIRE_THROWS_AS(sim::TcpListener::bind(endpoint(boost::asio::ip::address_v4::any(), 1)),
                      std::logic_error);
}

namespace {

// Three clients each send five numbered messages through a lossy,
// reordering network to one server, which logs them in arrival order.
pollux::Async<void> logging_connection(sim::TcpStream s, std::vector<std::string>* log) {
    char buf[64];
    for (;;) {
        auto n = co_await io::read(s, buffer(buf));
        if (!n || *n == 0) {
            co_return;
        }
        log->emplace_back(buf, *n);
    }
}

pollux::Async<void> logging_server(std::vector<std::string>* log) {
    auto l = sim::TcpListener::bind(endpoint(boost::asio::ip::address_v4::any(), echo_port));
    for (;;) {
        auto c = co_await l->accept();
        pollux::spawn(logging_connection(std::move(c->first), log));
    }
}

pollux::Async<void> chatty_client(int id) {
    auto s =
        ok_or_throw(co_await sim::TcpStream::connect(endpoint(server_ip, echo_port)), "connect");
    for (int i = 0; i < 5; ++i) {
        const std::string msg = "c" + std::to_string(id) + "m" + std::to_string(i);
        ok_or_throw(co_await io::write_all(s, buffer(msg)), "write_all");
        co_await pollux::time::sleep(3ms);
    }
}

pollux::Async<void> run_clients(std::vector<pollux::JoinHandle<void>> clients) {
    for (auto& c : clients) {
        co_await std::move(c);
    }
    co_await pollux::time::sleep(1min); // let the last segments arrive
}

std::vector<std::string> delivery_log(std::uint64_t seed) {
    std::vector<std::string> log;
    sim::Runtime rt(seed);
    const auto server = rt.network().add_host(server_ip);
    std::vector<sim::HostId> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(rt.network().add_host(("10.0.1." + std::to_string(i + 1)).c_str()));
    }
    sim::LinkFaults faults;
    faults.latency = 2ms;
    faults.jitter = 4ms;
    faults.loss = 0.1;
    faults.reorder = true;
    rt.network().set_default_faults(faults);
    rt.spawn_on(server, logging_server(&log));
    std::vector<pollux::JoinHandle<void>> handles;
    for (int i = 0; i < 3; ++i) {
        handles.push_back(rt.spawn_on(clients[static_cast<std::size_t>(i)], chatty_client(i)));
    }
    rt.block_on(run_clients(std::move(handles)));
    return log;
}

} // namespace

TEST_CASE("sim::Network delivers in the same order for the same seed", "[sim][net]") {
    const auto first = delivery_log(11);
    std::string joined;
    for (const auto& m : first) {
        joined += m;
    }
    REQUIRE(joined.size() == 3 * 5 * 4); // every message arrived
    for (int i = 0; i < 3; ++i) {
        REQUIRE(delivery_log(11) == first);
    }
    std::set<std::vector<std::string>> logs;
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        logs.insert(delivery_log(seed));
    }
    REQUIRE(logs.size() > 1);
}
