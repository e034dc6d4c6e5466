#pragma once

/// @file
/// The libuv-flavoured callback API (`pollux::uv`) in one include. It only
/// includes the other headers; docs/callbacks.md is the guide.

#include <pollux/uv/async_handle.hpp>
#include <pollux/uv/check.hpp>
#include <pollux/uv/fs.hpp>
#include <pollux/uv/fs_event.hpp>
#include <pollux/uv/fs_poll.hpp>
#include <pollux/uv/fs_stat.hpp>
#include <pollux/uv/fs_types.hpp>
#include <pollux/uv/getaddrinfo.hpp>
#include <pollux/uv/getnameinfo.hpp>
#include <pollux/uv/guess_handle.hpp>
#include <pollux/uv/handle.hpp>
#include <pollux/uv/idle.hpp>
#include <pollux/uv/loop.hpp>
#include <pollux/uv/mailbox.hpp>
#include <pollux/uv/pipe.hpp>
#include <pollux/uv/poll.hpp>
#include <pollux/uv/prepare.hpp>
#include <pollux/uv/process.hpp>
#include <pollux/uv/request.hpp>
#include <pollux/uv/signal.hpp>
#include <pollux/uv/stream.hpp>
#include <pollux/uv/tcp.hpp>
#include <pollux/uv/timer.hpp>
#include <pollux/uv/tty.hpp>
#include <pollux/uv/udp.hpp>
#include <pollux/uv/work.hpp>
