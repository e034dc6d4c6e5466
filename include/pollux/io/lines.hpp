#pragma once

/// @file
/// `io::lines(r)`: the lines of a buffered reader as a `Stream` (tokio's
/// `AsyncBufReadExt::lines` with tokio-stream's `LinesStream`), with an
/// optional maximum line length (as tokio-util's `LinesCodec`).

#include <pollux/core/context.hpp>
#include <pollux/core/poll.hpp>
#include <pollux/core/result.hpp>
#include <pollux/detail/config.hpp>
#include <pollux/io/async_buf_read.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/errc.hpp>

#include <cstddef>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>

namespace pollux::io {

/// A `Stream` of the lines of an `AsyncBufRead` it owns: `Item` is
/// `Result<std::string>`, each line without its `\n` (and without a `\r`
/// just before it, tokio's rule). At end of stream, a last line without
/// `\n` is an item too (unless it is empty), then the stream ends.
///
/// The line being read is kept in the `Lines` object, not in a future, so
/// a line that arrives in pieces is assembled across polls.
///
/// Maximum line length: a line (without its `\n`) longer than
/// `max_line_length()` bytes is an item with the error
/// `boost::system::errc::message_size`, and its bytes are discarded up to
/// and including its `\n` (never buffered: at most `max_line_length()` bytes
/// of a line are held), after which the next lines are read normally
/// (tokio-util's `LinesCodec` rule). With the default, `unlimited`, a line
/// grows the string as long as no `\n` comes: give a limit when the peer is
/// not trusted.
///
/// @par Cancel safety
/// `poll_next` is cancel safe: the partial line stays in the `Lines`, so
/// dropping a `next(lines)` future loses nothing (tokio's
/// `Lines::next_line` is cancel safe for the same reason). Dropping the
/// `Lines` drops the partial line and the reader's buffered bytes.
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
/// @par Wakes / resumes on
/// Whatever the reader arranges.
/// @par Errors
/// As items: `errc::message_size` for a line over the limit (the stream
/// goes on); the reader's error, after which the stream ends (the partial
/// line, if any, is dropped).
///
/// @par Example
/// @code
/// auto lines = pollux::io::lines(pollux::io::BufReader(std::move(stream)), 8192);
/// while (auto line = co_await pollux::next(lines)) {
///     if (!*line) { break; }   // too long, or an I/O error
///     handle(**line);
/// }
/// @endcode
template <AsyncBufRead R>
class [[nodiscard("streams do nothing unless polled")]] Lines {
public:
    /// One line, or an error.
    using Item = Result<std::string>;
    /// No maximum line length.
    static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

    /// The lines of `reader`, each at most `max_line_length` bytes long.
    explicit Lines(R reader, std::size_t max_line_length = unlimited)
        : r_(std::move(reader)), max_(max_line_length) {
    }

    /// The next line; see the class.
    Poll<std::optional<Item>> poll_next(Context & cx) {
        using Out = std::optional<Item>;
        for (;;) {
            if (done_) {
                return Ready<Out>{Out()};
            }
            Poll<Result<boost::asio::const_buffer>> p = r_.poll_fill_buf(cx);
            if (p.is_pending()) {
                return Pending{};
            }
            if (!p.value()) {
                done_ = true;
                line_.clear();
                return Ready<Out>{Out(Item(boost::system::in_place_error, p.value().error()))};
            }
            const boost::asio::const_buffer avail = *p.value();
            if (avail.size() == 0) {
                done_ = true;
                if (discarding_ || line_.empty()) {
                    continue;
                }
                return Ready<Out>{Out(take_line())};
            }
            const char* data = static_cast<const char*>(avail.data());
            const void* hit = std::memchr(data, '\n', avail.size());
            const std::size_t body =
                hit != nullptr ? static_cast<std::size_t>(static_cast<const char*>(hit) - data)
                               : avail.size();
            const std::size_t take = hit != nullptr ? body + 1 : body;
            if (discarding_) {
                r_.consume(take);
                discarding_ = hit == nullptr;
                continue;
            }
            if (body > max_ - line_.size()) {
                // Over the limit: report it once, then drop the rest of the
                // line (through its `\n`) without holding it.
                r_.consume(take);
                line_.clear();
                discarding_ = hit == nullptr;
                return Ready<Out>{Out(Item(boost::system::in_place_error,
                                           make_error_code(boost::system::errc::message_size)))};
            }
            line_.append(data, body);
            r_.consume(take);
            if (hit != nullptr) {
                return Ready<Out>{Out(take_line())};
            }
        }
    }

    /// The longest line accepted, in bytes (without its `\n`).
    [[nodiscard]] std::size_t max_line_length() const noexcept {
        return max_;
    }
    /// The reader. Reading from it directly skips the partial line held here.
    [[nodiscard]] R& get_mut() noexcept {
        return r_;
    }
    /// The reader; the partial line held here is lost.
    [[nodiscard]] R into_inner()&& {
        return std::move(r_);
    }

private:
    Item take_line() {
        if (!line_.empty() && line_.back() == '\r') {
            line_.pop_back();
        }
        Item out(std::move(line_));
        line_.clear();
        return out;
    }

    R r_;
    std::string line_; // the line read so far, without its `\n`
    std::size_t max_;
    bool discarding_ = false; // dropping the rest of a line over the limit
    bool done_ = false;       // end of stream or an error was returned
};

/// The lines of `reader` (moved in) as a `Stream` of `Result<std::string>`;
/// see `Lines` for the maximum length, cancel safety and errors.
template <AsyncBufRead R>
[[nodiscard]] Lines<R> lines(R reader, std::size_t max_line_length = Lines<R>::unlimited) {
    return Lines<R>(std::move(reader), max_line_length);
}

} // namespace pollux::io
