#pragma once

// `ManualStream`: a hand-fed Stream of int for tests. It is Pending (keeping
// the waker) until the test pushes an item or closes it; push and close wake
// the kept waker. Copies share one state, so a test keeps a copy to feed the
// stream it moved into an adaptor.

#include <pollux/core/future.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <utility>

namespace pollux::test {

// A hand-fed stream: Pending (keeping the waker) until the test pushes an
// item or closes it; push and close wake the kept waker. Counts its polls.
struct ManualStream {
    struct State {
        std::deque<int> items;
        bool closed = false;
        std::optional<Waker> waker;
        int polls = 0;
    };
    using Item = int;
    std::shared_ptr<State> state = std::make_shared<State>();

    Poll<std::optional<int>> poll_next(Context& cx) {
        ++state->polls;
        if (!state->items.empty()) {
            int v = state->items.front();
            state->items.pop_front();
            return Ready{v};
        }
        if (state->closed) {
            return Ready{std::nullopt};
        }
        state->waker = cx.waker();
        return Pending{};
    }
    void push(int v) const {
        state->items.push_back(v);
        wake();
    }
    void close() const {
        state->closed = true;
        wake();
    }
    int polls() const { return state->polls; }

private:
    void wake() const {
        if (state->waker) {
            Waker w = std::move(*state->waker);
            state->waker.reset();
            std::move(w).wake();
        }
    }
};

} // namespace pollux::test
