#pragma once

// `TempDir`: a fresh directory under the system's temporary directory,
// removed with everything in it when the object goes away; and small file
// helpers for the file-watching tests.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace pollux::test {

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "pollux-fs-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::string operator/(const std::string& name) const {
        return (path_ / name).string();
    }

private:
    std::filesystem::path path_;
};

// libuv's create_file: an empty file (truncated if it exists).
inline void create_file(const std::string& path) {
    std::ofstream f(path, std::ios::trunc);
    REQUIRE(f.good());
}

// libuv's touch_file: appends one byte (a modification).
inline void touch_file(const std::string& path) {
    std::ofstream f(path, std::ios::app);
    REQUIRE(f.good());
    f << 'x';
}

} // namespace pollux::test
