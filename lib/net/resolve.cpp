#include <pollux/net/resolve.hpp>
// Own header(s) first: this proves they are self-contained (STYLE H1).

#include <pollux/asio.hpp>

#include "socket_block.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>

#include <charconv>
#include <memory>
#include <optional>

namespace pollux::net {

namespace {

using tcp = boost::asio::ip::tcp;

// An IP literal host with a numeric port needs no lookup.
std::optional<tcp::endpoint> literal_endpoint(const std::string& host, const std::string& service) {
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(host, ec);
    if (ec) {
        return std::nullopt;
    }
    unsigned port = 0;
    auto [end, err] = std::from_chars(service.data(), service.data() + service.size(), port);
    if (err != std::errc() || end != service.data() + service.size() || port > 65535) {
        return std::nullopt;
    }
    return tcp::endpoint(addr, static_cast<unsigned short>(port));
}

} // namespace

// The resolver lives in the state block (never moved while a lookup is in
// flight); the wait is declared after it so it is destroyed first.
struct ResolveFuture::State {
    using Wait = decltype(std::declval<tcp::resolver&>().async_resolve(
        std::string_view(), std::string_view(), use_future));

    State(std::string h, std::string s) : host(std::move(h)), service(std::move(s)) {}

    std::string host;
    std::string service;
    std::unique_ptr<tcp::resolver> resolver;
    std::optional<Wait> wait;
    bool done = false;
};

ResolveFuture::ResolveFuture(std::string host, std::string service)
    : st_(new State(std::move(host), std::move(service))) {
}

ResolveFuture::ResolveFuture(ResolveFuture&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {
}

ResolveFuture& ResolveFuture::operator=(ResolveFuture&& o) noexcept {
    if (this != &o) {
        delete st_;
        st_ = std::exchange(o.st_, nullptr);
    }
    return *this;
}

ResolveFuture::~ResolveFuture() {
    delete st_;
}

Poll<ResolveFuture::Output> ResolveFuture::poll(Context& cx) {
    POLLUX_ASSERT(st_ != nullptr && !st_->done, "net::resolve polled after it returned Ready");
    State& st = *st_;
    if (!st.wait) {
        if (auto ep = literal_endpoint(st.host, st.service)) {
            st.done = true;
            return Ready<Output>{Output(std::vector<tcp::endpoint>{*ep})};
        }
        st.resolver = std::make_unique<tcp::resolver>(
            detail::executor_or_current(nullptr, "pollux::net::resolve"));
        st.wait.emplace(st.resolver->async_resolve(st.host, st.service, use_future));
    }
    auto p = st.wait->poll(cx);
    if (p.is_pending()) {
        return Pending{};
    }
    st.done = true;
    st.wait.reset();
    auto& r = p.value();
    if (!r) {
        return Ready<Output>{Output(boost::system::in_place_error, r.error())};
    }
    std::vector<tcp::endpoint> out;
    for (const auto& entry : *r) {
        out.push_back(entry.endpoint());
    }
    if (out.empty()) {
        return Ready<Output>{Output(boost::system::in_place_error,
                                    make_error_code(boost::asio::error::host_not_found))};
    }
    return Ready<Output>{Output(std::move(out))};
}

ResolveFuture resolve(std::string_view host, std::string_view service) {
    return ResolveFuture(std::string(host), std::string(service));
}

std::optional<std::pair<std::string, std::string>> split_host_port(std::string_view hp) {
    auto colon = hp.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == hp.size()) {
        return std::nullopt;
    }
    std::string_view host = hp.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    return std::pair<std::string, std::string>(std::string(host),
                                               std::string(hp.substr(colon + 1)));
}

} // namespace pollux::net
