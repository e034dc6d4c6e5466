#include <pollux/debug/stall_watchdog.hpp>
#include <pollux/detail/scheduler_service.hpp>

#include "poll_slot.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pollux::debug {

namespace {

void append_site(std::string& out, const std::source_location& site) {
    out += site.file_name();
    out += ':';
    out += std::to_string(site.line());
}

// A stalled poll seen by one scan: its slot's fields, read consistently.
struct Seen {
    std::uint64_t task_id;
    std::int64_t start_ns;
    std::source_location spawn_site;
    std::source_location resumed_from;
};

} // namespace

std::string to_string(const StallReport& r) {
    std::string out = "pollux: task " + std::to_string(r.task_id);
    if (!r.name.empty()) {
        out += " \"" + r.name + '"';
    }
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f ms", static_cast<double>(r.running_for.count()) / 1e6);
    out += " has been in one poll for ";
    out += ms;
    out += " (spawned at ";
    append_site(out, r.spawn_site);
    if (r.resumed_from.line() != 0) {
        out += ", resumed from ";
        append_site(out, r.resumed_from);
    } else {
        out += ", first poll";
    }
    out += ')';
    return out;
}

void print_stall_report(const StallReport& report) {
    const std::string line = to_string(report) + '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

struct StallWatchdog::Impl {
    detail::SchedulerService* service;
    std::chrono::nanoseconds threshold;
    StallHandler handler;
    std::mutex mutex;
    std::condition_variable cv;
    bool stop = false; // under mutex
    // The polls already reported (task id, start), so each is reported once.
    std::vector<std::pair<std::uint64_t, std::int64_t>> reported;
    std::thread thread;

    void run() {
        const auto period =
            std::max<std::chrono::nanoseconds>(threshold / 4, std::chrono::milliseconds(1));
        std::unique_lock lock(mutex);
        while (!cv.wait_for(lock, period, [this] { return stop; })) {
            lock.unlock();
            scan();
            lock.lock();
        }
    }

    void scan() {
        const std::int64_t now = detail::steady_now_ns();
        std::vector<Seen> stalled;
        detail::visit_poll_slots([&](const detail::PollSlot& slot) {
            // ORDERING: the seqlock read of poll_slot.hpp.
            const std::int64_t start = slot.start_ns.load(std::memory_order_acquire);
            if (start == 0 || slot.service.load(std::memory_order_relaxed) != service) {
                return;
            }
            Seen seen{slot.task_id.load(std::memory_order_relaxed),
                      start,
                      slot.spawn_site.load(std::memory_order_relaxed),
                      slot.resumed_from.load(std::memory_order_relaxed)};
            std::atomic_thread_fence(std::memory_order_acquire);
            if (slot.start_ns.load(std::memory_order_relaxed) != start) {
                return; // the poll ended meanwhile
            }
            if (now - start >= threshold.count()) {
                stalled.push_back(seen);
            }
        });
        // Forget polls that are no longer stalled, so the list stays short.
        std::erase_if(reported, [&](const auto& r) {
            return std::none_of(stalled.begin(), stalled.end(), [&](const Seen& s) {
                return s.task_id == r.first && s.start_ns == r.second;
            });
        });
        for (const Seen& s : stalled) {
            const std::pair key{s.task_id, s.start_ns};
            if (std::find(reported.begin(), reported.end(), key) != reported.end()) {
                continue;
            }
            reported.push_back(key);
            StallReport report;
            report.task_id = s.task_id;
            report.spawn_site = s.spawn_site;
            report.resumed_from = s.resumed_from;
            report.running_for = std::chrono::nanoseconds(now - s.start_ns);
            // The name lives on the task: look it up by id in the registry,
            // which finds nothing if the task has finished since.
            if (auto info = service->task(s.task_id)) {
                report.name = std::move(info->name);
            }
            try {
                if (handler) {
                    handler(report);
                } else {
                    print_stall_report(report);
                }
            } catch (...) {
                // Documented: a throwing handler's exception is dropped.
            }
        }
    }
};

StallWatchdog::StallWatchdog(boost::asio::execution_context& ctx,
                             std::chrono::nanoseconds threshold,
                             StallHandler handler) {
    if (threshold <= std::chrono::nanoseconds::zero()) {
        throw std::invalid_argument("pollux::debug::StallWatchdog: threshold must be positive");
    }
    auto& service = boost::asio::use_service<detail::SchedulerService>(ctx);
    service.enable_detailed_metrics();
    impl_ = std::make_unique<Impl>();
    impl_->service = &service;
    impl_->threshold = threshold;
    impl_->handler = std::move(handler);
    impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

StallWatchdog::~StallWatchdog() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stop = true;
    }
    impl_->cv.notify_one();
    impl_->thread.join();
}

} // namespace pollux::debug
