#include <pollux/net/unix_fd.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <pollux/core/async.hpp>
#include <pollux/core/poll_fn.hpp>
#include <pollux/io.hpp>
#include <pollux/net/unix_datagram.hpp>
#include <pollux/net/unix_listener.hpp>
#include <pollux/net/unix_stream.hpp>
#include <pollux/runtime.hpp>
#include <pollux/spawn.hpp>

#include "support/open_fds.hpp"
#include "support/result_string.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace pollux;
namespace asio = boost::asio;
using net::OwnedFd;
using net::UnixDatagram;
using net::UnixStream;
using test::open_fds;

namespace {

// A raw pipe; closes what it still holds.
struct RawPipe {
    int r = -1;
    int w = -1;
    RawPipe() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        r = fds[0];
        w = fds[1];
    }
    RawPipe(const RawPipe&) = delete;
    RawPipe& operator=(const RawPipe&) = delete;
    ~RawPipe() {
        ::close(r);
        ::close(w);
    }
};

// Whether `a` and `b` are the same open file (a received descriptor is a
// duplicate: another number for the same file).
bool same_file(int a, int b) {
    struct ::stat sa {};
    struct ::stat sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

} // namespace

// ---- OwnedFd -------------------------------------------------------------------

TEST_CASE("OwnedFd closes its descriptor when dropped and not after release", "[net][unix_fd]") {
    RawPipe p;
    int dup1 = ::fcntl(p.r, F_DUPFD_CLOEXEC, 0);
    int dup2 = ::fcntl(p.r, F_DUPFD_CLOEXEC, 0);
    REQUIRE(dup1 >= 0);
    REQUIRE(dup2 >= 0);
    {
        OwnedFd a(dup1);
        OwnedFd b(dup2);
        OwnedFd moved(std::move(a));
        REQUIRE_FALSE(a);
        REQUIRE(moved.get() == dup1);
        REQUIRE(b.release() == dup2);
        REQUIRE_FALSE(b);
    }
    REQUIRE(::fcntl(dup1, F_GETFD) < 0);  // closed by `moved`
    REQUIRE(::fcntl(dup2, F_GETFD) >= 0); // released
    ::close(dup2);
}

// ---- peer credentials ----------------------------------------------------------

TEST_CASE("UnixStream peer_cred of a pair is this process's", "[net][unix_fd][cred]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        auto c = p->first.peer_cred();
        REQUIRE(c);
        REQUIRE(c->pid == ::getpid());
        REQUIRE(c->uid == ::getuid());
        REQUIRE(c->gid == ::getgid());
        co_return;
    }());
}

TEST_CASE("UnixStream peer_cred of an accepted and a connected stream is this process's",
          "[net][unix_fd][cred]") {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("pollux_unix_fd_test_" + std::to_string(::getpid()) + ".sock"))
                                 .string();
    std::filesystem::remove(path);
    Runtime rt;
    rt.block_on([](std::string path) -> Async<> {
        auto l = net::UnixListener::bind(path);
        REQUIRE(l);
        auto c = co_await UnixStream::connect(path);
        REQUIRE(c);
        auto a = co_await l->accept();
        REQUIRE(a);
        for (auto* s : {&*c, &a->first}) {
            auto cred = s->peer_cred();
            REQUIRE(cred);
            REQUIRE(cred->pid == ::getpid());
            REQUIRE(cred->uid == ::getuid());
        }
    }(path));
    std::filesystem::remove(path);
}

TEST_CASE("UnixDatagram peer_cred of a pair is this process's", "[net][unix_fd][cred]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixDatagram::pair();
        REQUIRE(p);
        auto c = p->second.peer_cred();
        REQUIRE(c);
        REQUIRE(c->pid == ::getpid());
        co_return;
    }());
}

// ---- descriptor passing on a stream -------------------------------------------

TEST_CASE("UnixStream send_with_fds passes a pipe end the receiver reads from",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        auto& [a, b] = *p;
        RawPipe pipe;
        const std::array<int, 1> fds{pipe.r};
        auto s = co_await a.send_with_fds(asio::buffer("F", 1), fds);
        REQUIRE(s);
        REQUIRE(*s == 1);
        char buf[8];
        auto r = co_await b.recv_with_fds(asio::buffer(buf), 4);
        REQUIRE(r);
        REQUIRE(r->bytes == 1);
        REQUIRE(buf[0] == 'F');
        REQUIRE(r->fds.size() == 1);
        const int got = r->fds[0].get();
        REQUIRE(got != pipe.r);
        REQUIRE(same_file(got, pipe.r));
        REQUIRE(::write(pipe.w, "via", 3) == 3);
        char out[3];
        REQUIRE(::read(got, out, 3) == 3);
        REQUIRE(std::string(out, 3) == "via");
    }());
}

TEST_CASE("UnixStream recv_with_fds makes received descriptors close-on-exec",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        RawPipe pipe;
        REQUIRE(::fcntl(pipe.w, F_SETFD, 0) == 0); // sent without close-on-exec
        const std::array<int, 2> fds{pipe.r, pipe.w};
        {
            auto sent_ = co_await p->first.send_with_fds(asio::buffer("x", 1), fds);
            REQUIRE(sent_);
        }
        char buf[1];
        auto r = co_await p->second.recv_with_fds(asio::buffer(buf), 2);
        REQUIRE(r);
        REQUIRE(r->fds.size() == 2);
        for (const OwnedFd& fd : r->fds) {
            REQUIRE((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
        }
        REQUIRE(same_file(r->fds[0].get(), pipe.r)); // in the order sent
        REQUIRE(same_file(r->fds[1].get(), pipe.w));
    }());
}

TEST_CASE("UnixStream recv_with_fds keeps each send's descriptors with its own bytes",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        auto& [a, b] = *p;
        RawPipe one;
        RawPipe two;
        const std::array<int, 1> first{one.r};
        const std::array<int, 1> second{two.r};
        {
            auto sent_ = co_await a.send_with_fds(asio::buffer("aa", 2), first);
            REQUIRE(sent_);
        }
        {
            auto sent_ = co_await a.send_with_fds(asio::buffer("bb", 2), second);
            REQUIRE(sent_);
        }
        char buf[16];
        auto r1 = co_await b.recv_with_fds(asio::buffer(buf), 4);
        REQUIRE(r1);
        REQUIRE(std::string(buf, r1->bytes) == "aa"); // not merged with "bb"
        REQUIRE(r1->fds.size() == 1);
        REQUIRE(same_file(r1->fds[0].get(), one.r));
        auto r2 = co_await b.recv_with_fds(asio::buffer(buf), 4);
        REQUIRE(r2);
        REQUIRE(std::string(buf, r2->bytes) == "bb");
        REQUIRE(r2->fds.size() == 1);
        REQUIRE(same_file(r2->fds[0].get(), two.r));
    }());
}

TEST_CASE("UnixStream recv_with_fds reads plain bytes with no descriptor",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        {
            auto sent_ = co_await io::write_all(p->first, asio::buffer("plain", 5));
            REQUIRE(sent_);
        }
        char buf[16];
        auto r = co_await p->second.recv_with_fds(asio::buffer(buf), 4);
        REQUIRE(r);
        REQUIRE(std::string(buf, r->bytes) == "plain");
        REQUIRE(r->fds.empty());
    }());
}

TEST_CASE("UnixStream recv_with_fds reads 0 bytes at the end of stream",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        {
            auto sent_ = co_await io::shutdown(p->first);
            REQUIRE(sent_);
        }
        char buf[4];
        auto r = co_await p->second.recv_with_fds(asio::buffer(buf), 4);
        REQUIRE(r);
        REQUIRE(r->bytes == 0);
        REQUIRE(r->fds.empty());
    }());
}

TEST_CASE("UnixStream recv_with_fds with room for fewer descriptors than sent fails with "
          "no_buffer_space and leaks none",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        RawPipe a;
        RawPipe b;
        RawPipe c;
        const std::array<int, 3> fds{a.r, b.r, c.r};
        {
            auto sent_ = co_await p->first.send_with_fds(asio::buffer("t", 1), fds);
            REQUIRE(sent_);
        }
        {
            auto sent_ = co_await io::write_all(p->first, asio::buffer("next", 4));
            REQUIRE(sent_);
        }
        const std::size_t before = open_fds();
        char buf[1];
        auto r = co_await p->second.recv_with_fds(asio::buffer(buf), 1);
        REQUIRE_FALSE(r);
        REQUIRE(r.error() == boost::system::errc::no_buffer_space);
        REQUIRE(open_fds() == before);
        char rest[8];
        auto n = co_await io::read(p->second, asio::buffer(rest)); // the stream goes on
        REQUIRE(n);
        REQUIRE(std::string(rest, *n) == "next");
    }());
}

TEST_CASE("UnixStream send_with_fds with an empty buffer fails with invalid_argument",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        RawPipe pipe;
        const std::array<int, 1> fds{pipe.r};
        auto s = co_await p->first.send_with_fds(asio::const_buffer(), fds);
        REQUIRE_FALSE(s);
        REQUIRE(s.error() == boost::system::errc::invalid_argument);
        char buf[1];
        auto r = co_await p->second.recv_with_fds(asio::mutable_buffer(), 1);
        REQUIRE_FALSE(r);
        REQUIRE(r.error() == boost::system::errc::invalid_argument);
        (void)buf;
    }());
}

TEST_CASE("UnixStream send_with_fds of a closed descriptor fails with bad_file_descriptor",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        int closed;
        {
            RawPipe pipe;
            closed = pipe.r;
        }
        const std::array<int, 1> fds{closed};
        auto s = co_await p->first.send_with_fds(asio::buffer("x", 1), fds);
        REQUIRE_FALSE(s);
        REQUIRE(s.error() == boost::system::errc::bad_file_descriptor);
    }());
}

TEST_CASE("UnixStream send_with_fds of more than 253 descriptors fails with invalid_argument",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        RawPipe pipe;
        const std::vector<int> fds(254, pipe.r);
        auto s = co_await p->first.send_with_fds(asio::buffer("x", 1), fds);
        REQUIRE_FALSE(s);
        REQUIRE(s.error() == boost::system::errc::invalid_argument);
    }());
}

TEST_CASE("UnixStream recv_with_fds future dropped while pending loses neither bytes nor "
          "descriptors",
          "[net][unix_fd][scm_rights][cancel]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixStream::pair();
        REQUIRE(p);
        auto& [a, b] = *p;
        char buf[8];
        {
            auto pending = b.recv_with_fds(asio::buffer(buf), 2);
            auto first = co_await poll_fn<bool>(
                [&](Context& cx) -> Poll<bool> { return Ready{pending.poll(cx).is_pending()}; });
            REQUIRE(first);
        } // dropped with its wait armed
        RawPipe pipe;
        const std::array<int, 1> fds{pipe.w};
        {
            auto sent_ = co_await a.send_with_fds(asio::buffer("kept", 4), fds);
            REQUIRE(sent_);
        }
        auto r = co_await b.recv_with_fds(asio::buffer(buf), 2);
        REQUIRE(r);
        REQUIRE(std::string(buf, r->bytes) == "kept");
        REQUIRE(r->fds.size() == 1);
        REQUIRE(same_file(r->fds[0].get(), pipe.w));
    }());
}

TEST_CASE("descriptors in flight are closed when the receiving UnixStream is dropped unread",
          "[net][unix_fd][scm_rights][io_lifetime]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        RawPipe pipe;
        (void)UnixStream::pair(); // the reactor's own descriptors are made now
        const std::size_t before = open_fds();
        {
            auto p = UnixStream::pair();
            REQUIRE(p);
            const std::array<int, 2> fds{pipe.r, pipe.w};
            {
                auto sent_ = co_await p->first.send_with_fds(asio::buffer("x", 1), fds);
                REQUIRE(sent_);
            }
        }
        REQUIRE(open_fds() == before);
        // No one holds the pipe's ends but `pipe`: closing the write end
        // ends the stream (the copy in flight is gone too).
        ::close(pipe.w);
        pipe.w = ::fcntl(pipe.r, F_DUPFD_CLOEXEC, 0); // for RawPipe's destructor
        REQUIRE(::fcntl(pipe.r, F_SETFL, O_NONBLOCK) == 0);
        char c;
        REQUIRE(::read(pipe.r, &c, 1) == 0);
    }());
}

// ---- descriptor passing on datagrams ------------------------------------------

TEST_CASE("UnixDatagram send_with_fds passes descriptors with a 0-byte datagram",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixDatagram::pair();
        REQUIRE(p);
        RawPipe pipe;
        const std::array<int, 1> fds{pipe.r};
        auto s = co_await p->first.send_with_fds(asio::const_buffer(), fds);
        REQUIRE(s);
        REQUIRE(*s == 0);
        auto r = co_await p->second.recv_with_fds(asio::mutable_buffer(), 1);
        REQUIRE(r);
        REQUIRE(r->bytes == 0);
        REQUIRE(r->fds.size() == 1);
        REQUIRE(same_file(r->fds[0].get(), pipe.r));
    }());
}

TEST_CASE("UnixDatagram recv_with_fds with no room for descriptors fails with no_buffer_space "
          "and consumes the datagram",
          "[net][unix_fd][scm_rights]") {
    Runtime rt;
    rt.block_on([]() -> Async<> {
        auto p = UnixDatagram::pair();
        REQUIRE(p);
        RawPipe pipe;
        const std::array<int, 1> fds{pipe.r};
        {
            auto sent_ = co_await p->first.send_with_fds(asio::buffer("d1", 2), fds);
            REQUIRE(sent_);
        }
        {
            auto sent_ = co_await p->first.send(asio::buffer("d2", 2));
            REQUIRE(sent_);
        }
        const std::size_t before = open_fds();
        char buf[4];
        auto r = co_await p->second.recv_with_fds(asio::buffer(buf), 0);
        REQUIRE_FALSE(r);
        REQUIRE(r.error() == boost::system::errc::no_buffer_space);
        REQUIRE(open_fds() == before);
        auto next = co_await p->second.recv(asio::buffer(buf));
        REQUIRE(next);
        REQUIRE(std::string(buf, *next) == "d2");
    }());
}
