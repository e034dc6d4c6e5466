#include <pollux/debug/dump.hpp>
#include <pollux/detail/scheduler_service.hpp>
#include <pollux/detail/uring.hpp>

#include <cinttypes>
#include <cstdio>
#include <string>

namespace pollux::debug {

namespace {

detail::SchedulerService& service(boost::asio::execution_context& ctx) {
    return boost::asio::use_service<detail::SchedulerService>(ctx);
}

void append_duration(std::string& out, std::chrono::nanoseconds d) {
    char buf[64];
    const double ns = static_cast<double>(d.count());
    if (ns >= 1e9) {
        std::snprintf(buf, sizeof buf, "%.3f s", ns / 1e9);
    } else if (ns >= 1e6) {
        std::snprintf(buf, sizeof buf, "%.3f ms", ns / 1e6);
    } else {
        std::snprintf(buf, sizeof buf, "%.3f us", ns / 1e3);
    }
    out += buf;
}

void append_site(std::string& out, const std::source_location& site) {
    out += site.file_name();
    out += ':';
    out += std::to_string(site.line());
}

} // namespace

const char* to_string(TaskRunState s) noexcept {
    switch (s) {
    case TaskRunState::idle:
        return "idle";
    case TaskRunState::scheduled:
        return "scheduled";
    case TaskRunState::running:
        return "running";
    case TaskRunState::running_and_notified:
        return "running+notified";
    case TaskRunState::complete:
        return "complete";
    }
    return "?";
}

std::vector<TaskInfo> tasks(boost::asio::execution_context& ctx) {
    return service(ctx).tasks();
}

std::string format_tasks(const std::vector<TaskInfo>& tasks) {
    std::string out = "pollux: " + std::to_string(tasks.size()) +
                      (tasks.size() == 1 ? " live task\n" : " live tasks\n");
    for (const TaskInfo& t : tasks) {
        out += "task " + std::to_string(t.id);
        if (!t.name.empty()) {
            out += " \"" + t.name + '"';
        }
        out += ' ';
        out += to_string(t.state);
        if (t.cancelled) {
            out += " (cancelled)";
        }
        out += ", " + std::to_string(t.polls) + (t.polls == 1 ? " poll" : " polls");
        if (t.since_last_poll) {
            out += ", last poll ";
            append_duration(out, *t.since_last_poll);
            out += " ago, ";
            append_duration(out, t.poll_time);
            out += " in polls";
        }
        out += "\n    spawned at ";
        append_site(out, t.spawn_site);
        if (*t.spawn_site.function_name() != '\0') {
            out += " in ";
            out += t.spawn_site.function_name();
        }
        out += '\n';
        if (t.await_site.line() != 0) {
            out += t.state == TaskRunState::idle ? "    awaiting at " : "    last await at ";
            append_site(out, t.await_site);
            out += '\n';
        }
    }
    return out;
}

std::string dump(boost::asio::execution_context& ctx) {
    return format_tasks(tasks(ctx));
}

RuntimeMetrics metrics(boost::asio::execution_context& ctx) {
    RuntimeMetrics m = service(ctx).metrics();
    const detail::UringMetrics ring = detail::uring_metrics(ctx);
    switch (ring.backend) {
    case detail::UringMetrics::Backend::undecided:
        m.fs_backend = "undecided";
        break;
    case detail::UringMetrics::Backend::io_uring:
        m.fs_backend = "io_uring";
        break;
    case detail::UringMetrics::Backend::pool:
        m.fs_backend = "pool";
        break;
    }
    m.fs_ring_submitted = ring.submitted;
    m.fs_ring_completed = ring.completed;
    return m;
}

void enable_detailed_metrics(boost::asio::execution_context& ctx) {
    service(ctx).enable_detailed_metrics();
}

} // namespace pollux::debug
