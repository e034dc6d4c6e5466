#include <pollux/core/waker.hpp>

namespace pollux {

namespace {

extern const RawWakerVTable noop_vtable;

RawWaker noop_clone(const void*) {
    return RawWaker{nullptr, &noop_vtable};
}
void noop_op(const void*) {
}

constexpr RawWakerVTable noop_vtable{&noop_clone, &noop_op, &noop_op, &noop_op};

} // namespace

RawWaker Waker::noop_raw() noexcept {
    return RawWaker{nullptr, &noop_vtable};
}

const Waker& Waker::noop() noexcept {
    // Never destroyed, so it stays usable from other static destructors.
    static const Waker* const instance = new Waker(noop_raw());
    return *instance;
}

} // namespace pollux
