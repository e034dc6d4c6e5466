#include "fd_in_use.hpp"

#include <pollux/uv/pipe.hpp>
#include <pollux/uv/poll.hpp>
#include <pollux/uv/tcp.hpp>
#include <pollux/uv/udp.hpp>

namespace pollux::uv::detail {

bool fd_in_use(Loop& loop, int fd) {
    bool found = false;
    walk(loop, [&](Handle& h) {
        if (found || h.is_closing()) {
            return;
        }
        int held = -1;
        if (auto* t = dynamic_cast<Tcp*>(&h)) {
            held = t->socket().is_open() ? t->socket().native_handle() : -1;
        } else if (auto* u = dynamic_cast<Udp*>(&h)) {
            held = u->socket().is_open() ? u->socket().native_handle() : -1;
        } else if (auto* p = dynamic_cast<Pipe*>(&h)) {
            held = p->fd();
        } else if (auto* q = dynamic_cast<Poll*>(&h)) {
            held = q->fd();
        }
        found = held >= 0 && held == fd;
    });
    return found;
}

} // namespace pollux::uv::detail
