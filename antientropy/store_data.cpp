#include "antientropy/store_data.h"

#include "core/record.h"
#include "ring/partitioner.h"

namespace chorus {

Status StoreReplicaData::scan(uint32_t partition, uint64_t epoch_first, uint64_t epoch_last,
                              const IndexVisitor& fn) {
  return store_->scan_index_range(partition, epoch_first, epoch_last, fn);
}

Status StoreReplicaData::read(std::string_view key, std::string* record) {
  Record stored;
  CHORUS_RETURN_IF_ERROR(store_->get(key, &stored));
  *record = encode_record(stored);
  return Status::OK();
}

Result<bool> StoreReplicaData::apply(uint32_t partition, std::string_view key,
                                     std::string_view record) {
  if (partition >= partitions_ || partition_of(key, partitions_) != partition) {
    return Status::InvalidArgument("anti-entropy: a key outside partition " +
                                   std::to_string(partition));
  }
  Record decoded;
  CHORUS_RETURN_IF_ERROR(decode_record(record, &decoded));
  auto applied = store_->apply(key, partition, decoded, /*sync=*/false);
  if (!applied.ok()) return applied.status();
  return applied.value().applied;
}

}  // namespace chorus
