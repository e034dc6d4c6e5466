#pragma once

// `TempDir`: a fresh directory under $TMPDIR (or /tmp) for a test case,
// removed with everything in it at the end of the case. `as_unprivileged`:
// runs a check in a forked child that dropped root (for EACCES cases, which
// root would bypass), returning the child's exit code. `create_file` and
// `touch_file`: libuv's test helpers for the file-watching tests.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace pollux::test {

// A path that also converts to std::string_view (its native string), so a
// test can pass `dir / "name"` to APIs that take a path and to those that
// take a string_view (uv::FsEvent::start, uv::FsPoll::start). The view lives
// as long as the TempPath, a temporary's full expression.
class TempPath : public std::filesystem::path {
public:
    explicit TempPath(std::filesystem::path p) : std::filesystem::path(std::move(p)) {}
    operator std::string_view() const noexcept { return native(); }
    friend bool operator==(std::string_view a, const TempPath& b) noexcept {
        return a == b.native();
    }
    friend bool operator==(const TempPath& a, std::string_view b) noexcept {
        return a.native() == b;
    }
};

class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/pollux-fs-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        }
        path_ = tmpl;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        // Give back the permissions a case took away, so removal works.
        for (auto it = std::filesystem::recursive_directory_iterator(
                 path_, std::filesystem::directory_options::skip_permission_denied, ec);
             !ec && it != std::filesystem::recursive_directory_iterator();
             it.increment(ec)) {
            if (it->is_directory(ec) && !it->is_symlink(ec)) {
                std::filesystem::permissions(it->path(),
                                             std::filesystem::perms::owner_all,
                                             std::filesystem::perm_options::add,
                                             ec);
            }
        }
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const noexcept { return path_; }
    TempPath operator/(const std::filesystem::path& p) const { return TempPath(path_ / p); }

private:
    std::filesystem::path path_;
};

// Forks; the child drops to uid/gid 65534 if it is root, runs `fn()` and
// exits with its result. Returns the child's exit status (or 255 + signal).
template <class Fn>
int as_unprivileged(Fn fn) {
    const pid_t pid = ::fork();
    if (pid < 0) {
        throw std::system_error(errno, std::generic_category(), "fork");
    }
    if (pid == 0) {
        if (::geteuid() == 0) {
            if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
                ::setresuid(65534, 65534, 65534) != 0) {
                ::_exit(100);
            }
        }
        ::_exit(fn());
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255 + WTERMSIG(status);
}

// libuv's create_file: an empty file (truncated if it exists).
inline void create_file(const std::string& path) {
    std::ofstream f(path, std::ios::trunc);
    REQUIRE(f.good());
}

// libuv's touch_file: appends one byte (a modification).
inline void touch_file(const std::string& path) {
    std::ofstream f(path, std::ios::app);
    REQUIRE(f.good());
    f << 'x';
}

} // namespace pollux::test
