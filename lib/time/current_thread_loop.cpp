#include <pollux/detail/virtual_clock.hpp>
#include <pollux/time/pause.hpp>

#include "clock_state.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace pollux::detail {

// Two forms, switched whenever the clock is paused or resumed:
//
// Unpaused: one long run(), not a loop of run_one(): Asio keeps its
// per-thread recycling cache for the length of one run call, so one long run
// is what makes steady-state operations allocation-free. The main task stops
// the context when it finishes; pause() stops it through the RealTimeRun
// registration; a stop() from anyone else just loops.
//
// Paused (auto-advance, tokio's start_paused): poll() runs every ready
// handler; when none ran and the main task is not done, every task is idle,
// so the clock jumps to the earliest virtual deadline, which wakes its
// waiters. With no virtual timer, only real I/O or another thread can wake a
// task: run_one() blocks for it. poll() also polls the reactor without
// blocking, so I/O that is ready is handled before the clock jumps; I/O that
// takes real time does not hold the clock back.
void drive_current_thread(boost::asio::io_context& io, bool (*done)(const void*), const void* arg) {
    auto guard = boost::asio::make_work_guard(io);
    while (!done(arg)) {
        io.restart();
        if (!time::is_paused()) {
            RealTimeRun registered(io);
            if (!time::is_paused()) { // a pause() before the registration
                io.run();
            }
            continue;
        }
        if (io.poll() > 0 || done(arg)) {
            continue;
        }
        if (std::optional<time::Instant> next = next_paused_deadline()) {
            (void)advance_paused_clock_if_paused(*next);
            continue;
        }
        io.restart();
        io.run_one();
    }
}

} // namespace pollux::detail
