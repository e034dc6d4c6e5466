#include <pollux/fs/read_dir.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/detail/work_pool.hpp>
#include <pollux/fs/error.hpp>
#include <pollux/fs/ops.hpp>

#include "pool_op.hpp"
#include "sys.hpp"

#include <cstring>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

namespace pollux::fs {

namespace detail {

// tokio's CHUNK_SIZE.
inline constexpr std::size_t read_dir_batch = 32;

// Shared by the ReadDir and the job reading a batch. The DIR stream is only
// used by that job, one at a time: a job is submitted only by the owner,
// after it saw the previous job's `done` under the mutex. `batch`, `end` and
// `done` are guarded by the mutex; `queue`, `busy` and `finished` are the
// owner's. The last reference closes the directory.
struct ReadDirImpl {
    ReadDirImpl(DIR* d, std::filesystem::path p) noexcept : dir(d), path(std::move(p)) {}
    ReadDirImpl(const ReadDirImpl&) = delete;
    ReadDirImpl& operator=(const ReadDirImpl&) = delete;
    ~ReadDirImpl() { ::closedir(dir); }

    DIR* dir;
    const std::filesystem::path path;

    std::mutex mutex;
    std::deque<Result<DirEntry>> batch;
    bool end = false;
    bool done = false;
    Waker waker = Waker::noop();

    std::deque<Result<DirEntry>> queue;
    bool busy = false;
    bool finished = false;

    // On a pool thread: reads up to a batch of entries.
    void read_batch() {
        std::deque<Result<DirEntry>> out;
        bool at_end = false;
        while (out.size() < read_dir_batch) {
            errno = 0;
            dirent* e = ::readdir(dir);
            if (e == nullptr) {
                if (errno != 0) {
                    out.emplace_back(boost::system::in_place_error,
                                     path_error(sys::last_error(), path));
                }
                at_end = true;
                break;
            }
            const char* name = e->d_name;
            if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) {
                continue;
            }
            Result<FileType> type(boost::system::in_place_error, sys::error(EIO));
            switch (e->d_type) {
            case DT_REG:
                type = FileType::from_mode(S_IFREG);
                break;
            case DT_DIR:
                type = FileType::from_mode(S_IFDIR);
                break;
            case DT_LNK:
                type = FileType::from_mode(S_IFLNK);
                break;
            case DT_FIFO:
                type = FileType::from_mode(S_IFIFO);
                break;
            case DT_SOCK:
                type = FileType::from_mode(S_IFSOCK);
                break;
            case DT_CHR:
                type = FileType::from_mode(S_IFCHR);
                break;
            case DT_BLK:
                type = FileType::from_mode(S_IFBLK);
                break;
            default: {
                struct stat st {};
                if (::fstatat(::dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                    type = FileType::from_mode(st.st_mode);
                } else {
                    type = Result<FileType>(boost::system::in_place_error,
                                            path_error(sys::last_error(), path / name));
                }
            }
            }
            out.emplace_back(DirEntry(path / name, e->d_ino, type));
        }
        Waker w = Waker::noop();
        {
            std::lock_guard lock(mutex);
            batch = std::move(out);
            end = at_end;
            done = true;
            w = std::move(waker);
        }
        std::move(w).wake();
    }
};

} // namespace detail

OpFuture<Metadata> DirEntry::metadata() const {
    return symlink_metadata(path_);
}

ReadDir& ReadDir::operator=(ReadDir&& o) noexcept {
    if (this != &o) {
        release();
        impl_ = std::move(o.impl_);
    }
    return *this;
}

ReadDir::~ReadDir() {
    release();
}

void ReadDir::release() noexcept {
    if (impl_) {
        Waker old = Waker::noop();
        {
            std::lock_guard lock(impl_->mutex);
            old = std::exchange(impl_->waker, Waker::noop());
        }
        impl_.reset();
    }
}

Poll<std::optional<ReadDir::Item>> ReadDir::poll_next(Context& cx) {
    POLLUX_ASSERT(impl_ != nullptr, "pollux::fs::ReadDir used after it was moved from");
    detail::ReadDirImpl& d = *impl_;
    if (d.busy) {
        std::lock_guard lock(d.mutex);
        if (!d.done) {
            if (!d.waker.will_wake(cx.waker())) {
                d.waker = cx.waker();
            }
            return Pending{};
        }
        d.done = false;
        d.busy = false;
        d.queue = std::move(d.batch);
        d.batch.clear();
        d.finished = d.end;
    }
    if (!d.queue.empty()) {
        Item item = std::move(d.queue.front());
        d.queue.pop_front();
        if (!item) {
            // An error ends the stream (readdir's position is unknown).
            d.finished = true;
            d.queue.clear();
        }
        return Ready<std::optional<Item>>{std::optional<Item>(std::move(item))};
    }
    if (d.finished) {
        return Ready<std::optional<Item>>{std::optional<Item>()};
    }
    boost::asio::execution_context& ctx = detail::current_context("pollux::fs::ReadDir::poll_next");
    {
        std::lock_guard lock(d.mutex);
        d.waker = cx.waker();
    }
    if (!pollux::detail::submit_blocking(
            ctx,
            [impl = impl_] { impl->read_batch(); },
            pollux::detail::WorkKind::abandonable,
            pollux::detail::WorkLane::fs)) {
        return Ready<std::optional<Item>>{
            std::optional<Item>(Item(boost::system::in_place_error, detail::refused_error()))};
    }
    d.busy = true;
    return Pending{};
}

OpFuture<ReadDir> read_dir(std::filesystem::path path) {
    std::filesystem::path p = path;
    return OpFuture<ReadDir>(std::move(path),
                             "pollux::fs::read_dir",
                             detail::on_pool<ReadDir>(
                                 [p = std::move(p)]() -> Result<ReadDir> {
                                     if (sys::has_nul(p)) {
                                         return detail::fail<ReadDir>(sys::error(EINVAL));
                                     }
                                     const int fd = sys::retry([&] {
                                         return ::open(p.c_str(),
                                                       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                     });
                                     if (fd < 0) {
                                         return detail::fail<ReadDir>(sys::last_error());
                                     }
                                     DIR* dir = ::fdopendir(fd);
                                     if (dir == nullptr) {
                                         const int err = errno;
                                         ::close(fd);
                                         return detail::fail<ReadDir>(sys::error(err));
                                     }
                                     return ReadDir(std::make_shared<detail::ReadDirImpl>(dir, p));
                                 },
                                 pollux::detail::WorkKind::abandonable));
}

} // namespace pollux::fs
