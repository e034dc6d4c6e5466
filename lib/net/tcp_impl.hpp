#pragma once

// Private to lib/net: what tcp_socket.cpp needs from tcp.cpp.

#include <pollux/net/tcp_stream.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace pollux::net::detail {

/// A connect future over `s`, an open non-blocking socket (made and
/// configured by TcpSocket), to `ep`. A failure of `s` is reported by the
/// first poll (`failed`: the socket could not be wrapped).
TcpConnectFuture connect_socket(boost::asio::ip::tcp::socket s,
                                const boost::asio::ip::tcp::endpoint& ep);
/// A connect future that fails with `ec` on its first poll.
TcpConnectFuture failed_connect(boost::system::error_code ec,
                                const boost::asio::any_io_executor& ex);

} // namespace pollux::net::detail
