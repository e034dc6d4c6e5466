#pragma once

// Private to lib/uv: what Stream's subclasses (tcp.cpp, pipe.cpp, the Tty)
// share with stream.cpp.

#include <pollux/uv/stream.hpp>

#include "../detail/readiness.hpp"

namespace pollux::uv {

template <class IoObject>
void Stream::start_ready_wait(IoObject& io, int direction) {
    pollux::detail::start_callback_wait(ready_,
                                        io,
                                        static_cast<pollux::detail::Direction>(direction),
                                        &Stream::on_ready,
                                        static_cast<Stream*>(this));
}

} // namespace pollux::uv
