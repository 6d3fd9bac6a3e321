#include "membership/raft/codec.h"

#include <string>
#include <utility>

#include "core/coding.h"

namespace chorus::raft {

namespace {

// Wire codes are spelled out rather than cast from the enums, so that adding or reordering an
// enumerator is a compile error here (-Wswitch) instead of a silent change of the wire format.
uint8_t message_type_code(MessageType type) {
  switch (type) {
    case MessageType::kPreVote:
      return 1;
    case MessageType::kPreVoteResp:
      return 2;
    case MessageType::kVote:
      return 3;
    case MessageType::kVoteResp:
      return 4;
    case MessageType::kAppend:
      return 5;
    case MessageType::kAppendResp:
      return 6;
    case MessageType::kSnapshot:
      return 7;
  }
  return 0;  // unreachable for valid enumerators; 0 is not a valid code, so decoding refuses it
}

bool message_type_from_code(uint8_t code, MessageType* type) {
  for (MessageType t : {MessageType::kPreVote, MessageType::kPreVoteResp, MessageType::kVote,
                        MessageType::kVoteResp, MessageType::kAppend, MessageType::kAppendResp,
                        MessageType::kSnapshot}) {
    if (message_type_code(t) == code) {
      *type = t;
      return true;
    }
  }
  return false;
}

uint8_t entry_type_code(EntryType type) {
  switch (type) {
    case EntryType::kNormal:
      return 0;
    case EntryType::kConfChange:
      return 1;
  }
  return 0xff;
}

bool entry_type_from_code(uint8_t code, EntryType* type) {
  for (EntryType t : {EntryType::kNormal, EntryType::kConfChange}) {
    if (entry_type_code(t) == code) {
      *type = t;
      return true;
    }
  }
  return false;
}

Status corrupt(const std::string& what) {
  return Status::Corruption("raft codec: " + what);
}
Status over_limit(const std::string& what) {
  return Status::InvalidArgument("raft codec: " + what);
}

// Encoders validate with the decoder's checks; whatever the problem, it is the caller's mistake.
Status as_caller_error(Status st) {
  if (st.ok() || st.code() == Status::Code::kInvalidArgument) return st;
  return Status::InvalidArgument(st.message());
}

Status get_varint(Reader* in, uint64_t* v, const char* field) {
  if (!in->get_varint64(v)) return corrupt(std::string("truncated or bad varint: ") + field);
  return Status::OK();
}

Status get_bool(Reader* in, bool* v, const char* field) {
  uint8_t byte = 0;
  if (!in->get_u8(&byte)) return corrupt(std::string("truncated: ") + field);
  if (byte > 1) return corrupt(std::string("flag is not 0 or 1: ") + field);
  *v = byte == 1;
  return Status::OK();
}

// A length-prefixed byte string: over the limit is InvalidArgument, past the input Corruption.
Status get_bytes(Reader* in, size_t max_bytes, std::string* v, const char* field) {
  uint64_t n = 0;
  CHORUS_RETURN_IF_ERROR(get_varint(in, &n, field));
  if (n > max_bytes) return over_limit(std::string(field) + " exceeds its byte limit");
  std::string_view bytes;
  if (!in->get_bytes(static_cast<size_t>(n), &bytes)) {
    return corrupt(std::string("truncated: ") + field);
  }
  v->assign(bytes.data(), bytes.size());
  return Status::OK();
}

Status get_version(Reader* in, const char* what) {
  uint8_t version = 0;
  if (!in->get_u8(&version)) return corrupt(std::string("empty ") + what);
  if (version != kCodecVersion) {
    return corrupt(std::string("unsupported ") + what + " format version " +
                   std::to_string(version));
  }
  return Status::OK();
}

Status expect_end(const Reader& in, const char* what) {
  if (in.remaining() != 0) return corrupt(std::string("trailing bytes after ") + what);
  return Status::OK();
}

Status check_entry(const Entry& e) {
  if (e.data.size() > kEntryDataBytesMax) return over_limit("entry data exceeds its byte limit");
  if (e.index == 0) return corrupt("entry index 0");
  return Status::OK();
}

// Raft only ever ships runs of consecutive indexes; anything else is a damaged message.
Status check_entries(const std::vector<Entry>& entries) {
  if (entries.size() > kMessageEntriesMax) return over_limit("too many entries in one message");
  for (size_t i = 0; i < entries.size(); ++i) {
    CHORUS_RETURN_IF_ERROR(check_entry(entries[i]));
    if (entries[i].index != entries.front().index + i) return corrupt("entries not contiguous");
  }
  return Status::OK();
}

Status check_node_list(const std::vector<NodeId>& nodes, const char* what) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i] == kNoNode) return corrupt(std::string(what) + " names node 0");
    if (i > 0 && nodes[i] <= nodes[i - 1]) {
      return corrupt(std::string(what) + " not strictly sorted");
    }
  }
  return Status::OK();
}

Status check_conf_state(const ConfState& conf) {
  if (conf.voters.size() + conf.learners.size() > kConfStateNodesMax) {
    return over_limit("conf state has too many nodes");
  }
  CHORUS_RETURN_IF_ERROR(check_node_list(conf.voters, "voters"));
  CHORUS_RETURN_IF_ERROR(check_node_list(conf.learners, "learners"));
  // Both lists are sorted: a merge walk finds a node listed twice.
  size_t v = 0;
  size_t l = 0;
  while (v < conf.voters.size() && l < conf.learners.size()) {
    if (conf.voters[v] == conf.learners[l]) return corrupt("node is both voter and learner");
    if (conf.voters[v] < conf.learners[l]) {
      ++v;
    } else {
      ++l;
    }
  }
  return Status::OK();
}

Status check_snapshot(const Snapshot& s) {
  if (s.data.size() > kSnapshotDataBytesMax) {
    return over_limit("snapshot data exceeds its byte limit");
  }
  return check_conf_state(s.metadata.conf);
}

void put_entry_body(std::string* out, const Entry& e) {
  out->push_back(static_cast<char>(entry_type_code(e.type)));
  put_varint64(out, e.term);
  put_varint64(out, e.index);
  put_length_prefixed(out, e.data);
}

Status get_entry_body(Reader* in, Entry* e) {
  uint8_t code = 0;
  if (!in->get_u8(&code)) return corrupt("truncated entry type");
  if (!entry_type_from_code(code, &e->type)) {
    return corrupt("unknown entry type " + std::to_string(code));
  }
  CHORUS_RETURN_IF_ERROR(get_varint(in, &e->term, "entry term"));
  CHORUS_RETURN_IF_ERROR(get_varint(in, &e->index, "entry index"));
  CHORUS_RETURN_IF_ERROR(get_bytes(in, kEntryDataBytesMax, &e->data, "entry data"));
  return check_entry(*e);
}

void put_node_list(std::string* out, const std::vector<NodeId>& nodes) {
  put_varint64(out, nodes.size());
  for (NodeId n : nodes) put_varint64(out, n);
}

Status get_node_list(Reader* in, size_t max_count, std::vector<NodeId>* nodes, const char* what) {
  uint64_t count = 0;
  CHORUS_RETURN_IF_ERROR(get_varint(in, &count, what));
  if (count > max_count) return over_limit(std::string(what) + ": too many nodes");
  nodes->clear();
  nodes->reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t id = 0;
    CHORUS_RETURN_IF_ERROR(get_varint(in, &id, what));
    nodes->push_back(id);
  }
  return Status::OK();
}

void put_snapshot_body(std::string* out, const Snapshot& s) {
  put_varint64(out, s.metadata.index);
  put_varint64(out, s.metadata.term);
  put_node_list(out, s.metadata.conf.voters);
  put_node_list(out, s.metadata.conf.learners);
  put_length_prefixed(out, s.data);
}

Status get_snapshot_body(Reader* in, Snapshot* s) {
  SnapshotMetadata& md = s->metadata;
  CHORUS_RETURN_IF_ERROR(get_varint(in, &md.index, "snapshot index"));
  CHORUS_RETURN_IF_ERROR(get_varint(in, &md.term, "snapshot term"));
  CHORUS_RETURN_IF_ERROR(get_node_list(in, kConfStateNodesMax, &md.conf.voters, "voters"));
  CHORUS_RETURN_IF_ERROR(
      get_node_list(in, kConfStateNodesMax - md.conf.voters.size(), &md.conf.learners, "learners"));
  CHORUS_RETURN_IF_ERROR(get_bytes(in, kSnapshotDataBytesMax, &s->data, "snapshot data"));
  return check_snapshot(*s);
}

Status check_message(const Message& m) {
  CHORUS_RETURN_IF_ERROR(check_entries(m.entries));
  return check_snapshot(m.snapshot);
}

void put_message(std::string* out, const Message& m) {
  out->push_back(static_cast<char>(kCodecVersion));
  out->push_back(static_cast<char>(message_type_code(m.type)));
  put_varint64(out, m.from);
  put_varint64(out, m.to);
  put_varint64(out, m.term);
  put_varint64(out, m.log_term);
  put_varint64(out, m.index);
  put_varint64(out, m.commit);
  out->push_back(m.reject ? 1 : 0);
  put_varint64(out, m.reject_hint);
  put_varint64(out, m.entries.size());
  for (const Entry& e : m.entries) put_entry_body(out, e);
  // An empty snapshot (the common case) costs one byte, not an encoded empty snapshot.
  const bool has_snapshot = !(m.snapshot == Snapshot{});
  out->push_back(has_snapshot ? 1 : 0);
  if (has_snapshot) put_snapshot_body(out, m.snapshot);
}

Status get_message_header(Reader* in, Message* m) {
  uint8_t code = 0;
  if (!in->get_u8(&code)) return corrupt("truncated message type");
  if (!message_type_from_code(code, &m->type)) {
    return corrupt("unknown message type " + std::to_string(code));
  }
  CHORUS_RETURN_IF_ERROR(get_varint(in, &m->from, "from"));
  CHORUS_RETURN_IF_ERROR(get_varint(in, &m->to, "to"));
  CHORUS_RETURN_IF_ERROR(get_varint(in, &m->term, "term"));
  CHORUS_RETURN_IF_ERROR(get_varint(in, &m->log_term, "log_term"));
  CHORUS_RETURN_IF_ERROR(get_varint(in, &m->index, "index"));
  CHORUS_RETURN_IF_ERROR(get_varint(in, &m->commit, "commit"));
  CHORUS_RETURN_IF_ERROR(get_bool(in, &m->reject, "reject"));
  return get_varint(in, &m->reject_hint, "reject_hint");
}

Status get_message_entries(Reader* in, std::vector<Entry>* entries) {
  uint64_t count = 0;
  CHORUS_RETURN_IF_ERROR(get_varint(in, &count, "entry count"));
  if (count > kMessageEntriesMax) return over_limit("too many entries in one message");
  entries->resize(static_cast<size_t>(count));
  for (Entry& e : *entries) CHORUS_RETURN_IF_ERROR(get_entry_body(in, &e));
  return check_entries(*entries);
}

}  // namespace

Result<std::string> encode_message(const Message& m) {
  CHORUS_RETURN_IF_ERROR(as_caller_error(check_message(m)));
  std::string out;
  put_message(&out, m);
  if (out.size() > kMessageBytesMax) return over_limit("message exceeds its byte limit");
  return out;
}

Result<Message> decode_message(std::string_view bytes) {
  if (bytes.size() > kMessageBytesMax) return over_limit("message exceeds its byte limit");
  Reader in(bytes);
  Message m;
  CHORUS_RETURN_IF_ERROR(get_version(&in, "message"));
  CHORUS_RETURN_IF_ERROR(get_message_header(&in, &m));
  CHORUS_RETURN_IF_ERROR(get_message_entries(&in, &m.entries));
  bool has_snapshot = false;
  CHORUS_RETURN_IF_ERROR(get_bool(&in, &has_snapshot, "has_snapshot"));
  if (has_snapshot) CHORUS_RETURN_IF_ERROR(get_snapshot_body(&in, &m.snapshot));
  CHORUS_RETURN_IF_ERROR(expect_end(in, "message"));
  return m;
}

Result<std::string> encode_entry(const Entry& e) {
  CHORUS_RETURN_IF_ERROR(as_caller_error(check_entry(e)));
  std::string out;
  out.push_back(static_cast<char>(kCodecVersion));
  put_entry_body(&out, e);
  return out;
}

Result<Entry> decode_entry(std::string_view bytes) {
  if (bytes.size() > 1 + kEntryBytesMax) return over_limit("entry exceeds its byte limit");
  Reader in(bytes);
  Entry e;
  CHORUS_RETURN_IF_ERROR(get_version(&in, "entry"));
  CHORUS_RETURN_IF_ERROR(get_entry_body(&in, &e));
  CHORUS_RETURN_IF_ERROR(expect_end(in, "entry"));
  return e;
}

std::string encode_hard_state(const HardState& hs) {
  std::string out;
  out.push_back(static_cast<char>(kCodecVersion));
  put_varint64(&out, hs.term);
  put_varint64(&out, hs.vote);
  put_varint64(&out, hs.commit);
  return out;
}

Result<HardState> decode_hard_state(std::string_view bytes) {
  if (bytes.size() > kHardStateBytesMax) return over_limit("hard state exceeds its byte limit");
  Reader in(bytes);
  HardState hs;
  CHORUS_RETURN_IF_ERROR(get_version(&in, "hard state"));
  CHORUS_RETURN_IF_ERROR(get_varint(&in, &hs.term, "hard state term"));
  CHORUS_RETURN_IF_ERROR(get_varint(&in, &hs.vote, "hard state vote"));
  CHORUS_RETURN_IF_ERROR(get_varint(&in, &hs.commit, "hard state commit"));
  CHORUS_RETURN_IF_ERROR(expect_end(in, "hard state"));
  return hs;
}

Result<std::string> encode_snapshot(const Snapshot& s) {
  CHORUS_RETURN_IF_ERROR(as_caller_error(check_snapshot(s)));
  std::string out;
  out.push_back(static_cast<char>(kCodecVersion));
  put_snapshot_body(&out, s);
  return out;
}

Result<Snapshot> decode_snapshot(std::string_view bytes) {
  if (bytes.size() > kSnapshotBytesMax) return over_limit("snapshot exceeds its byte limit");
  Reader in(bytes);
  Snapshot s;
  CHORUS_RETURN_IF_ERROR(get_version(&in, "snapshot"));
  CHORUS_RETURN_IF_ERROR(get_snapshot_body(&in, &s));
  CHORUS_RETURN_IF_ERROR(expect_end(in, "snapshot"));
  return s;
}

}  // namespace chorus::raft
