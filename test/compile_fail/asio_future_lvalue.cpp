// expect-error: pass the future as an rvalue: std::move(f), or pollux::by_ref(f) to keep it
// An lvalue AsioFuture copied, which its forwarding constructor would take.
#include <pollux/asio.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

void caller(boost::asio::io_context& io) {
    boost::asio::steady_timer timer(io);
    auto f = timer.async_wait(pollux::use_future);
    auto g = f;
    (void)g;
}
