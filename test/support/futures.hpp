#pragma once

// Small hand-written futures that tests across the suite share.

#include <pollux/core/future.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pollux::test {

/// Pending until `open()`; thread-safe. Many futures may wait on one gate.
class Gate {
public:
    void open() {
        std::optional<Waker> w;
        {
            std::lock_guard lock(m_);
            open_ = true;
            w = std::move(waiter_);
            waiter_.reset();
        }
        if (w) {
            std::move(*w).wake();
        }
    }
    bool is_open() const {
        std::lock_guard lock(m_);
        return open_;
    }

    struct Wait {
        using Output = void;
        std::shared_ptr<Gate> gate;
        Poll<void> poll(Context& cx) {
            std::lock_guard lock(gate->m_);
            if (gate->open_) {
                return Ready<void>{};
            }
            gate->waiter_ = cx.waker();
            return Pending{};
        }
    };

private:
    mutable std::mutex m_;
    bool open_ = false;
    std::optional<Waker> waiter_;
};

inline Gate::Wait wait(std::shared_ptr<Gate> g) {
    return Gate::Wait{std::move(g)};
}

/// Never ready; records its destruction in `*dropped`.
struct PendingForever {
    using Output = int;
    std::shared_ptr<std::atomic<bool>> dropped;
    explicit PendingForever(std::shared_ptr<std::atomic<bool>> d) : dropped(std::move(d)) {}
    PendingForever(PendingForever&& o) noexcept : dropped(std::move(o.dropped)) {}
    ~PendingForever() {
        if (dropped) {
            dropped->store(true);
        }
    }
    Poll<int> poll(Context&) { return Pending{}; }
};

/// Never ready, and keeps its own task's waker: a reference cycle that only
/// dropping the future breaks. Records its destruction in `*dropped`.
struct HoldsOwnWaker {
    using Output = void;
    std::shared_ptr<std::atomic<bool>> dropped;
    std::optional<Waker> mine;
    explicit HoldsOwnWaker(std::shared_ptr<std::atomic<bool>> d) : dropped(std::move(d)) {}
    HoldsOwnWaker(HoldsOwnWaker&& o) noexcept
        : dropped(std::move(o.dropped)), mine(std::move(o.mine)) {}
    ~HoldsOwnWaker() {
        if (dropped) {
            dropped->store(true);
        }
    }
    Poll<void> poll(Context& cx) {
        mine = cx.waker();
        return Pending{};
    }
};

} // namespace pollux::test
