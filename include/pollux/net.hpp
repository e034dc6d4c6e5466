#pragma once

/// @file
/// `pollux::net` (tokio's `net` module): `TcpListener`, `TcpStream`,
/// `TcpSocket` (options before bind/listen/connect), `UdpSocket`, `UnixListener`, `UnixStream`
/// (with descriptor passing), `UnixDatagram`, anonymous pipes and FIFOs (`pipe::pipe()`) and
/// `resolve`. Readiness-based sockets and pipes: see docs/net.md. It only
/// includes the headers under `pollux/net/`.

#include <pollux/net/incoming.hpp>
#include <pollux/net/owned_split.hpp>
#include <pollux/net/pipe.hpp>
#include <pollux/net/resolve.hpp>
#include <pollux/net/tcp_listener.hpp>
#include <pollux/net/tcp_socket.hpp>
#include <pollux/net/tcp_stream.hpp>
#include <pollux/net/udp_socket.hpp>
#include <pollux/net/unix_datagram.hpp>
#include <pollux/net/unix_fd.hpp>
#include <pollux/net/unix_listener.hpp>
#include <pollux/net/unix_stream.hpp>
