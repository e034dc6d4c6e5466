#pragma once

/// @file
/// The whole of pollux in one include. It only includes the other headers.

#include <pollux/core/async.hpp>
#include <pollux/core/async_stream.hpp>
#include <pollux/core/block_on.hpp>
#include <pollux/core/box_future.hpp>
#include <pollux/core/context.hpp>
#include <pollux/core/fuse.hpp>
#include <pollux/core/future.hpp>
#include <pollux/core/futures_unordered.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/join_all.hpp>
#include <pollux/core/lazy.hpp>
#include <pollux/core/map.hpp>
#include <pollux/core/pending.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/core/ready.hpp>
#include <pollux/core/result.hpp>
#include <pollux/core/select.hpp>
#include <pollux/core/select_all.hpp>
#include <pollux/core/stream.hpp>
#include <pollux/core/stream/stream_ext.hpp>
#include <pollux/core/then.hpp>
#include <pollux/core/try_join.hpp>
#include <pollux/core/waker.hpp>
#include <pollux/signal.hpp>
#include <pollux/time.hpp>
#include <pollux/uv.hpp>
#include <pollux/sync.hpp>
