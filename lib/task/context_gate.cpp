#include <pollux/detail/context_gate.hpp>

#include <thread>

namespace pollux::detail {

void ContextGate::close() noexcept {
    // ORDERING: acq_rel: the acquire half orders the wait below after the
    // fetch_or; threads that entered before it are counted in the word.
    word_.fetch_or(closed_bit, std::memory_order_acq_rel);
    // The threads inside are in the middle of a post or an I/O object's
    // destructor: short, and none of them waits for this thread.
    // ORDERING: acquire pairs with leave's release.
    while ((word_.load(std::memory_order_acquire) & ~closed_bit) != 0) {
        std::this_thread::yield();
    }
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
