#include "antientropy/messages.h"

#include "core/coding.h"

namespace chorus {

namespace {

constexpr uint8_t kWireVersion = 1;

bool valid_op(uint8_t op) {
  return op >= static_cast<uint8_t>(AaeOp::kSummary) &&
         op <= static_cast<uint8_t>(AaeOp::kVerified);
}

void put_hash(std::string* out, const Hash128& h) {
  put_fixed64(out, h.high);
  put_fixed64(out, h.low);
}

bool get_hash(Reader* in, Hash128* h) {
  return in->get_fixed64(&h->high) && in->get_fixed64(&h->low);
}

void put_roots(std::string* out, const std::vector<EpochRoot>& roots) {
  put_varint64(out, roots.size());
  for (const EpochRoot& root : roots) {
    put_fixed64(out, root.epoch);
    put_fixed64(out, root.entries);
    put_hash(out, root.root);
  }
}

bool get_roots(Reader* in, size_t max, std::vector<EpochRoot>* roots) {
  uint64_t count = 0;
  if (!in->get_varint64(&count) || count > max) return false;
  for (uint64_t i = 0; i < count; ++i) {
    EpochRoot root;
    if (!in->get_fixed64(&root.epoch) || !in->get_fixed64(&root.entries) ||
        !get_hash(in, &root.root)) {
      return false;
    }
    roots->push_back(root);
  }
  return true;
}

void put_items(std::string* out, const std::vector<AaeItem>& items) {
  put_varint64(out, items.size());
  for (const AaeItem& item : items) {
    put_length_prefixed(out, item.key);
    put_length_prefixed(out, item.record);
  }
}

bool get_items(Reader* in, std::vector<AaeItem>* items) {
  uint64_t count = 0;
  // A reply holds at most one item per requested key; a push is bounded by the frame.
  if (!in->get_varint64(&count) || count > kFetchKeysMax) return false;
  items->reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view key;
    std::string_view record;
    if (!in->get_length_prefixed(&key, kKeyBytesMax) || key.empty() ||
        !in->get_length_prefixed(&record, kFrameBytesMax)) {
      return false;
    }
    items->push_back({std::string(key), std::string(record)});
  }
  return true;
}

// A count followed by that many u32s, at most max.
bool get_u32s(Reader* in, size_t max, std::vector<uint32_t>* out) {
  uint64_t count = 0;
  if (!in->get_varint64(&count) || count > max) return false;
  out->reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t v = 0;
    if (!in->get_fixed32(&v)) return false;
    out->push_back(v);
  }
  return true;
}

Status malformed(const char* what) {
  return Status::Corruption(std::string("anti-entropy message: bad ") + what);
}

}  // namespace

std::string encode_aae_request(const AaeRequest& r) {
  std::string out;
  out.push_back(static_cast<char>(kWireVersion));
  out.push_back(static_cast<char>(r.op));
  put_fixed32(&out, r.partition);
  switch (r.op) {
    case AaeOp::kSummary:
      put_fixed64(&out, r.epoch);
      put_fixed64(&out, r.epoch_last);
      put_fixed32(&out, r.leaves);
      break;
    case AaeOp::kHashes:
    case AaeOp::kBuckets:
      put_fixed64(&out, r.epoch);
      put_fixed32(&out, r.leaves);
      put_fixed32(&out, r.level);
      put_varint64(&out, r.nodes.size());
      for (uint32_t n : r.nodes) put_fixed32(&out, n);
      break;
    case AaeOp::kFetch:
      put_varint64(&out, r.keys.size());
      for (const std::string& k : r.keys) put_length_prefixed(&out, k);
      break;
    case AaeOp::kPush:
      put_items(&out, r.items);
      break;
    case AaeOp::kVerified:
      put_roots(&out, r.roots);
      break;
  }
  return out;
}

Status decode_aae_request(std::string_view bytes, AaeRequest* request) {
  Reader in(bytes);
  uint8_t version = 0;
  uint8_t op = 0;
  AaeRequest r;
  if (!in.get_u8(&version) || version != kWireVersion || !in.get_u8(&op) || !valid_op(op) ||
      !in.get_fixed32(&r.partition)) {
    return malformed("header");
  }
  r.op = static_cast<AaeOp>(op);
  switch (r.op) {
    case AaeOp::kSummary:
      if (!in.get_fixed64(&r.epoch) || !in.get_fixed64(&r.epoch_last) ||
          !in.get_fixed32(&r.leaves) || r.epoch > r.epoch_last ||
          r.epoch_last - r.epoch >= kSummaryEpochsMax) {
        return malformed("summary request");
      }
      break;
    case AaeOp::kHashes:
    case AaeOp::kBuckets: {
      const size_t max = r.op == AaeOp::kHashes ? kMerkleLeavesMax : kBucketsPerRequestMax;
      if (!in.get_fixed64(&r.epoch) || !in.get_fixed32(&r.leaves) || !in.get_fixed32(&r.level) ||
          !get_u32s(&in, max, &r.nodes)) {
        return malformed("tree request");
      }
      break;
    }
    case AaeOp::kFetch: {
      uint64_t count = 0;
      if (!in.get_varint64(&count) || count > kFetchKeysMax) return malformed("fetch request");
      for (uint64_t i = 0; i < count; ++i) {
        std::string_view key;
        if (!in.get_length_prefixed(&key, kKeyBytesMax) || key.empty()) {
          return malformed("fetch key");
        }
        r.keys.emplace_back(key);
      }
      break;
    }
    case AaeOp::kPush:
      if (!get_items(&in, &r.items)) return malformed("push request");
      break;
    case AaeOp::kVerified:
      if (!get_roots(&in, kVerifiedEpochsMax, &r.roots)) return malformed("verified roots");
      break;
  }
  if (in.remaining() != 0) return malformed("request (trailing bytes)");
  *request = std::move(r);
  return Status::OK();
}

std::string encode_aae_reply(AaeOp op, const AaeReply& r) {
  std::string out;
  out.push_back(static_cast<char>(kWireVersion));
  switch (op) {
    case AaeOp::kSummary:
      put_roots(&out, r.roots);
      break;
    case AaeOp::kHashes:
      put_varint64(&out, r.hashes.size());
      for (const Hash128& h : r.hashes) put_hash(&out, h);
      break;
    case AaeOp::kBuckets:
      put_varint64(&out, r.buckets.size());
      for (const auto& bucket : r.buckets) put_length_prefixed(&out, encode_key_versions(bucket));
      break;
    case AaeOp::kFetch:
      put_fixed32(&out, r.answered);
      put_items(&out, r.items);
      break;
    case AaeOp::kPush:
      put_fixed32(&out, r.applied);
      break;
    case AaeOp::kVerified:
      break;
  }
  return out;
}

Status decode_aae_reply(AaeOp op, std::string_view bytes, AaeReply* reply) {
  Reader in(bytes);
  uint8_t version = 0;
  AaeReply r;
  if (!in.get_u8(&version) || version != kWireVersion) return malformed("reply header");
  uint64_t count = 0;
  switch (op) {
    case AaeOp::kSummary:
      if (!get_roots(&in, kSummaryEpochsMax, &r.roots)) return malformed("summary");
      break;
    case AaeOp::kHashes:
      if (!in.get_varint64(&count) || count > kMerkleLeavesMax) return malformed("hashes");
      for (uint64_t i = 0; i < count; ++i) {
        Hash128 h;
        if (!get_hash(&in, &h)) return malformed("hash");
        r.hashes.push_back(h);
      }
      break;
    case AaeOp::kBuckets:
      if (!in.get_varint64(&count) || count > kBucketsPerRequestMax) return malformed("buckets");
      for (uint64_t i = 0; i < count; ++i) {
        std::string_view list;
        if (!in.get_length_prefixed(&list, kFrameBytesMax)) return malformed("bucket");
        r.buckets.emplace_back();
        CHORUS_RETURN_IF_ERROR(decode_key_versions(list, &r.buckets.back()));
      }
      break;
    case AaeOp::kFetch:
      if (!in.get_fixed32(&r.answered) || r.answered > kFetchKeysMax || !get_items(&in, &r.items)) {
        return malformed("fetch reply");
      }
      break;
    case AaeOp::kPush:
      if (!in.get_fixed32(&r.applied)) return malformed("push reply");
      break;
    case AaeOp::kVerified:
      break;
  }
  if (in.remaining() != 0) return malformed("reply (trailing bytes)");
  *reply = std::move(r);
  return Status::OK();
}

}  // namespace chorus
