#pragma once

/// @file
/// `pollux::io` (tokio's `io` module): the `AsyncRead`/`AsyncWrite`/
/// `AsyncBufRead` concepts, the futures `read`, `read_exact`, `read_until`,
/// `read_line`, `read_to_end`, `read_to_string`, `write`, `write_all`,
/// `flush`, `shutdown`, `copy`, `copy_bidirectional`, the `lines` stream,
/// the borrowed `split`, `BufReader`, `BufWriter`, the in-memory `duplex`
/// pair, `empty`/`sink`/`repeat`, `AsyncFd` and
/// `stdin()`/`stdout()`/`stderr()` (docs/io.md). It only includes the
/// headers under `pollux/io/`.

#include <pollux/io/async_buf_read.hpp>
#include <pollux/io/async_fd.hpp>
#include <pollux/io/async_read.hpp>
#include <pollux/io/async_write.hpp>
#include <pollux/io/buf_reader.hpp>
#include <pollux/io/buf_writer.hpp>
#include <pollux/io/copy.hpp>
#include <pollux/io/copy_bidirectional.hpp>
#include <pollux/io/duplex.hpp>
#include <pollux/io/empty.hpp>
#include <pollux/io/lines.hpp>
#include <pollux/io/read.hpp>
#include <pollux/io/read_exact.hpp>
#include <pollux/io/read_to_end.hpp>
#include <pollux/io/read_until.hpp>
#include <pollux/io/shutdown.hpp>
#include <pollux/io/split.hpp>
#include <pollux/io/write.hpp>
#include <pollux/io/write_all.hpp>
