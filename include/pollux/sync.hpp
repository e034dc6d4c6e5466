#pragma once

/// @file
/// `pollux::sync`: channels and synchronization primitives for tasks
/// (tokio's `sync` module). It only includes the others; every one of them
/// is thread-safe and waker-based, and usable across the multi-thread
/// `Runtime`.

#include <pollux/sync/barrier.hpp>
#include <pollux/sync/broadcast.hpp>
#include <pollux/sync/broadcast_stream.hpp>
#include <pollux/sync/cancellation_token.hpp>
#include <pollux/sync/error.hpp>
#include <pollux/sync/mpsc.hpp>
#include <pollux/sync/mutex.hpp>
#include <pollux/sync/notify.hpp>
#include <pollux/sync/oneshot.hpp>
#include <pollux/sync/rw_lock.hpp>
#include <pollux/sync/semaphore.hpp>
#include <pollux/sync/watch.hpp>
#include <pollux/sync/watch_stream.hpp>
