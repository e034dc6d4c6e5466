#pragma once

/// @file
/// `pollux::time` (tokio's `time` module): `sleep`, `sleep_until`,
/// `timeout`, `timeout_at`, `interval`, `interval_at`, and the clock aliases
/// `Clock`, `Instant`, `Duration`. It only includes the headers under
/// `pollux/time/`.

#include <pollux/time/interval.hpp>
#include <pollux/time/sleep.hpp>
#include <pollux/time/timeout.hpp>
