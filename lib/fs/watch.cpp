#include <pollux/current_executor.hpp>
#include <pollux/fs/error.hpp>
#include <pollux/fs/watch.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>

#include <cerrno>
#include <cstdint>
#include <string>
#include <sys/inotify.h>
#include <unistd.h>
#include <utility>

// The Watcher owns its inotify descriptor through an io::AsyncFd, which
// does the readiness protocol: poll_read reads (EINTR retried) and, on
// EAGAIN, clears the read readiness and waits for the reactor. Each read
// takes what fits in one buffer (at least one event of the longest name);
// the events are parsed into `queue_` at once, before poll_next returns, so
// nothing read is ever held by a future that may be dropped (cancel safety).

namespace pollux::fs {

namespace {

constexpr std::uint32_t watch_mask = IN_ATTRIB | IN_CREATE | IN_MODIFY | IN_DELETE |
                                     IN_DELETE_SELF | IN_MOVE_SELF | IN_MOVED_FROM | IN_MOVED_TO;

boost::system::error_code sys_error(int e) noexcept {
    return {e, boost::asio::error::get_system_category()};
}

std::string last_component(std::string_view path) {
    const auto slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

} // namespace

Watcher::Watcher(io::AsyncFd fd, std::string base) noexcept
    : fd_(std::move(fd)), base_(std::move(base)) {
}

Poll<std::optional<Watcher::Item>> Watcher::poll_next(Context& cx) {
    for (;;) {
        if (ended_) {
            return Ready<std::optional<Item>>{std::nullopt};
        }
        if (!queue_.empty()) {
            Event e = std::move(queue_.front());
            queue_.pop_front();
            return Ready<std::optional<Item>>{Item(std::move(e))};
        }
        if (error_) {
            ended_ = true;
            return Ready<std::optional<Item>>{Item(boost::system::in_place_error, error_)};
        }
        if (ignored_) {
            ended_ = true;
            continue;
        }
        alignas(struct inotify_event) char buf[4096];
        auto r = fd_.poll_read(cx, boost::asio::buffer(buf));
        if (r.is_pending()) {
            return Pending{};
        }
        auto& n = r.value();
        if (!n) {
            error_ = n.error();
            continue;
        }
        if (*n == 0) {
            // inotify never reads 0 with room for an event; treat as an error.
            error_ = sys_error(EIO);
            continue;
        }
        for (std::size_t off = 0; off < *n;) {
            const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
            off += sizeof(struct inotify_event) + ev->len;
            if ((ev->mask & IN_Q_OVERFLOW) != 0) {
                queue_.push_back(Event{EventKind::overflow, {}});
                continue;
            }
            if ((ev->mask & IN_IGNORED) != 0) {
                ignored_ = true; // the watch is gone: end after what came before
                continue;
            }
            // libuv's mapping: anything beyond a modification is a rename.
            const bool change_only =
                (ev->mask & ~static_cast<std::uint32_t>(IN_ATTRIB | IN_MODIFY | IN_ISDIR)) == 0;
            queue_.push_back(Event{change_only ? EventKind::change : EventKind::rename,
                                   ev->len != 0 ? std::string(ev->name) : base_});
        }
    }
}

Result<Watcher> watch(std::string_view path, const boost::asio::any_io_executor& ex) {
    // The errors name the path (pollux/fs/error.hpp), as the other
    // pollux::fs operations on a path do.
    const std::filesystem::path p(path);
    if (path.find('\0') != std::string_view::npos) {
        return detail::path_error(sys_error(EINVAL), p);
    }
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        return detail::path_error(sys_error(errno), p);
    }
    if (::inotify_add_watch(fd, p.c_str(), watch_mask) < 0) {
        const int e = errno;
        ::close(fd);
        return detail::path_error(sys_error(e), p);
    }
    auto afd = io::AsyncFd::create(fd, ex);
    if (!afd) {
        ::close(fd);
        return afd.error();
    }
    return Watcher(std::move(*afd), last_component(path));
}

Result<Watcher> watch(std::string_view path) {
    return watch(path, current_executor());
}

} // namespace pollux::fs
