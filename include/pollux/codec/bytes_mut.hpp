#pragma once

/// @file
/// `codec::BytesMut`: the growable byte buffer that codecs decode from and
/// encode into (a plain, non-shared form of the `bytes` crate's
/// `BytesMut`).

#include <pollux/detail/config.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace pollux::codec {

/// A contiguous byte buffer that is consumed from the front and filled at
/// the back. Consuming (`advance`, `split_to`) moves an offset; the bytes
/// left are moved to the front only when more room is needed at the back
/// and the consumed space is enough, so a buffer that is filled and drained
/// in turn stops allocating once it has reached its working size. Only
/// `reserve` (and what calls it) allocates, and it never allocates more
/// than twice what is asked for in total.
///
/// Unlike the `bytes` crate, `split_to` copies: the result owns its bytes.
///
/// @par Thread safety
/// Distinct objects: safe. Shared objects: unsafe.
class BytesMut {
public:
    /// Empty, with no storage.
    BytesMut() noexcept = default;

    /// Empty, with room for `capacity` bytes (allocated now).
    explicit BytesMut(std::size_t capacity) { reserve(capacity); }

    /// A copy of `bytes`.
    explicit BytesMut(std::string_view bytes) { put(bytes); }

    /// A copy of the bytes (not of the spare room).
    BytesMut(const BytesMut& o) : BytesMut(o.view()) {}
    /// Copies `o`'s bytes into this buffer, reusing its storage if it fits.
    BytesMut& operator=(const BytesMut& o) {
        if (this != &o) {
            clear();
            put(o.view());
        }
        return *this;
    }
    /// Takes `o`'s storage; `o` is left empty with no storage.
    BytesMut(BytesMut&& o) noexcept
        : buf_(std::move(o.buf_)), cap_(std::exchange(o.cap_, 0)), head_(std::exchange(o.head_, 0)),
          tail_(std::exchange(o.tail_, 0)) {}
    /// Takes `o`'s storage; `o` is left empty with no storage.
    BytesMut& operator=(BytesMut&& o) noexcept {
        buf_ = std::move(o.buf_);
        cap_ = std::exchange(o.cap_, 0);
        head_ = std::exchange(o.head_, 0);
        tail_ = std::exchange(o.tail_, 0);
        return *this;
    }
    ~BytesMut() = default;

    /// The number of bytes held.
    [[nodiscard]] std::size_t size() const noexcept { return tail_ - head_; }
    /// True when no byte is held.
    [[nodiscard]] bool empty() const noexcept { return head_ == tail_; }
    /// Bytes that fit without allocating (held plus spare).
    [[nodiscard]] std::size_t capacity() const noexcept { return cap_ - head_; }
    /// The first byte held.
    [[nodiscard]] const char* data() const noexcept { return buf_.get() + head_; }
    /// The first byte held.
    [[nodiscard]] char* data() noexcept { return buf_.get() + head_; }
    /// The bytes held, as a view (invalidated by any change).
    [[nodiscard]] std::string_view view() const noexcept { return {data(), size()}; }
    /// A copy of the bytes held, as a string.
    [[nodiscard]] std::string to_string() const { return std::string(view()); }
    /// Byte `i`. Precondition: `i < size()` (asserts).
    [[nodiscard]] char operator[](std::size_t i) const noexcept {
        POLLUX_ASSERT(i < size(), "BytesMut index out of range");
        return buf_[head_ + i];
    }

    /// Makes room for at least `additional` more bytes at the back: moves
    /// the bytes held to the front if that is enough, else allocates (at
    /// least double the old storage) and copies them.
    /// @par Errors
    /// Throws `std::bad_alloc` if the storage cannot be allocated.
    void reserve(std::size_t additional) {
        if (cap_ - tail_ >= additional) {
            return;
        }
        const std::size_t len = size();
        if (cap_ - len >= additional && buf_ != nullptr) {
            std::memmove(buf_.get(), buf_.get() + head_, len);
            head_ = 0;
            tail_ = len;
            return;
        }
        const std::size_t want = std::max({len + additional, cap_ * 2, std::size_t{64}});
        auto fresh = std::make_unique_for_overwrite<char[]>(want);
        if (len != 0) {
            std::memcpy(fresh.get(), buf_.get() + head_, len);
        }
        buf_ = std::move(fresh);
        cap_ = want;
        head_ = 0;
        tail_ = len;
    }

    /// The spare room at the back, for a read to fill; `commit(n)` then
    /// adds the first `n` of its bytes to the buffer.
    [[nodiscard]] char* spare_data() noexcept { return buf_.get() + tail_; }
    /// The size of `spare_data()`'s room.
    [[nodiscard]] std::size_t spare_size() const noexcept { return cap_ - tail_; }
    /// Adds `n` bytes written into `spare_data()`. Precondition:
    /// `n <= spare_size()` (asserts).
    void commit(std::size_t n) noexcept {
        POLLUX_ASSERT(n <= cap_ - tail_, "BytesMut::commit past the spare room");
        tail_ += n;
    }

    /// Appends `bytes`.
    void put(std::string_view bytes) {
        reserve(bytes.size());
        if (!bytes.empty()) {
            std::memcpy(buf_.get() + tail_, bytes.data(), bytes.size());
        }
        tail_ += bytes.size();
    }
    /// Appends one byte.
    void put_u8(std::uint8_t b) {
        reserve(1);
        buf_[tail_++] = static_cast<char>(b);
    }
    /// Appends the low `nbytes` bytes of `v` (1 to 8), most significant
    /// first when `big_endian` (the `bytes` crate's `put_uint`/`put_uint_le`).
    void put_uint(std::uint64_t v, std::size_t nbytes, bool big_endian = true) {
        POLLUX_ASSERT(nbytes >= 1 && nbytes <= 8, "BytesMut::put_uint of 1 to 8 bytes");
        reserve(nbytes);
        for (std::size_t i = 0; i < nbytes; ++i) {
            const std::size_t shift = 8 * (big_endian ? nbytes - 1 - i : i);
            buf_[tail_ + i] = static_cast<char>((v >> shift) & 0xff);
        }
        tail_ += nbytes;
    }
    /// The unsigned integer in the `nbytes` bytes (1 to 8) at `offset`.
    /// Precondition: `offset + nbytes <= size()` (asserts).
    [[nodiscard]] std::uint64_t
    get_uint(std::size_t offset, std::size_t nbytes, bool big_endian = true) const noexcept {
        POLLUX_ASSERT(nbytes >= 1 && nbytes <= 8 && offset + nbytes <= size(),
                      "BytesMut::get_uint out of range");
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < nbytes; ++i) {
            const auto b = static_cast<std::uint64_t>(static_cast<unsigned char>(
                buf_[head_ + offset + (big_endian ? i : nbytes - 1 - i)]));
            v = (v << 8) | b;
        }
        return v;
    }

    /// Drops the first `n` bytes. Precondition: `n <= size()` (asserts).
    void advance(std::size_t n) noexcept {
        POLLUX_ASSERT(n <= size(), "BytesMut::advance past the end");
        head_ += n;
        if (head_ == tail_) {
            head_ = tail_ = 0; // empty: the whole storage is spare again
        }
    }
    /// The first `n` bytes, removed from this buffer (a copy: allocates
    /// for `n` bytes). Precondition: `n <= size()` (asserts).
    [[nodiscard]] BytesMut split_to(std::size_t n) {
        POLLUX_ASSERT(n <= size(), "BytesMut::split_to past the end");
        BytesMut out(std::string_view(data(), n));
        advance(n);
        return out;
    }
    /// Keeps the first `n` bytes (no-op if `n >= size()`).
    void truncate(std::size_t n) noexcept {
        if (n == 0) {
            clear();
        } else if (n < size()) {
            tail_ = head_ + n;
        }
    }
    /// Drops every byte; keeps the storage.
    void clear() noexcept { head_ = tail_ = 0; }

    /// True when the bytes held are `s`.
    friend bool operator==(const BytesMut& b, std::string_view s) noexcept { return b.view() == s; }
    /// True when both hold the same bytes.
    friend bool operator==(const BytesMut& a, const BytesMut& b) noexcept {
        return a.view() == b.view();
    }
    /// Prints the bytes held, so test frameworks can print them.
    friend std::ostream& operator<<(std::ostream& os, const BytesMut& b) { return os << b.view(); }

private:
    // Storage [0, cap_); the bytes held are [head_, tail_); [tail_, cap_) is
    // spare. head_ == tail_ implies both are 0 (advance resets them).
    std::unique_ptr<char[]> buf_;
    std::size_t cap_ = 0;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
};

} // namespace pollux::codec
