#pragma once

/// @file
/// `pollux::io` (tokio's `io` module): the `AsyncRead`/`AsyncWrite`
/// concepts, the futures `read`, `read_exact`, `write`, `write_all`,
/// `flush`, `shutdown`, `copy`, the borrowed `split`, `BufReader` with
/// `read_line`, `AsyncFd` and `stdin()`/`stdout()`/`stderr()`. It only
/// includes the headers under `pollux/io/`.

#include <pollux/io/async_buf_read.hpp>
#include <pollux/io/async_fd.hpp>
#include <pollux/io/async_read.hpp>
#include <pollux/io/async_write.hpp>
#include <pollux/io/buf_reader.hpp>
#include <pollux/io/buf_writer.hpp>
#include <pollux/io/copy.hpp>
#include <pollux/io/lines.hpp>
#include <pollux/io/read.hpp>
#include <pollux/io/read_exact.hpp>
#include <pollux/io/read_to_end.hpp>
#include <pollux/io/read_until.hpp>
#include <pollux/io/shutdown.hpp>
#include <pollux/io/split.hpp>
#include <pollux/io/write.hpp>
#include <pollux/io/write_all.hpp>
