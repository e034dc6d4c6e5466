#pragma once

// The private state of a simulated network: hosts, links, listeners and
// connections. Everything here runs on the simulation's single thread, so
// there is no locking.
//
// A connection is two directions, dir[0] (from the connecting end, side 0,
// to the accepting end, side 1) and dir[1]. Each direction has a sender half
// (next sequence number, FIN sent, the FIFO clamp of arrival times) and a
// receiver half (the next expected sequence number, segments that arrived
// early, the in-order bytes not yet read, end of stream). A segment is a
// detached task on the receiving host that sleeps (virtual time) while the
// segment crosses the link, then hands it to the receiver half, which
// reassembles by sequence number. `unread` counts bytes written and not yet
// read by the receiving application: the sender's window.

#include <pollux/core/async.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/sim/network.hpp>
#include <pollux/sim/rng.hpp>
#include <pollux/time/clock.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace pollux::sim::detail {

struct NetworkState;

struct Segment {
    std::uint64_t seq = 0;
    std::vector<char> data;
    bool fin = false;
};

struct Direction {
    // Sender half.
    std::uint64_t next_seq = 0;
    bool fin_sent = false;
    time::Instant last_arrival{}; // no segment of a FIFO link arrives before this
    // Receiver half.
    std::uint64_t expected = 0;
    std::map<std::uint64_t, Segment> early;
    std::deque<char> readable;
    bool eof = false;
    // Both.
    std::size_t unread = 0;
    Waker reader = Waker::noop();
    Waker writer = Waker::noop();
};

struct Connection {
    NetworkState* net = nullptr; // null once the network is gone
    HostId host[2] = {0, 0};
    boost::asio::ip::tcp::endpoint ep[2];
    Direction dir[2];
    bool reset = false;
    bool closed[2] = {false, false}; // that side's TcpStream was destroyed

    void wake_all();
};

struct Listener {
    NetworkState* net = nullptr;
    HostId host = 0;
    boost::asio::ip::tcp::endpoint ep;
    std::deque<std::shared_ptr<Connection>> backlog;
    Waker acceptor = Waker::noop();
    bool closed = false;
};

struct NetworkState {
    explicit NetworkState(Runtime& r);
    ~NetworkState();

    Runtime* rt;
    std::vector<boost::asio::ip::address> hosts;
    std::vector<std::uint16_t> next_port; // per host, for ephemeral ports
    LinkFaults defaults;
    std::map<std::pair<HostId, HostId>, LinkFaults> links;
    std::set<std::pair<HostId, HostId>> partitions;
    std::map<std::pair<HostId, std::uint16_t>, Listener*> listeners;
    std::vector<std::weak_ptr<Connection>> connections;
    Rng rng;
    NetworkStats stats;
    bool shut_down = false;

    static std::pair<HostId, HostId> key(HostId a, HostId b) noexcept {
        return a < b ? std::pair{a, b} : std::pair{b, a};
    }
    void check_host(HostId h) const;
    [[nodiscard]] const LinkFaults& faults(HostId a, HostId b) const;
    [[nodiscard]] bool partitioned(HostId a, HostId b) const {
        return partitions.count(key(a, b)) != 0;
    }
    [[nodiscard]] std::optional<HostId> find_host(const boost::asio::ip::address& a) const;
    // A free port on `host` from the ephemeral range, for connects and port-0 binds.
    std::uint16_t ephemeral_port(HostId host);
    // One draw of a segment's one-way delay between `a` and `b`.
    time::Duration delay(HostId a, HostId b);

    // Waits while a segment crosses from `src` to `dst`, retransmitting
    // after each loss or while partitioned. With a connection (`conn` not
    // null), direction `from`'s clamp keeps a FIFO link's arrivals in send
    // order, and a segment of a connection reset meanwhile is dropped: false.
    Async<bool> cross(HostId src, HostId dst, std::shared_ptr<Connection> conn, int from);

    // Sends a segment of `conn` from side `from`, as a detached task.
    void send(const std::shared_ptr<Connection>& conn, int from, Segment seg);
    // Gives an arrived segment to the receiving half.
    void receive(Connection& conn, int from, Segment seg);
    // Closes side `side` of `conn` (its stream was destroyed): FIN after the
    // data sent so far, and the peer's writes fail from now on.
    void close_end(const std::shared_ptr<Connection>& conn, int side);
    void add_connection(const std::shared_ptr<Connection>& conn);
};

} // namespace pollux::sim::detail
