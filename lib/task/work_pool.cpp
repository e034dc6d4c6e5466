#include <pollux/detail/work_pool.hpp>

#include <algorithm>

namespace pollux::detail {

WorkPool::WorkPool(std::size_t max_threads, std::size_t max_queued)
    : max_threads_(std::max<std::size_t>(1, max_threads)),
      max_queued_(std::max<std::size_t>(1, max_queued)) {
}

WorkPool::~WorkPool() {
    shutdown();
}

bool WorkPool::submit(std::unique_ptr<WorkJob> job, WorkKind kind) {
    {
        std::unique_lock lock(mutex_);
        if (stopping_ || queued_ >= max_queued_) {
            ++refused_;
            lock.unlock();
            job.reset(); // outside the lock: its captures may do anything
            return false;
        }
        WorkJob* j = job.release();
        j->kind_ = kind;
        j->next_ = nullptr;
        if (tail_) {
            tail_->next_ = j;
        } else {
            head_ = j;
        }
        tail_ = j;
        ++queued_;
        // A thread is free to take it, or about to be (an idle thread not
        // yet woken by an earlier submit counts: `idle_` drops when a thread
        // takes a job, so idle_ >= queued_ means every queued job has one).
        if (idle_ < queued_ && threads_.size() < max_threads_) {
            threads_.emplace_back([this] { worker(); });
            return true;
        }
    }
    cv_.notify_one();
    return true;
}

void WorkPool::worker() noexcept {
    std::unique_lock lock(mutex_);
    for (;;) {
        while (!head_ && !stopping_) {
            ++idle_;
            cv_.wait(lock);
            --idle_;
        }
        if (!head_) {
            return; // stopping, and nothing left that must run
        }
        WorkJob* j = head_;
        head_ = j->next_;
        if (!head_) {
            tail_ = nullptr;
        }
        --queued_;
        const bool run = !stopping_ || j->kind_ == WorkKind::mandatory;
        ++running_;
        lock.unlock();
        if (run) {
            j->run();
        }
        delete j;
        lock.lock();
        --running_;
        if (run) {
            ++completed_;
        }
    }
}

void WorkPool::shutdown() {
    std::vector<std::thread> threads;
    WorkJob* orphans = nullptr;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        threads.swap(threads_);
        if (threads.empty()) {
            // No thread will drain the queue: run the mandatory jobs here.
            orphans = head_;
            head_ = tail_ = nullptr;
            queued_ = 0;
        }
    }
    cv_.notify_all();
    for (auto& t : threads) {
        t.join();
    }
    while (orphans) {
        WorkJob* j = orphans;
        orphans = j->next_;
        if (j->kind_ == WorkKind::mandatory) {
            j->run();
        }
        delete j;
    }
}

void WorkPool::set_max_threads(std::size_t n) {
    std::lock_guard lock(mutex_);
    max_threads_ = std::max<std::size_t>(1, n);
}

void WorkPool::set_max_queued(std::size_t n) {
    std::lock_guard lock(mutex_);
    max_queued_ = std::max<std::size_t>(1, n);
}

std::size_t WorkPool::max_threads() const {
    std::lock_guard lock(mutex_);
    return max_threads_;
}

bool WorkPool::started() const {
    std::lock_guard lock(mutex_);
    return !threads_.empty() || stopping_;
}

WorkPoolMetrics WorkPool::metrics() const {
    std::lock_guard lock(mutex_);
    WorkPoolMetrics m;
    m.threads = threads_.size();
    m.max_threads = max_threads_;
    m.queued = queued_;
    m.running = running_;
    m.max_queued = max_queued_;
    m.completed = completed_;
    m.refused = refused_;
    return m;
}

} // namespace pollux::detail
