#include "antientropy/exchange.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "core/assert.h"
#include "core/record.h"

namespace chorus {

namespace {

Status check_leaves(uint32_t leaves) {
  if (leaves == 0 || leaves > kMerkleLeavesMax || (leaves & (leaves - 1)) != 0) {
    return Status::InvalidArgument("anti-entropy: leaves must be a power of two in 1.." +
                                   std::to_string(kMerkleLeavesMax));
  }
  return Status::OK();
}

}  // namespace

Result<MerkleTree> build_tree(ReplicaData* data, uint32_t partition, uint64_t epoch,
                              size_t leaves) {
  auto tree = MerkleTree::create(leaves);
  if (!tree.ok()) return tree.status();
  MerkleTree& t = tree.value();
  CHORUS_RETURN_IF_ERROR(
      data->scan(partition, epoch_range_first(epoch), epoch_range_last(epoch),
                 [&t](uint64_t, std::string_view key, Timestamp ts, uint64_t digest) {
                   t.add(key, ts, digest);
                   return true;
                 }));
  return tree;
}

Result<std::vector<EpochRoot>> epoch_roots(ReplicaData* data, uint32_t partition, uint64_t first,
                                           uint64_t last, size_t leaves) {
  auto empty = MerkleTree::create(leaves);
  if (!empty.ok()) return empty.status();
  std::vector<EpochRoot> roots;
  std::optional<MerkleTree> tree;
  uint64_t epoch = 0;
  auto finish = [&] {
    if (tree) roots.push_back({epoch, tree->entries(), tree->root()});
  };
  // One pass over the range: the scan is in epoch order, so each epoch's tree is complete when the
  // next epoch's first entry arrives.
  CHORUS_RETURN_IF_ERROR(data->scan(
      partition, first, last, [&](uint64_t e, std::string_view key, Timestamp ts, uint64_t digest) {
        if (!tree || e != epoch) {
          finish();
          tree = empty.value();
          epoch = e;
        }
        tree->add(key, ts, digest);
        return true;
      }));
  finish();
  return roots;
}

Status bucket_lists(ReplicaData* data, uint32_t partition, uint64_t epoch, size_t leaves,
                    const std::vector<uint32_t>& leaf_ids,
                    std::vector<std::vector<KeyVersion>>* lists) {
  auto shape = MerkleTree::create(leaves);
  if (!shape.ok()) return shape.status();
  std::unordered_map<size_t, size_t> slot;  // leaf -> index in *lists
  for (size_t i = 0; i < leaf_ids.size(); ++i) slot.emplace(leaf_ids[i], i);
  std::vector<std::vector<KeyVersion>> out(leaf_ids.size());
  Status too_many;
  CHORUS_RETURN_IF_ERROR(data->scan(
      partition, epoch_range_first(epoch), epoch_range_last(epoch),
      [&](uint64_t, std::string_view key, Timestamp ts, uint64_t digest) {
        auto it = slot.find(shape.value().leaf_of(key));
        if (it == slot.end()) return true;
        auto& list = out[it->second];
        if (list.size() == kBucketKeysMax) {
          too_many =
              Status::TooLarge("anti-entropy: a bucket holds more than " +
                               std::to_string(kBucketKeysMax) + " keys; compare with more leaves");
          return false;
        }
        list.push_back({std::string(key), ts, digest});
        return true;
      }));
  CHORUS_RETURN_IF_ERROR(too_many);
  *lists = std::move(out);
  return Status::OK();
}

Result<std::string> answer_aae_request(const AaeRequest& r, ReplicaData* data, AnswerStats* stats) {
  AaeReply reply;
  switch (r.op) {
    case AaeOp::kSummary: {
      CHORUS_RETURN_IF_ERROR(check_leaves(r.leaves));
      auto roots = epoch_roots(data, r.partition, r.epoch, r.epoch_last, r.leaves);
      if (!roots.ok()) return roots.status();
      stats->trees_built += roots.value().size();
      reply.roots = std::move(roots).value();
      break;
    }
    case AaeOp::kHashes: {
      CHORUS_RETURN_IF_ERROR(check_leaves(r.leaves));
      auto tree = build_tree(data, r.partition, r.epoch, r.leaves);
      if (!tree.ok()) return tree.status();
      ++stats->trees_built;
      const MerkleTree& t = tree.value();
      if (r.level > t.depth()) return Status::InvalidArgument("anti-entropy: level beyond leaves");
      for (uint32_t index : r.nodes) {
        if (index >= (uint64_t{1} << r.level)) {
          return Status::InvalidArgument("anti-entropy: node index beyond its level");
        }
        reply.hashes.push_back(t.hash(r.level, index));
      }
      break;
    }
    case AaeOp::kBuckets: {
      CHORUS_RETURN_IF_ERROR(check_leaves(r.leaves));
      for (uint32_t leaf : r.nodes) {
        if (leaf >= r.leaves) return Status::InvalidArgument("anti-entropy: leaf out of range");
      }
      std::vector<std::vector<KeyVersion>> lists;
      CHORUS_RETURN_IF_ERROR(bucket_lists(data, r.partition, r.epoch, r.leaves, r.nodes, &lists));
      size_t bytes = 0;
      for (auto& list : lists) {
        size_t list_bytes = 0;
        for (const KeyVersion& kv : list) list_bytes += kv.key.size() + 2 + 16;
        if (!reply.buckets.empty() && bytes + list_bytes > kAaeReplyBytesMax) break;
        if (list_bytes > kAaeReplyBytesMax * 4) {
          return Status::TooLarge("anti-entropy: a bucket list of " + std::to_string(list_bytes) +
                                  " bytes does not fit a message; use more leaves");
        }
        bytes += list_bytes;
        reply.buckets.push_back(std::move(list));
      }
      break;
    }
    case AaeOp::kFetch: {
      size_t bytes = 0;
      for (const std::string& key : r.keys) {
        std::string record;
        const Status s = data->read(key, &record);
        if (s.is_not_found()) {
          ++reply.answered;
          continue;
        }
        CHORUS_RETURN_IF_ERROR(s);
        // The budget is checked before adding, so a reply stays within it (or holds one record
        // alone, which a frame always fits).
        if (!reply.items.empty() && bytes + key.size() + record.size() > kAaeReplyBytesMax) break;
        ++reply.answered;
        bytes += key.size() + record.size();
        reply.items.push_back({key, std::move(record)});
      }
      break;
    }
    case AaeOp::kPush:
      for (const AaeItem& item : r.items) {
        auto applied = data->apply(r.partition, item.key, item.record);
        if (!applied.ok()) return applied.status();
        if (applied.value()) {
          ++reply.applied;
          ++stats->records_applied;
          stats->record_bytes_applied += item.key.size() + item.record.size();
        }
      }
      break;
    case AaeOp::kVerified:
      return Status::InvalidArgument("anti-entropy: kVerified is not a data request");
  }
  return encode_aae_reply(r.op, reply);
}

const char* exchange_phase_name(Exchange::Phase phase) {
  switch (phase) {
    case Exchange::Phase::kIdle:
      return "idle";
    case Exchange::Phase::kHashes:
      return "hashes";
    case Exchange::Phase::kBuckets:
      return "buckets";
    case Exchange::Phase::kFetch:
      return "fetch";
    case Exchange::Phase::kPush:
      return "push";
    case Exchange::Phase::kDone:
      return "done";
  }
  return "?";
}

Exchange::Exchange(ExchangeOptions options, ReplicaData* local)
    : options_(options), local_(local) {}

AaeRequest Exchange::base(AaeOp op) const {
  AaeRequest r;
  r.op = op;
  r.partition = options_.partition;
  r.epoch = options_.epoch;
  r.leaves = static_cast<uint32_t>(options_.leaves);
  return r;
}

Status Exchange::start() {
  CHORUS_ASSERT(phase_ == Phase::kIdle);
  auto tree = build_tree(local_, options_.partition, options_.epoch, options_.leaves);
  if (!tree.ok()) {
    fail(tree.status());
    return status_;
  }
  tree_.emplace(std::move(tree).value());
  comparison_.emplace(&*tree_);
  phase_ = Phase::kHashes;
  if (options_.remote_entries && (*options_.remote_entries == 0 || tree_->entries() == 0)) {
    const bool local_empty = tree_->entries() == 0;
    for (size_t leaf = 0; leaf < tree_->leaves(); ++leaf) {
      if (local_empty || tree_->hash(tree_->depth(), leaf) != Hash128{}) {
        differing_.push_back(static_cast<uint32_t>(leaf));
      }
    }
    stats_.buckets_differing = differing_.size();
    phase_ = Phase::kBuckets;
  }
  advance();
  return Status::OK();
}

void Exchange::send(AaeRequest request) {
  request_ = std::move(request);
  request_bytes_ = encode_aae_request(request_);
  ++request_id_;
  attempts_ = 1;
  stats_.bytes_out += request_bytes_.size();
}

void Exchange::fail(Status status) {
  status_ = std::move(status);
  phase_ = Phase::kDone;
}

bool Exchange::on_reply(uint64_t id, Result<std::string> reply) {
  if (done() || id != request_id_) return false;
  if (!reply.ok()) {
    if (attempts_ >= options_.attempts_max) {
      fail(reply.status());
      return true;
    }
    ++attempts_;
    ++request_id_;
    ++stats_.retries;
    stats_.bytes_out += request_bytes_.size();
    return true;
  }
  stats_.bytes_in += reply.value().size();
  AaeReply decoded;
  Status s = decode_aae_reply(request_.op, reply.value(), &decoded);
  if (s.ok()) s = handle(decoded);
  if (!s.ok()) {
    fail(s);
    return true;
  }
  advance();
  return true;
}

Status Exchange::handle(const AaeReply& reply) {
  switch (request_.op) {
    case AaeOp::kHashes: {
      const size_t asked = comparison_->question().indices.size();
      CHORUS_RETURN_IF_ERROR(comparison_->on_hashes(reply.hashes));
      stats_.nodes_compared += asked;
      if (comparison_->done()) {
        for (size_t leaf : comparison_->differing_leaves()) {
          differing_.push_back(static_cast<uint32_t>(leaf));
        }
        stats_.buckets_differing = differing_.size();
      }
      return Status::OK();
    }
    case AaeOp::kBuckets: {
      const size_t n = reply.buckets.size();
      if (n == 0 || n > request_.nodes.size()) {
        return Status::Corruption("anti-entropy: a bucket reply for " + std::to_string(n) + " of " +
                                  std::to_string(request_.nodes.size()) + " leaves");
      }
      const std::vector<uint32_t> leaves(request_.nodes.begin(), request_.nodes.begin() + n);
      for (size_t i = 0; i < n; ++i) {
        for (const KeyVersion& kv : reply.buckets[i]) {
          if (tree_->leaf_of(kv.key) != leaves[i]) {
            return Status::Corruption("anti-entropy: a key list holds a key of another leaf");
          }
        }
      }
      std::vector<std::vector<KeyVersion>> mine;
      CHORUS_RETURN_IF_ERROR(
          bucket_lists(local_, options_.partition, options_.epoch, options_.leaves, leaves, &mine));
      fetch_.clear();
      push_.clear();
      adopted_.clear();
      fetched_ = pushed_ = 0;
      for (size_t i = 0; i < n; ++i) {
        std::set<std::string> here;
        for (const KeyVersion& kv : mine[i]) here.insert(kv.key);
        std::map<std::string, Timestamp> theirs;
        for (const KeyVersion& kv : reply.buckets[i]) theirs.emplace(kv.key, kv.ts);
        BucketDiff diff = diff_bucket(std::move(mine[i]), reply.buckets[i]);
        for (std::string& key : diff.fetch) {
          // A key this epoch's tree lacks here may live in another epoch here, at a newer
          // version (rewritten or deleted later): then ours goes over instead of theirs coming
          // back, whichever epoch is compared first.
          if (here.count(key) == 0) {
            std::string bytes;
            Record stored;
            const Status s = local_->read(key, &bytes);
            if (!s.ok() && !s.is_not_found()) return s;
            if (s.ok()) {
              CHORUS_RETURN_IF_ERROR(decode_record(bytes, &stored));
              if (theirs.at(key) < stored.ts) {
                push_.push_back(std::move(key));
                continue;
              }
            }
          }
          fetch_.push_back(std::move(key));
        }
        push_.insert(push_.end(), diff.send.begin(), diff.send.end());
      }
      next_leaf_ += n;
      return Status::OK();
    }
    case AaeOp::kFetch: {
      if (reply.answered == 0 || reply.answered > request_.keys.size() ||
          reply.items.size() > reply.answered) {
        return Status::Corruption("anti-entropy: a fetch reply answering " +
                                  std::to_string(reply.answered) + " of " +
                                  std::to_string(request_.keys.size()) + " keys");
      }
      const std::set<std::string_view> asked(request_.keys.begin(),
                                             request_.keys.begin() + reply.answered);
      for (const AaeItem& item : reply.items) {
        if (asked.count(item.key) == 0) {
          return Status::Corruption("anti-entropy: a fetch reply holds a key not asked for");
        }
      }
      for (const AaeItem& item : reply.items) {
        auto applied = local_->apply(options_.partition, item.key, item.record);
        if (!applied.ok()) return applied.status();
        ++stats_.keys_fetched;
        stats_.record_bytes += item.key.size() + item.record.size();
        if (applied.value()) {
          // A tie pushed both ways: once the remote's version won here, sending ours back
          // would move a version the remote already holds.
          adopted_.insert(item.key);
          ++stats_.records_applied;
          stats_.record_bytes_applied += item.key.size() + item.record.size();
        }
      }
      fetched_ += reply.answered;
      return Status::OK();
    }
    case AaeOp::kPush:
      pushed_ += push_batch_;
      stats_.remote_applied += reply.applied;
      return Status::OK();
    case AaeOp::kSummary:
    case AaeOp::kVerified:
      break;
  }
  return Status::InvalidArgument("anti-entropy: exchange sent an unexpected request");
}

void Exchange::advance() {
  if (phase_ == Phase::kHashes && !comparison_->done()) {
    AaeRequest r = base(AaeOp::kHashes);
    const auto& q = comparison_->question();
    r.level = static_cast<uint32_t>(q.level);
    r.nodes.assign(q.indices.begin(), q.indices.end());
    return send(std::move(r));
  }
  if (fetched_ < fetch_.size()) {
    phase_ = Phase::kFetch;
    AaeRequest r = base(AaeOp::kFetch);
    const size_t end = std::min(fetch_.size(), fetched_ + kFetchKeysMax);
    r.keys.assign(fetch_.begin() + fetched_, fetch_.begin() + end);
    return send(std::move(r));
  }
  while (pushed_ < push_.size()) {
    AaeRequest r = base(AaeOp::kPush);
    size_t bytes = 0;
    size_t k = pushed_;
    for (; k < push_.size() && r.items.size() < kFetchKeysMax; ++k) {
      if (adopted_.count(push_[k]) > 0) continue;
      std::string record;
      const Status s = local_->read(push_[k], &record);
      if (s.is_not_found()) continue;  // gone since the list was made: nothing to send
      if (!s.ok()) return fail(s);
      if (!r.items.empty() && bytes + push_[k].size() + record.size() > options_.push_bytes_max) {
        break;
      }
      bytes += push_[k].size() + record.size();
      stats_.record_bytes += push_[k].size() + record.size();
      ++stats_.keys_pushed;
      r.items.push_back({push_[k], std::move(record)});
    }
    push_batch_ = k - pushed_;
    if (r.items.empty()) {
      pushed_ = k;
      continue;
    }
    phase_ = Phase::kPush;
    return send(std::move(r));
  }
  if (next_leaf_ < differing_.size()) {
    phase_ = Phase::kBuckets;
    AaeRequest r = base(AaeOp::kBuckets);
    const size_t end = std::min(differing_.size(), next_leaf_ + kBucketsPerRequestMax);
    r.nodes.assign(differing_.begin() + next_leaf_, differing_.begin() + end);
    return send(std::move(r));
  }
  phase_ = Phase::kDone;
  status_ = Status::OK();
}

}  // namespace chorus
