#include <pollux/sim/network.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/sim/runtime.hpp>
#include <pollux/spawn.hpp>
#include <pollux/time/sleep.hpp>

#include "network_state.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace pollux::sim {

namespace detail {

namespace {

constexpr std::uint16_t first_ephemeral_port = 49152;

} // namespace

void Connection::wake_all() {
    for (auto& d : dir) {
        std::exchange(d.reader, Waker::noop()).wake();
        std::exchange(d.writer, Waker::noop()).wake();
    }
}

NetworkState::NetworkState(Runtime& r) : rt(&r), rng(Rng(r.seed()).fork(4)) {
    hosts.push_back(boost::asio::ip::make_address("10.0.0.1"));
    next_port.push_back(first_ephemeral_port);
}

NetworkState::~NetworkState() {
    for (auto& w : connections) {
        if (auto c = w.lock()) {
            c->net = nullptr;
        }
    }
    for (auto& [k, l] : listeners) {
        l->net = nullptr;
    }
}

void NetworkState::check_host(HostId h) const {
    if (h >= hosts.size()) {
        throw std::out_of_range("pollux::sim::Network: no host " + std::to_string(h));
    }
}

const LinkFaults& NetworkState::faults(HostId a, HostId b) const {
    auto it = links.find(key(a, b));
    return it == links.end() ? defaults : it->second;
}

std::optional<HostId> NetworkState::find_host(const boost::asio::ip::address& a) const {
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (hosts[i] == a) {
            return static_cast<HostId>(i);
        }
    }
    return std::nullopt;
}

std::uint16_t NetworkState::ephemeral_port(HostId host) {
    // Ports 49152..65535 in turn, skipping those a listener holds; a
    // connection's local port is not checked against other connections (a
    // host would need 16k of them open at once to repeat one).
    for (int tries = 0; tries < 65536 - first_ephemeral_port; ++tries) {
        std::uint16_t p = next_port[host];
        next_port[host] = p == 65535 ? first_ephemeral_port : static_cast<std::uint16_t>(p + 1);
        if (listeners.count({host, p}) == 0) {
            return p;
        }
    }
    throw std::runtime_error("pollux::sim::Network: no free ephemeral port");
}

time::Duration NetworkState::delay(HostId a, HostId b) {
    const LinkFaults& f = faults(a, b);
    time::Duration d = f.latency;
    if (f.jitter > time::Duration::zero()) {
        d += time::Duration(static_cast<time::Duration::rep>(
            rng.below(static_cast<std::uint64_t>(f.jitter.count()) + 1)));
    }
    return d;
}

Async<bool>
NetworkState::cross(HostId src, HostId dst, std::shared_ptr<Connection> conn, int from) {
    ++stats.segments_sent;
    time::Instant arrival = time::Clock::now() + delay(src, dst);
    if (conn && !faults(src, dst).reorder) {
        Direction& d = conn->dir[from];
        arrival = std::max(arrival, d.last_arrival);
        d.last_arrival = arrival;
    }
    time::Duration rto = faults(src, dst).retransmit_timeout;
    for (;;) {
        co_await time::sleep_until(arrival);
        if (conn && conn->reset) {
            co_return false;
        }
        const LinkFaults& f = faults(src, dst);
        if (!partitioned(src, dst) && !rng.chance(f.loss)) {
            break;
        }
        ++stats.retransmissions;
        arrival = time::Clock::now() + rto + delay(src, dst);
        rto = std::min(rto * 2, std::max(f.max_retransmit_timeout, f.retransmit_timeout));
    }
    ++stats.segments_delivered;
    co_return true;
}

namespace {

// The task of one segment in flight. A free function: its parameters live
// in the coroutine frame.
Async<void> deliver(NetworkState* net, std::shared_ptr<Connection> conn, int from, Segment seg) {
    const bool arrived = co_await net->cross(conn->host[from], conn->host[1 - from], conn, from);
    if (arrived && conn->net != nullptr) {
        net->receive(*conn, from, std::move(seg));
    }
}

} // namespace

void NetworkState::send(const std::shared_ptr<Connection>& conn, int from, Segment seg) {
    if (shut_down) {
        return;
    }
    // Detached: the JoinHandle is dropped at once.
    pollux::spawn(rt->executor(conn->host[1 - from]), deliver(this, conn, from, std::move(seg)));
}

void NetworkState::receive(Connection& conn, int from, Segment seg) {
    Direction& d = conn.dir[from];
    if (conn.closed[1 - from]) {
        return; // the receiving stream is gone; its peer's writes fail already
    }
    if (seg.seq != d.expected) {
        ++stats.out_of_order;
        d.early.emplace(seg.seq, std::move(seg));
        return;
    }
    // Take this segment, then every early one it makes contiguous.
    for (;;) {
        if (seg.fin) {
            d.eof = true;
        } else {
            d.readable.insert(d.readable.end(), seg.data.begin(), seg.data.end());
            d.expected += seg.data.size();
        }
        auto it = d.early.find(d.expected);
        if (it == d.early.end()) {
            break;
        }
        seg = std::move(it->second);
        d.early.erase(it);
    }
    std::exchange(d.reader, Waker::noop()).wake();
}

void NetworkState::close_end(const std::shared_ptr<Connection>& conn, int side) {
    conn->closed[side] = true;
    Direction& out = conn->dir[side];
    if (!conn->reset && !out.fin_sent) {
        out.fin_sent = true;
        send(conn, side, Segment{out.next_seq, {}, true});
    }
    conn->dir[1 - side].readable.clear();
    // The peer's pending write now fails with broken_pipe.
    std::exchange(conn->dir[1 - side].writer, Waker::noop()).wake();
}

void NetworkState::add_connection(const std::shared_ptr<Connection>& conn) {
    std::erase_if(connections, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
    connections.push_back(conn);
}

} // namespace detail

Network::Network(Runtime& rt) : state_(std::make_unique<detail::NetworkState>(rt)) {
}

Network::~Network() = default;

HostId Network::add_host(const boost::asio::ip::address& addr) {
    if (addr.is_loopback() || addr.is_unspecified()) {
        throw std::invalid_argument("pollux::sim::Network::add_host: " + addr.to_string() +
                                    " is a loopback or unspecified address");
    }
    if (state_->find_host(addr)) {
        throw std::invalid_argument("pollux::sim::Network::add_host: " + addr.to_string() +
                                    " already has a host");
    }
    state_->hosts.push_back(addr);
    state_->next_port.push_back(49152);
    return static_cast<HostId>(state_->hosts.size() - 1);
}

HostId Network::add_host(const char* addr) {
    return add_host(boost::asio::ip::make_address(addr));
}

boost::asio::ip::address Network::address(HostId h) const {
    state_->check_host(h);
    return state_->hosts[h];
}

std::size_t Network::hosts() const noexcept {
    return state_->hosts.size();
}

void Network::set_default_faults(const LinkFaults& faults) {
    state_->defaults = faults;
}

const LinkFaults& Network::default_faults() const noexcept {
    return state_->defaults;
}

void Network::set_link_faults(HostId a, HostId b, const LinkFaults& faults) {
    state_->check_host(a);
    state_->check_host(b);
    state_->links[detail::NetworkState::key(a, b)] = faults;
}

const LinkFaults& Network::link_faults(HostId a, HostId b) const {
    state_->check_host(a);
    state_->check_host(b);
    return state_->faults(a, b);
}

void Network::partition(HostId a, HostId b) {
    state_->check_host(a);
    state_->check_host(b);
    state_->partitions.insert(detail::NetworkState::key(a, b));
}

void Network::heal(HostId a, HostId b) {
    state_->check_host(a);
    state_->check_host(b);
    state_->partitions.erase(detail::NetworkState::key(a, b));
}

void Network::heal_all() {
    state_->partitions.clear();
}

bool Network::is_partitioned(HostId a, HostId b) const {
    state_->check_host(a);
    state_->check_host(b);
    return state_->partitioned(a, b);
}

std::size_t Network::reset(HostId a, HostId b) {
    state_->check_host(a);
    state_->check_host(b);
    const auto k = detail::NetworkState::key(a, b);
    std::size_t n = 0;
    for (auto& w : state_->connections) {
        auto c = w.lock();
        if (!c || c->reset || (c->closed[0] && c->closed[1]) ||
            detail::NetworkState::key(c->host[0], c->host[1]) != k) {
            continue;
        }
        c->reset = true;
        for (auto& d : c->dir) {
            d.readable.clear();
            d.early.clear();
        }
        c->wake_all();
        ++n;
    }
    state_->stats.resets += n;
    return n;
}

NetworkStats Network::stats() const noexcept {
    return state_->stats;
}

void Network::shut_down() noexcept {
    state_->shut_down = true;
}

} // namespace pollux::sim
