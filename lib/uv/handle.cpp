#include <pollux/uv/handle.hpp>
#include <pollux/uv/loop.hpp>

#include "loop_impl.hpp"

#include <boost/asio/error.hpp>

#include <utility>

namespace pollux::uv {

Handle::Handle(Loop& loop, HandleType type)
    : loop_(&loop), anchor_(std::make_shared<detail::Anchor>()), type_(type) {
    anchor_->handle = static_cast<Handle*>(this);
    phase_node_.owner = static_cast<Handle*>(this);
    closing_node_.owner = static_cast<Handle*>(this);
    handle_node_.owner = static_cast<Handle*>(this);
    impl().handles.push_back(handle_node_);
    ++impl().handle_count;
    ++impl().handle_objects;
}

Handle::~Handle() {
    POLLUX_ASSERT(destroyed_, "a handle's destructor must call destroy_handle()");
}

detail::LoopImpl& Handle::impl() const noexcept {
    return loop_->impl();
}

void Handle::destroy_handle() noexcept {
    if (destroyed_) {
        return;
    }
    destroyed_ = true;
    if (state_ == State::open) {
        // Silent close: stop and cancel; the cancelled completions find the
        // anchor empty and do nothing.
        on_close();
    }
    set_active(false);
    anchor_->handle = nullptr;
    phase_node_.unlink();
    closing_node_.unlink();
    handle_node_.unlink();
    auto& loop = impl();
    loop.forget_pending(this);
    loop.active_reqs -= reqs_;
    reqs_ = 0;
    if (state_ != State::closed) {
        --loop.handle_count;
    }
    --loop.handle_objects;
    // Tell callbacks of this handle still on the stack that it is gone.
    for (CallGuard* g = guards_; g != nullptr; g = g->prev) {
        g->destroyed = true;
    }
    guards_ = nullptr;
}

void Handle::close(CloseCallback cb) {
    POLLUX_ASSERT(state_ == State::open, "uv handle closed twice");
    state_ = State::closing;
    close_cb_ = std::move(cb);
    on_close();
    set_active(false);
    impl().closing.push_back(closing_node_);
}

void Handle::finish_close() {
    // In-flight request callbacks first (with operation_aborted).
    if (!guarded([&] { on_closed(); })) {
        return;
    }
    state_ = State::closed;
    --impl().handle_count;
    handle_node_.unlink(); // as libuv, before the close callback
    CloseCallback cb = std::move(close_cb_);
    close_cb_ = nullptr;
    if (cb) {
        // The handle may be destroyed inside; nothing touches it afterwards.
        cb();
    }
}

void Handle::set_active(bool on) noexcept {
    if (active_ == on) {
        return;
    }
    if (on && state_ != State::open) {
        return;
    }
    active_ = on;
    if (ref_) {
        if (on) {
            ++impl().active_handles;
        } else {
            --impl().active_handles;
        }
    }
}

void Handle::ref() noexcept {
    if (ref_) {
        return;
    }
    ref_ = true;
    if (active_) {
        ++impl().active_handles;
    }
}

void Handle::unref() noexcept {
    if (!ref_) {
        return;
    }
    ref_ = false;
    if (active_) {
        --impl().active_handles;
    }
}

void Handle::req_started() noexcept {
    ++reqs_;
    ++impl().active_reqs;
}

void Handle::req_finished() noexcept {
    --reqs_;
    --impl().active_reqs;
}

void Handle::defer(std::function<void()> fn) {
    impl().defer(this, std::move(fn));
    op_started();
}

namespace detail {

boost::system::error_code Watcher::start(Callback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv watcher started without a callback");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    cb_ = std::move(cb);
    if (!is_active()) {
        // libuv inserts at the head: the most recently started runs first.
        impl().watchers(kind_).push_front(phase_node_);
        set_active(true);
    }
    return {};
}

void Watcher::stop() noexcept {
    phase_node_.unlink();
    set_active(false);
}

void Watcher::fire() {
    (void)invoke(cb_);
}

} // namespace detail

void detail::hide_from_walk(Handle& h) noexcept {
    h.handle_node_.unlink();
}

// libuv's uv_walk: the list is moved aside and each handle put back before
// its callback, so a callback may close or destroy any handle (destruction
// unlinks the node from whichever list holds it) and handles made during
// the walk, which go to the loop's list, are not visited. If `fn` throws,
// the handles not visited yet go back too.
void walk(Loop& loop, const std::function<void(Handle&)>& fn) {
    detail::List& handles = loop.impl().handles;
    detail::List rest;
    rest.splice(handles);
    struct PutBack {
        detail::List& to;
        detail::List& from;
        ~PutBack() { to.splice(from); }
    } put_back{handles, rest};
    while (detail::ListNode* n = rest.front()) {
        handles.push_back(*n);
        fn(*static_cast<Handle*>(n->owner));
    }
}

} // namespace pollux::uv
