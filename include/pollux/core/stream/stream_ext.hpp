#pragma once

/// @file
/// Facade: the `Stream` concept, `next`, and the `StreamExt`-style adaptors
/// (`iter`, `map`, `filter`, `take`, `collect`, `for_each`).

#include <pollux/core/stream.hpp>
#include <pollux/core/stream/collect.hpp>
#include <pollux/core/stream/filter.hpp>
#include <pollux/core/stream/for_each.hpp>
#include <pollux/core/stream/iter.hpp>
#include <pollux/core/stream/map.hpp>
#include <pollux/core/stream/take.hpp>
