#pragma once

/// @file
/// `pollux::fs` (tokio's `fs` module): the free functions (`read`,
/// `write`, `copy`, `rename`, `metadata`, `read_dir`, ...), `File` with
/// `OpenOptions`, and `Metadata`; every blocking call runs on the worker
/// pool (docs/fs.md). It only includes the headers under `pollux/fs/`.

#include <pollux/fs/error.hpp>
#include <pollux/fs/file.hpp>
#include <pollux/fs/metadata.hpp>
#include <pollux/fs/op_future.hpp>
#include <pollux/fs/open_options.hpp>
#include <pollux/fs/ops.hpp>
#include <pollux/fs/read_dir.hpp>
#include <pollux/fs/watch.hpp>
