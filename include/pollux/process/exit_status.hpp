#pragma once

/// @file
/// `process::ExitStatus` (Rust's `std::process::ExitStatus` with unix's
/// `ExitStatusExt`): how a child process ended, an exit code or a signal.

#include <optional>
#include <sys/wait.h>

namespace pollux::process {

/// How a child ended: it exited with a code, or a signal terminated it.
/// Made from a waitpid(2) status word.
class ExitStatus {
public:
    /// From a waitpid(2) status word (0: exited with code 0).
    constexpr explicit ExitStatus(int raw = 0) noexcept : raw_(raw) {}

    /// Exited with code 0.
    [[nodiscard]] bool success() const noexcept { return code() == 0; }
    /// The exit code (0 to 255); none when a signal ended the child.
    [[nodiscard]] std::optional<int> code() const noexcept {
        if (WIFEXITED(raw_)) {
            return WEXITSTATUS(raw_);
        }
        return std::nullopt;
    }
    /// The signal that ended the child; none when it exited.
    [[nodiscard]] std::optional<int> signal() const noexcept {
        if (WIFSIGNALED(raw_)) {
            return WTERMSIG(raw_);
        }
        return std::nullopt;
    }
    /// Whether the signal that ended the child dumped core.
    [[nodiscard]] bool core_dumped() const noexcept { return WIFSIGNALED(raw_) && WCOREDUMP(raw_); }
    /// The waitpid(2) status word (Rust's `ExitStatusExt::into_raw`).
    [[nodiscard]] int raw() const noexcept { return raw_; }

    friend bool operator==(const ExitStatus&, const ExitStatus&) = default;

private:
    int raw_;
};

} // namespace pollux::process
