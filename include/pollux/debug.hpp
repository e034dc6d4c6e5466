#pragma once

/// @file
/// Debugging tools for running tasks: dumps, dump on a signal, the stall
/// watchdog and metrics (docs/debugging.md).

#include <pollux/debug/dump.hpp>
#include <pollux/debug/dump_on_signal.hpp>
#include <pollux/debug/runtime_metrics.hpp>
#include <pollux/debug/stall_watchdog.hpp>
#include <pollux/debug/task_info.hpp>
