#include <pollux/uv/fs_poll.hpp>

#include "fs_stat.hpp"
#include "loop_impl.hpp"
#include "work_request.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>

#include <chrono>
#include <utility>

// libuv's fs-poll.c over the worker pool and a Timer:
//
//   start --> stat on the pool --> on_stat (loop) --> timer --> stat ...
//
// Each start makes a new Job (the path to stat, the result); `job_` is the
// one whose completion counts. stop() forgets it, and a later start makes
// another, so the completion of a stat started before a stop (which keeps
// running on the pool: libuv cannot cancel it either) is recognised and
// ignored. Each stat in flight is an operation of the handle (op_started),
// so the close callback runs after the last one completed; close() cancels
// the current one if it is still queued.

namespace pollux::uv {

struct FsPoll::Job {
    std::string path;
    Stat st;
    boost::system::error_code ec;
};

namespace {

// libuv's statbuf_eq: what counts as a change (not atime, nlink, blocks).
bool same_status(const Stat& a, const Stat& b) noexcept {
    return a.ctim == b.ctim && a.mtim == b.mtim && a.birthtim == b.birthtim && a.size == b.size &&
           a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.ino == b.ino &&
           a.dev == b.dev && a.flags == b.flags && a.gen == b.gen;
}

} // namespace

FsPoll::FsPoll(Loop& loop) : Handle(loop, HandleType::fs_poll), timer_(loop) {
    // libuv's internal timer: it never keeps the loop alive and uv::walk
    // does not visit it (UV_HANDLE_INTERNAL).
    timer_.unref();
    detail::hide_from_walk(timer_);
}

FsPoll::~FsPoll() {
    destroy_handle();
}

boost::system::error_code FsPoll::start(std::string_view path, Duration interval, Callback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::FsPoll::start needs a callback");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (path.find('\0') != std::string_view::npos) {
        return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    }
    if (started_) {
        return {}; // libuv: starting an active handle does nothing
    }
    path_ = std::string(path);
    interval_ = interval > Duration::zero() ? interval : Duration{1};
    cb_ = std::move(cb);
    stat_ = Stat{};
    last_ = 0;
    started_ = true;
    set_active(true);
    poll_now();
    return {};
}

void FsPoll::stop() noexcept {
    if (!started_) {
        return;
    }
    started_ = false;
    set_active(false);
    timer_.stop();
    job_.reset(); // a stat in flight is ignored when it completes
}

// The internal timer closes with the handle (libuv closes its timer in
// uv_fs_poll_stop), so a closed FsPoll leaves no open handle behind and
// Loop::close() succeeds.
void FsPoll::on_close() noexcept {
    stop();
    (void)req_.cancel(); // only while queued; a running stat completes
    if (!timer_.is_closing()) {
        timer_.close();
    }
}

void FsPoll::poll_now() {
    poll_start_ = loop().now();
    auto job = std::make_shared<Job>();
    job->path = path_;
    job_ = job;
    op_started();
    // SAFETY of the captures: the work touches only the job; the completion
    // finds the handle through its anchor, null once it is destroyed.
    req_ = detail::start_work(
        loop(),
        [job] { job->ec = detail::stat_path(job->path.c_str(), job->st); },
        [a = anchor(), job](boost::system::error_code ec) {
            FsPoll* self = from_anchor<FsPoll>(a);
            if (self == nullptr) {
                return;
            }
            self->op_finished();
            self->on_stat(job, ec);
        },
        pollux::detail::WorkKind::abandonable,
        pollux::detail::WorkLane::fs);
}

void FsPoll::on_stat(const std::shared_ptr<Job>& job, boost::system::error_code ec) {
    if (job != job_ || !started_ || is_closing()) {
        return; // stopped (and maybe restarted) since this stat began
    }
    job_.reset();
    if (ec == boost::asio::error::operation_aborted) {
        return;
    }
    if (!ec) {
        ec = job->ec; // else the pool refused the job: report that instead
    }
    bool alive = true;
    if (ec) {
        // Reported once per distinct error, with the last good status.
        const int code = -ec.value();
        if (last_ != code) {
            last_ = code;
            alive = invoke(cb_, *this, ec, stat_, Stat{});
        }
    } else {
        const Stat prev = stat_;
        const bool report = last_ < 0 || (last_ > 0 && !same_status(prev, job->st));
        stat_ = job->st;
        last_ = 1;
        if (report) {
            const Stat curr = stat_;
            alive = invoke(cb_, *this, boost::system::error_code(), prev, curr);
        }
    }
    // The callback may have stopped, restarted, closed or destroyed it.
    if (!alive || !started_ || is_closing() || job_ != nullptr) {
        return;
    }
    // The next stat `interval` after this one started (libuv subtracts the
    // time the stat took, modulo the interval).
    const auto took = std::chrono::duration_cast<Duration>(loop().now() - poll_start_);
    const Duration wait = interval_ - (took % interval_);
    const auto terr = timer_.start([this] { poll_now(); }, wait);
    if (terr) {
        // The timer is hidden from uv::walk and closed only with the handle,
        // so this is defensive: stop, and say so rather than stall.
        stop();
        (void)invoke(cb_, *this, terr, stat_, Stat{});
    }
}

} // namespace pollux::uv
