#include "core/record.h"

#include <xxhash.h>

#include "core/coding.h"
#include "core/limits.h"

namespace chorus {
namespace {
constexpr uint8_t kFormat = 1;
constexpr uint8_t kFlagTombstone = 1;
constexpr size_t kChecksumBytes = 8;
}  // namespace

void encode_record_to(const Record& record, std::string* out) {
  const size_t start = out->size();
  out->reserve(start + record.value.size() + record.origin.size() + 48);
  out->push_back(static_cast<char>(kFormat));
  out->push_back(static_cast<char>(record.tombstone ? kFlagTombstone : 0));
  put_fixed64(out, record.ts.packed);
  put_fixed64(out, record.epoch);
  put_fixed64(out, record.expiry_ms);
  put_length_prefixed(out, record.origin);
  put_length_prefixed(out, record.value);
  put_fixed64(out, XXH3_64bits(out->data() + start, out->size() - start));
}

std::string encode_record(const Record& record) {
  std::string out;
  encode_record_to(record, &out);
  return out;
}

Status decode_record(std::string_view bytes, Record* record) {
  if (bytes.size() < kChecksumBytes + 2) return Status::Corruption("record too short");
  const size_t body = bytes.size() - kChecksumBytes;
  const uint64_t stored = decode_fixed64(bytes.data() + body);
  if (XXH3_64bits(bytes.data(), body) != stored)
    return Status::Corruption("record checksum mismatch");

  Reader in(bytes.substr(0, body));
  uint8_t format = 0, flags = 0;
  uint64_t ts = 0;
  std::string_view origin, value;
  if (!in.get_u8(&format)) return Status::Corruption("record truncated");
  if (format != kFormat)
    return Status::Corruption("unknown record format " + std::to_string(format));
  if (!in.get_u8(&flags) || !in.get_fixed64(&ts) || !in.get_fixed64(&record->epoch) ||
      !in.get_fixed64(&record->expiry_ms) || !in.get_length_prefixed(&origin, kNodeIdBytesMax) ||
      !in.get_length_prefixed(&value, kValueBytesMaxLimit) || in.remaining() != 0) {
    return Status::Corruption("record fields malformed");
  }
  if ((flags & ~kFlagTombstone) != 0) return Status::Corruption("unknown record flags");
  record->tombstone = (flags & kFlagTombstone) != 0;
  record->ts = Timestamp{ts};
  record->origin.assign(origin);
  record->value.assign(value);
  return Status::OK();
}

uint64_t record_digest(const Record& record) {
  // The encoding's trailing checksum already covers every field.
  std::string encoded = encode_record(record);
  return decode_fixed64(encoded.data() + encoded.size() - kChecksumBytes);
}

}  // namespace chorus
