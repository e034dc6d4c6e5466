// The one Catch2 main, built once as a static library: Catch2 v2 is slow to
// compile, so no test file defines CATCH_CONFIG_MAIN itself.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
