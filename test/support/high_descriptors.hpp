#pragma once

// For tests of descriptors at or above 1024, the FD_SETSIZE past which Asio's
// select reactor (the portable readiness path's) refuses to wait.

#include <boost/asio/detail/config.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

namespace pollux::test {

/// Whether Asio's reactor is its select reactor: Asio's own choice
/// (boost/asio/detail/reactor.hpp) when none of the others is there.
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) || defined(BOOST_ASIO_HAS_EPOLL) ||                \
    defined(BOOST_ASIO_HAS_KQUEUE) || defined(BOOST_ASIO_HAS_DEV_POLL)
inline constexpr bool select_reactor = false;
#else
inline constexpr bool select_reactor = true;
#endif

/// While it lives, the soft descriptor limit is at least 1100 and every
/// descriptor below 1024 is taken, so the next ones made are 1024 and up.
/// `ok()` is false (and nothing changed) where the hard limit is lower.
class HighDescriptors {
public:
    HighDescriptors() {
        REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
        if (saved_.rlim_max != RLIM_INFINITY && saved_.rlim_max < 1100) {
            return;
        }
        ::rlimit raised = saved_;
        raised.rlim_cur = std::max<rlim_t>(saved_.rlim_cur, 1100);
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &raised) == 0);
        ok_ = true;
    }
    HighDescriptors(const HighDescriptors&) = delete;
    HighDescriptors& operator=(const HighDescriptors&) = delete;
    ~HighDescriptors() {
        for (int fd : fillers_) {
            ::close(fd);
        }
        if (ok_) {
            (void)::setrlimit(RLIMIT_NOFILE, &saved_);
        }
    }

    [[nodiscard]] bool ok() const noexcept { return ok_; }

    /// Takes every free descriptor below 1024.
    void fill_below_1024() {
        for (;;) {
            const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                FAIL("open(/dev/null) failed while filling descriptors");
            }
            fillers_.push_back(fd);
            if (fd >= 1023) {
                return;
            }
        }
    }

private:
    ::rlimit saved_{};
    bool ok_ = false;
    std::vector<int> fillers_;
};

} // namespace pollux::test
