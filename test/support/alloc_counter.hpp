#pragma once

// Counts heap allocations for the allocation tests: replaces the global
// operator new (and interposes aligned_alloc, which Asio's recycling
// allocator uses for fresh memory). Include it in exactly one translation
// unit of a test executable of its own; the sanitizers' allocators do not
// combine with it, so test/meson.build builds these tests without them.

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <stdlib.h>

namespace pollux::test {
/// Allocations made so far by this process.
inline std::atomic<std::size_t> allocations{0};
} // namespace pollux::test

void* operator new(std::size_t n) {
    pollux::test::allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    return operator new(n);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}

// Interposes the C library's aligned_alloc for this executable; the memory
// is freed with free(), as posix_memalign's is.
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    pollux::test::allocations.fetch_add(1, std::memory_order_relaxed);
    void* p = nullptr;
    if (alignment < sizeof(void*)) {
        alignment = sizeof(void*);
    }
    return ::posix_memalign(&p, alignment, size) == 0 ? p : nullptr;
}
