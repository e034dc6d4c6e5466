#include <pollux/process/child.hpp>
#include <pollux/process/stdio.hpp>

#include "spawn.hpp"

#include <boost/system/errc.hpp>

#include <csignal>

namespace pollux::process {

namespace {

boost::system::error_code errc(boost::system::errc::errc_t e) {
    return boost::system::errc::make_error_code(e);
}

} // namespace

// ---- ChildStdin ------------------------------------------------------------

Poll<Result<std::size_t>> ChildStdin::poll_write(Context& cx, boost::asio::const_buffer buf) {
    if (!fd_) {
        return Ready<Result<std::size_t>>{
            Result<std::size_t>(errc(boost::system::errc::not_connected))};
    }
    return fd_->poll_write(cx, buf);
}

Poll<Result<void>> ChildStdin::poll_flush(Context&) {
    return Ready<Result<void>>{Result<void>()};
}

Poll<Result<void>> ChildStdin::poll_shutdown(Context&) {
    fd_.reset();
    return Ready<Result<void>>{Result<void>()};
}

// ---- Child -----------------------------------------------------------------

Child::Child(std::shared_ptr<detail::process::ChildProcess> proc, bool kill_on_drop) noexcept
    : proc_(std::move(proc)), kill_on_drop_(kill_on_drop) {
}

Child::Child(Child&&) noexcept = default;

Child& Child::operator=(Child&& o) noexcept {
    if (this != &o) {
        Child dropped(std::move(*this));
        stdin = std::move(o.stdin);
        stdout = std::move(o.stdout);
        stderr = std::move(o.stderr);
        proc_ = std::move(o.proc_);
        status_ = o.status_;
        kill_on_drop_ = o.kill_on_drop_;
        o.kill_on_drop_ = false;
    }
    return *this;
}

Child::~Child() {
    // A child that was waited for is gone; one that exited but was not
    // waited for is a zombie (kill would only say ESRCH or do nothing).
    // The record's reaper reference reaps it either way.
    if (kill_on_drop_ && proc_ && !status_ && !proc_->try_wait()) {
        (void)proc_->kill(SIGKILL);
    }
}

std::optional<std::uint32_t> Child::id() const noexcept {
    if (!proc_ || status_) {
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(proc_->pid());
}

Poll<Result<ExitStatus>> Child::poll_wait(Context& cx) {
    if (status_) {
        return Ready<Result<ExitStatus>>{*status_};
    }
    if (!proc_) {
        return Ready<Result<ExitStatus>>{
            Result<ExitStatus>(errc(boost::system::errc::invalid_argument))};
    }
    // tokio drops stdin before waiting, so that a child reading its input
    // to end of file can finish.
    stdin.reset();
    Poll<detail::process::ExitResult> p = proc_->poll_exit(cx);
    if (p.is_pending()) {
        return Pending{};
    }
    const detail::process::ExitResult& r = p.value();
    if (r.error) {
        return Ready<Result<ExitStatus>>{Result<ExitStatus>(r.error)};
    }
    status_ = ExitStatus(r.status);
    return Ready<Result<ExitStatus>>{*status_};
}

Result<std::optional<ExitStatus>> Child::try_wait() {
    if (status_) {
        return std::optional<ExitStatus>(*status_);
    }
    if (!proc_) {
        return errc(boost::system::errc::invalid_argument);
    }
    std::optional<detail::process::ExitResult> r = proc_->try_wait();
    if (!r) {
        return std::optional<ExitStatus>();
    }
    if (r->error) {
        return r->error;
    }
    status_ = ExitStatus(r->status);
    return std::optional<ExitStatus>(*status_);
}

Result<void> Child::start_kill() {
    if (!proc_ || status_) {
        return errc(boost::system::errc::invalid_argument);
    }
    if (boost::system::error_code ec = proc_->kill(SIGKILL)) {
        return ec;
    }
    return {};
}

Poll<Result<void>> KillFuture::poll(Context& cx) {
    if (!sent_) {
        sent_ = true;
        Result<void> k = child_->start_kill();
        if (!k) {
            return Ready<Result<void>>{k};
        }
    }
    Poll<Result<ExitStatus>> p = child_->poll_wait(cx);
    if (p.is_pending()) {
        return Pending{};
    }
    if (!p.value()) {
        return Ready<Result<void>>{Result<void>(p.value().error())};
    }
    return Ready<Result<void>>{Result<void>()};
}

} // namespace pollux::process
