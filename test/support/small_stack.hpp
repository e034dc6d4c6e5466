#pragma once

// Runs a function on a thread with a small stack, so a test of "constant
// stack" fails by overflowing it in every build type: on the main thread's
// 8 MiB, a recursion of 100,000 levels may fit when the optimizer makes the
// frames small.

#include <cstddef>
#include <exception>
#include <functional>
#include <pthread.h>
#include <stdexcept>
#include <string>

namespace pollux::test {

/// Calls `fn` on a new thread whose stack is `stack_bytes`, waits for it,
/// and rethrows what it threw.
inline void run_with_stack(std::size_t stack_bytes, std::function<void()> fn) {
    struct Call {
        std::function<void()>* fn;
        std::exception_ptr error;
    } call{&fn, nullptr};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_bytes);
    pthread_t thread;
    const int rc = pthread_create(
        &thread,
        &attr,
        [](void* p) -> void* {
            auto* c = static_cast<Call*>(p);
            try {
                (*c->fn)();
            } catch (...) {
                c->error = std::current_exception();
            }
            return nullptr;
        },
        &call);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        throw std::runtime_error("pthread_create failed: " + std::to_string(rc));
    }
    pthread_join(thread, nullptr);
    if (call.error) {
        std::rethrow_exception(call.error);
    }
}

/// A stack far smaller than a 100,000-level recursion needs, with room for
/// a sanitizer's larger frames.
inline constexpr std::size_t small_stack_bytes = 1024 * 1024;

} // namespace pollux::test
