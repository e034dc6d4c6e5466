#pragma once

// A scratch directory per test for the uv::fs tests (libuv's tests work in
// the current directory; ours get a fresh one under $TMPDIR and remove it,
// whatever the test left there), and small helpers around it.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>

namespace pollux::test {

class FsTmpDir {
public:
    FsTmpDir() {
        const char* env = std::getenv("TMPDIR");
        std::string tpl =
            std::string(env != nullptr && *env != '\0' ? env : "/tmp") + "/pollux_uv_fs_XXXXXX";
        REQUIRE(::mkdtemp(tpl.data()) != nullptr);
        path_ = tpl;
    }
    ~FsTmpDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    FsTmpDir(const FsTmpDir&) = delete;
    FsTmpDir& operator=(const FsTmpDir&) = delete;

    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] std::string operator/(std::string_view name) const {
        return path_ + "/" + std::string(name);
    }

private:
    std::string path_;
};

inline void write_whole_file(const std::string& path, std::string_view data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    REQUIRE(out.good());
}

inline std::string read_whole_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace pollux::test
