#include <pollux/uv/async_handle.hpp>

#include "loop_impl.hpp"

#include <boost/asio/post.hpp>

#include <atomic>
#include <utility>

namespace pollux::uv {

namespace detail {

// The part of an AsyncHandle (or Mailbox) that senders on other threads
// touch, and that the posted wake-up holds: it outlives the handle.
//
// Protocol:
// - `pending` is true while a wake-up is posted and has not started. A
//   sender sets it (exchange, acq_rel) and posts only if it was false. The
//   wake-up clears it (exchange, acq_rel) *before* calling back, so a send
//   that lands during the callback posts again: the last send is never
//   lost, and sends before the clear coalesce into this call.
// - `closed` is set by close() on the loop thread; later sends post
//   nothing. A wake-up that was already posted finds the handle closing (or
//   `owner` null once destroyed) and does nothing.
// - `owner` is read and written on the loop thread only.
struct AsyncState {
    std::atomic<bool> pending{false};
    std::atomic<bool> closed{false};
    AsyncCore* owner;
    boost::asio::io_context::executor_type executor;

    AsyncState(AsyncCore* o, boost::asio::io_context::executor_type ex)
        : owner(o), executor(std::move(ex)) {}

    static void fire(const std::shared_ptr<AsyncState>& st) {
        AsyncCore* h = st->owner;
        if (h == nullptr || h->is_closing()) {
            return;
        }
        // ORDERING: acq_rel: the acquire half pairs with the senders'
        // release, so the callback sees what they wrote before send(); the
        // release half orders the clear before the callback's reads.
        st->pending.exchange(false, std::memory_order_acq_rel);
        h->on_async();
    }
};

AsyncCore::AsyncCore(Loop& loop)
    : Handle(loop, HandleType::async),
      state_(std::make_shared<AsyncState>(this, loop.get_executor())) {
    // libuv: an async handle is active from uv_async_init until closed.
    set_active(true);
}

AsyncCore::~AsyncCore() {
    state_->owner = nullptr;
}

bool AsyncCore::notify() noexcept {
    // ORDERING: acquire pairs with close()'s release; a send racing with
    // close may still post, and that wake-up then finds the handle closing.
    if (state_->closed.load(std::memory_order_acquire)) {
        return false;
    }
    // ORDERING: acq_rel, see AsyncState: the release half publishes the
    // sender's writes to the wake-up's acquire.
    if (!state_->pending.exchange(true, std::memory_order_acq_rel)) {
        try {
            boost::asio::post(state_->executor, [st = state_] { AsyncState::fire(st); });
        } catch (...) {
            // Allocation failure: let a later send try again.
            state_->pending.store(false, std::memory_order_release);
            return false;
        }
    }
    return true;
}

void AsyncCore::on_close() noexcept {
    // ORDERING: release pairs with notify()'s acquire load.
    state_->closed.store(true, std::memory_order_release);
}

} // namespace detail

AsyncHandle::AsyncHandle(Loop& loop, Callback cb) : AsyncCore(loop), cb_(std::move(cb)) {
    POLLUX_ASSERT(static_cast<bool>(cb_), "AsyncHandle needs a callback");
}

AsyncHandle::~AsyncHandle() {
    destroy_handle();
}

void AsyncHandle::on_async() {
    (void)invoke(cb_);
}

} // namespace pollux::uv
