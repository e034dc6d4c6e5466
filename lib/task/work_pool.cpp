#include <pollux/detail/work_pool.hpp>

#include <algorithm>
#include <chrono>
#include <sched.h>

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

namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

} // namespace

WorkPool::Wake WorkPool::wake_locked() {
    if (runnable_locked() <= waking_ + eager_) {
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
        if (spinning_ > 0) {
            submits_.fetch_add(1, std::memory_order_relaxed);
        }
        wake = wake_locked();
    }
    if (wake == Wake::notify) {
        cv_.notify_one();
    }
    return true;
}

WorkJob* WorkPool::spin_locked(std::unique_lock<std::mutex>& lock) noexcept {
    // ORDERING: `submits_` is only a hint; the job itself is taken under the
    // mutex. A submit made while `spinning_` is non-zero bumps it, and
    // `seen` is read under the same mutex as the increment of `spinning_`,
    // so no such submit goes unseen.
    //
    // The first `pause_spins` rounds spin on the CPU (the loop re-submits
    // within a few microseconds when it runs); after them each round yields
    // the core, so that on a busy machine the spin gives way to the loop's
    // thread (or anyone else) instead of burning the slice: measured, a
    // spin of pauses alone was a quarter of the samples at load 10, with
    // yields the CPU per read fell below the pool's without a spin.
    constexpr unsigned pause_spins = 64;
    ++spinning_;
    ++eager_;
    bool eager = true;
    std::uint64_t seen = submits_.load(std::memory_order_relaxed);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(fs_spin_us);
    WorkJob* j = nullptr;
    lock.unlock();
    for (unsigned i = 1;; ++i) {
        if (submits_.load(std::memory_order_relaxed) != seen) {
            lock.lock();
            j = take_locked();
            if (j != nullptr || stopping_) {
                break;
            }
            // Another thread took it, or the fs cap holds it back: spin on.
            seen = submits_.load(std::memory_order_relaxed);
            lock.unlock();
        }
        if (i < pause_spins) {
            cpu_relax();
            continue;
        }
        if (eager) {
            // From here on each look yields the core, and a yield can hand it
            // to another runnable thread for a whole time slice: this thread
            // stops counting as on its way, so that a submit wakes a sleeping
            // thread as it would without the spin (measured: counted as on
            // its way through the yields, a loaded machine delayed the
            // sequential read-ahead by about a slice per read).
            lock.lock();
            --eager_;
            eager = false;
            j = take_locked();
            if (j != nullptr || stopping_) {
                break;
            }
            lock.unlock();
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            lock.lock();
            j = take_locked();
            break;
        }
        sched_yield();
    }
    if (eager) {
        --eager_;
    }
    --spinning_;
    return j;
}

void WorkPool::worker() noexcept {
    std::unique_lock lock(mutex_);
    if (waking_ > 0) {
        --waking_; // started by wake_locked
    }
    bool after_fs = false; // the last job this thread ran was a file job
    for (;;) {
        WorkJob* j = take_locked();
        if (!j && after_fs && !stopping_ && spinning_ < max_spinning_threads) {
            j = spin_locked(lock);
        }
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
        after_fs = fs;
    }
}

void WorkPool::shutdown() {
    std::vector<std::thread> threads;
    WorkJob* blocking = nullptr;
    WorkJob* fs = nullptr;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        submits_.fetch_add(1, std::memory_order_relaxed); // ends a spin early
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
        if (spinning_ > 0) {
            submits_.fetch_add(1, std::memory_order_relaxed);
        }
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
    m.spinning = spinning_;
    return m;
}

} // namespace pollux::detail
