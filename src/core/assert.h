// CHORUS_ASSERT(cond) / CHORUS_ASSERT(cond, "why"): checks an invariant in every build, release
// included (assert() vanishes under NDEBUG, which every dev.sh build sets). A broken invariant
// means state we cannot trust, so the process stops at once rather than serve or persist it: the
// message names the condition, the reason, and file:line, on stderr, then abort() (a core dump
// when enabled).
//
// For invariants only, never for input: bad input from clients, peers or disk is a Status.
// Conditions must be cheap and free of side effects.
#pragma once

namespace chorus::detail {

[[noreturn]] void assert_failed(const char* condition, const char* why, const char* file, int line);

}  // namespace chorus::detail

// The optional reason is a string literal: "" "why" concatenates to "why", and "" alone is empty.
#define CHORUS_ASSERT(cond, ...)                                                  \
  do {                                                                            \
    if (__builtin_expect(!(cond), 0)) {                                           \
      ::chorus::detail::assert_failed(#cond, "" __VA_ARGS__, __FILE__, __LINE__); \
    }                                                                             \
  } while (0)
