#include <pollux/current_executor.hpp>
#include <pollux/process/command.hpp>

#include "spawn.hpp"

#include <boost/system/errc.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

extern char** environ;

namespace pollux::process {

namespace dp = detail::process;

namespace {

boost::system::error_code sys_error(int e) {
    return {e, boost::system::system_category()};
}

// One end of a pipe, closed by the destructor unless released.
struct OwnedFd {
    int fd = -1;
    OwnedFd() = default;
    explicit OwnedFd(int f) : fd(f) {}
    OwnedFd(const OwnedFd&) = delete;
    OwnedFd& operator=(const OwnedFd&) = delete;
    OwnedFd(OwnedFd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    OwnedFd& operator=(OwnedFd&& o) noexcept {
        std::swap(fd, o.fd);
        return *this;
    }
    ~OwnedFd() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    int release() noexcept { return std::exchange(fd, -1); }
};

} // namespace

Command::Command(std::string program) : program_(std::move(program)) {
}

Command& Command::arg(std::string a) {
    args_.push_back(std::move(a));
    return *this;
}

Command& Command::args(std::initializer_list<std::string> as) {
    for (const std::string& a : as) {
        args_.push_back(a);
    }
    return *this;
}

Command& Command::env(std::string key, std::string value) {
    env_[std::move(key)] = std::move(value);
    return *this;
}

Command& Command::env_remove(const std::string& key) {
    env_[key] = std::nullopt;
    return *this;
}

Command& Command::env_clear() {
    env_clear_ = true;
    env_.clear();
    return *this;
}

Command& Command::current_dir(std::string dir) {
    cwd_ = std::move(dir);
    return *this;
}

Command& Command::stdin(Stdio s) {
    stdin_ = s;
    return *this;
}

Command& Command::stdout(Stdio s) {
    stdout_ = s;
    return *this;
}

Command& Command::stderr(Stdio s) {
    stderr_ = s;
    return *this;
}

Command& Command::kill_on_drop(bool on) {
    kill_on_drop_ = on;
    return *this;
}

Command& Command::process_group(pid_t pgid) {
    pgid_ = pgid;
    return *this;
}

Command& Command::uid(uid_t id) {
    uid_ = id;
    return *this;
}

Command& Command::gid(gid_t id) {
    gid_ = id;
    return *this;
}

Result<Child> Command::spawn() {
    return spawn_with(nullptr, Stdio::Kind::inherit, Stdio::Kind::inherit, Stdio::Kind::inherit);
}

Result<Child> Command::spawn(const boost::asio::any_io_executor& ex) {
    return spawn_with(&ex, Stdio::Kind::inherit, Stdio::Kind::inherit, Stdio::Kind::inherit);
}

// Order matters for what is left behind on an error: the parent's ends are
// wrapped (and registered) before the spawn, so that a failed spawn closes
// every descriptor it made through the destructors, and a successful one
// cannot fail afterwards (the child is never started and then abandoned).
Result<Child> Command::spawn_with(const boost::asio::any_io_executor* ex,
                                  Stdio::Kind in,
                                  Stdio::Kind out,
                                  Stdio::Kind err) {
    const std::array<Stdio::Kind, 3> kinds{stdin_ ? stdin_->kind() : in,
                                           stdout_ ? stdout_->kind() : out,
                                           stderr_ ? stderr_->kind() : err};
    dp::SpawnRequest req;
    req.file = program_;
    req.args.reserve(args_.size() + 1);
    req.args.push_back(program_);
    req.args.insert(req.args.end(), args_.begin(), args_.end());
    if (env_clear_ || !env_.empty()) {
        req.inherit_env = false;
        std::map<std::string, std::string> vars;
        if (!env_clear_) {
            for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
                const char* eq = std::strchr(*e, '=');
                if (eq != nullptr) {
                    vars.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)),
                                 std::string(eq + 1));
                }
            }
        }
        for (const auto& [k, v] : env_) {
            if (v) {
                vars[k] = *v;
            } else {
                vars.erase(k);
            }
        }
        for (const auto& [k, v] : vars) {
            req.env.push_back(k + "=" + v);
        }
    }
    req.cwd = cwd_;
    req.process_group = pgid_;
    req.uid = uid_;
    req.gid = gid_;

    std::array<OwnedFd, 3> child_ends;
    std::optional<io::AsyncFd> parent_ends[3];
    std::optional<boost::asio::any_io_executor> exec;
    for (int i = 0; i < 3; ++i) {
        switch (kinds[static_cast<std::size_t>(i)]) {
        case Stdio::Kind::inherit:
            // A standard descriptor closed in the parent stays closed.
            req.fds.push_back(::fcntl(i, F_GETFD) >= 0 ? dp::ChildFd::from_parent(i)
                                                       : dp::ChildFd::close());
            break;
        case Stdio::Kind::null:
            req.fds.push_back(dp::ChildFd::dev_null());
            break;
        case Stdio::Kind::piped: {
            if (!exec) {
                exec = ex != nullptr ? *ex : current_executor();
            }
            // Both ends close-on-exec; the parent's end non-blocking only
            // (a child expects a blocking stdin/stdout).
            int p[2];
            if (::pipe2(p, O_CLOEXEC) < 0) {
                return sys_error(errno);
            }
            OwnedFd r(p[0]);
            OwnedFd w(p[1]);
            OwnedFd& parent = i == 0 ? w : r;
            OwnedFd& child = i == 0 ? r : w;
            const int flags = ::fcntl(parent.fd, F_GETFL);
            if (flags < 0 || ::fcntl(parent.fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                return sys_error(errno);
            }
            Result<io::AsyncFd> a = io::AsyncFd::create(parent.fd, *exec);
            if (!a) {
                return a.error();
            }
            parent.release();
            parent_ends[i].emplace(std::move(*a));
            req.fds.push_back(dp::ChildFd::from_parent(child.fd));
            child_ends[static_cast<std::size_t>(i)] = std::move(child);
            break;
        }
        }
    }

    Result<dp::ChildPtr> proc = dp::spawn(req);
    if (!proc) {
        return proc.error();
    }
    Child c(std::move(*proc), kill_on_drop_);
    if (parent_ends[0]) {
        c.stdin.emplace(std::move(*parent_ends[0]));
    }
    if (parent_ends[1]) {
        c.stdout.emplace(std::move(*parent_ends[1]));
    }
    if (parent_ends[2]) {
        c.stderr.emplace(std::move(*parent_ends[2]));
    }
    return c;
}

// ---- StatusFuture ----------------------------------------------------------

Poll<Result<ExitStatus>> StatusFuture::poll(Context& cx) {
    if (!child_) {
        Result<Child> c = cmd_.spawn_with(
            nullptr, Stdio::Kind::inherit, Stdio::Kind::inherit, Stdio::Kind::inherit);
        if (!c) {
            return Ready<Result<ExitStatus>>{Result<ExitStatus>(c.error())};
        }
        child_.emplace(std::move(*c));
        child_->stdin.reset();
    }
    return child_->poll_wait(cx);
}

// ---- OutputFuture ----------------------------------------------------------

namespace {

// Reads `s` into `into` until end of file or Pending; Ready(ok) at end of
// file, Ready(error), or Pending.
template <class S>
Poll<Result<void>> drain(std::optional<S>& s, std::string& into, Context& cx) {
    while (s) {
        char buf[8192];
        Poll<Result<std::size_t>> p = s->poll_read(cx, boost::asio::buffer(buf));
        if (p.is_pending()) {
            return Pending{};
        }
        if (!p.value()) {
            return Ready<Result<void>>{Result<void>(p.value().error())};
        }
        if (*p.value() == 0) {
            s.reset();
            break;
        }
        into.append(buf, *p.value());
    }
    return Ready<Result<void>>{Result<void>()};
}

} // namespace

Poll<Result<process::Output>> OutputFuture::poll(Context& cx) {
    using R = Result<process::Output>;
    if (!child_) {
        Result<Child> c =
            cmd_->spawn_with(nullptr, Stdio::Kind::null, Stdio::Kind::piped, Stdio::Kind::piped);
        if (!c) {
            return Ready<R>{R(c.error())};
        }
        child_.emplace(std::move(*c));
        cmd_.reset();
    }
    child_->stdin.reset();
    // Both streams are polled at every poll, so that a child that fills one
    // pipe while we wait on the other never deadlocks.
    Poll<Result<void>> o = drain(child_->stdout, out_, cx);
    Poll<Result<void>> e = drain(child_->stderr, err_, cx);
    if (o.is_ready() && !o.value()) {
        return Ready<R>{R(o.value().error())};
    }
    if (e.is_ready() && !e.value()) {
        return Ready<R>{R(e.value().error())};
    }
    if (o.is_pending() || e.is_pending()) {
        return Pending{};
    }
    Poll<Result<ExitStatus>> w = child_->poll_wait(cx);
    if (w.is_pending()) {
        return Pending{};
    }
    if (!w.value()) {
        return Ready<R>{R(w.value().error())};
    }
    return Ready<R>{R(process::Output{*w.value(), std::move(out_), std::move(err_)})};
}

} // namespace pollux::process
