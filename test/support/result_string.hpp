#pragma once

// Catch2 prints a `pollux::Result<T>` in failure messages as its error, or
// "ok" (boost::system::result's own operator<< needs T to be printable,
// which vectors and sockets are not).

#include <boost/system/result.hpp>
#include <catch2/catch.hpp>

#include <string>

namespace Catch {

template <class T>
struct StringMaker<boost::system::result<T, boost::system::error_code>> {
    static std::string convert(const boost::system::result<T, boost::system::error_code>& r) {
        return r ? std::string("ok") : "error: " + r.error().message();
    }
};

} // namespace Catch
