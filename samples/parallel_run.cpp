// parallel_run: runs shell commands read from stdin, at most N at a time,
// written with `Async` coroutines and `pollux::process`.
//
// What it shows: `process::Command` with piped stdout and stderr, an empty
// stdin and its own process group; reading the children's output and our
// stdin line by line with `io::BufReader`; a `sync::Semaphore` as the limit
// of commands in flight and a `JoinSet` of the command tasks; and a
// graceful stop: on SIGINT or SIGTERM each running command's whole process
// group gets SIGTERM, then SIGKILL after a grace period, and the program
// exits once every child is reaped.
//
// Run:    printf 'echo hi\nexit 3\n' | ./parallel_run [-j N]
// Prints: each command's output lines, prefixed `[i] ` (i: the command's
//         0-based line number; stdout lines on stdout, stderr lines on
//         stderr), then one stderr line per failed command, `[i] exit CODE`
//         or `[i] signal NAME`. Exits 0 if every command succeeded, else 1;
//         (also 1 if reading stdin failed), 2 for a bad command line. N
//         defaults to the number of CPUs.

#include <pollux/core/async.hpp>
#include <pollux/core/join.hpp>
#include <pollux/core/select.hpp>
#include <pollux/io.hpp>
#include <pollux/join_set.hpp>
#include <pollux/process.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/sync/mutex.hpp>
#include <pollux/sync/semaphore.hpp>
#include <pollux/time.hpp>

#include <boost/asio/buffer.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <signal.h>
#include <string.h>
#include <string>
#include <thread>
#include <utility>

namespace io = pollux::io;
namespace process = pollux::process;
using namespace std::chrono_literals;

namespace {

// How long a command's process group has after SIGTERM before SIGKILL.
constexpr auto grace_period = 2s;

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

// "exit 3" or "signal SIGTERM" for a failed command, nullopt for success.
std::optional<std::string> failure(const process::ExitStatus& status) {
    if (auto code = status.code()) {
        return *code == 0 ? std::nullopt
                          : std::optional<std::string>("exit " + std::to_string(*code));
    }
    const int sig = status.signal().value_or(0);
    const char* abbrev = sigabbrev_np(sig);
    return "signal " + (abbrev != nullptr ? "SIG" + std::string(abbrev) : std::to_string(sig));
}

// What the command tasks share. Everything runs on the one thread of
// `pollux::run`, so no locks: the mutexes below only keep each output line
// whole while a write of it waits for a slow reader of our output.
struct State {
    explicit State(io::StdStream out, io::StdStream err)
        : out(std::move(out)), err(std::move(err)) {}

    pollux::sync::Mutex<io::StdStream> out;
    pollux::sync::Mutex<io::StdStream> err;
    // The process group of each command that may still have members: from
    // its spawn until its output pipes are closed and it is reaped. Its
    // group id stays valid while it is here: the leader is not reaped yet,
    // or a member still holds the pipes open.
    std::map<std::size_t, int> running;
    // index -> "exit 3" / "signal SIGTERM", in index order.
    std::map<std::size_t, std::string> failed;
    // Reading our stdin failed (the exit status is then 1).
    bool input_failed = false;
};

// Writes `text` to `stream` whole: no other task's write comes in between.
pollux::Async<> put_text(pollux::sync::Mutex<io::StdStream>& stream, std::string text) {
    auto guard = co_await stream.lock();
    (void)co_await io::write_all(*guard, boost::asio::buffer(text));
}

// Writes `line` (which ends in '\n') to `stream` whole, prefixed `[i] `.
pollux::Async<>
put_line(pollux::sync::Mutex<io::StdStream>& stream, std::size_t i, const std::string& line) {
    co_await put_text(stream, "[" + std::to_string(i) + "] " + line);
}

// Copies one of a child's output pipes to `stream`, line by line, until the
// pipe is closed (by every process that held it: a background job of the
// command keeps it open).
template <class Pipe>
pollux::Async<> copy_lines(Pipe pipe, pollux::sync::Mutex<io::StdStream>& stream, std::size_t i) {
    io::BufReader reader(std::move(pipe));
    std::string line;
    for (;;) {
        line.clear();
        auto n = co_await reader.read_line(line);
        if (!n || *n == 0) {
            co_return; // end of output, or an error reading it
        }
        if (line.back() != '\n') {
            line += '\n'; // a last line without a newline
        }
        co_await put_line(stream, i, line);
    }
}

// Runs command `i` to completion; the permit frees its slot on return.
pollux::Async<> run_command(std::shared_ptr<State> st,
                            std::size_t i,
                            std::string command,
                            pollux::sync::OwnedSemaphorePermit permit) {
    (void)permit;
    process::Command cmd("/bin/sh");
    cmd.arg("-c").arg(command);
    cmd.stdin(process::Stdio::null())
        .stdout(process::Stdio::piped())
        .stderr(process::Stdio::piped())
        .process_group(0); // its own group: we signal the whole of it
    auto child = cmd.spawn();
    if (!child) {
        co_await put_line(st->err, i, "cannot start /bin/sh: " + child.error().message() + "\n");
        st->failed[i] = "exit 127";
        co_return;
    }
    st->running[i] = static_cast<int>(*child->id());
    auto out = std::move(*child->stdout);
    auto err = std::move(*child->stderr);
    auto [copied, status] =
        co_await pollux::join(pollux::join(copy_lines(std::move(out), st->out, i),
                                           copy_lines(std::move(err), st->err, i)),
                              child->wait());
    (void)copied;
    st->running.erase(i);
    if (!status) {
        st->failed[i] = "wait: " + status.error().message();
    } else if (auto f = failure(*status)) {
        st->failed[i] = *f;
    }
}

// Reads commands from stdin and starts each when a slot is free, then waits
// for all of them. Dropping it stops reading and starting (the commands'
// tasks live on in `tasks`).
pollux::Async<> feed(std::shared_ptr<State> st, std::size_t jobs, pollux::JoinSet<void>& tasks) {
    auto in = io::stdin();
    if (!in) {
        st->input_failed = true;
        co_await put_text(st->err, "stdin: " + in.error().message() + "\n");
        co_return;
    }
    io::BufReader reader(std::move(*in));
    auto slots = std::make_shared<pollux::sync::Semaphore>(jobs);
    std::string line;
    for (std::size_t i = 0;; ++i) {
        line.clear();
        auto n = co_await reader.read_line(line);
        if (!n) {
            // The commands started so far still run to the end.
            st->input_failed = true;
            co_await put_text(st->err, "stdin: " + n.error().message() + "\n");
            break;
        }
        if (*n == 0) {
            break; // end of input
        }
        if (line.back() == '\n') {
            line.pop_back();
        }
        auto permit = co_await pollux::sync::Semaphore::acquire_owned(slots);
        tasks.spawn(run_command(st, i, line, std::move(*permit)));
    }
    while (co_await tasks.join_next()) {
    }
}

void signal_all(const State& st, int sig) {
    for (const auto& [i, group] : st.running) {
        (void)i;
        ::kill(-group, sig); // ESRCH: the group has just emptied
    }
}

pollux::Async<int> async_main(std::size_t jobs) {
    // Registered first, so that no signal is missed.
    auto sigint = pollux::signal::signal(SIGINT);
    auto sigterm = pollux::signal::signal(SIGTERM);
    auto out = io::stdout();
    auto err = io::stderr();
    if (!out || !err) {
        std::fprintf(stderr, "cannot open stdout/stderr\n");
        co_return 1;
    }
    auto st = std::make_shared<State>(std::move(*out), std::move(*err));
    pollux::JoinSet<void> tasks;
    auto first = co_await pollux::select(feed(st, jobs, tasks), sigint.recv(), sigterm.recv());
    const bool interrupted = first.index() != 0;
    if (interrupted) {
        // Start no more; end the running commands, the whole group of each.
        signal_all(*st, SIGTERM);
        auto drain = [&]() -> pollux::Async<> {
            while (co_await tasks.join_next()) {
            }
        };
        auto done = co_await pollux::select(drain(), pollux::time::sleep(grace_period));
        if (done.index() != 0) {
            signal_all(*st, SIGKILL);
            co_await drain();
        }
    }
    for (const auto& [i, what] : st->failed) {
        co_await put_line(st->err, i, what + "\n");
    }
    co_return interrupted || st->input_failed || !st->failed.empty() ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    auto jobs = parse_args(argc, argv);
    if (!jobs) {
        std::fprintf(
            stderr, "usage: %s [-j N]   (N > 0; commands on stdin, one a line)\n", argv[0]);
        return 2;
    }
    return pollux::run(async_main(*jobs));
}
