#pragma once

/// @file
/// `sim::Rng`: the small seeded generator behind every choice a simulation
/// makes (xoshiro256** seeded through splitmix64). Its sequence is fixed by
/// the seed alone, on every compiler and standard library, which
/// `std::uniform_int_distribution` does not promise.

#include <cstdint>

namespace pollux::sim {

/// A deterministic pseudo-random generator. Not for cryptography.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class Rng {
public:
    /// The generator whose sequence `seed` names.
    explicit Rng(std::uint64_t seed) noexcept {
        std::uint64_t x = seed;
        for (auto& s : s_) {
            s = splitmix64(x);
        }
    }

    /// The next 64 random bits.
    std::uint64_t next() noexcept {
        // xoshiro256** (Blackman and Vigna).
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// A number in [0, n); 0 when `n` is 0. Lemire's multiply-shift on the
    /// high 32 bits: the bias for the small `n` a simulation uses is below
    /// 2^-32 per draw.
    std::uint64_t below(std::uint64_t n) noexcept {
        if (n <= 1) {
            return 0;
        }
        if (n <= 0xFFFFFFFFull) {
            return ((next() >> 32) * n) >> 32;
        }
        return next() % n;
    }

    /// True with probability `p` (clamped to [0, 1]).
    bool chance(double p) noexcept {
        if (p <= 0.0) {
            return false;
        }
        if (p >= 1.0) {
            return true;
        }
        // 53 random bits as a double in [0, 1).
        return static_cast<double>(next() >> 11) * 0x1.0p-53 < p;
    }

    /// A generator for a sub-stream (another purpose under the same seed),
    /// so that drawing from one does not shift the other's sequence.
    [[nodiscard]] Rng fork(std::uint64_t stream) const noexcept {
        return Rng(s_[0] ^ (stream * 0x9E3779B97F4A7C15ull));
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept {
        return (x << k) | (x >> (64 - k));
    }
    static std::uint64_t splitmix64(std::uint64_t& x) noexcept {
        std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    std::uint64_t s_[4];
};

} // namespace pollux::sim
