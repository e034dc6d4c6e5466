#include <pollux/detail/random.hpp>

#include <atomic>
#include <chrono>

namespace pollux::detail {

namespace {

// Each thread gets a distinct odd seed mixed from a global counter and the
// clock (splitmix64), so threads started together do not share a sequence.
std::uint64_t seed_for_this_thread() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    std::uint64_t z =
        counter.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed) +
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z | 1;
}

thread_local std::uint64_t state = seed_for_this_thread();

} // namespace

void seed_fast_random(std::uint64_t seed) noexcept {
    // Any non-zero state works for xorshift; mix so that nearby seeds differ.
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    state = z | 1;
}

std::uint32_t fast_random_below(std::uint32_t n) noexcept {
    // xorshift64*
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    const auto r = static_cast<std::uint32_t>((state * 0x2545F4914F6CDD1Dull) >> 32);
    // Lemire's multiply-shift maps r onto [0, n) without a division.
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(r) * n) >> 32);
}

} // namespace pollux::detail
