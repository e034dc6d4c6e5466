#include <pollux/uv/getaddrinfo.hpp>
#include <pollux/uv/getnameinfo.hpp>
#include <pollux/uv/request.hpp>
#include <pollux/uv/work.hpp>

#include "loop_impl.hpp"
#include "work_request.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/errc.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <memory>
#include <netdb.h>
#include <string>
#include <sys/socket.h>
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

    // Loop thread, right after the pool refused the job (queue full).
    void refuse() {
        phase.store(cancelled, std::memory_order_relaxed);
        post_completion(boost::system::errc::make_error_code(
            boost::system::errc::resource_unavailable_try_again));
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

// getaddrinfo(3)'s and getnameinfo(3)'s EAI_* codes as error codes: Asio's
// where it has one (Asio's resolver maps them the same way), else generic.
boost::system::error_code eai_error(int rc, int saved_errno) {
    using boost::system::errc::make_error_code;
    switch (rc) {
    case 0:
        return {};
    case EAI_AGAIN:
        return boost::asio::error::host_not_found_try_again;
    case EAI_BADFLAGS:
        return make_error_code(boost::system::errc::invalid_argument);
    case EAI_FAIL:
        return boost::asio::error::no_recovery;
    case EAI_FAMILY:
        return boost::asio::error::address_family_not_supported;
    case EAI_MEMORY:
        return boost::asio::error::no_memory;
    case EAI_NONAME:
        return boost::asio::error::host_not_found;
    case EAI_SERVICE:
        return boost::asio::error::service_not_found;
    case EAI_SOCKTYPE:
        return boost::asio::error::socket_type_not_supported;
    case EAI_OVERFLOW:
        return make_error_code(boost::system::errc::no_buffer_space);
    case EAI_SYSTEM:
        return {saved_errno, boost::system::system_category()};
    default:
        return make_error_code(boost::system::errc::invalid_argument);
    }
}

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

namespace detail {

namespace {
struct RunJob {
    std::shared_ptr<WorkState> st;
    void operator()() noexcept { st->run(); }
};
} // namespace

// Queues `work` on the loop's pool as a request: the one machine behind
// queue_work, getaddrinfo, getnameinfo and the fs requests, so all of them
// cancel as uv_cancel does (only while queued).
Request start_work(Loop& loop,
                   WorkCallback work,
                   AfterWorkCallback after_work,
                   pollux::detail::WorkKind kind,
                   pollux::detail::WorkLane lane) {
    auto impl = shared_impl(loop);
    auto st = std::make_shared<WorkState>(std::move(work), std::move(after_work), impl);
    ++impl->active_reqs;
    if (!impl->work_pool().submit(
            std::make_unique<pollux::detail::FnWorkJob<RunJob>>(RunJob{st}), kind, lane)) {
        // The queue is at its bound: the callback reports EAGAIN from the
        // loop, never from inside this call (libuv's rule for callbacks).
        st->refuse();
    }
    return Request(st);
}

} // namespace detail

Request queue_work(Loop& loop, WorkCallback work, AfterWorkCallback after_work) {
    POLLUX_ASSERT(static_cast<bool>(work) && static_cast<bool>(after_work),
                  "uv::queue_work needs both callbacks");
    return detail::start_work(loop, std::move(work), std::move(after_work));
}

Request getaddrinfo(Loop& loop, std::string host, std::string service, GetAddrInfoCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::getaddrinfo needs a callback");
    // Written by the pool thread, read by the loop thread after the
    // completion's post, which orders the two.
    struct Lookup {
        std::string host;
        std::string service;
        boost::system::error_code ec;
        AddrInfoResults results;
    };
    auto lookup = std::make_shared<Lookup>(Lookup{std::move(host), std::move(service), {}, {}});
    return detail::start_work(
        loop,
        [lookup] {
            // Asio's synchronous resolve calls getaddrinfo(3) on this
            // thread; the io_context is only there to own the resolver.
            boost::asio::io_context ctx(1);
            boost::asio::ip::tcp::resolver resolver(ctx);
            lookup->results = resolver.resolve(lookup->host, lookup->service, lookup->ec);
        },
        [lookup, cb = std::move(cb)](boost::system::error_code ec) {
            if (ec) {
                cb(ec, AddrInfoResults{});
                return;
            }
            cb(lookup->ec, std::move(lookup->results));
        });
}

Request getnameinfo(Loop& loop,
                    const boost::asio::ip::tcp::endpoint& endpoint,
                    int flags,
                    GetNameInfoCallback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::getnameinfo needs a callback");
    struct Lookup {
        boost::asio::ip::tcp::endpoint endpoint;
        int flags;
        boost::system::error_code ec;
        std::string host;
        std::string service;
    };
    auto lookup = std::make_shared<Lookup>(Lookup{endpoint, flags, {}, {}, {}});
    return detail::start_work(
        loop,
        [lookup] {
            std::array<char, NI_MAXHOST> host{};
            std::array<char, NI_MAXSERV> service{};
            const int rc = ::getnameinfo(lookup->endpoint.data(),
                                         static_cast<socklen_t>(lookup->endpoint.size()),
                                         host.data(),
                                         static_cast<socklen_t>(host.size()),
                                         service.data(),
                                         static_cast<socklen_t>(service.size()),
                                         lookup->flags);
            lookup->ec = eai_error(rc, errno);
            if (!lookup->ec) {
                lookup->host = host.data();
                lookup->service = service.data();
            }
        },
        [lookup, cb = std::move(cb)](boost::system::error_code ec) {
            if (ec) {
                cb(ec, {}, {});
                return;
            }
            cb(lookup->ec, std::move(lookup->host), std::move(lookup->service));
        });
}

} // namespace pollux::uv
