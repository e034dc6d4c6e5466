#include <pollux/detail/work_pool.hpp>

#include <algorithm>

namespace pollux::detail {

void WorkPool::Queue::push(WorkJob* j) noexcept {
    j->next_ = nullptr;
    if (tail) {
        tail->next_ = j;
    } else {
        head = j;
    }
    tail = j;
    ++size;
}

WorkJob* WorkPool::Queue::pop() noexcept {
    WorkJob* j = head;
    head = j->next_;
    if (!head) {
        tail = nullptr;
    }
    --size;
    return j;
}

WorkPool::WorkPool(std::size_t max_threads, std::size_t max_queued)
    : max_threads_(std::max<std::size_t>(1, max_threads)),
      max_queued_(std::max<std::size_t>(1, max_queued)) {
}

WorkPool::~WorkPool() {
    shutdown();
}

std::size_t WorkPool::runnable_locked() const noexcept {
    const std::size_t fs_free = fs_running_ < max_fs_jobs_ ? max_fs_jobs_ - fs_running_ : 0;
    return blocking_q_.size + std::min(fs_q_.size, fs_free);
}

WorkPool::Wake WorkPool::wake_locked() {
    if (runnable_locked() <= waking_) {
        return Wake::none; // every runnable job has a thread on its way
    }
    if (idle_ > waking_) {
        ++waking_;
        return Wake::notify;
    }
    if (threads_.size() < max_threads_ && !stopping_) {
        ++waking_; // the new thread counts itself off when it starts
        threads_.emplace_back([this] { worker(); });
        return Wake::start;
    }
    return Wake::none; // every thread busy: the first to finish takes it
}

WorkJob* WorkPool::take_locked() noexcept {
    WorkJob* b = blocking_q_.head;
    WorkJob* f = fs_q_.head;
    // An fs job waits for a free fs slot, except one that will be dropped
    // unrun (shutdown) and so occupies none.
    const bool fs_ok = f != nullptr && (fs_running_ < max_fs_jobs_ ||
                                        (stopping_ && f->kind_ == WorkKind::abandonable));
    if (b && (!fs_ok || b->seq_ < f->seq_)) {
        return blocking_q_.pop();
    }
    if (fs_ok) {
        return fs_q_.pop();
    }
    return nullptr;
}

bool WorkPool::submit(std::unique_ptr<WorkJob> job, WorkKind kind, WorkLane lane) {
    Wake wake = Wake::none;
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
        j->lane_ = lane;
        j->seq_ = next_seq_++;
        (lane == WorkLane::fs ? fs_q_ : blocking_q_).push(j);
        ++queued_;
        wake = wake_locked();
    }
    if (wake == Wake::notify) {
        cv_.notify_one();
    }
    return true;
}

void WorkPool::worker() noexcept {
    std::unique_lock lock(mutex_);
    if (waking_ > 0) {
        --waking_; // started by wake_locked
    }
    for (;;) {
        WorkJob* j = take_locked();
        while (!j) {
            // Nothing runnable. At shutdown this thread may go: the blocking
            // queue is empty and any fs job left waits for a slot held by a
            // running fs job, whose thread takes it next (take_locked).
            if (stopping_) {
                return;
            }
            ++idle_;
            cv_.wait(lock);
            --idle_;
            // Counts off the wake that was meant for an idle thread (a
            // spurious wake-up may take another's: waking_ then undercounts,
            // which costs at most a spare wake, never a job left unserved).
            if (waking_ > 0) {
                --waking_;
            }
            j = take_locked();
        }
        --queued_;
        const bool run = !stopping_ || j->kind_ == WorkKind::mandatory;
        const bool fs = run && j->lane_ == WorkLane::fs;
        ++running_;
        if (fs) {
            ++fs_running_;
        }
        // Taking this job may leave another runnable one without a thread
        // (a blocking job taken while an fs slot is free and fs jobs wait).
        const Wake wake = wake_locked();
        lock.unlock();
        if (wake == Wake::notify) {
            cv_.notify_one();
        }
        if (run) {
            j->run();
        }
        delete j;
        lock.lock();
        --running_;
        if (fs) {
            --fs_running_;
        }
        if (run) {
            ++completed_;
        }
    }
}

void WorkPool::shutdown() {
    std::vector<std::thread> threads;
    WorkJob* blocking = nullptr;
    WorkJob* fs = nullptr;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        threads.swap(threads_);
        if (threads.empty()) {
            // No thread will drain the queues: run the mandatory jobs here,
            // in submission order.
            blocking = blocking_q_.head;
            fs = fs_q_.head;
            blocking_q_ = Queue{};
            fs_q_ = Queue{};
            queued_ = 0;
        }
    }
    cv_.notify_all();
    for (auto& t : threads) {
        t.join();
    }
    while (blocking || fs) {
        WorkJob*& from = (blocking && (!fs || blocking->seq_ < fs->seq_)) ? blocking : fs;
        WorkJob* j = from;
        from = j->next_;
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

void WorkPool::set_max_fs_jobs(std::size_t n) {
    Wake wake = Wake::none;
    {
        std::lock_guard lock(mutex_);
        max_fs_jobs_ = std::max<std::size_t>(1, n);
        wake = wake_locked(); // a raised cap may make queued fs jobs runnable
    }
    if (wake == Wake::notify) {
        cv_.notify_one();
    }
}

std::size_t WorkPool::max_threads() const {
    std::lock_guard lock(mutex_);
    return max_threads_;
}

std::size_t WorkPool::max_fs_jobs() const {
    std::lock_guard lock(mutex_);
    return max_fs_jobs_;
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
    m.fs_running = fs_running_;
    m.max_fs_jobs = max_fs_jobs_;
    m.max_queued = max_queued_;
    m.completed = completed_;
    m.refused = refused_;
    return m;
}

} // namespace pollux::detail
