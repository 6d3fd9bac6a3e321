#include "replication/messages.h"

#include "core/coding.h"
#include "core/limits.h"

namespace chorus {
namespace {

constexpr size_t kRecordBytesMax = kValueBytesMaxLimit + kRecordOverheadBytesMax;

Status malformed(const char* what) {
  return Status::Corruption(std::string("malformed ") + what);
}

}  // namespace

std::string encode(const ReplicaWrite& m) {
  std::string out;
  put_fixed64(&out, m.sender_hlc.packed);
  put_length_prefixed(&out, m.key);
  put_fixed32(&out, m.partition);
  out.push_back(m.sync ? 1 : 0);
  put_length_prefixed(&out, m.hint_for);
  put_fixed64(&out, m.view_epoch);
  std::string record = encode_record(m.record);
  put_length_prefixed(&out, record);
  return out;
}

Status decode(std::string_view bytes, ReplicaWrite* m) {
  Reader in(bytes);
  uint64_t hlc = 0;
  uint8_t sync = 0;
  std::string_view key, hint_for, record;
  if (!in.get_fixed64(&hlc) || !in.get_length_prefixed(&key, kKeyBytesMax) ||
      !in.get_fixed32(&m->partition) || !in.get_u8(&sync) ||
      !in.get_length_prefixed(&hint_for, kNodeIdBytesMax) || !in.get_fixed64(&m->view_epoch) ||
      !in.get_length_prefixed(&record, kRecordBytesMax) || in.remaining() != 0) {
    return malformed("ReplicaWrite");
  }
  CHORUS_RETURN_IF_ERROR(decode_record(record, &m->record));
  m->sender_hlc = Timestamp{hlc};
  m->key.assign(key);
  m->sync = sync != 0;
  m->hint_for.assign(hint_for);
  return Status::OK();
}

std::string encode(const ReplicaWriteReply& m) {
  std::string out;
  put_fixed64(&out, m.sender_hlc.packed);
  out.push_back(m.applied ? 1 : 0);
  put_fixed64(&out, m.current_ts.packed);
  put_length_prefixed(&out, m.current_origin);
  return out;
}

Status decode(std::string_view bytes, ReplicaWriteReply* m) {
  Reader in(bytes);
  uint64_t hlc = 0, current = 0;
  uint8_t applied = 0;
  std::string_view origin;
  if (!in.get_fixed64(&hlc) || !in.get_u8(&applied) || !in.get_fixed64(&current) ||
      !in.get_length_prefixed(&origin, kNodeIdBytesMax) || in.remaining() != 0) {
    return malformed("ReplicaWriteReply");
  }
  m->sender_hlc = Timestamp{hlc};
  m->applied = applied != 0;
  m->current_ts = Timestamp{current};
  m->current_origin.assign(origin);
  return Status::OK();
}

std::string encode(const ReplicaRead& m) {
  std::string out;
  put_fixed64(&out, m.sender_hlc.packed);
  put_length_prefixed(&out, m.key);
  return out;
}

Status decode(std::string_view bytes, ReplicaRead* m) {
  Reader in(bytes);
  uint64_t hlc = 0;
  std::string_view key;
  if (!in.get_fixed64(&hlc) || !in.get_length_prefixed(&key, kKeyBytesMax) || in.remaining() != 0) {
    return malformed("ReplicaRead");
  }
  m->sender_hlc = Timestamp{hlc};
  m->key.assign(key);
  return Status::OK();
}

std::string encode(const ReplicaReadReply& m) {
  std::string out;
  put_fixed64(&out, m.sender_hlc.packed);
  out.push_back(m.found ? 1 : 0);
  if (m.found) put_length_prefixed(&out, encode_record(m.record));
  return out;
}

Status decode(std::string_view bytes, ReplicaReadReply* m) {
  Reader in(bytes);
  uint64_t hlc = 0;
  uint8_t found = 0;
  if (!in.get_fixed64(&hlc) || !in.get_u8(&found)) return malformed("ReplicaReadReply");
  m->sender_hlc = Timestamp{hlc};
  m->found = found != 0;
  if (m->found) {
    std::string_view record;
    if (!in.get_length_prefixed(&record, kRecordBytesMax)) return malformed("ReplicaReadReply");
    CHORUS_RETURN_IF_ERROR(decode_record(record, &m->record));
  }
  if (in.remaining() != 0) return malformed("ReplicaReadReply");
  return Status::OK();
}

}  // namespace chorus
