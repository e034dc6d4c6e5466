#pragma once

/// @file
/// The exceptions a simulation throws when it cannot go on: `sim::Deadlock`
/// and `sim::TimeLimitExceeded`, both `sim::SimulationError`s that name the
/// seed to replay.

#include <pollux/detail/config.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace pollux::sim {

/// Base of the errors of the simulation itself (not of the simulated code).
/// `what()` names the seed, and `seed()` returns it.
class POLLUX_API SimulationError : public std::runtime_error {
public:
    /// An error of the run with seed `seed`; `what` is the message (which
    /// should name the seed).
    SimulationError(std::uint64_t seed, const std::string& what)
        : std::runtime_error(what), seed_(seed) {}

    /// The seed of the run that failed; `POLLUX_SIM_SEED=<seed>` replays it.
    [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

private:
    std::uint64_t seed_;
};

/// Thrown by `sim::Runtime::block_on` when the main future is not finished,
/// no handler is ready and no timer waits on the virtual clock: nothing can
/// ever wake anything again.
class POLLUX_API Deadlock : public SimulationError {
    /// Inherits `SimulationError`'s constructor.
public:
    using SimulationError::SimulationError;
};

/// Thrown by `sim::Runtime::block_on` when the virtual clock would move past
/// the runtime's time limit (`Runtime::set_time_limit`, 1 hour by default)
/// with the main future unfinished; for example a read on a link that stays
/// partitioned, whose retransmissions keep a timer alive for ever.
class POLLUX_API TimeLimitExceeded : public SimulationError {
public:
    using SimulationError::SimulationError;
};

} // namespace pollux::sim
