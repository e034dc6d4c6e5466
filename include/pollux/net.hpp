#pragma once

/// @file
/// `pollux::net` (tokio's `net` module): `TcpListener`, `TcpStream`,
/// `UdpSocket`, `UnixListener`, `UnixStream` and `resolve`. Readiness-based
/// sockets: see docs/net.md. It only includes the headers under
/// `pollux/net/`.

#include <pollux/net/resolve.hpp>
#include <pollux/net/tcp_listener.hpp>
#include <pollux/net/tcp_stream.hpp>
#include <pollux/net/udp_socket.hpp>
#include <pollux/net/unix_listener.hpp>
#include <pollux/net/unix_stream.hpp>
