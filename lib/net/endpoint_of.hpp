#pragma once

// Private to lib/net: an Asio socket's or acceptor's local and peer
// endpoints as Results, for every net type's local_addr/peer_addr.

#include <pollux/core/result.hpp>

#include <boost/system/error_code.hpp>

namespace pollux::net::detail {

template <class Socket>
Result<typename Socket::endpoint_type> local_endpoint_of(const Socket& s) {
    boost::system::error_code ec;
    auto ep = s.local_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

template <class Socket>
Result<typename Socket::endpoint_type> remote_endpoint_of(const Socket& s) {
    boost::system::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) {
        return ec;
    }
    return ep;
}

} // namespace pollux::net::detail
