#pragma once

/// @file
/// `uv::Handle`: what every libuv-style handle has in common — `close(cb)`,
/// `is_active()`, `is_closing()`, `ref()`/`unref()`, `type()` — and the
/// guarantees of docs/callbacks.md that the loop enforces for all of them;
/// `uv::HandleType` (libuv's `uv_handle_type`).

#include <pollux/detail/config.hpp>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>

namespace pollux::uv {

class Loop;

class Handle;

namespace detail {

class LoopImpl;
// Takes `h` off the list `uv::walk` visits, for a handle a pollux handle
// owns as part of itself (libuv's UV_HANDLE_INTERNAL: FsPoll's timer). It
// still counts in `Loop::handle_count()` and is closed by its owner.
void hide_from_walk(Handle& h) noexcept;

// An intrusive doubly linked list node. A node knows its handle, so the loop
// can walk a list of handles without offsetof tricks. Unlinked nodes have
// null links.
struct ListNode {
    ListNode* prev = nullptr;
    ListNode* next = nullptr;
    void* owner = nullptr;

    [[nodiscard]] bool linked() const noexcept { return next != nullptr; }
    void unlink() noexcept {
        if (next != nullptr) {
            prev->next = next;
            next->prev = prev;
            prev = next = nullptr;
        }
    }
};

// A circular list with a sentinel head. Not movable: nodes point at the head.
class List {
public:
    List() noexcept { head_.prev = head_.next = &head_; }
    List(const List&) = delete;
    List& operator=(const List&) = delete;
    ~List() {
        while (!empty()) {
            head_.next->unlink();
        }
    }

    [[nodiscard]] bool empty() const noexcept { return head_.next == &head_; }
    [[nodiscard]] ListNode* front() const noexcept { return empty() ? nullptr : head_.next; }
    void push_back(ListNode& n) noexcept {
        n.unlink();
        n.prev = head_.prev;
        n.next = &head_;
        head_.prev->next = &n;
        head_.prev = &n;
    }
    void push_front(ListNode& n) noexcept {
        n.unlink();
        n.prev = &head_;
        n.next = head_.next;
        head_.next->prev = &n;
        head_.next = &n;
    }
    // Moves every node of `other` to the end of this list.
    void splice(List& other) noexcept {
        while (ListNode* n = other.front()) {
            push_back(*n);
        }
    }
    template <class F>
    void for_each(F&& f) const {
        for (ListNode* n = head_.next; n != &head_; n = n->next) {
            f(*n);
        }
    }

private:
    ListNode head_;
};

// Shared with asynchronous operations in flight: it outlives the handle, and
// `handle` is nulled when the handle is destroyed, so a late completion
// handler can tell that it must touch nothing. Loop thread only.
struct Anchor {
    void* handle;
};

} // namespace detail

/// The kinds of handle, as libuv's `uv_handle_type` (same order and values):
/// what `Handle::type()` and `uv::guess_handle` return. `named_pipe` is
/// libuv's name for pipes, FIFOs and Unix-domain stream sockets; `file` is
/// no handle (`guess_handle` of a regular file or character device).
enum class HandleType : unsigned char {
    unknown = 0,
    async,
    check,
    fs_event,
    fs_poll,
    handle,
    idle,
    named_pipe,
    poll,
    prepare,
    process,
    stream,
    tcp,
    timer,
    tty,
    udp,
    signal,
    file,
};

/// The common base of every handle (libuv's `uv_handle_t`). Handles are
/// RAII and neither copyable nor movable: callbacks and in-flight operations
/// refer to them by address.
///
/// Lifecycle: a handle is *open* from construction, *closing* from
/// `close(cb)` until its close callback runs, then *closed*. Destroying an
/// open or closing handle closes it at once and silently: no callback of it
/// runs afterwards (not even the close callback), and nothing it started
/// touches its memory afterwards.
///
/// The guarantees of docs/callbacks.md hold for every handle:
/// 1. If an operation cannot be started, the call returns the error and the
///    callback is never called.
/// 2. A callback never runs inside the call that registered it.
/// 3. `close(cb)` always calls `cb`, from the loop; callbacks of requests
///    still in flight (writes, connect, shutdown, sends) run first, with
///    `boost::asio::error::operation_aborted` (ECANCELED).
/// 4. No callback of a handle runs after its close callback, and the handle
///    may be destroyed inside its close callback or at any later time.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe. A handle belongs to its
/// loop's thread; only `AsyncHandle::send` and `Mailbox::send` may be called
/// from other threads.
class POLLUX_API Handle {
public:
    /// What `close` calls once the handle is closed.
    using CloseCallback = std::function<void()>;

    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    Handle(Handle&&) = delete;
    Handle& operator=(Handle&&) = delete;

    /// Starts closing the handle (libuv's `uv_close`): stops it, cancels what
    /// it has in flight, and calls `cb` (if any) from the loop's closing
    /// phase once every in-flight request callback has run.
    ///
    /// @par Errors
    /// None; `cb` is always called, never from inside `close`.
    /// @par Preconditions
    /// Not already closing or closed (asserts).
    /// @par Example
    /// @code
    /// timer.close([&] { std::puts("closed"); });
    /// @endcode
    void close(CloseCallback cb = {});

    /// True while the handle does something that keeps the loop alive (a
    /// started timer or watcher, a listening or reading stream, ...), as
    /// `uv_is_active`.
    [[nodiscard]] bool is_active() const noexcept { return active_; }
    /// True from `close()` on, including after the close callback
    /// (`uv_is_closing`).
    [[nodiscard]] bool is_closing() const noexcept { return state_ != State::open; }
    /// References count toward `Loop::alive()`; handles start referenced.
    /// Both calls are idempotent.
    void ref() noexcept;
    /// Stops the handle from counting toward `Loop::alive()` (`uv_unref`).
    void unref() noexcept;
    /// True while it counts toward `Loop::alive()` (`uv_has_ref`).
    [[nodiscard]] bool has_ref() const noexcept { return ref_; }

    /// The loop the handle belongs to.
    [[nodiscard]] Loop& loop() const noexcept { return *loop_; }
    /// What kind of handle it is (`uv_handle_get_type`): `HandleType::timer`
    /// for a `Timer`, `HandleType::async` for an `AsyncHandle` or a
    /// `Mailbox`, ...; `HandleType::unknown` for a kind that does not say.
    [[nodiscard]] HandleType type() const noexcept { return type_; }

    // The protected members are the interface between Handle and the handle
    // types pollux defines; they are not for users and stay out of the API
    // reference.
    /// @cond POLLUX_INTERNAL
protected:
    // Links the handle into its loop's list of handles (what walk visits).
    Handle(Loop& loop, HandleType type);
    explicit Handle(Loop& loop) : Handle(loop, HandleType::unknown) {}
    // For a kind whose base class made the Handle (a Stream subclass).
    void set_type(HandleType type) noexcept { type_ = type; }
    // Asserts that the derived destructor called destroy_handle().
    ~Handle();

    // Called first by every derived destructor: closes an open handle
    // silently (on_close), forgets everything the loop holds for it and
    // tells in-flight operations and running callbacks that it is gone.
    void destroy_handle() noexcept;

    // Stop everything and cancel I/O; in-flight operations must finish (and
    // call op_finished) promptly. Called by close() and by destroy_handle()
    // on an open handle.
    virtual void on_close() noexcept = 0;
    // Closing phase, just before the close callback: complete the callbacks
    // of requests that never started, with operation_aborted.
    virtual void on_closed() {}

    void set_active(bool on) noexcept;

    // An operation that will call back into this handle (an Asio operation,
    // a posted kick, a deferred callback). The close callback waits until
    // none is left.
    void op_started() noexcept { ++inflight_; }
    void op_finished() noexcept { --inflight_; }

    // A request (write, connect, shutdown, send): counts toward alive().
    void req_started() noexcept;
    void req_finished() noexcept;

    // Runs `fn` in the loop's pending phase (libuv's pending queue), which is
    // how immediate completions are posted. Counts as an operation in flight.
    // Dropped if the handle is destroyed first.
    void defer(std::function<void()> fn);

    // Runs `f`; returns false if the handle was destroyed meanwhile, in
    // which case the caller must not touch `this` again.
    template <class F>
    bool guarded(F&& f) {
        CallGuard g{false, guards_};
        guards_ = &g;
        GuardPop pop{this, &g};
        std::forward<F>(f)();
        return !g.destroyed;
    }

    // Calls the persistent callback in `slot` with `args`. The callback is
    // moved out for the call, so a callback that destroys the handle (and
    // so the slot) keeps its own captures alive until it returns; it is put
    // back unless the handle died or the callback installed a new one.
    // Returns false if the handle was destroyed.
    template <class Slot, class... Args>
    bool invoke(Slot& slot, Args&&... args) {
        Slot local = std::move(slot);
        slot = nullptr;
        bool alive = guarded([&] { local(std::forward<Args>(args)...); });
        if (alive && !slot) {
            slot = std::move(local);
        }
        return alive;
    }

    [[nodiscard]] const std::shared_ptr<detail::Anchor>& anchor() const noexcept { return anchor_; }
    [[nodiscard]] detail::LoopImpl& impl() const noexcept;

    // Recovers the handle from an anchor held by a completion handler; null
    // once the handle is destroyed.
    template <class H>
    static H* from_anchor(const std::shared_ptr<detail::Anchor>& a) noexcept {
        return static_cast<H*>(static_cast<Handle*>(a->handle));
    }
    /// @endcond

private:
    friend class detail::LoopImpl;
    friend void detail::hide_from_walk(Handle& h) noexcept;

    enum class State : unsigned char { open, closing, closed };

    struct CallGuard {
        bool destroyed;
        CallGuard* prev;
    };
    struct GuardPop {
        Handle* h;
        CallGuard* g;
        GuardPop(Handle* hh, CallGuard* gg) : h(hh), g(gg) {}
        GuardPop(const GuardPop&) = delete;
        GuardPop& operator=(const GuardPop&) = delete;
        ~GuardPop() {
            if (!g->destroyed) {
                h->guards_ = g->prev;
            }
        }
    };

    // Closing phase: flush, mark closed, run the close callback.
    void finish_close();

    Loop* loop_;
    std::shared_ptr<detail::Anchor> anchor_;
    CloseCallback close_cb_;
    CallGuard* guards_ = nullptr; // callbacks of this handle on the stack
    std::size_t inflight_ = 0;    // see op_started
    std::size_t reqs_ = 0;        // see req_started
    State state_ = State::open;
    HandleType type_;
    bool active_ = false;
    bool ref_ = true;
    bool destroyed_ = false;

    /// @cond POLLUX_INTERNAL
protected:
    // The node of the loop list the handle's phase uses: the idle, prepare or
    // check list for watchers, the ready list for timers.
    detail::ListNode phase_node_;
    /// @endcond

private:
    detail::ListNode closing_node_;
    // On the loop's `handles` list from construction until the close
    // callback runs (or destruction): what walk visits.
    detail::ListNode handle_node_;
};

namespace detail {

enum class WatcherKind : unsigned char { idle, prepare, check };

// The shared implementation of Idle, Prepare and Check (libuv's
// loop-watcher.c): a callback run once per loop iteration in its phase.
class POLLUX_API Watcher : public Handle {
public:
    using Callback = std::function<void()>;

protected:
    Watcher(Loop& loop, WatcherKind kind)
        : Handle(loop,
                 kind == WatcherKind::idle      ? HandleType::idle
                 : kind == WatcherKind::prepare ? HandleType::prepare
                                                : HandleType::check),
          kind_(kind) {}
    ~Watcher() = default;

    boost::system::error_code start(Callback cb);
    void stop() noexcept;

private:
    friend class LoopImpl;
    void on_close() noexcept override { stop(); }
    // Runs the callback (the loop's phase for this kind).
    void fire();

    Callback cb_;
    WatcherKind kind_;
};

} // namespace detail

} // namespace pollux::uv
