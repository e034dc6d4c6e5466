#pragma once

// `Counted`: a value that counts its constructions, copies, moves and
// destructions (cppcoro's test/counted.hpp), so tests can assert that a
// future's output is destroyed exactly once and never copied behind the
// user's back.

#include <cstddef>

namespace pollux::test {

struct Counted {
    static inline std::size_t default_constructions = 0;
    static inline std::size_t value_constructions = 0;
    static inline std::size_t copies = 0;
    static inline std::size_t moves = 0;
    static inline std::size_t destructions = 0;

    /// Zeroes every counter; call at the start of each test case.
    static void reset() {
        default_constructions = value_constructions = copies = moves = destructions = 0;
    }
    static std::size_t constructions() {
        return default_constructions + value_constructions + copies + moves;
    }
    /// Objects alive now.
    static std::ptrdiff_t alive() {
        return static_cast<std::ptrdiff_t>(constructions()) -
               static_cast<std::ptrdiff_t>(destructions);
    }

    int id = -1;

    Counted() { ++default_constructions; }
    explicit Counted(int i) : id(i) { ++value_constructions; }
    Counted(const Counted& o) : id(o.id) { ++copies; }
    Counted(Counted&& o) noexcept : id(o.id) {
        o.id = -1;
        ++moves;
    }
    Counted& operator=(const Counted& o) {
        id = o.id;
        ++copies;
        return *this;
    }
    Counted& operator=(Counted&& o) noexcept {
        id = o.id;
        o.id = -1;
        ++moves;
        return *this;
    }
    ~Counted() { ++destructions; }
};

} // namespace pollux::test
