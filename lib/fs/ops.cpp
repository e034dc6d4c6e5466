#include <pollux/fs/ops.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/detail/io_block.hpp>

#include "backend.hpp"
#include "pool_op.hpp"
#include "sys.hpp"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>

#include <climits>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pollux::fs {

namespace detail {

boost::asio::execution_context& current_context(const char* what) {
    auto ex = pollux::detail::executor_of_current_task(what);
    return boost::asio::query(ex, boost::asio::execution::context);
}

boost::system::error_code refused_error() noexcept {
    return sys::error(EAGAIN);
}

} // namespace detail

namespace {

using detail::fail;
using detail::on_pool;
using pollux::detail::WorkKind;
namespace fsys = std::filesystem;

// A descriptor closed on scope exit (for the whole-file functions).
class Fd {
public:
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const noexcept { return fd_; }
    // close(2) whose error counts (NFS reports write errors there).
    int close() noexcept { return ::close(std::exchange(fd_, -1)); }

private:
    int fd_;
};

Result<void> ok() {
    return Result<void>();
}

template <class T, class Call>
Result<T> path_call(const fsys::path& p, Call call) {
    if (sys::has_nul(p)) {
        return fail<T>(sys::error(EINVAL));
    }
    return call();
}

Result<std::vector<std::byte>> read_all(const fsys::path& p) {
    if (sys::has_nul(p)) {
        return fail<std::vector<std::byte>>(sys::error(EINVAL));
    }
    Fd fd(sys::retry([&] { return ::open(p.c_str(), O_RDONLY | O_CLOEXEC); }));
    if (fd.get() < 0) {
        return fail<std::vector<std::byte>>(sys::last_error());
    }
    struct stat st {};
    std::size_t hint = 0;
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        hint = static_cast<std::size_t>(st.st_size);
    }
    std::vector<std::byte> out;
    out.resize(hint + 1 > 8192 ? hint + 1 : 8192);
    std::size_t len = 0;
    for (;;) {
        if (len == out.size()) {
            out.resize(out.size() * 2);
        }
        ssize_t r =
            sys::retry([&] { return ::read(fd.get(), out.data() + len, out.size() - len); });
        if (r < 0) {
            return fail<std::vector<std::byte>>(sys::last_error());
        }
        if (r == 0) {
            break;
        }
        len += static_cast<std::size_t>(r);
    }
    out.resize(len);
    return out;
}

// RFC 3629 UTF-8 (no overlongs, no surrogates, at most U+10FFFF), as Rust's
// `str::from_utf8` accepts.
bool valid_utf8(const unsigned char* s, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t extra = 0;
        unsigned lo = 0x80;
        unsigned hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0) {
                lo = 0xA0;
            } else if (c == 0xED) {
                hi = 0x9F;
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0) {
                lo = 0x90;
            } else if (c == 0xF4) {
                hi = 0x8F;
            }
        } else {
            return false;
        }
        if (n - i <= extra) {
            return false;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (std::size_t k = 2; k <= extra; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
        }
        i += extra + 1;
    }
    return true;
}

Result<void> write_all(const fsys::path& p, const std::vector<std::byte>& data) {
    if (sys::has_nul(p)) {
        return fail<void>(sys::error(EINVAL));
    }
    Fd fd(sys::retry(
        [&] { return ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666); }));
    if (fd.get() < 0) {
        return fail<void>(sys::last_error());
    }
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t r =
            sys::retry([&] { return ::write(fd.get(), data.data() + off, data.size() - off); });
        if (r < 0) {
            return fail<void>(sys::last_error());
        }
        if (r == 0) {
            return fail<void>(sys::error(EIO));
        }
        off += static_cast<std::size_t>(r);
    }
    if (fd.close() != 0 && errno != EINTR) {
        return fail<void>(sys::last_error());
    }
    return ok();
}

Result<std::uint64_t> do_copy(const fsys::path& from, const fsys::path& to) {
    using R = Result<std::uint64_t>;
    if (sys::has_nul(from) || sys::has_nul(to)) {
        return fail<std::uint64_t>(sys::error(EINVAL));
    }
    Fd in(sys::retry([&] { return ::open(from.c_str(), O_RDONLY | O_CLOEXEC); }));
    if (in.get() < 0) {
        return fail<std::uint64_t>(sys::last_error());
    }
    struct stat st {};
    if (::fstat(in.get(), &st) != 0) {
        return fail<std::uint64_t>(sys::last_error());
    }
    if (!S_ISREG(st.st_mode)) {
        // std's fs::copy: "the source is not a regular file".
        return fail<std::uint64_t>(sys::error(S_ISDIR(st.st_mode) ? EISDIR : EINVAL));
    }
    Fd out(sys::retry([&] {
        return ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
    }));
    if (out.get() < 0) {
        return fail<std::uint64_t>(sys::last_error());
    }
    // The permission bits of `from`, also when `to` existed (std does this).
    if (::fchmod(out.get(), st.st_mode & 07777) != 0) {
        return fail<std::uint64_t>(sys::last_error());
    }
    std::uint64_t total = 0;
    bool kernel_copy = true;
    for (;;) {
        ssize_t r = -1;
        if (kernel_copy) {
            r = sys::retry([&] {
                return ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
            });
            if (r < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
                          errno == EINVAL || errno == EPERM)) {
                kernel_copy = false; // fall back to read/write from where we are
                continue;
            }
            if (r < 0) {
                return fail<std::uint64_t>(sys::last_error());
            }
            if (r == 0) {
                break;
            }
            total += static_cast<std::uint64_t>(r);
            continue;
        }
        std::byte buf[65536];
        r = sys::retry([&] { return ::read(in.get(), buf, sizeof buf); });
        if (r < 0) {
            return fail<std::uint64_t>(sys::last_error());
        }
        if (r == 0) {
            break;
        }
        std::size_t off = 0;
        while (off < static_cast<std::size_t>(r)) {
            ssize_t w = sys::retry(
                [&] { return ::write(out.get(), buf + off, static_cast<std::size_t>(r) - off); });
            if (w <= 0) {
                return fail<std::uint64_t>(w < 0 ? sys::last_error() : sys::error(EIO));
            }
            off += static_cast<std::size_t>(w);
        }
        total += static_cast<std::uint64_t>(r);
    }
    if (out.close() != 0 && errno != EINTR) {
        return fail<std::uint64_t>(sys::last_error());
    }
    return R(total);
}

Result<void> mkdir_all(const fsys::path& p) {
    if (p.empty()) {
        return fail<void>(sys::error(ENOENT));
    }
    if (::mkdir(p.c_str(), 0777) == 0) {
        return ok();
    }
    int err = errno;
    if (err == ENOENT) {
        fsys::path parent = p.parent_path();
        if (!parent.empty() && parent != p) {
            auto r = mkdir_all(parent);
            if (!r) {
                return r;
            }
            if (::mkdir(p.c_str(), 0777) == 0) {
                return ok();
            }
            err = errno;
        }
    }
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        // It exists as a directory (maybe made meanwhile by someone else).
        return ok();
    }
    return fail<void>(sys::error(err));
}

Result<void> do_remove_all(const fsys::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
        return fail<void>(sys::last_error());
    }
    if (S_ISLNK(st.st_mode)) {
        return ::unlink(p.c_str()) == 0 ? ok() : fail<void>(sys::last_error());
    }
    if (!S_ISDIR(st.st_mode)) {
        return fail<void>(sys::error(ENOTDIR));
    }
    std::error_code ec;
    fsys::remove_all(p, ec);
    if (ec) {
        return fail<void>(sys::error(ec.value()));
    }
    return ok();
}

Result<fsys::path> readlink_of(const fsys::path& p) {
    std::vector<char> buf(256);
    for (;;) {
        ssize_t r = ::readlink(p.c_str(), buf.data(), buf.size());
        if (r < 0) {
            return fail<fsys::path>(sys::last_error());
        }
        if (static_cast<std::size_t>(r) < buf.size()) {
            return fsys::path(std::string(buf.data(), static_cast<std::size_t>(r)));
        }
        buf.resize(buf.size() * 2);
    }
}

Result<fsys::path> realpath_of(const fsys::path& p) {
    char* r = ::realpath(p.c_str(), nullptr);
    if (r == nullptr) {
        return fail<fsys::path>(sys::last_error());
    }
    fsys::path out(r);
    std::free(r);
    return out;
}

Result<void> void_call(int r) {
    return r == 0 ? ok() : fail<void>(sys::last_error());
}

template <class T, class Fn>
OpFuture<T> pool_op(fsys::path path, const char* what, WorkKind kind, Fn fn) {
    fsys::path p = path;
    return OpFuture<T>(std::move(path),
                       what,
                       on_pool<T>(
                           [p = std::move(p), fn = std::move(fn)]() mutable {
                               return path_call<T>(p, [&] { return fn(p); });
                           },
                           kind));
}

template <class T, class Fn>
OpFuture<T> pool_op2(fsys::path a, fsys::path b, const char* what, WorkKind kind, Fn fn) {
    fsys::path pa = a;
    fsys::path pb = b;
    return OpFuture<T>(std::move(a),
                       std::move(pb),
                       what,
                       on_pool<T>(
                           [pa = std::move(pa), b = std::move(b), fn = std::move(fn)]() mutable {
                               if (sys::has_nul(pa) || sys::has_nul(b)) {
                                   return fail<T>(sys::error(EINVAL));
                               }
                               return fn(pa, b);
                           },
                           kind));
}

// stat/lstat through the backend seam, so that a ring can take it.
OpFuture<Metadata> stat_op(fsys::path path, bool follow, const char* what) {
    fsys::path p = path;
    return OpFuture<Metadata>(
        std::move(path),
        what,
        [p = std::move(p), follow](boost::asio::execution_context& ctx,
                                   const std::shared_ptr<detail::OpState<Metadata>>& st) mutable {
            if (sys::has_nul(p)) {
                // Completed at once: the first poll then sees it done.
                st->complete(fail<Metadata>(sys::error(EINVAL)));
                return true;
            }
            auto buf = std::make_shared<struct stat>();
            struct stat* out = buf.get();
            return backend::stat(
                ctx, std::move(p), follow, out, [st, buf = std::move(buf)](std::int64_t res) {
                    if (res < 0) {
                        st->complete(fail<Metadata>(sys::error(static_cast<int>(-res))));
                    } else {
                        st->complete(Metadata(*buf));
                    }
                });
        });
}

} // namespace

OpFuture<std::vector<std::byte>> read(fsys::path path) {
    return pool_op<std::vector<std::byte>>(std::move(path),
                                           "pollux::fs::read",
                                           WorkKind::abandonable,
                                           [](const fsys::path& p) { return read_all(p); });
}

OpFuture<std::string> read_to_string(fsys::path path) {
    return pool_op<std::string>(
        std::move(path),
        "pollux::fs::read_to_string",
        WorkKind::abandonable,
        [](const fsys::path& p) -> Result<std::string> {
            auto bytes = read_all(p);
            if (!bytes) {
                return fail<std::string>(bytes.error());
            }
            const auto* s = reinterpret_cast<const unsigned char*>(bytes->data());
            if (!valid_utf8(s, bytes->size())) {
                return fail<std::string>(sys::error(EILSEQ));
            }
            return std::string(reinterpret_cast<const char*>(s), bytes->size());
        });
}

OpFuture<void> write(fsys::path path, std::span<const std::byte> contents) {
    return pool_op<void>(std::move(path),
                         "pollux::fs::write",
                         WorkKind::mandatory,
                         [data = std::vector<std::byte>(contents.begin(), contents.end())](
                             const fsys::path& p) { return write_all(p, data); });
}

OpFuture<void> write(fsys::path path, std::string_view contents) {
    return write(std::move(path),
                 std::as_bytes(std::span<const char>(contents.data(), contents.size())));
}

OpFuture<std::uint64_t> copy(fsys::path from, fsys::path to) {
    return pool_op2<std::uint64_t>(
        std::move(from),
        std::move(to),
        "pollux::fs::copy",
        WorkKind::mandatory,
        [](const fsys::path& a, const fsys::path& b) { return do_copy(a, b); });
}

OpFuture<void> rename(fsys::path from, fsys::path to) {
    return pool_op2<void>(std::move(from),
                          std::move(to),
                          "pollux::fs::rename",
                          WorkKind::mandatory,
                          [](const fsys::path& a, const fsys::path& b) {
                              return void_call(::rename(a.c_str(), b.c_str()));
                          });
}

OpFuture<void> remove_file(fsys::path path) {
    return pool_op<void>(std::move(path),
                         "pollux::fs::remove_file",
                         WorkKind::mandatory,
                         [](const fsys::path& p) { return void_call(::unlink(p.c_str())); });
}

OpFuture<void> remove_dir(fsys::path path) {
    return pool_op<void>(std::move(path),
                         "pollux::fs::remove_dir",
                         WorkKind::mandatory,
                         [](const fsys::path& p) { return void_call(::rmdir(p.c_str())); });
}

OpFuture<void> remove_dir_all(fsys::path path) {
    return pool_op<void>(std::move(path),
                         "pollux::fs::remove_dir_all",
                         WorkKind::mandatory,
                         [](const fsys::path& p) { return do_remove_all(p); });
}

OpFuture<void> create_dir(fsys::path path) {
    return pool_op<void>(std::move(path),
                         "pollux::fs::create_dir",
                         WorkKind::mandatory,
                         [](const fsys::path& p) { return void_call(::mkdir(p.c_str(), 0777)); });
}

OpFuture<void> create_dir_all(fsys::path path) {
    return pool_op<void>(std::move(path),
                         "pollux::fs::create_dir_all",
                         WorkKind::mandatory,
                         [](const fsys::path& p) { return mkdir_all(p); });
}

OpFuture<void> hard_link(fsys::path original, fsys::path link) {
    return pool_op2<void>(std::move(original),
                          std::move(link),
                          "pollux::fs::hard_link",
                          WorkKind::mandatory,
                          [](const fsys::path& a, const fsys::path& b) {
                              return void_call(::link(a.c_str(), b.c_str()));
                          });
}

OpFuture<void> symlink(fsys::path original, fsys::path link) {
    return pool_op2<void>(std::move(original),
                          std::move(link),
                          "pollux::fs::symlink",
                          WorkKind::mandatory,
                          [](const fsys::path& a, const fsys::path& b) {
                              return void_call(::symlink(a.c_str(), b.c_str()));
                          });
}

OpFuture<fsys::path> read_link(fsys::path path) {
    return pool_op<fsys::path>(std::move(path),
                               "pollux::fs::read_link",
                               WorkKind::abandonable,
                               [](const fsys::path& p) { return readlink_of(p); });
}

OpFuture<fsys::path> canonicalize(fsys::path path) {
    return pool_op<fsys::path>(std::move(path),
                               "pollux::fs::canonicalize",
                               WorkKind::abandonable,
                               [](const fsys::path& p) { return realpath_of(p); });
}

OpFuture<Metadata> metadata(fsys::path path) {
    return stat_op(std::move(path), true, "pollux::fs::metadata");
}

OpFuture<Metadata> symlink_metadata(fsys::path path) {
    return stat_op(std::move(path), false, "pollux::fs::symlink_metadata");
}

OpFuture<void> set_permissions(fsys::path path, Permissions perm) {
    return pool_op<void>(
        std::move(path),
        "pollux::fs::set_permissions",
        WorkKind::mandatory,
        [perm](const fsys::path& p) { return void_call(::chmod(p.c_str(), perm.mode())); });
}

OpFuture<bool> try_exists(fsys::path path) {
    return pool_op<bool>(std::move(path),
                         "pollux::fs::try_exists",
                         WorkKind::abandonable,
                         [](const fsys::path& p) -> Result<bool> {
                             struct stat st {};
                             if (::stat(p.c_str(), &st) == 0) {
                                 return true;
                             }
                             if (errno == ENOENT) {
                                 return false;
                             }
                             return fail<bool>(sys::last_error());
                         });
}

} // namespace pollux::fs
