#include "replication/partition_stream.h"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "core/coding.h"
#include "core/limits.h"
#include "core/record.h"
#include "core/rpc_methods.h"
#include "ring/partitioner.h"

namespace chorus {

namespace asio = boost::asio;

namespace {
constexpr uint8_t kStreamVersion = 1;
constexpr size_t kPositionBytesMax = 8 + kKeyBytesMax;
}  // namespace

// ---- wire ---------------------------------------------------------------------------------------

std::string encode_stream_request(uint32_t partition, std::string_view after, uint32_t max_bytes) {
  std::string out(1, static_cast<char>(kStreamVersion));
  put_fixed32(&out, partition);
  put_fixed32(&out, max_bytes);
  put_length_prefixed(&out, after);
  return out;
}

std::string encode_stream_page(const StreamPage& page) {
  std::string out(1, static_cast<char>(kStreamVersion));
  out.push_back(page.done ? 1 : 0);
  put_length_prefixed(&out, page.next_position);
  put_varint64(&out, page.items.size());
  for (const auto& item : page.items) {
    put_length_prefixed(&out, item.key);
    put_length_prefixed(&out, item.record);
  }
  return out;
}

Status decode_stream_page(std::string_view bytes, StreamPage* page) {
  Reader in(bytes);
  uint8_t version = 0;
  uint8_t done = 0;
  std::string_view position;
  uint64_t count = 0;
  if (!in.get_u8(&version) || version != kStreamVersion || !in.get_u8(&done) ||
      !in.get_length_prefixed(&position, kPositionBytesMax) || !in.get_varint64(&count) ||
      count > kStreamPageRecordsMax) {
    return Status::Corruption("stream page: bad header");
  }
  StreamPage out;
  out.done = done != 0;
  out.next_position = std::string(position);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view key;
    std::string_view record;
    if (!in.get_length_prefixed(&key, kKeyBytesMax) ||
        !in.get_length_prefixed(&record, kFrameBytesMax)) {
      return Status::Corruption("stream page: bad item");
    }
    out.items.push_back({std::string(key), std::string(record)});
  }
  if (in.remaining() != 0) return Status::Corruption("stream page: trailing bytes");
  *page = std::move(out);
  return Status::OK();
}

// ---- source side --------------------------------------------------------------------------------

StreamService::StreamService(Store* store, MetricsRegistry* metrics)
    : store_(store),
      pages_served_(metrics->counter("chorus_stream_pages_served_total",
                                     "Partition stream pages served to new owners")) {}

Result<StreamPage> StreamService::read_page(uint32_t partition, std::string_view after,
                                            size_t max_bytes) {
  StreamPage page;
  size_t bytes = 0;
  Status read_status = Status::OK();
  bool more = false;
  Status st = store_->scan_partition(
      partition, after, [&](std::string_view position, std::string_view key) {
        if (page.items.size() >= kStreamPageRecordsMax) {
          more = true;
          return false;
        }
        Record record;
        read_status = store_->get(key, &record);
        if (read_status.is_not_found()) {  // removed between the index and the read: skip it
          read_status = Status::OK();
          page.next_position = std::string(position);
          return true;
        }
        if (!read_status.ok()) return false;
        std::string encoded = encode_record(record);
        const size_t size = key.size() + encoded.size();
        // Never more than max_bytes, except a single record larger than that on its own page.
        if (!page.items.empty() && bytes + size > max_bytes) {
          more = true;
          return false;
        }
        page.items.push_back({std::string(key), std::move(encoded)});
        bytes += size;
        page.next_position = std::string(position);
        return true;
      });
  if (!st.ok()) return st;
  if (!read_status.ok()) return read_status;
  page.done = !more;
  return page;
}

void StreamService::handle(std::string payload, const Responder& respond) {
  Reader in(payload);
  uint8_t version = 0;
  uint32_t partition = 0;
  uint32_t max_bytes = 0;
  std::string_view after;
  if (!in.get_u8(&version) || version != kStreamVersion || !in.get_fixed32(&partition) ||
      !in.get_fixed32(&max_bytes) || !in.get_length_prefixed(&after, kPositionBytesMax) ||
      partition >= kPartitionsMax) {
    return respond(Status::InvalidArgument("stream request: malformed"), {});
  }
  auto page = read_page(partition, after, std::min<size_t>(max_bytes, kStreamPageBytesMax));
  if (!page.ok()) return respond(page.status(), {});
  pages_served_->inc();
  respond(Status::OK(), encode_stream_page(*page));
}

// ---- new owner side -----------------------------------------------------------------------------

PartitionStreamer::PartitionStreamer(asio::io_context& io, Membership* membership,
                                     Transport* transport, Store* store, const Clock* clock,
                                     PartitionStreamerOptions options, MetricsRegistry* metrics)
    : io_(io),
      strand_(asio::make_strand(io)),
      timer_(strand_),
      membership_(membership),
      transport_(transport),
      store_(store),
      clock_(clock),
      options_(std::move(options)),
      pace_(options_.stream_bytes_per_s, 0, clock->steady_ms()),
      bytes_(metrics->counter("chorus_stream_bytes_total", "Bytes of records streamed in")),
      records_(metrics->counter("chorus_stream_records_total", "Records streamed in")),
      partitions_(metrics->counter("chorus_stream_partitions_total",
                                   "Partitions fully streamed in and reported")),
      page_failures_(metrics->counter("chorus_stream_page_failures_total",
                                      "Stream page requests that failed (retried)")),
      pending_(metrics->gauge("chorus_stream_partitions_pending",
                              "Partitions this node still has to stream in")) {}

void PartitionStreamer::start() {
  asio::post(strand_, [this] { poll(); });
}

void PartitionStreamer::stop() {
  stopped_ = true;
  asio::post(strand_, [this] { timer_.cancel(); });
}

StreamProgress PartitionStreamer::progress() const {
  std::lock_guard<std::mutex> lock(progress_mu_);
  return progress_;
}

void PartitionStreamer::schedule(uint64_t delay_ms) {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(delay_ms));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopped_) poll();
  });
}

void PartitionStreamer::poll() {
  if (busy_) return;
  auto view = membership_->view();
  const ClusterMetadata* md = view->metadata.get();
  if (md == nullptr || !md->in_transition() || !view->ring) {
    job_.reset();
    pending_->set(0);
    return schedule(options_.poll_interval_ms);
  }
  if (md->transition_id() != transition_id_) {
    transition_id_ = md->transition_id();
    transition_seen_ms_ = clock_->steady_ms();
    spdlog::info("transition {}: streaming starts in {} ms", transition_id_,
                 options_.start_delay_ms);
    reported_.clear();
    job_.reset();
    first_page_ms_ = 0;
    std::lock_guard<std::mutex> lock(progress_mu_);
    progress_ = StreamProgress{};
    progress_.transition_id = transition_id_;
  }
  size_t assigned = 0;
  size_t waiting = 0;
  for (uint32_t p = 0; p < md->partitions(); ++p) {
    if (md->pending_streams(p).count(options_.self_id) == 0) continue;
    ++assigned;
    if (reported_.count(p) == 0) ++waiting;
  }
  pending_->set(static_cast<int64_t>(waiting));
  {
    std::lock_guard<std::mutex> lock(progress_mu_);
    progress_.partitions_assigned = std::max(progress_.partitions_assigned, assigned);
  }
  if (clock_->steady_ms() < transition_seen_ms_ + options_.start_delay_ms) {
    return schedule(options_.poll_interval_ms);
  }
  if (!job_ && !start_job(*view)) return schedule(options_.poll_interval_ms);
  request_page();
}

bool PartitionStreamer::start_job(const ClusterView& view) {
  const ClusterMetadata& md = *view.metadata;
  const Ring& ring = *view.ring;
  for (uint32_t p = 0; p < md.partitions(); ++p) {
    if (md.pending_streams(p).count(options_.self_id) == 0) continue;
    auto reported = reported_.find(p);
    if (reported != reported_.end()) {
      if (clock_->steady_ms() < reported->second + options_.report_retry_ms) continue;
      // Streamed and reported, yet still pending: the report was lost with a leader change.
      spdlog::info("partition {}: reporting again (the last report never committed)", p);
      job_ = std::make_unique<Job>();
      job_->partition = p;
      return true;  // no sources and none needed: finish_job reports at once
    }
    auto job = std::make_unique<Job>();
    job->partition = p;
    size_t usable = 0;
    for (uint32_t index : ring.previous_owners(p)) {
      const Member& m = ring.members()[index];
      const MemberInfo* info = md.find(m.id);
      if (m.id == options_.self_id || info == nullptr || info->forced) continue;
      ++usable;
      if (view.alive(index)) job->sources.push_back(m.peer_address);
    }
    // A majority of the previous owners that can still answer: with W of N acknowledged, it
    // overlaps every write quorum.
    job->needed = usable == 0 ? 0 : usable / 2 + 1;
    if (job->sources.size() < job->needed) continue;  // wait for sources to come back
    {
      std::lock_guard<std::mutex> lock(progress_mu_);
      progress_.current_partition = p;
    }
    spdlog::debug("streaming partition {} from {} of its previous owners", p, job->sources.size());
    job_ = std::move(job);
    return true;
  }
  return false;
}

void PartitionStreamer::request_page() {
  if (job_->sources.empty()) return finish_job();
  if (first_page_ms_ == 0) first_page_ms_ = clock_->steady_ms();
  busy_ = true;
  transport_->call(job_->sources.front(), method_id(RpcMethod::kStreamPartition),
                   encode_stream_request(job_->partition, job_->position,
                                         static_cast<uint32_t>(options_.page_bytes)),
                   options_.rpc_timeout_ms,
                   // The transport calls back on its own threads: hop onto the strand first.
                   [this](Result<std::string> reply) {
                     asio::post(strand_, [this, reply = std::move(reply)]() mutable {
                       busy_ = false;
                       if (!stopped_) on_page(std::move(reply));
                     });
                   });
}

void PartitionStreamer::on_page(Result<std::string> reply) {
  StreamPage page;
  Status st = reply.ok() ? decode_stream_page(*reply, &page) : reply.status();
  size_t bytes = 0;
  for (size_t i = 0; st.ok() && i < page.items.size(); ++i) {
    Record record;
    st = decode_record(page.items[i].record, &record);
    if (st.ok()) {
      auto applied = store_->apply(page.items[i].key, job_->partition, record, false);
      if (!applied.ok()) st = applied.status();
    }
    bytes += page.items[i].key.size() + page.items[i].record.size();
  }
  if (!st.ok()) {
    page_failures_->inc();
    spdlog::warn("stream of partition {} from {}: {}", job_->partition, job_->sources.front(),
                 st.to_string());
    if (++job_->failures >= options_.page_attempts_max) next_source(false);
    return schedule(options_.retry_delay_ms);
  }
  bytes_->inc(bytes);
  records_->inc(page.items.size());
  {
    std::lock_guard<std::mutex> lock(progress_mu_);
    progress_.bytes += bytes;
    progress_.records += page.items.size();
  }
  job_->failures = 0;
  if (page.done) {
    next_source(true);
  } else {
    job_->position = page.next_position;
  }
  // Pace to stream_bytes_per_s: this page's bytes buy this much time.
  const uint64_t now = clock_->steady_ms();
  pace_.spend(bytes, now);
  schedule(pace_.wait_ms(now));
}

void PartitionStreamer::next_source(bool completed) {
  if (completed) ++job_->complete;
  job_->sources.erase(job_->sources.begin());
  job_->position.clear();
  job_->failures = 0;
}

void PartitionStreamer::finish_job() {
  const uint32_t p = job_->partition;
  if (job_->complete < job_->needed) {
    spdlog::warn("partition {}: {} of {} needed sources streamed fully; trying again", p,
                 job_->complete, job_->needed);
    job_.reset();
    return schedule(options_.retry_delay_ms);
  }
  busy_ = true;
  membership_->submit(
      MetaCommand::stream_done(options_.self_id, transition_id_, p),
      [this, p, transition = transition_id_](Status st) {
        asio::post(strand_, [this, p, transition, st] {
          busy_ = false;
          if (stopped_) return;
          if (st.ok() && transition == transition_id_) {
            if (reported_.count(p) == 0) partitions_->inc();
            reported_[p] = clock_->steady_ms();
            job_.reset();
            std::lock_guard<std::mutex> lock(progress_mu_);
            progress_.partitions_done = reported_.size();
            progress_.streaming_ms = clock_->steady_ms() - first_page_ms_;
            if (progress_.partitions_done == progress_.partitions_assigned) {
              spdlog::info(
                  "transition {}: streamed all {} partitions in {} ms ({} records, {} bytes "
                  "from all sources)",
                  transition, progress_.partitions_done, progress_.streaming_ms, progress_.records,
                  progress_.bytes);
            }
            progress_.current_partition = -1;
          } else if (!st.ok()) {
            spdlog::warn("reporting partition {} streamed: {}", p, st.to_string());
          }
          schedule(st.ok() ? 0 : options_.retry_delay_ms);
        });
      });
}

}  // namespace chorus
