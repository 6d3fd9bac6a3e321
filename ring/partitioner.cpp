#include "ring/partitioner.h"

#include <xxhash.h>

#include <cstdio>
#include <cstdlib>

#include "core/assert.h"

namespace chorus {

bool is_valid_partition_count(uint32_t partitions) {
  return partitions >= 1 && partitions <= kPartitionsMax && (partitions & (partitions - 1)) == 0;
}

uint32_t partition_of(std::string_view key, uint32_t partitions) {
  // A bad count here would route keys to partitions no ring has: refuse loudly.
  CHORUS_ASSERT(is_valid_partition_count(partitions), "invalid partition count");
  const uint64_t hash = XXH3_64bits(key.data(), key.size());
  return static_cast<uint32_t>(hash & (partitions - 1));
}

}  // namespace chorus
