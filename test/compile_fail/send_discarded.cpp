// expect-warning: futures do nothing unless awaited or spawned
// A send future dropped unused: nothing is sent.
#include <pollux/codec.hpp>
#include <pollux/net/tcp_stream.hpp>

#include <string>

void caller(pollux::codec::Framed<pollux::net::TcpStream, pollux::codec::LinesCodec>& framed) {
    pollux::send(framed, std::string("lost"));
}
