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
// block with the slots and the counter markers write is reference counted:
// the loop holds one reference, every marker handler one, and every slot in
// use one (its operation's memory must stay valid until Asio frees it, which
// happens after the handler has been moved out of it). Counting references
// by hand rather than with shared_ptr keeps the allocator a plain pointer:
// Asio copies a handler's allocator several times per operation, and each
// shared_ptr copy is an atomic read-modify-write.
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
#include <utility>

namespace pollux::uv::detail {

class MarkerBlock {
public:
    // The number of the last marker that ran (written by the marker, read
    // by the loop thread after poll_one returned).
    std::atomic<std::uint64_t> seen{0};

    // Starts with the creator's reference.
    static MarkerBlock* create() { return new MarkerBlock(); }

    void retain() noexcept {
        // ORDERING: a new reference from one the caller holds.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    void release() noexcept {
        // ORDERING: acq_rel: the last holder sees every other holder's
        // writes (slot flags, `seen`) before it deletes the block.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }

    // A slot for `n` bytes, or the heap when none is free or `n` is too
    // big; either way the block is retained until deallocate.
    void* allocate(std::size_t n) {
        void* p = nullptr;
        if (n <= slot_size) {
            for (std::size_t i = 0; i < slot_count && p == nullptr; ++i) {
                // ORDERING: acquire pairs with the release of the last
                // deallocate of this slot, so its old contents are dead.
                if (!used_[i].exchange(true, std::memory_order_acquire)) {
                    p = slots_[i].bytes;
                }
            }
        }
        if (p == nullptr) {
            p = ::operator new(n); // more markers in flight than slots: rare
        }
        retain();
        return p;
    }

    void deallocate(void* p) noexcept {
        bool from_slot = false;
        for (std::size_t i = 0; i < slot_count; ++i) {
            if (p == slots_[i].bytes) {
                used_[i].store(false, std::memory_order_release);
                from_slot = true;
                break;
            }
        }
        if (!from_slot) {
            ::operator delete(p);
        }
        release();
    }

    // Gives up the creator's reference (for std::unique_ptr).
    struct Release {
        void operator()(MarkerBlock* b) const noexcept { b->release(); }
    };

private:
    MarkerBlock() = default;
    ~MarkerBlock() = default;

    // Two markers per poll phase; more are in flight only when a stopped
    // io_context kept old ones queued.
    static constexpr std::size_t slot_count = 4;
    // Asio's operation around a marker (its queue links, the handler and a
    // copy of the allocator) is well under this.
    static constexpr std::size_t slot_size = 128;
    struct Slot {
        alignas(std::max_align_t) unsigned char bytes[slot_size];
    };
    std::atomic<std::size_t> refs_{1};
    std::array<Slot, slot_count> slots_{};
    std::array<std::atomic<bool>, slot_count> used_{};
};

using MarkerBlockPtr = std::unique_ptr<MarkerBlock, MarkerBlock::Release>;

// A standard allocator over a MarkerBlock's slots (Asio rebinds it to its
// operation type). A plain pointer: each allocation holds its own reference.
template <class T>
class MarkerAllocator {
public:
    using value_type = T;

    explicit MarkerAllocator(MarkerBlock* block) noexcept : block_(block) {}
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
    MarkerBlock* block_;
};

// Records that the drain reached marker `number`. Holds a reference to the
// block for as long as it exists.
class Marker {
public:
    using allocator_type = MarkerAllocator<void>;

    Marker(MarkerBlock* block, std::uint64_t number) noexcept : block_(block), number_(number) {
        block_->retain();
    }
    Marker(Marker&& other) noexcept
        : block_(std::exchange(other.block_, nullptr)), number_(other.number_) {}
    Marker& operator=(Marker&&) = delete;
    ~Marker() {
        if (block_ != nullptr) {
            block_->release();
        }
    }

    allocator_type get_allocator() const noexcept { return allocator_type(block_); }

    void operator()() const noexcept {
        // ORDERING: relaxed: the loop reads it on the thread that ran
        // poll_one, or after poll_one's own synchronisation with the thread
        // that ran the marker.
        block_->seen.store(number_, std::memory_order_relaxed);
    }

private:
    MarkerBlock* block_;
    std::uint64_t number_;
};

} // namespace pollux::uv::detail
