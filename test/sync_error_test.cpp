#include <pollux/sync/error.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>

using namespace pollux::sync;

TEST_CASE("sync errc codes belong to the pollux.sync category", "[sync][error]") {
    boost::system::error_code ec = errc::closed;
    REQUIRE(ec.category() == category());
    REQUIRE(std::string(ec.category().name()) == "pollux.sync");
    REQUIRE(ec.message() == "channel closed");
    REQUIRE(make_error_code(TryRecvError::empty) == make_error_code(errc::empty));
    REQUIRE(make_error_code(TryAcquireError::no_permits) == errc::no_permits);
    REQUIRE(make_error_code(TryLockError::would_block) == errc::would_block);
}

TEST_CASE("SendResult hands a move-only value back", "[sync][error]") {
    SendResult<SendError<std::unique_ptr<int>>> r =
        SendError<std::unique_ptr<int>>{std::make_unique<int>(7)};
    REQUIRE_FALSE(r);
    REQUIRE(r.code() == errc::closed);
    std::unique_ptr<int> back = std::move(r).error().value;
    REQUIRE(*back == 7);
    REQUIRE_THROWS_AS(r.value(), boost::system::system_error);

    SendResult<SendError<int>> ok;
    REQUIRE(ok);
    REQUIRE_NOTHROW(ok.value());
}

TEST_CASE("TrySendError compares with its kind", "[sync][error]") {
    TrySendError<int> e{TrySendErrorKind::full, 3};
    REQUIRE(e == TrySendError<int>::full);
    REQUIRE(e.is_full());
    REQUIRE_FALSE(e.is_closed());
    REQUIRE(e.code() == errc::full);
}
