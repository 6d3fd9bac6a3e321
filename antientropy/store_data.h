// StoreReplicaData: anti-entropy's view (ReplicaData) of this node's Store.
//
// scan() reads the (partition, epoch, key) index; apply() decodes a record (checksum verified) and
// stores it with last-writer-wins after checking that the key belongs to the partition, so a peer
// cannot place a key where the ring would never look for it.
// Thread-safety: as the Store (any thread). Ownership: borrows the Store.
#pragma once

#include "antientropy/exchange.h"
#include "engines/store.h"

namespace chorus {

class StoreReplicaData : public ReplicaData {
 public:
  StoreReplicaData(Store* store, uint32_t partitions) : store_(store), partitions_(partitions) {}

  Status scan(uint32_t partition, uint64_t epoch_first, uint64_t epoch_last,
              const IndexVisitor& fn) override;
  Status read(std::string_view key, std::string* record) override;
  Result<bool> apply(uint32_t partition, std::string_view key, std::string_view record) override;

 private:
  Store* store_;
  uint32_t partitions_;
};

}  // namespace chorus
