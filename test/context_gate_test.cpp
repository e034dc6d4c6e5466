// detail::ContextGate: the states of context_gate.hpp's comment, one
// transition per test.

#include <pollux/detail/context_gate.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using pollux::detail::ContextGate;
using pollux::detail::GatePass;
using pollux::detail::GateRef;

namespace {

// Owns the creation reference of a gate for one test.
struct OwnedGate {
    ContextGate* g = ContextGate::create();
    ~OwnedGate() { g->release(); }
};

bool enters_from_another_thread(const ContextGate* g) {
    bool in = false;
    std::thread([&] {
        GatePass pass(g);
        in = static_cast<bool>(pass);
    }).join();
    return in;
}

} // namespace

TEST_CASE("an open gate lets every thread in", "[context_gate]") {
    OwnedGate o;
    CHECK(static_cast<bool>(GatePass(o.g)));
    CHECK(enters_from_another_thread(o.g));
}

TEST_CASE("a gate closing to others lets only the closer in", "[context_gate]") {
    OwnedGate o;
    o.g->close_to_others();
    CHECK(static_cast<bool>(GatePass(o.g)));
    CHECK_FALSE(enters_from_another_thread(o.g));
    CHECK_FALSE(o.g->is_closed());
}

TEST_CASE("a closed gate lets nobody in, the closer included", "[context_gate]") {
    OwnedGate o;
    o.g->close_to_others();
    o.g->close();
    CHECK(o.g->is_closed());
    CHECK_FALSE(static_cast<bool>(GatePass(o.g)));
    CHECK_FALSE(enters_from_another_thread(o.g));
}

TEST_CASE("a second close_to_others keeps the first closer", "[context_gate]") {
    OwnedGate o;
    std::thread([&] { o.g->close_to_others(); }).join();
    o.g->close_to_others(); // too late: another thread is the closer
    CHECK_FALSE(static_cast<bool>(GatePass(o.g)));
}

TEST_CASE("close waits for the threads inside the gate", "[context_gate]") {
    OwnedGate o;
    std::atomic<bool> inside{false};
    std::atomic<bool> left{false};
    std::thread user([&] {
        GatePass pass(o.g);
        REQUIRE(pass);
        inside = true;
        for (int i = 0; i < 1000; ++i) {
            std::this_thread::yield();
        }
        left = true;
    });
    while (!inside.load()) {
        std::this_thread::yield();
    }
    o.g->close();
    CHECK(left.load());
    user.join();
}

TEST_CASE("a deferred free runs at bury, and after bury defer_free refuses", "[context_gate]") {
    OwnedGate o;
    int freed = 0;
    auto count = [](void* p) { ++*static_cast<int*>(p); };
    REQUIRE(o.g->defer_free(&freed, count));
    CHECK(freed == 0);
    o.g->bury();
    CHECK(freed == 1);
    CHECK_FALSE(o.g->defer_free(&freed, count));
    CHECK(freed == 1);
}

TEST_CASE("a GateRef keeps the gate alive after its creator released it", "[context_gate]") {
    ContextGate* g = ContextGate::create();
    GateRef ref(g);
    g->release();
    CHECK(static_cast<bool>(GatePass(ref.get()))); // LSan/ASan check the rest
}
