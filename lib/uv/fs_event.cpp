#include <pollux/uv/fs_event.hpp>

#include "loop_impl.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/errc.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <sys/inotify.h>
#include <unistd.h>
#include <utility>
#include <vector>

// One inotify descriptor per loop, shared by its FsEvent handles, as libuv's
// linux-inotify.c:
//
// - `watches_` maps each inotify watch descriptor (wd) to the watched path
//   (the first starter's, whose last component names a file watch's events)
//   and the handles on it, in start order. inotify_add_watch returns the
//   same wd for the same inode, so handles on one file share a watch; the
//   watch is removed when its last handle stops.
// - The started handles own the Inotify (shared_ptr); the loop keeps a weak
//   reference to find it. The readiness wait's handler holds a weak
//   reference too, so a completion that arrives after the last handle
//   stopped (the descriptor closed, the wait aborted) touches nothing.
// - On readiness every queued event is read (until EAGAIN) before any
//   callback runs, and the wait is armed again first: async_wait completes
//   for readiness present when it starts, so nothing queued meanwhile is
//   missed, and a callback that throws does not leave the descriptor
//   unwatched.
// - Dispatch: each event goes to the handles that were on its watch when
//   the batch was read, each checked again just before its call (by its
//   start id, unique per start): a callback may stop, restart or destroy
//   any handle, including itself, and a handle stopped or restarted during
//   the batch gets no more of its events (libuv's QUEUE_MOVE walk).

namespace pollux::uv::detail {

class Inotify : public std::enable_shared_from_this<Inotify> {
public:
    explicit Inotify(boost::asio::io_context& io) : desc_(io) {}

    static std::shared_ptr<Inotify> open(LoopImpl& loop, boost::system::error_code& ec) {
        const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) {
            ec = sys_error(errno);
            return nullptr;
        }
        auto self = std::make_shared<Inotify>(*loop.io);
        self->desc_.assign(fd, ec);
        if (ec) {
            ::close(fd);
            return nullptr;
        }
        return self;
    }

    boost::system::error_code add(FsEvent& h, const std::string& path) {
        constexpr std::uint32_t mask = IN_ATTRIB | IN_CREATE | IN_MODIFY | IN_DELETE |
                                       IN_DELETE_SELF | IN_MOVE_SELF | IN_MOVED_FROM | IN_MOVED_TO;
        const int wd = ::inotify_add_watch(desc_.native_handle(), path.c_str(), mask);
        if (wd < 0) {
            return sys_error(errno);
        }
        auto [it, inserted] = watches_.try_emplace(wd);
        if (inserted) {
            it->second.path = path;
        }
        h.start_id_ = ++next_id_;
        h.wd_ = wd;
        it->second.handles.push_back(Entry{&h, h.start_id_});
        arm();
        return {};
    }

    void remove(FsEvent& h) noexcept {
        auto it = watches_.find(h.wd_);
        if (it == watches_.end()) {
            return;
        }
        auto& hs = it->second.handles;
        for (auto e = hs.begin(); e != hs.end(); ++e) {
            if (e->handle == &h && e->id == h.start_id_) {
                hs.erase(e);
                break;
            }
        }
        if (hs.empty()) {
            // EINVAL once the kernel removed the watch itself (IN_IGNORED).
            (void)::inotify_rm_watch(desc_.native_handle(), it->first);
            watches_.erase(it);
        }
    }

private:
    struct Entry {
        FsEvent* handle;
        std::uint64_t id;
    };
    struct Watch {
        std::string path;
        std::vector<Entry> handles;
    };
    struct Pending {
        int wd;
        int events;
        std::string name; // empty for an event on the watched file itself
    };

    static boost::system::error_code sys_error(int e) noexcept {
        return {e, boost::asio::error::get_system_category()};
    }

    void arm() {
        if (waiting_) {
            return;
        }
        waiting_ = true;
        desc_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                         [w = weak_from_this()](boost::system::error_code ec) {
                             if (auto self = w.lock()) {
                                 self->on_readable(ec);
                             }
                         });
    }

    bool still_on(int wd, const Entry& e) const noexcept {
        auto it = watches_.find(wd);
        if (it == watches_.end()) {
            return false;
        }
        for (const auto& x : it->second.handles) {
            if (x.handle == e.handle && x.id == e.id) {
                return true;
            }
        }
        return false;
    }

    // Reads every queued event; returns the errno of a failed read, or 0.
    int drain(std::vector<Pending>& out) {
        // Large enough for one event with the longest name (NAME_MAX + 1).
        alignas(struct inotify_event) char buf[4096];
        for (;;) {
            ssize_t n = 0;
            do {
                n = ::read(desc_.native_handle(), buf, sizeof buf);
            } while (n < 0 && errno == EINTR);
            if (n < 0) {
                return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : errno;
            }
            if (n == 0) {
                return 0;
            }
            for (ssize_t off = 0; off < n;) {
                const auto* e = reinterpret_cast<const struct inotify_event*>(buf + off);
                off += static_cast<ssize_t>(sizeof(struct inotify_event) + e->len);
                if (e->wd < 0) {
                    continue; // IN_Q_OVERFLOW: libuv drops it too
                }
                // libuv's mapping (uv__inotify_read).
                int events = 0;
                if ((e->mask & (IN_ATTRIB | IN_MODIFY)) != 0) {
                    events |= FsEvent::change;
                }
                if ((e->mask & ~static_cast<std::uint32_t>(IN_ATTRIB | IN_MODIFY)) != 0) {
                    events |= FsEvent::rename;
                }
                out.push_back(Pending{e->wd, events, e->len != 0 ? std::string(e->name) : ""});
            }
        }
    }

    void on_readable(boost::system::error_code ec) {
        waiting_ = false;
        if (ec == boost::asio::error::operation_aborted) {
            return;
        }
        auto self = shared_from_this(); // a callback may stop the last handle
        std::vector<Pending> batch;
        if (!ec) {
            const int e = drain(batch);
            if (e != 0) {
                ec = sys_error(e);
            }
        }
        if (ec) {
            fail(ec);
            return;
        }
        arm();
        for (const auto& p : batch) {
            auto it = watches_.find(p.wd);
            if (it == watches_.end()) {
                continue; // stale: no handle left on that watch
            }
            std::string name = p.name;
            if (name.empty()) {
                // libuv's uv__basename_r of the watch's path.
                const auto& path = it->second.path;
                const auto slash = path.rfind('/');
                name = slash == std::string::npos ? path : path.substr(slash + 1);
            }
            const std::vector<Entry> snapshot = it->second.handles;
            for (const auto& e : snapshot) {
                if (!still_on(p.wd, e)) {
                    continue;
                }
                FsEvent& h = *e.handle;
                (void)h.invoke(
                    h.cb_, h, std::string_view(name), p.events, boost::system::error_code());
            }
        }
    }

    // The descriptor failed: every handle is stopped and told, in start order.
    void fail(const boost::system::error_code& ec) {
        std::vector<Entry> all;
        for (const auto& [wd, w] : watches_) {
            all.insert(all.end(), w.handles.begin(), w.handles.end());
        }
        std::sort(
            all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
        for (const auto& e : all) {
            if (!still_on(e.handle->wd_, e)) {
                continue;
            }
            FsEvent& h = *e.handle;
            h.stop();
            (void)h.invoke(h.cb_, h, std::string_view(), 0, ec);
        }
    }

    boost::asio::posix::stream_descriptor desc_;
    std::map<int, Watch> watches_;
    std::uint64_t next_id_ = 0;
    bool waiting_ = false;
};

} // namespace pollux::uv::detail

namespace pollux::uv {

FsEvent::FsEvent(Loop& loop) : Handle(loop, HandleType::fs_event) {
}

FsEvent::~FsEvent() {
    destroy_handle();
}

boost::system::error_code FsEvent::start(std::string_view path, unsigned flags, Callback cb) {
    POLLUX_ASSERT(static_cast<bool>(cb), "uv::FsEvent::start needs a callback");
    if (is_closing()) {
        return boost::asio::error::bad_descriptor;
    }
    if (started_ || path.find('\0') != std::string_view::npos) {
        return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    }
    if ((flags & recursive) != 0) {
        return boost::system::errc::make_error_code(boost::system::errc::not_supported);
    }
    auto& slot = impl().inotify;
    std::shared_ptr<detail::Inotify> ino = slot.lock();
    boost::system::error_code ec;
    if (!ino) {
        ino = detail::Inotify::open(impl(), ec);
        if (ec) {
            return ec;
        }
        slot = ino;
    }
    std::string p(path);
    ec = ino->add(*this, p);
    if (ec) {
        return ec; // `ino` closes the descriptor if no handle holds it
    }
    path_ = std::move(p);
    cb_ = std::move(cb);
    inotify_ = std::move(ino);
    started_ = true;
    set_active(true);
    return {};
}

void FsEvent::stop() noexcept {
    if (!started_) {
        return;
    }
    started_ = false;
    set_active(false);
    inotify_->remove(*this);
    wd_ = -1;
    // The last handle's reference closes the descriptor. A dispatch in
    // progress holds its own reference (on_readable).
    inotify_.reset();
}

} // namespace pollux::uv
