#pragma once

/// @file
/// `pollux::process` (tokio's `process` module): `Command`, `Child`,
/// `ExitStatus`, `Output`, `Stdio` and the piped streams `ChildStdin`,
/// `ChildStdout`, `ChildStderr`. It only includes the headers under
/// `pollux/process/`. Guide and decisions: docs/process.md.

#include <pollux/process/child.hpp>
#include <pollux/process/command.hpp>
#include <pollux/process/exit_status.hpp>
#include <pollux/process/stdio.hpp>
