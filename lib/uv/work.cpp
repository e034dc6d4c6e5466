#include <pollux/uv/getaddrinfo.hpp>
#include <pollux/uv/request.hpp>
#include <pollux/uv/work.hpp>

#include "loop_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/errc.hpp>

#include <atomic>
#include <memory>
#include <utility>

namespace pollux::uv {

namespace {

boost::system::error_code busy() {
    return boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);
}

// A queue_work request. `phase` is the only field two threads touch:
//   queued -> running   (pool thread, CAS): the work starts; cancel fails
//   queued -> cancelled (loop thread, CAS): the work never starts
//   running -> finished (pool thread)
// Whoever wins the CAS from `queued` decides; the loser backs off. The
// callback fields are written on the loop thread before the pool sees the
// state (the post synchronises) and read there again after the completion
// is posted back.
class WorkState final : public detail::RequestState,
                        public std::enable_shared_from_this<WorkState> {
public:
    static constexpr int queued = 0;
    static constexpr int running = 1;
    static constexpr int finished = 2;
    static constexpr int cancelled = 3;

    WorkState(WorkCallback w, AfterWorkCallback a, const std::shared_ptr<detail::LoopImpl>& loop)
        : work(std::move(w)), after(std::move(a)), loop_(loop),
          executor_(loop->io->get_executor()) {}

    boost::system::error_code cancel() override {
        if (done_) {
            return busy();
        }
        int expected = queued;
        // ORDERING: acq_rel pairs with the pool thread's CAS on the same
        // word; only one of them leaves `queued`.
        if (!phase.compare_exchange_strong(expected, cancelled, std::memory_order_acq_rel)) {
            return busy();
        }
        // Never call back from inside cancel(): post the completion.
        post_completion(boost::asio::error::operation_aborted);
        return {};
    }

    // Pool thread.
    void run() noexcept {
        int expected = queued;
        // ORDERING: see cancel().
        if (!phase.compare_exchange_strong(expected, running, std::memory_order_acq_rel)) {
            return;
        }
        // An exception escaping `work` terminates (this function is noexcept).
        work();
        // ORDERING: release; the loop thread reads results after the post,
        // which synchronises anyway.
        phase.store(finished, std::memory_order_release);
        post_completion({});
    }

private:
    void post_completion(boost::system::error_code ec) {
        boost::asio::post(executor_, [self = shared_from_this(), ec] { self->complete(ec); });
    }

    // Loop thread.
    void complete(boost::system::error_code ec) {
        auto loop = loop_.lock();
        if (!loop) {
            return; // the loop is gone (a broken precondition of ~Loop)
        }
        done_ = true;
        --loop->active_reqs;
        AfterWorkCallback cb = std::move(after);
        after = nullptr;
        work = nullptr;
        cb(ec);
    }

    std::atomic<int> phase{queued};
    WorkCallback work;
    AfterWorkCallback after;
    std::weak_ptr<detail::LoopImpl> loop_;
    boost::asio::io_context::executor_type executor_;
};

// A getaddrinfo request: Asio's resolver runs the lookup on its own thread
// and completes on the loop's io_context.
class ResolveState final : public detail::RequestState {
public:
    explicit ResolveState(const std::shared_ptr<detail::LoopImpl>& loop)
        : resolver(*loop->io), loop_(loop) {}

    boost::system::error_code cancel() override {
        if (done_) {
            return busy();
        }
        resolver.cancel();
        return {};
    }

    void
    complete(boost::system::error_code ec, AddrInfoResults results, const GetAddrInfoCallback& cb) {
        auto loop = loop_.lock();
        if (!loop) {
            return;
        }
        done_ = true;
        --loop->active_reqs;
        cb(ec, std::move(results));
    }

    boost::asio::ip::tcp::resolver resolver;

private:
    std::weak_ptr<detail::LoopImpl> loop_;
};

std::shared_ptr<detail::LoopImpl> shared_impl(Loop& loop) {
    return loop.impl().shared_from_this();
}

} // namespace

boost::system::error_code Request::cancel() {
    if (!state_) {
        return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    }
    return state_->cancel();
}

Request queue_work(Loop& loop, WorkCallback work, AfterWorkCallback after_work) {
    POLLUX_ASSERT(static_cast<bool>(work) && static_cast<bool>(after_work),
                  "uv::queue_work needs both callbacks");
    auto impl = shared_impl(loop);
    auto st = std::make_shared<WorkState>(std::move(work), std::move(after_work), impl);
    boost::asio::post(impl->work_pool(), [st] { st->run(); });
    ++impl->active_reqs;
    return Request(st);
}

Request getaddrinfo(Loop& loop, std::string host, std::string service, GetAddrInfoCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::getaddrinfo needs a callback");
    auto impl = shared_impl(loop);
    auto st = std::make_shared<ResolveState>(impl);
    // The handler holds the state (and so the resolver) until it ran.
    st->resolver.async_resolve(
        host,
        service,
        [st, cb = std::move(cb)](boost::system::error_code ec, AddrInfoResults results) {
            st->complete(ec, std::move(results), cb);
        });
    ++impl->active_reqs;
    return Request(st);
}

} // namespace pollux::uv
