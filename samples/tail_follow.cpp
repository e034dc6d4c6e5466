// tail_follow: `tail -f FILE` with the libuv-style callback API only
// (pollux::uv): prints the lines appended to FILE as they arrive, until
// SIGINT or SIGTERM.
//
// What it shows: uv::FsEvent for change notification (inotify), uv::fs::read
// and uv::fs::fstat requests (the loop's worker pool), uv::Signal for a clean exit, and the
// two things a follower must get right: a line written in several appends
// is printed once, whole (the partial line is buffered), and a truncated
// file (`: > FILE`, a log rotated by copytruncate) is read again from its
// start.
//
// Run:    ./tail_follow FILE
// Prints: on stderr, `tail_follow: following FILE from byte N` once it
//         watches (N: the size of FILE then; earlier content is not
//         printed); on stdout, each line appended after that, as it
//         completes. At SIGINT/SIGTERM an unfinished last line is printed
//         too, without a newline, and it exits 0. Exits 1 if FILE cannot be
//         opened or watched, 2 for a bad command line.
//
// Like `tail -f` (not `-F`) it follows the file it opened: once FILE is
// removed or renamed its watch ends, and nothing more is printed.

#include <pollux/uv.hpp>

#include <boost/system/error_code.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace uv = pollux::uv;

namespace {

// ---------------------------------------------------------------------------
// File I/O through uv::fs requests (libuv's uv_fs_read and uv_fs_fstat): each
// runs on the loop's worker pool and calls back on the loop.

// Reads up to buf->size() bytes of `fd` at `offset`, then calls cb(ec, n) on
// the loop (n = 0 at end of file). The request keeps `buf` alive until then.
void file_read(uv::Loop& loop,
               int fd,
               std::shared_ptr<std::string> buf,
               std::int64_t offset,
               std::function<void(boost::system::error_code, std::size_t)> cb) {
    (void)uv::fs::read(
        loop,
        fd,
        boost::asio::buffer(*buf),
        offset,
        [buf, cb = std::move(cb)](boost::system::error_code ec, std::size_t n) { cb(ec, n); });
}

// The size of `fd`'s file; cb(ec, size) on the loop.
void file_size(uv::Loop& loop,
               int fd,
               std::function<void(boost::system::error_code, std::int64_t)> cb) {
    (void)uv::fs::fstat(
        loop, fd, [cb = std::move(cb)](boost::system::error_code ec, const uv::Stat& st) {
            cb(ec, ec ? 0 : static_cast<std::int64_t>(st.size));
        });
}
// ---------------------------------------------------------------------------

// Follows one file. A change event starts a read pass (unless one runs):
// read at `offset_` until a read returns 0, print each completed line, and
// keep the unfinished one in `partial_`. A pass that ends with the file
// shorter than `offset_` means truncation: start again from byte 0. Events
// during a pass set `again_`, which runs one more pass after it.
class Follower {
public:
    Follower(uv::Loop& loop, int fd, std::int64_t offset)
        : loop_(loop), fd_(fd), offset_(offset),
          buf_(std::make_shared<std::string>(64 * 1024, '\0')) {}

    void changed() {
        if (reading_) {
            again_ = true;
            return;
        }
        reading_ = true;
        read_more();
    }

    // SIGINT/SIGTERM: no new pass; the unfinished line is printed.
    void stop() {
        stopping_ = true;
        if (!partial_.empty()) {
            std::fwrite(partial_.data(), 1, partial_.size(), stdout);
            partial_.clear();
        }
        std::fflush(stdout);
    }

    [[nodiscard]] bool failed() const { return failed_; }

private:
    void read_more() {
        file_read(loop_, fd_, buf_, offset_, [this](boost::system::error_code ec, std::size_t n) {
            if (stopping_) {
                return;
            }
            if (ec) {
                return fail("read", ec);
            }
            if (n > 0) {
                offset_ += static_cast<std::int64_t>(n);
                emit(buf_->data(), n);
                return read_more();
            }
            file_size(loop_, fd_, [this](boost::system::error_code ec2, std::int64_t size) {
                if (stopping_) {
                    return;
                }
                if (ec2) {
                    return fail("fstat", ec2);
                }
                if (size < offset_) {
                    // Truncated: what we buffered belonged to the old content.
                    offset_ = 0;
                    partial_.clear();
                    return read_more();
                }
                reading_ = false;
                if (std::exchange(again_, false)) {
                    changed();
                }
            });
        });
    }

    void emit(const char* data, std::size_t n) {
        partial_.append(data, n);
        const auto last = partial_.rfind('\n');
        if (last == std::string::npos) {
            return;
        }
        std::fwrite(partial_.data(), 1, last + 1, stdout);
        std::fflush(stdout);
        partial_.erase(0, last + 1);
    }

    void fail(const char* what, boost::system::error_code ec) {
        std::fprintf(stderr, "tail_follow: %s: %s\n", what, ec.message().c_str());
        failed_ = true;
        reading_ = false;
    }

    uv::Loop& loop_;
    int fd_;
    std::int64_t offset_;
    std::shared_ptr<std::string> buf_;
    std::string partial_;
    bool reading_ = false;
    bool again_ = false;
    bool stopping_ = false;
    bool failed_ = false;
};

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: tail_follow FILE\n");
        return 2;
    }
    const char* path = argv[1];
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        std::fprintf(stderr, "tail_follow: %s: %s\n", path, std::strerror(errno));
        return 1;
    }
    struct ::stat st {};
    if (::fstat(fd, &st) < 0) {
        std::fprintf(stderr, "tail_follow: %s: %s\n", path, std::strerror(errno));
        ::close(fd);
        return 1;
    }

    uv::Loop loop;
    Follower follower(loop, fd, st.st_size);
    uv::FsEvent watch(loop);
    uv::Signal sigint(loop);
    uv::Signal sigterm(loop);

    auto shutdown = [&](int) {
        follower.stop();
        watch.close();
        sigint.close();
        sigterm.close();
    };
    if (auto ec = watch.start(
            path,
            0,
            [&](uv::FsEvent&, std::string_view, int events, boost::system::error_code ec2) {
                if (ec2) {
                    std::fprintf(stderr, "tail_follow: watch: %s\n", ec2.message().c_str());
                    return shutdown(0);
                }
                if ((events & uv::FsEvent::change) != 0) {
                    follower.changed();
                }
            })) {
        std::fprintf(stderr, "tail_follow: watch %s: %s\n", path, ec.message().c_str());
        ::close(fd);
        return 1;
    }
    if (auto ec = sigint.start(shutdown, SIGINT)) {
        std::fprintf(stderr, "tail_follow: SIGINT: %s\n", ec.message().c_str());
        return 1;
    }
    if (auto ec = sigterm.start(shutdown, SIGTERM)) {
        std::fprintf(stderr, "tail_follow: SIGTERM: %s\n", ec.message().c_str());
        return 1;
    }
    std::fprintf(stderr,
                 "tail_follow: following %s from byte %lld\n",
                 path,
                 static_cast<long long>(st.st_size));
    std::fflush(stderr);

    loop.run(); // until the signal handler closed every handle and reads ended
    ::close(fd);
    return follower.failed() ? 1 : 0;
}
