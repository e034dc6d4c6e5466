#pragma once

/// @file
/// A cheap thread-local generator, for `select`'s fair choice of the branch
/// it polls first. Not for anything that needs good randomness.

#include <pollux/detail/config.hpp>

#include <cstdint>

namespace pollux::detail {

/// A number in [0, n), from a per-thread xorshift generator seeded once per
/// thread. `n` must be at least 1.
POLLUX_API std::uint32_t fast_random_below(std::uint32_t n) noexcept;

/// Restarts this thread's generator from `seed`, so that the choices above
/// repeat (sim::Runtime seeds it from the simulation's seed).
POLLUX_API void seed_fast_random(std::uint64_t seed) noexcept;

} // namespace pollux::detail
