#pragma once

/// @file
/// `pollux::time` (tokio's `time` module): `sleep`, `sleep_until`,
/// `timeout`, `timeout_at` (giving up with `errc::elapsed`), `interval`,
/// `interval_at`, the clock `Clock` with `Instant` and `Duration`, and the
/// paused clock for tests: `pause`, `advance`, `resume`, `is_paused`. It
/// only includes the headers under `pollux/time/`.

#include <pollux/time/clock.hpp>
#include <pollux/time/error.hpp>
#include <pollux/time/interval.hpp>
#include <pollux/time/pause.hpp>
#include <pollux/time/sleep.hpp>
#include <pollux/time/timeout.hpp>
