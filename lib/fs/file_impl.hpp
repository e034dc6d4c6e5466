#pragma once

// The state of an fs::File, shared by the File, the futures of its
// operations, and the pool job of the operation in flight.
//
// Ownership: a shared_ptr. The File holds one reference; each pool job holds
// one through its completion callback (so a File dropped with an operation
// in flight, on any thread, leaves the job a live buffer and descriptor);
// FileOpFuture, PositionalFuture and their jobs hold one each. The last one
// closes the descriptor (~FileImpl), whichever thread that is.
//
// Fields in three groups:
// - `fd`, `max_buf`: set at creation; `fd` only changes in `into_fd` (which
//   first checks that nobody else holds the block).
// - Owner fields (`busy`, `flight`, sequence numbers, the saved errors,
//   `len`/`pos`): touched only by the thread polling the File (tokio's
//   `&mut self`), never by a job.
// - The buffers `buf` and `ahead_buf`, `st` and `kind`: the job of the
//   operation in flight owns what it writes from submission until it
//   publishes `done`; the owner touches them only while `busy` is false,
//   except `buf` while the flight is a read-ahead (which writes only
//   `ahead_buf`): the caller's bytes are copied out of `buf` while the next
//   read runs (see "Read-ahead" below). `done`, `res` and `waker` are guarded by `mutex`:
//   the job writes `res`, sets `done` and takes the waker under it, then
//   wakes outside; the owner reads `done` and `res` under it, which orders
//   the job's writes to `buf`/`st` before the owner's reads.
//
// Transitions: idle (busy=false) -> submit -> busy; busy + done -> (owner's
// complete()) -> idle. Exactly one operation is in flight at a time; every
// operation first drives the one before it to idle, so they take effect in
// the order they were started (the write before a read, a write before the
// fsync that follows it).
//
// Read-ahead (the worker pool only; docs/fs.md "Read-ahead"): once a
// regular file has been read sequentially (two reads in a row that got all
// they asked for), each read that hands out bytes of `buf` first starts the
// next read, of twice the caller's read size (at most `max_buf`), into
// `ahead_buf` (Flight::read_ahead), so the
// pool's read(2) runs while the loop copies out. The descriptor's position
// then runs ahead of the caller's by `len - pos + ahead_len` bytes (plus
// the read in flight); every operation that needs the caller's position
// first waits for the flight and gives those bytes back (lseek). A
// read-ahead that fails, finds the end of the file or is abandoned unrun
// at shutdown leaves nothing ahead: the read that gets there reads again
// itself, so it sees what a read without read-ahead would (new bytes of a
// file that grew, the error if it persists).

#include <pollux/core/waker.hpp>
#include <pollux/fs/file.hpp>

#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

namespace pollux::fs::detail {

inline constexpr std::size_t default_max_buf_size = 2 * 1024 * 1024;

enum class Flight : std::uint8_t { none, read, read_ahead, write, other };

// What the descriptor is, learnt by the first pool read (fstat): only
// regular files are read ahead (a pipe's or a terminal's bytes, once read,
// cannot be given back by a seek).
enum class FileKind : std::uint8_t { unknown, regular, other };

// A job's result handed from the thread that ran it to the one polling
// for it: `done`, `res` and `waker` are guarded by `mutex`. The job's
// completion stores the result, sets `done` and takes the waker under the
// lock, then wakes outside it; the poller reads `done` and `res` (or
// registers its waker) under the same lock, which orders the job's other
// writes before the poller's reads. The File's operation in flight and
// each read_at/write_at have one.
struct CompletionSlot {
    std::mutex mutex;
    bool done = false;
    std::int64_t res = 0;
    Waker waker = Waker::noop();

    // Called by the job's completion (any thread).
    void finish(std::int64_t r) { settle(r).wake(); }

    // Called when the job is destroyed unrun (its pool shut down first):
    // completes with `r` without waking (the waiting task, if any, belongs
    // to the runtime going away); the waker is dropped on this thread.
    void abandon(std::int64_t r) { (void)settle(r); }

protected:
    // Records the result and hands back the waiting task's waker, to be
    // woken or dropped outside the lock.
    Waker settle(std::int64_t r) {
        Waker w = Waker::noop();
        std::lock_guard lock(mutex);
        res = r;
        done = true;
        w = std::move(waker);
        return w;
    }
};

struct FileImpl : std::enable_shared_from_this<FileImpl>, CompletionSlot {
    explicit FileImpl(int fd_) noexcept : fd(fd_) {}
    FileImpl(const FileImpl&) = delete;
    FileImpl& operator=(const FileImpl&) = delete;
    ~FileImpl() {
        if (fd >= 0) {
            ::close(fd);
        }
    }

    int fd;
    std::size_t max_buf = default_max_buf_size;
    // read_at/write_at in flight (they do not go through `busy`); into_fd
    // refuses while any runs. ORDERING: relaxed is enough: into_fd runs on
    // the owner's thread, which also made each increment; a decrement it
    // misses only makes it refuse once more.
    std::atomic<std::size_t> positional{0};
    // The scheduler of the last context a positional read found without a
    // ring: pool_only's answer cached, since asking takes Asio's service
    // registry lock and the ring service's. Only "no ring" is cached, which
    // stays true for a context once decided; a stale hit (another context
    // made at the same address) sends the read to that context's pool,
    // which is always correct.
    std::atomic<const void*> pool_only_sched{nullptr};

    // Owner fields.
    bool busy = false;
    Flight flight = Flight::none;
    std::uint64_t next_seq = 0;
    std::uint64_t flight_seq = 0;
    std::uint64_t completed_seq = 0;
    std::int64_t completed_res = 0;
    std::optional<boost::system::error_code> last_write_err;
    std::optional<boost::system::error_code> read_err;
    bool eof = false;            // the last read completed with 0 bytes, not yet reported
    std::size_t len = 0;         // bytes read ahead into buf ...
    std::size_t pos = 0;         // ... of which the caller has taken this many
    std::size_t ahead_len = 0;   // bytes of a completed read-ahead in ahead_buf
    std::size_t flight_len = 0;  // bytes the read in flight asked for
    std::size_t read_size = 0;   // what the caller's last pool read asked for
    std::uint8_t full_reads = 0; // reads in a row that got all they asked (at most 2)

    // Owned by the job in flight.
    std::unique_ptr<std::byte[]> buf;
    std::size_t cap = 0;
    std::unique_ptr<std::byte[]> ahead_buf;
    std::size_t ahead_cap = 0;
    struct stat st {};
    FileKind kind = FileKind::unknown;
};

} // namespace pollux::fs::detail
