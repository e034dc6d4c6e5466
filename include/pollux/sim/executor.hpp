#pragma once

/// @file
/// `sim::Executor`: the Asio executor of a simulation. Every handler given
/// to it (a task's next poll, above all) goes to its `sim::Runtime`'s ready
/// list, from which the runtime picks one at a time with its seeded
/// generator.

#include <pollux/detail/config.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace pollux::sim {

class Runtime;

/// The number of a simulated host (see `sim::Network`); 0 is the host that
/// `Runtime::block_on` and `Runtime::spawn` run on.
using HostId = std::uint32_t;

namespace detail {

// One queued handler, type-erased; move-only handlers (a task's run
// handler) are fine.
class Handler {
public:
    virtual ~Handler() = default;
    virtual void run() = 0;
};

template <class F>
class HandlerFor final : public Handler {
public:
    template <class G>
    explicit HandlerFor(G&& f) : f_(std::forward<G>(f)) {}
    void run() override { std::move(f_)(); }

private:
    F f_;
};

POLLUX_API void enqueue(Runtime& rt, HostId host, std::unique_ptr<Handler> h);
POLLUX_API boost::asio::io_context& context_of(Runtime& rt) noexcept;

} // namespace detail

/// An Asio executor (a model of `boost::asio::execution::executor`, and
/// convertible to `any_io_executor`) that hands every function to a
/// `sim::Runtime`. `execute` never runs the function inside the call: it
/// joins the runtime's ready list and runs when the runtime picks it. Its
/// context is the runtime's io_context, so `pollux::spawn` finds the
/// scheduler service there as on any other executor; the io_context itself
/// never runs.
///
/// The executor carries the simulated host its work belongs to; tasks that a
/// task spawns with `pollux::spawn(f)` inherit it, and `sim::TcpStream` and
/// `sim::TcpListener` use it as their local host.
///
/// @par Thread safety
/// Only the thread that runs the simulation may use it (see
/// `sim::Runtime`).
class Executor {
public:
    /// An executor that queues work on `rt` for the simulated host `host`.
    Executor(Runtime& rt, HostId host) noexcept : rt_(&rt), host_(host) {}

    /// Queues `f` on the runtime's ready list. Never runs it here.
    template <class F>
    void execute(F&& f) const {
        detail::enqueue(
            *rt_, host_, std::make_unique<detail::HandlerFor<std::decay_t<F>>>(std::forward<F>(f)));
    }

    /// The runtime it queues work on.
    [[nodiscard]] Runtime& runtime() const noexcept { return *rt_; }
    /// The simulated host its work belongs to.
    [[nodiscard]] HostId host() const noexcept { return host_; }

    // The properties any_io_executor asks for. The executor is what it is
    // whatever is required or preferred: it never blocks, tracks no work
    // (the simulation loop runs until the main future finishes) and
    // allocates with the default allocator.
    /// The runtime's io_context (which never runs).
    boost::asio::io_context& query(boost::asio::execution::context_t) const noexcept {
        return detail::context_of(*rt_);
    }
    /// Always `blocking.never`: `execute` never runs the function inline.
    static constexpr boost::asio::execution::blocking_t
    query(boost::asio::execution::blocking_t) noexcept {
        return boost::asio::execution::blocking.never;
    }
    /// Always `relationship.fork`.
    static constexpr boost::asio::execution::relationship_t
    query(boost::asio::execution::relationship_t) noexcept {
        return boost::asio::execution::relationship.fork;
    }
    /// Always `outstanding_work.untracked`: it tracks no work.
    static constexpr boost::asio::execution::outstanding_work_t
    query(boost::asio::execution::outstanding_work_t) noexcept {
        return boost::asio::execution::outstanding_work.untracked;
    }
    /// Always the default allocator.
    template <class A>
    std::allocator<void> query(boost::asio::execution::allocator_t<A>) const noexcept {
        return {};
    }

    /// A copy of this executor, which never blocks anyway.
    Executor require(boost::asio::execution::blocking_t::never_t) const noexcept { return *this; }
    /// A copy of this executor; ignored: it tracks no work.
    Executor require(boost::asio::execution::outstanding_work_t::tracked_t) const noexcept {
        return *this;
    }
    /// A copy of this executor, which tracks no work anyway.
    Executor require(boost::asio::execution::outstanding_work_t::untracked_t) const noexcept {
        return *this;
    }
    /// A copy of this executor, whose relationship is fork anyway.
    Executor require(boost::asio::execution::relationship_t::fork_t) const noexcept {
        return *this;
    }
    /// A copy of this executor; ignored: the relationship stays fork.
    Executor require(boost::asio::execution::relationship_t::continuation_t) const noexcept {
        return *this;
    }
    /// A copy of this executor; ignored: it uses the default allocator.
    template <class A>
    Executor require(boost::asio::execution::allocator_t<A>) const noexcept {
        return *this;
    }

    /// True when both queue on the same runtime for the same host.
    friend bool operator==(const Executor& a, const Executor& b) noexcept {
        return a.rt_ == b.rt_ && a.host_ == b.host_;
    }
    /// `!(a == b)`.
    friend bool operator!=(const Executor& a, const Executor& b) noexcept { return !(a == b); }

private:
    Runtime* rt_;
    HostId host_;
};

} // namespace pollux::sim
