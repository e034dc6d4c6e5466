// parallel_run_callback: runs shell commands read from stdin, at most N at a
// time, written with the libuv-style callback API only (pollux::uv) — the
// way a libuv user would write it, with RAII handles.
//
// What it shows: uv::Process with pipe stdio containers (uv::Pipe) for each
// child's stdout and stderr and `detached`, so that each command leads its
// own process group; reading our stdin with uv::Tty when it is a terminal
// and uv::Pipe otherwise (uv::guess_handle; a regular file is read at once
// with read(2), as libuv programs do with uv_fs_read); uv::Signal for
// SIGINT/SIGTERM and a uv::Timer for the grace period before SIGKILL;
// handles whose memory is released in their close callbacks.
//
// Run:    printf 'echo hi\nexit 3\n' | ./parallel_run_callback [-j N]
// Prints: each command's output lines, prefixed `[i] ` (i: the command's
//         0-based line number; stdout lines on stdout, stderr lines on
//         stderr), then one stderr line per failed command, `[i] exit CODE`
//         or `[i] signal NAME`. Exits 0 if every command succeeded, else 1;
//         (also 1 if reading stdin failed), 2 for a bad command line. N
//         defaults to the number of CPUs.
//         SIGINT/SIGTERM: SIGTERM to each running command's process group,
//         SIGKILL after a grace period, no new command, exit 1.

#include <pollux/uv.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <signal.h>
#include <span>
#include <string.h>
#include <string>
#include <thread>
#include <unistd.h>

namespace uv = pollux::uv;
using namespace std::chrono_literals;

namespace {

// How long a command's process group has after SIGTERM before SIGKILL.
constexpr auto grace_period = 2s;
// Stop reading stdin while this many commands wait for a slot.
constexpr std::size_t max_queued = 1024;

std::optional<std::size_t> parse_args(int argc, char** argv) {
    std::size_t jobs = std::max(1U, std::thread::hardware_concurrency());
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "-j") != 0 || i + 1 == argc) {
            return std::nullopt;
        }
        char* end = nullptr;
        const unsigned long n = std::strtoul(argv[++i], &end, 10);
        if (end == argv[i] || *end != '\0' || n == 0 || n > 100000) {
            return std::nullopt;
        }
        jobs = n;
    }
    return jobs;
}

// Splits `data` into lines, calling `line(text)` (text without '\n') for
// each whole one and keeping the unfinished tail in `partial`.
template <class F>
void split_lines(std::string& partial, std::span<const char> data, F&& line) {
    for (;;) {
        const auto nl = std::find(data.begin(), data.end(), '\n');
        partial.append(data.begin(), nl);
        if (nl == data.end()) {
            return;
        }
        line(partial);
        partial.clear();
        data = data.subspan(static_cast<std::size_t>(nl - data.begin()) + 1);
    }
}

// Writes `[index] line\n` to `to` (bytes as they are, NULs included).
void put_line(std::FILE* to, std::size_t index, const std::string& line) {
    std::fprintf(to, "[%zu] ", index);
    std::fwrite(line.data(), 1, line.size(), to);
    std::fputc('\n', to);
}

class Runner {
public:
    Runner(uv::Loop& loop, std::size_t jobs)
        : loop_(loop), max_jobs_(jobs), sigint_(loop), sigterm_(loop), grace_(loop) {}

    // Starts watching the signals and reading stdin; false on failure.
    bool start() {
        auto stop = [this](int) { interrupt(); };
        if (sigint_.start(stop, SIGINT) || sigterm_.start(stop, SIGTERM)) {
            std::fprintf(stderr, "cannot watch SIGINT/SIGTERM\n");
            return false;
        }
        switch (uv::guess_handle(0)) {
        case uv::HandleType::tty:
            // Its own access to the terminal: our descriptor 0 and its flags
            // stay as they are (the shell's too).
            try {
                input_ = &tty_.emplace(loop_, 0);
            } catch (const boost::system::system_error& e) {
                std::fprintf(stderr, "stdin: %s\n", e.what());
                return false;
            }
            break;
        case uv::HandleType::named_pipe:
            // The pipe handle takes descriptor 0 (and closes it on close).
            input_ = &pipe_.emplace(loop_);
            if (auto ec = pipe_->open(0)) {
                std::fprintf(stderr, "stdin: %s\n", ec.message().c_str());
                return false;
            }
            break;
        default:
            // A regular file (or /dev/null) never makes us wait: read it now.
            return read_input_file();
        }
        return read_input();
    }

    // Exit status: 0 if every command succeeded, else 1. Prints the summary.
    int finish() const {
        for (const auto& [i, what] : failed_) {
            std::fprintf(stderr, "[%zu] %s\n", i, what.c_str());
        }
        return interrupted_ || input_failed_ || !failed_.empty() ? 1 : 0;
    }

private:
    // One command: its process and the pipes of its stdout and stderr. It
    // is done when all three handles are closed (the process reaped, each
    // pipe at end of file), and its memory goes in the last close callback.
    struct Job {
        explicit Job(uv::Loop& loop) : proc(loop), out(loop), err(loop) {}
        uv::Process proc;
        uv::Pipe out;
        uv::Pipe err;
        std::string out_partial;
        std::string err_partial;
        std::size_t index = 0;
        int open = 3;
        std::list<Job>::iterator self;
    };

    bool read_input() {
        if (auto ec = input_->read_start(
                [this](boost::system::error_code ec, std::span<const char> data) {
                    if (ec) {
                        if (ec != boost::asio::error::eof) {
                            // The commands started so far still run to the end.
                            std::fprintf(stderr, "stdin: %s\n", ec.message().c_str());
                            input_failed_ = true;
                        }
                        end_of_input();
                        return;
                    }
                    split_lines(input_partial_, data, [this](const std::string& l) { queue(l); });
                    if (queue_.size() >= max_queued) {
                        input_->read_stop(); // start_more resumes it
                        input_paused_ = true;
                    }
                    start_more();
                })) {
            std::fprintf(stderr, "stdin: %s\n", ec.message().c_str());
            return false;
        }
        return true;
    }

    bool read_input_file() {
        char buf[65536];
        for (;;) {
            const ssize_t n = ::read(0, buf, sizeof buf);
            if (n < 0) {
                std::fprintf(stderr, "stdin: %s\n", std::strerror(errno));
                return false;
            }
            if (n == 0) {
                break;
            }
            split_lines(input_partial_,
                        {buf, static_cast<std::size_t>(n)},
                        [this](const std::string& l) { queue(l); });
        }
        end_of_input();
        return true;
    }

    void queue(const std::string& command) { queue_.emplace_back(next_index_++, command); }

    void end_of_input() {
        if (input_done_) {
            return;
        }
        input_done_ = true;
        if (!input_partial_.empty()) {
            queue(input_partial_); // a last line without '\n'
            input_partial_.clear();
        }
        if (input_ && !input_->is_closing()) {
            input_->close();
        }
        start_more();
    }

    void start_more() {
        while (!interrupted_ && jobs_running_ < max_jobs_ && !queue_.empty()) {
            auto [index, command] = std::move(queue_.front());
            queue_.pop_front();
            start_job(index, command);
        }
        if (input_paused_ && queue_.size() < max_queued / 2 && !input_done_ && !interrupted_) {
            input_paused_ = false;
            (void)read_input();
        }
        maybe_finish();
    }

    void start_job(std::size_t index, const std::string& command) {
        jobs_.emplace_front(loop_);
        Job& job = jobs_.front();
        job.self = jobs_.begin();
        job.index = index;
        ++jobs_running_;
        uv::ProcessOptions o;
        o.file = "/bin/sh";
        o.args = {"sh", "-c", command};
        // detached: setsid, so the command leads its own process group and
        // we can signal all of it (and a terminal's ^C does not reach it).
        o.flags = uv::Process::detached;
        o.stdio = {
            uv::StdioContainer{}, // stdin: /dev/null, reads end of file at once
            {uv::StdioContainer::create_pipe | uv::StdioContainer::writable_pipe, -1, &job.out},
            {uv::StdioContainer::create_pipe | uv::StdioContainer::writable_pipe, -1, &job.err},
        };
        o.exit_cb = [this, &job](std::int64_t status, int sig) {
            if (sig != 0) {
                const char* abbrev = sigabbrev_np(sig);
                failed_[job.index] = "signal " + (abbrev != nullptr ? "SIG" + std::string(abbrev)
                                                                    : std::to_string(sig));
            } else if (status != 0) {
                failed_[job.index] = "exit " + std::to_string(status);
            }
            close_part(job, job.proc);
        };
        if (auto ec = job.proc.spawn(o)) {
            std::fprintf(stderr, "[%zu] cannot start /bin/sh: %s\n", index, ec.message().c_str());
            failed_[index] = "exit 127";
            close_part(job, job.proc);
            close_part(job, job.out);
            close_part(job, job.err);
            return;
        }
        read_output(job, job.out, job.out_partial, stdout);
        read_output(job, job.err, job.err_partial, stderr);
    }

    void read_output(Job& job, uv::Pipe& pipe, std::string& partial, std::FILE* to) {
        auto ec = pipe.read_start([this, &job, &pipe, &partial, to](boost::system::error_code ec,
                                                                    std::span<const char> data) {
            if (ec) {
                if (!partial.empty()) {
                    put_line(to, job.index, partial);
                    std::fflush(to);
                }
                close_part(job, pipe); // end of file (or an error reading)
                return;
            }
            split_lines(partial, data, [&](const std::string& l) { put_line(to, job.index, l); });
            // Whole lines only, each written by this one thread: lines of
            // different commands never mix. The writes block: while our own
            // reader is slow the loop waits, so nothing piles up here.
            std::fflush(to);
        });
        if (ec) {
            close_part(job, pipe);
        }
    }

    void close_part(Job& job, uv::Handle& h) {
        if (h.is_closing()) {
            return;
        }
        h.close([this, &job] {
            if (--job.open == 0) {
                --jobs_running_;
                jobs_.erase(job.self);
                start_more();
            }
        });
    }

    void interrupt() {
        if (interrupted_) {
            return;
        }
        interrupted_ = true;
        queue_.clear();
        if (input_ && !input_->is_closing()) {
            input_->close();
        }
        signal_groups(SIGTERM);
        (void)grace_.start([this] { signal_groups(SIGKILL); }, grace_period);
        maybe_finish();
    }

    // Each running command's process group. Its id is valid while the job
    // is here: the leader is unreaped, or a member holds the pipes open.
    void signal_groups(int sig) {
        for (Job& job : jobs_) {
            if (job.proc.pid() > 0) {
                (void)uv::kill(-job.proc.pid(), sig); // ESRCH: just emptied
            }
        }
    }

    void maybe_finish() {
        if (jobs_running_ != 0 || !(interrupted_ || (input_done_ && queue_.empty()))) {
            return;
        }
        // Nothing left to do: close what keeps the loop alive.
        for (uv::Handle* h : {static_cast<uv::Handle*>(&sigint_),
                              static_cast<uv::Handle*>(&sigterm_),
                              static_cast<uv::Handle*>(&grace_)}) {
            if (!h->is_closing()) {
                h->close();
            }
        }
        if (input_ && !input_->is_closing()) {
            input_->close();
        }
    }

    uv::Loop& loop_;
    std::size_t max_jobs_;
    uv::Signal sigint_;
    uv::Signal sigterm_;
    uv::Timer grace_;
    // Our stdin: one of these, or none for a file; input_ points to it.
    std::optional<uv::Tty> tty_;
    std::optional<uv::Pipe> pipe_;
    uv::Stream* input_ = nullptr;
    std::string input_partial_;
    bool input_paused_ = false;
    bool input_done_ = false;
    bool input_failed_ = false;
    bool interrupted_ = false;
    std::size_t next_index_ = 0;
    std::deque<std::pair<std::size_t, std::string>> queue_;
    std::list<Job> jobs_;
    std::size_t jobs_running_ = 0;
    std::map<std::size_t, std::string> failed_;
};

} // namespace

int main(int argc, char** argv) {
    auto jobs = parse_args(argc, argv);
    if (!jobs) {
        std::fprintf(
            stderr, "usage: %s [-j N]   (N > 0; commands on stdin, one a line)\n", argv[0]);
        return 2;
    }
    uv::Loop loop;
    Runner runner(loop, *jobs);
    if (!runner.start()) {
        return 1;
    }
    loop.run();
    return runner.finish();
}
