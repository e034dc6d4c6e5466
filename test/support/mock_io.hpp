#pragma once

// Scripted io::AsyncRead / io::AsyncWrite doubles for the codec tests (the
// in-memory duplex of pollux::io is not used here on purpose: these give
// exact control over chunking, Pending and end of stream).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/core/waker.hpp>

#include <boost/asio/buffer.hpp>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>

namespace pollux::test {

// Reads its chunks one per poll_read (a chunk larger than the buffer is
// split), then end of stream; Pending (keeping the waker) while `hold` is set.
struct ScriptReader {
    std::deque<std::string> chunks;
    bool hold = false;
    std::optional<Waker> waker;
    std::size_t reads = 0;
    std::size_t bytes = 0;

    Poll<Result<std::size_t>> poll_read(Context& cx, boost::asio::mutable_buffer buf) {
        ++reads;
        if (hold) {
            waker = cx.waker();
            return Pending{};
        }
        if (chunks.empty()) {
            return Ready<Result<std::size_t>>{std::size_t{0}};
        }
        std::string& c = chunks.front();
        const std::size_t n = boost::asio::buffer_copy(buf, boost::asio::buffer(c));
        c.erase(0, n);
        if (c.empty()) {
            chunks.pop_front();
        }
        bytes += n;
        return Ready<Result<std::size_t>>{n};
    }
    void release() {
        hold = false;
        if (waker) {
            Waker w = std::move(*waker);
            waker.reset();
            std::move(w).wake();
        }
    }
};

// Fills every read with `fill` bytes, after a `prefix` and up to `limit`
// bytes in all, then `suffix`, then end of stream: a peer that sends a huge
// line or frame.
struct EndlessReader {
    std::string prefix;
    char fill = 'a';
    std::size_t limit = static_cast<std::size_t>(-1);
    std::string suffix;
    std::size_t bytes = 0; // handed out so far, prefix included

    Poll<Result<std::size_t>> poll_read(Context&, boost::asio::mutable_buffer buf) {
        auto* out = static_cast<char*>(buf.data());
        std::size_t n = 0;
        while (n < buf.size()) {
            if (bytes < prefix.size()) {
                out[n++] = prefix[bytes++];
            } else if (bytes < limit) {
                const std::size_t k = std::min(buf.size() - n, limit - bytes);
                std::fill_n(out + n, k, fill);
                n += k;
                bytes += k;
            } else if (bytes - limit < suffix.size()) {
                out[n++] = suffix[bytes - limit];
                ++bytes;
            } else {
                break;
            }
        }
        return Ready<Result<std::size_t>>{n};
    }
};

// A writer that takes at most `max_write` bytes per poll_write while `open`,
// and is Pending (keeping the waker) while not; counts flushes and shutdowns.
struct GateWriter {
    std::string data;
    std::size_t max_write = static_cast<std::size_t>(-1);
    bool open = true;
    bool zero = false; // accept 0 bytes
    std::optional<Waker> waker;
    int flushes = 0;
    int shutdowns = 0;

    Poll<Result<std::size_t>> poll_write(Context& cx, boost::asio::const_buffer buf) {
        if (!open) {
            waker = cx.waker();
            return Pending{};
        }
        if (zero) {
            return Ready<Result<std::size_t>>{std::size_t{0}};
        }
        const std::size_t n = std::min(buf.size(), max_write);
        data.append(static_cast<const char*>(buf.data()), n);
        return Ready<Result<std::size_t>>{n};
    }
    Poll<Result<void>> poll_flush(Context&) {
        ++flushes;
        return Ready<Result<void>>{Result<void>()};
    }
    Poll<Result<void>> poll_shutdown(Context&) {
        ++shutdowns;
        return Ready<Result<void>>{Result<void>()};
    }
    void unblock() {
        open = true;
        if (waker) {
            Waker w = std::move(*waker);
            waker.reset();
            std::move(w).wake();
        }
    }
};

} // namespace pollux::test
