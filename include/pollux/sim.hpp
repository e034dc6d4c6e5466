#pragma once

/// @file
/// Deterministic simulation (`pollux::sim`): `sim::Runtime`, its network
/// and simulated TCP. It only includes the headers under `pollux/sim/`.

#include <pollux/sim/error.hpp>
#include <pollux/sim/executor.hpp>
#include <pollux/sim/network.hpp>
#include <pollux/sim/rng.hpp>
#include <pollux/sim/runtime.hpp>
#include <pollux/sim/tcp_listener.hpp>
#include <pollux/sim/tcp_stream.hpp>
