#include "poll_slot.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace pollux::detail {

namespace {

std::mutex& slots_mutex() {
    static std::mutex m;
    return m;
}

// Leaked on purpose: threads may exit (and unregister) during static
// destruction.
std::vector<PollSlot*>& slots() {
    static auto* v = new std::vector<PollSlot*>();
    return *v;
}

struct SlotOwner {
    PollSlot slot;
    SlotOwner() {
        std::lock_guard lock(slots_mutex());
        slots().push_back(&slot);
    }
    ~SlotOwner() {
        std::lock_guard lock(slots_mutex());
        auto& v = slots();
        v.erase(std::remove(v.begin(), v.end(), &slot), v.end());
    }
    SlotOwner(const SlotOwner&) = delete;
    SlotOwner& operator=(const SlotOwner&) = delete;
};

} // namespace

PollSlot& this_thread_poll_slot() {
    thread_local SlotOwner owner;
    return owner.slot;
}

void visit_poll_slots(const std::function<void(const PollSlot&)>& fn) {
    std::lock_guard lock(slots_mutex());
    for (const PollSlot* s : slots()) {
        fn(*s);
    }
}

std::int64_t steady_now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

PollSlotScope::PollSlotScope(const TaskHeader& task,
                             const SchedulerService& service,
                             std::int64_t start)
    : slot_(this_thread_poll_slot()) {
    if (slot_.start_ns.load(std::memory_order_relaxed) != 0) {
        return; // nested in another poll on this thread
    }
    active_ = true;
    // ORDERING: the seqlock of the file comment: fence, fields, then the
    // release store of start_ns that the watchdog's acquire load pairs with.
    std::atomic_thread_fence(std::memory_order_release);
    slot_.service.store(&service, std::memory_order_relaxed);
    slot_.task_id.store(task.id_, std::memory_order_relaxed);
    slot_.spawn_site.store(task.spawn_site_, std::memory_order_relaxed);
    slot_.resumed_from.store(task.await_site_.load(std::memory_order_relaxed),
                             std::memory_order_relaxed);
    slot_.start_ns.store(start, std::memory_order_release);
}

PollSlotScope::~PollSlotScope() {
    if (active_) {
        slot_.start_ns.store(0, std::memory_order_release);
    }
}

} // namespace pollux::detail
