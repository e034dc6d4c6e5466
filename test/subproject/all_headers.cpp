// Compiles every public header (through the umbrella header) with the
// parent project's warning flags, so a warning any of them raises fails the
// parent's -Werror build.

#include <pollux/pollux.hpp>
