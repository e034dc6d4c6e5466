#pragma once

/// @file
/// `sim::Network`: the simulated hosts of a `sim::Runtime` and the links
/// between them, with the faults a test injects (`sim::LinkFaults`,
/// partitions, resets).

#include <pollux/detail/config.hpp>
#include <pollux/sim/executor.hpp>
#include <pollux/time/clock.hpp>

#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace pollux::sim {

class Runtime;

/// How a link treats the segments sent over it (each direction alike).
///
/// The model: a write is cut into segments of at most `Network::mss` bytes.
/// Each segment takes `latency` plus a uniform draw from [0, `jitter`] to
/// arrive. Without `reorder`, a segment never arrives before one sent
/// earlier in the same direction (the wire is FIFO); with it, jitter lets
/// later segments overtake earlier ones. A segment is lost with probability
/// `loss`, and always while its link is partitioned; a lost segment is sent
/// again after the retransmission timeout, which starts at
/// `retransmit_timeout` and doubles on each loss up to
/// `max_retransmit_timeout`. The receiver reassembles segments in sequence
/// order, so a stream stays reliable and ordered: loss and partitions make
/// it slow, never wrong. Acknowledgements are not simulated: the sender's
/// window (`Network::window`) reopens as soon as the receiving application
/// reads.
struct LinkFaults {
    /// Fixed one-way delay.
    time::Duration latency = std::chrono::milliseconds(1);
    /// Extra one-way delay, drawn uniformly from [0, jitter] per segment.
    time::Duration jitter = time::Duration::zero();
    /// Probability that one transmission of a segment is lost, in [0, 1).
    double loss = 0.0;
    /// Lets segments overtake each other (see above).
    bool reorder = false;
    /// First retransmission timeout of a lost segment.
    time::Duration retransmit_timeout = std::chrono::milliseconds(200);
    /// Cap of the doubling retransmission timeout.
    time::Duration max_retransmit_timeout = std::chrono::seconds(5);
};

/// Counters of what the network did, for tests.
struct NetworkStats {
    std::uint64_t segments_sent = 0;      ///< Segments written (SYN, data, FIN, RST).
    std::uint64_t segments_delivered = 0; ///< Segments that reached their receiver.
    std::uint64_t retransmissions = 0;    ///< Transmissions lost to `loss` or a partition.
    std::uint64_t out_of_order = 0;       ///< Data segments that arrived ahead of a gap.
    std::uint64_t resets = 0;             ///< Connections reset by `Network::reset`.
};

namespace detail {
struct NetworkState;
}

/// The simulated hosts and links of one `sim::Runtime` (`rt.network()`).
///
/// Hosts are numbered; host 0 exists from the start with address 10.0.0.1
/// and runs `Runtime::block_on` and `Runtime::spawn`. Each host has one IPv4
/// or IPv6 address, by which `sim::TcpStream::connect` finds it; a
/// connection to a loopback address stays on the connecting host. Every
/// pair of hosts is linked, with `default_faults()` unless
/// `set_link_faults` says otherwise.
///
/// @par Thread safety
/// Not thread safe: use it from the simulation's thread (a test between
/// `block_on` calls, or the simulated tasks).
/// @par Errors
/// Every member that takes a `HostId` throws `std::out_of_range` for a host
/// that does not exist.
/// @par Example
/// @code
/// pollux::sim::Runtime rt(seed);
/// auto server = rt.network().add_host("10.0.0.2");
/// pollux::sim::LinkFaults lossy;
/// lossy.loss = 0.1;
/// rt.network().set_link_faults(0, server, lossy);
/// rt.spawn_on(server, serve());      // binds and accepts on 10.0.0.2
/// rt.block_on(client());             // connects from host 0 (10.0.0.1)
/// @endcode
class POLLUX_API Network {
public:
    /// Largest payload of one segment.
    static constexpr std::size_t mss = 1460;
    /// Bytes a sender may have written that the receiving application has
    /// not yet read; a write beyond it is Pending.
    static constexpr std::size_t window = 64 * 1024;

    /// A network for `rt` with host 0 (10.0.0.1) only and default faults;
    /// `rt.network()` is the runtime's own.
    explicit Network(Runtime& rt);
    ~Network();
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    /// Adds a host with address `addr` and returns its number.
    ///
    /// @par Errors
    /// Throws `std::invalid_argument` if a host already has that address or
    /// it is a loopback or unspecified address.
    HostId add_host(const boost::asio::ip::address& addr);
    /// `add_host(boost::asio::ip::make_address(addr))`.
    HostId add_host(const char* addr);

    /// The address of host `h`. Throws `std::out_of_range` for an unknown host.
    [[nodiscard]] boost::asio::ip::address address(HostId h) const;
    /// Number of hosts.
    [[nodiscard]] std::size_t hosts() const noexcept;

    /// The faults of every link without its own (`set_link_faults`).
    void set_default_faults(const LinkFaults& faults);
    /// The faults of every link without its own.
    [[nodiscard]] const LinkFaults& default_faults() const noexcept;
    /// The faults of the link between `a` and `b` (both directions).
    void set_link_faults(HostId a, HostId b, const LinkFaults& faults);
    /// The faults in effect between `a` and `b`.
    [[nodiscard]] const LinkFaults& link_faults(HostId a, HostId b) const;

    /// Cuts the link between `a` and `b`: every segment between them,
    /// including those already in flight, is lost (and retransmitted) until
    /// `heal`. Connections stay open, as TCP's do.
    void partition(HostId a, HostId b);
    /// Restores the link between `a` and `b`; retransmissions then get
    /// through (after at most `max_retransmit_timeout`).
    void heal(HostId a, HostId b);
    /// Restores every link.
    void heal_all();
    /// True while the link between `a` and `b` is cut (`partition`).
    [[nodiscard]] bool is_partitioned(HostId a, HostId b) const;

    /// Resets every open connection between `a` and `b` (either way round;
    /// `a == b` for loopback ones): from now on, reads, writes and shutdowns
    /// on both ends fail with `connection_reset`, and data in flight is
    /// dropped. Returns the number of connections reset.
    std::size_t reset(HostId a, HostId b);

    /// A copy of the counters of what the network did so far.
    [[nodiscard]] NetworkStats stats() const noexcept;

    /// Called by `~Runtime` before it drops the tasks: from then on nothing
    /// is sent, so streams destroyed with their tasks start no new work.
    void shut_down() noexcept;

    /// The shared state, for `sim::TcpStream` and `sim::TcpListener`.
    [[nodiscard]] detail::NetworkState& state() noexcept { return *state_; }

private:
    std::unique_ptr<detail::NetworkState> state_;
};

} // namespace pollux::sim
