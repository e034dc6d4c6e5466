#pragma once

/// @file
/// `detail::BlockQueue<T>`: the FIFO behind `sync::mpsc`. Values live in
/// fixed-size blocks of a singly linked list; a block is freed as soon as
/// the consumer has emptied it (one spare is cached), so the memory a burst
/// used is given back once the burst is drained (tokio's mpsc block list,
/// without its lock-free parts: the caller holds the channel's lock).

#include <pollux/detail/config.hpp>

#include <cstddef>
#include <new>
#include <optional>
#include <utility>

namespace pollux::detail {

template <class T, std::size_t BlockSize = 32>
class BlockQueue {
public:
    static constexpr std::size_t block_size = BlockSize;

    BlockQueue() = default;
    BlockQueue(const BlockQueue&) = delete;
    BlockQueue& operator=(const BlockQueue&) = delete;
    ~BlockQueue() {
        clear();
        delete spare_;
    }

    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    /// How many values the blocks allocated now could hold (the spare
    /// included): the queue's memory footprint, in slots.
    [[nodiscard]] std::size_t allocated_capacity() const noexcept {
        return (blocks_ + (spare_ != nullptr ? 1 : 0)) * BlockSize;
    }

    void push(T&& value) {
        if (tail_ == nullptr || tail_idx_ == BlockSize) {
            Block* b = spare_ != nullptr ? std::exchange(spare_, nullptr) : new Block;
            b->next = nullptr;
            if (tail_ == nullptr) {
                head_ = b;
                head_idx_ = 0;
            } else {
                tail_->next = b;
            }
            tail_ = b;
            tail_idx_ = 0;
            ++blocks_;
        }
        // SAFETY: slot tail_idx_ of the tail block is raw storage that no
        // value occupies (indices below tail_idx_ in the tail are occupied).
        ::new (static_cast<void*>(tail_->slot(tail_idx_))) T(std::move(value));
        ++tail_idx_;
        ++size_;
    }

    /// Removes and returns the oldest value.
    /// @par Preconditions
    /// `!empty()`.
    T pop() {
        POLLUX_ASSERT(size_ > 0, "BlockQueue::pop on an empty queue");
        T* p = head_->slot(head_idx_);
        // SAFETY: slot head_idx_ of the head block holds a live value (it is
        // below tail_idx_ when head_ == tail_, and every slot of a block
        // before the tail was filled).
        T out(std::move(*p));
        p->~T();
        ++head_idx_;
        --size_;
        advance();
        return out;
    }

    /// Destroys every value; keeps at most the spare block.
    void clear() noexcept {
        while (size_ > 0) {
            // SAFETY: as in pop().
            head_->slot(head_idx_)->~T();
            ++head_idx_;
            --size_;
            advance();
        }
        if (head_ != nullptr) {
            recycle(head_);
            head_ = tail_ = nullptr;
            head_idx_ = tail_idx_ = 0;
        }
    }

private:
    struct Block {
        Block* next = nullptr;
        alignas(T) unsigned char storage[sizeof(T) * BlockSize];

        T* slot(std::size_t i) noexcept {
            // SAFETY: storage is suitably aligned for T and has room for
            // BlockSize of them; the caller knows whether one lives there.
            return std::launder(reinterpret_cast<T*>(storage + i * sizeof(T)));
        }
    };

    // After a pop: frees the head block once it is used up.
    void advance() noexcept {
        if (head_idx_ < BlockSize) {
            if (size_ == 0 && head_ == tail_) {
                head_idx_ = tail_idx_ = 0; // empty: reuse the block from its start
            }
            return;
        }
        Block* old = head_;
        if (old == tail_) {
            head_ = tail_ = nullptr;
            tail_idx_ = 0;
        } else {
            head_ = old->next;
        }
        head_idx_ = 0;
        recycle(old);
    }

    void recycle(Block* b) noexcept {
        --blocks_;
        if (spare_ == nullptr) {
            spare_ = b;
        } else {
            delete b;
        }
    }

    Block* head_ = nullptr;
    std::size_t head_idx_ = 0;
    Block* tail_ = nullptr;
    std::size_t tail_idx_ = 0;
    Block* spare_ = nullptr;
    std::size_t size_ = 0;
    std::size_t blocks_ = 0; // linked blocks, not counting the spare
};

} // namespace pollux::detail
