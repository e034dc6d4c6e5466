#include <pollux/core/waker.hpp>

namespace pollux {

const Waker& Waker::noop() noexcept {
    // Never destroyed, so it stays usable from other static destructors.
    static const Waker* const instance = new Waker(noop_raw());
    return *instance;
}

} // namespace pollux
