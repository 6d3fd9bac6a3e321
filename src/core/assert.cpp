#include "core/assert.h"

#include <cstdio>
#include <cstdlib>

namespace chorus::detail {

void assert_failed(const char* condition, const char* why, const char* file, int line) {
  // stdio, not the logger: this must work however broken the rest of the process is.
  std::fprintf(stderr, "fatal: assertion failed at %s:%d: %s%s%s\n", file, line, condition,
               *why ? ": " : "", why);
  std::fflush(stderr);
  std::abort();
}

}  // namespace chorus::detail
