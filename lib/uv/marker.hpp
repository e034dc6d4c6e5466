#pragma once

// Private to lib/uv: the marker handler that ends the poll phase's drain of
// the io_context (see LoopImpl::poll_io), and the memory it is posted in.
//
// Why not a lambda: Asio's recycling allocator caches operation memory per
// thread only while that thread is inside io_context::run/poll, and the
// markers are posted between those calls, so each post would be a fresh
// heap allocation: two per loop iteration, which made the callback echo
// server allocate twice per round trip. A marker's associated allocator
// takes its memory from a few fixed slots instead.
//
// Lifetime: a marker can stay queued after the loop is gone (someone
// stopped an external io_context, which runs or destroys it later), so the
// slots and the counter it writes are in a shared block that every marker
// and every copy of its allocator keeps alive.
//
// Threads: a marker normally runs on the loop's thread, inside poll_one;
// with an external io_context that other threads also run, it may run (and
// free its slot) on one of them, so a slot is claimed and released with an
// atomic exchange.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace pollux::uv::detail {

class MarkerBlock {
public:
    // The number of the last marker that ran (written by the marker, read
    // by the loop thread after poll_one returned).
    std::atomic<std::uint64_t> seen{0};

    void* allocate(std::size_t n) {
        if (n <= slot_size) {
            for (std::size_t i = 0; i < slot_count; ++i) {
                // ORDERING: acquire pairs with the release of the last
                // deallocate of this slot, so its old contents are dead.
                if (!used_[i].exchange(true, std::memory_order_acquire)) {
                    return slots_[i].bytes;
                }
            }
        }
        return ::operator new(n); // more markers in flight than slots: rare
    }

    void deallocate(void* p) noexcept {
        for (std::size_t i = 0; i < slot_count; ++i) {
            if (p == slots_[i].bytes) {
                used_[i].store(false, std::memory_order_release);
                return;
            }
        }
        ::operator delete(p);
    }

private:
    // Two markers per poll phase; more are in flight only when a stopped
    // io_context kept old ones queued.
    static constexpr std::size_t slot_count = 4;
    // Asio's operation around a marker (its queue links, the handler and a
    // copy of the allocator) is under 100 bytes.
    static constexpr std::size_t slot_size = 128;
    struct Slot {
        alignas(std::max_align_t) unsigned char bytes[slot_size];
    };
    std::array<Slot, slot_count> slots_{};
    std::array<std::atomic<bool>, slot_count> used_{};
};

// A standard allocator over a MarkerBlock's slots (Asio rebinds it to its
// operation type).
template <class T>
class MarkerAllocator {
public:
    using value_type = T;

    explicit MarkerAllocator(std::shared_ptr<MarkerBlock> block) noexcept
        : block_(std::move(block)) {}
    template <class U>
    MarkerAllocator(const MarkerAllocator<U>& other) noexcept : block_(other.block_) {}

    T* allocate(std::size_t n) { return static_cast<T*>(block_->allocate(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) noexcept { block_->deallocate(p); }

    template <class U>
    bool operator==(const MarkerAllocator<U>& other) const noexcept {
        return block_ == other.block_;
    }

private:
    template <class U>
    friend class MarkerAllocator;
    std::shared_ptr<MarkerBlock> block_;
};

// Records that the drain reached marker `number`.
class Marker {
public:
    using allocator_type = MarkerAllocator<void>;

    Marker(std::shared_ptr<MarkerBlock> block, std::uint64_t number) noexcept
        : block_(std::move(block)), number_(number) {}

    allocator_type get_allocator() const noexcept { return allocator_type(block_); }

    void operator()() const noexcept {
        // ORDERING: relaxed: the loop reads it on the thread that ran
        // poll_one, or after poll_one's own synchronisation with the thread
        // that ran the marker.
        block_->seen.store(number_, std::memory_order_relaxed);
    }

private:
    std::shared_ptr<MarkerBlock> block_;
    std::uint64_t number_;
};

} // namespace pollux::uv::detail
