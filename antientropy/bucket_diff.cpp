#include "antientropy/bucket_diff.h"

#include <algorithm>

#include "core/coding.h"
#include "core/limits.h"

namespace chorus {

namespace {
constexpr uint8_t kListVersion = 1;

bool by_key(const KeyVersion& a, const KeyVersion& b) {
  return a.key < b.key;
}
}  // namespace

BucketDiff diff_bucket(std::vector<KeyVersion> local, std::vector<KeyVersion> remote) {
  std::sort(local.begin(), local.end(), by_key);
  std::sort(remote.begin(), remote.end(), by_key);
  BucketDiff diff;
  size_t i = 0;
  size_t j = 0;
  // A merge of the two sorted lists.
  while (i < local.size() || j < remote.size()) {
    if (j == remote.size() || (i < local.size() && local[i].key < remote[j].key)) {
      diff.send.push_back(local[i++].key);
    } else if (i == local.size() || remote[j].key < local[i].key) {
      diff.fetch.push_back(remote[j++].key);
    } else {
      const KeyVersion& mine = local[i++];
      const KeyVersion& theirs = remote[j++];
      if (mine.ts == theirs.ts && mine.digest == theirs.digest) continue;
      const bool tie = mine.ts == theirs.ts;
      if (theirs.ts < mine.ts || tie) diff.send.push_back(mine.key);
      if (mine.ts < theirs.ts || tie) diff.fetch.push_back(mine.key);
    }
  }
  return diff;
}

std::string encode_key_versions(const std::vector<KeyVersion>& list) {
  std::string out(1, static_cast<char>(kListVersion));
  put_varint64(&out, list.size());
  for (const KeyVersion& kv : list) {
    put_length_prefixed(&out, kv.key);
    put_fixed64(&out, kv.ts.packed);
    put_fixed64(&out, kv.digest);
  }
  return out;
}

Status decode_key_versions(std::string_view bytes, std::vector<KeyVersion>* list) {
  Reader in(bytes);
  uint8_t version = 0;
  uint64_t count = 0;
  if (!in.get_u8(&version) || version != kListVersion || !in.get_varint64(&count) ||
      count > kBucketKeysMax) {
    return Status::Corruption("key-version list: bad header");
  }
  std::vector<KeyVersion> out;
  out.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    std::string_view key;
    uint64_t ts = 0;
    uint64_t digest = 0;
    if (!in.get_length_prefixed(&key, kKeyBytesMax) || key.empty() || !in.get_fixed64(&ts) ||
        !in.get_fixed64(&digest)) {
      return Status::Corruption("key-version list: bad entry " + std::to_string(k));
    }
    out.push_back({std::string(key), Timestamp{ts}, digest});
  }
  if (in.remaining() != 0) return Status::Corruption("key-version list: trailing bytes");
  *list = std::move(out);
  return Status::OK();
}

}  // namespace chorus
