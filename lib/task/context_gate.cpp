#include <pollux/detail/context_gate.hpp>

#include <thread>

namespace pollux::detail {

void ContextGate::wait_empty() const noexcept {
    // The threads inside are in the middle of a post or an I/O object's
    // destructor: short, and none of them waits for this thread.
    // ORDERING: acquire pairs with leave's release.
    while ((word_.load(std::memory_order_acquire) & count_mask) != 0) {
        std::this_thread::yield();
    }
}

void ContextGate::close_to_others() noexcept {
    if ((word_.load(std::memory_order_acquire) & (closing_bit | closed_bit)) != 0) {
        return; // the first closer stays the closer
    }
    closer_ = std::this_thread::get_id();
    // ORDERING: acq_rel: release publishes closer_ to the enters that see
    // `closing`; acquire orders the wait below after the fetch_or.
    word_.fetch_or(closing_bit, std::memory_order_acq_rel);
    wait_empty();
}

void ContextGate::close() noexcept {
    close_to_others();
    // ORDERING: acq_rel, as above.
    word_.fetch_or(closed_bit, std::memory_order_acq_rel);
    wait_empty();
}

bool ContextGate::defer_free(void* p, void (*free)(void*)) {
    std::lock_guard lock(mutex_);
    if (buried_) {
        return false;
    }
    grave_.emplace_back(p, free);
    return true;
}

void ContextGate::bury() noexcept {
    std::vector<std::pair<void*, void (*)(void*)>> grave;
    {
        std::lock_guard lock(mutex_);
        buried_ = true;
        grave.swap(grave_);
    }
    for (auto& [p, free] : grave) {
        free(p);
    }
}

} // namespace pollux::detail
