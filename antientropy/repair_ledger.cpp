#include "antientropy/repair_ledger.h"

#include <algorithm>

#include "core/assert.h"
#include "core/coding.h"

namespace chorus {

namespace {
constexpr uint8_t kLedgerFormat = 1;
}

RepairLedger::RepairLedger(uint32_t partitions) : parts_(partitions) {}

void RepairLedger::close_through(uint64_t epoch) {
  if (any_closed_ && epoch <= closed_through_) return;
  closed_through_ = epoch;
  any_closed_ = true;
}

void RepairLedger::compact(Part* part) {
  while (!part->verified.empty() && *part->verified.begin() == part->verified_below) {
    part->verified.erase(part->verified.begin());
    ++part->verified_below;
  }
}

void RepairLedger::mark_verified(uint32_t partition, uint64_t epoch) {
  CHORUS_ASSERT(partition < parts_.size());
  Part& part = parts_[partition];
  part.dirty.erase(epoch);
  if (epoch < part.verified_below) return;
  if (part.verified.size() >= kLedgerSparseEpochsMax) {
    // Far too many islands above the watermark: keep the bound by forgetting them (they are
    // compared again), never by forgetting a dirty mark.
    part.verified.clear();
  }
  part.verified.insert(epoch);
  compact(&part);
}

bool RepairLedger::mark_dirty(uint32_t partition, uint64_t epoch) {
  CHORUS_ASSERT(partition < parts_.size());
  Part& part = parts_[partition];
  if (!any_closed_ || epoch > closed_through_) return false;
  // A late write into a collected epoch (a tombstone pushed back by a replica that had not
  // collected yet) must be looked at again once the epoch is verified again.
  if (epoch < part.collected_below) part.collected_below = epoch;
  const bool was_verified = epoch < part.verified_below || part.verified.count(epoch) > 0;
  if (!was_verified || part.dirty.count(epoch) > 0) return false;
  if (part.dirty.size() >= kLedgerSparseEpochsMax) {
    reset(partition);  // everything is unverified now, which covers this epoch too
    return true;
  }
  part.dirty.insert(epoch);
  return true;
}

void RepairLedger::reset(uint32_t partition) {
  const uint64_t collected = parts_[partition].collected_below;
  const uint64_t owners = parts_[partition].owners_hash;
  parts_[partition] = Part{};
  parts_[partition].collected_below = collected;
  parts_[partition].owners_hash = owners;
}

bool RepairLedger::set_owners(uint32_t partition, uint64_t owners_hash) {
  Part& part = parts_[partition];
  if (part.owners_hash == owners_hash) return false;
  const bool changed = part.owners_hash != 0;
  if (changed) reset(partition);
  part.owners_hash = owners_hash;
  return changed;
}

bool RepairLedger::verified(uint32_t partition, uint64_t epoch) const {
  const Part& part = parts_[partition];
  if (part.dirty.count(epoch) > 0) return false;
  return epoch < part.verified_below || part.verified.count(epoch) > 0;
}

std::optional<EpochRange> RepairLedger::next_range(uint32_t partition, uint64_t span) const {
  CHORUS_ASSERT(span >= 1);
  if (!any_closed_) return std::nullopt;
  const Part& part = parts_[partition];
  uint64_t first = 0;
  if (!part.dirty.empty()) {
    first = *part.dirty.begin();
  } else {
    // The lowest unverified epoch: the watermark, unless the sparse set starts there (compact()
    // keeps it from doing so), so it is the watermark itself.
    first = part.verified_below;
    if (first > closed_through_) return std::nullopt;
  }
  const uint64_t last = std::min(closed_through_, first + (span - 1));
  return EpochRange{first, last};
}

std::optional<uint64_t> RepairLedger::verified_through(uint32_t partition) const {
  const Part& part = parts_[partition];
  uint64_t below = part.verified_below;
  if (!part.dirty.empty()) below = std::min(below, *part.dirty.begin());
  if (below == 0) return std::nullopt;
  return below - 1;
}

uint64_t RepairLedger::unverified_count(uint32_t partition) const {
  if (!any_closed_) return 0;
  const Part& part = parts_[partition];
  if (part.verified_below > closed_through_) return 0;
  uint64_t count = closed_through_ - part.verified_below + 1;
  for (uint64_t e : part.verified) {
    if (e <= closed_through_) --count;
  }
  return count;
}

std::string RepairLedger::encode(uint32_t partition) const {
  const Part& part = parts_[partition];
  std::string out(1, static_cast<char>(kLedgerFormat));
  put_varint64(&out, part.verified_below);
  put_varint64(&out, part.verified.size());
  for (uint64_t e : part.verified) put_varint64(&out, e);
  put_varint64(&out, part.dirty.size());
  for (uint64_t e : part.dirty) put_varint64(&out, e);
  put_varint64(&out, part.collected_below);
  put_fixed64(&out, part.owners_hash);
  return out;
}

Status RepairLedger::decode(uint32_t partition, std::string_view bytes) {
  Reader in(bytes);
  uint8_t format = 0;
  Part part;
  uint64_t count = 0;
  auto bad = [partition] {
    return Status::Corruption("anti-entropy ledger of partition " + std::to_string(partition) +
                              " is malformed");
  };
  if (!in.get_u8(&format) || format != kLedgerFormat || !in.get_varint64(&part.verified_below) ||
      !in.get_varint64(&count) || count > kLedgerSparseEpochsMax) {
    return bad();
  }
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t e = 0;
    if (!in.get_varint64(&e) || e < part.verified_below) return bad();
    part.verified.insert(e);
  }
  if (!in.get_varint64(&count) || count > kLedgerSparseEpochsMax) return bad();
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t e = 0;
    if (!in.get_varint64(&e)) return bad();
    part.dirty.insert(e);
  }
  if (!in.get_varint64(&part.collected_below) || !in.get_fixed64(&part.owners_hash) ||
      in.remaining() != 0) {
    return bad();
  }
  compact(&part);
  parts_[partition] = std::move(part);
  return Status::OK();
}

}  // namespace chorus
