// Seed sweeps are tuned at run time: CHORUS_SIM_SEEDS (count) and CHORUS_SIM_SEED (one seed).
#pragma once

#include <cstdint>
#include <cstdlib>

namespace chorus::sim {

// The unsigned value of environment variable `name`, or `fallback` when it is unset or empty.
inline uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace chorus::sim
