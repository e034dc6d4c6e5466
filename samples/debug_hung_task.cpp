// debug_hung_task: a server with a hung task, and how a task dump finds it.
//
// What it shows: `pollux::debug::dump_on_signal`. The server keeps its
// configuration behind an async mutex. The "config_reloader" task takes the
// lock and then waits for a reload that never comes, still holding it (the
// bug); "stats_reporter", and every connection, then wait for the lock
// forever. Nothing crashes, nothing logs: the server just stops answering.
// `kill -USR1 <pid>` prints a dump of every task to stderr, with where each
// was spawned and the `co_await` it is stuck on:
//
//     task 3 "config_reloader" idle, 1 poll
//         spawned at ../samples/debug_hung_task.cpp:NN in ...
//         awaiting at ../samples/debug_hung_task.cpp:NN     <- holds the lock
//     task 4 "stats_reporter" idle, 1 poll
//         awaiting at ../samples/debug_hung_task.cpp:NN     <- config.lock()
//
// Run:    ./debug_hung_task [--host 127.0.0.1] [--port 0]
// Prints: `listening on 127.0.0.1:PORT` (first stdout line, flushed); a task
//         dump on stderr for each SIGUSR1; exits 0 after SIGINT or SIGTERM.
// Try:    kill -USR1 <pid>

#include <pollux/core/async.hpp>
#include <pollux/core/select.hpp>
#include <pollux/debug.hpp>
#include <pollux/io.hpp>
#include <pollux/net.hpp>
#include <pollux/runtime.hpp>
#include <pollux/signal.hpp>
#include <pollux/spawn.hpp>
#include <pollux/sync/mutex.hpp>
#include <pollux/sync/notify.hpp>

#include <csignal>
#include <iostream>
#include <string>

namespace {

struct Options {
    std::string host = "127.0.0.1";
    std::string port = "0";
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--host" || a == "--port") && i + 1 < argc) {
            (a == "--host" ? o.host : o.port) = argv[++i];
        } else {
            std::cerr << "usage: " << argv[0] << " [--host H] [--port P]\n";
            return false;
        }
    }
    return true;
}

struct Server {
    pollux::sync::Mutex<std::string> config{std::string("greeting=hello\n")};
    pollux::sync::Notify reload_requested; // nobody ever notifies it: the bug
};

// Holds the config lock across a wait for something that never happens.
pollux::Async<> config_reloader(Server& s) {
    auto config = co_await s.config.lock();
    co_await s.reload_requested.notified();
    *config = "greeting=reloaded\n";
}

// Needs the lock that the reloader never gives back.
pollux::Async<> stats_reporter(Server& s) {
    auto config = co_await s.config.lock();
    std::cerr << "config is " << config->size() << " bytes\n";
}

// Each connection gets the configured greeting: it hangs just the same.
pollux::Async<> greet(Server& s, pollux::net::TcpStream stream) {
    std::string greeting = *co_await s.config.lock();
    (void)co_await pollux::io::write_all(stream, boost::asio::buffer(greeting));
}

pollux::Async<> accept_loop(Server& s, pollux::net::TcpListener& listener) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (conn) {
            pollux::spawn(greet(s, std::move(conn->first)), "connection");
        }
    }
}

pollux::Async<int> async_main(Options o, Server& server) {
    // Signals first, so one sent as soon as the port is printed is not lost.
    auto sigint = pollux::signal::signal(SIGINT);
    auto sigterm = pollux::signal::signal(SIGTERM);
    auto dumper = pollux::debug::dump_on_signal(SIGUSR1);
    auto listener = pollux::net::TcpListener::bind(o.host + ":" + o.port);
    if (!listener) {
        std::cerr << "bind " << o.host << ":" << o.port << ": " << listener.error().message()
                  << '\n';
        co_return 1;
    }
    auto reloader = pollux::spawn(config_reloader(server), "config_reloader");
    auto reporter = pollux::spawn(stats_reporter(server), "stats_reporter");
    auto addr = listener->local_addr().value();
    std::cout << "listening on " << addr.address().to_string() << ":" << addr.port() << std::endl;
    (void)co_await pollux::select(accept_loop(server, *listener), sigint.recv(), sigterm.recv());
    dumper.abort();
    co_return 0;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        return 2;
    }
    // Outlives the runtime, whose destruction drops the hung tasks that
    // still reference it.
    Server server;
    return pollux::run(async_main(o, server));
}
