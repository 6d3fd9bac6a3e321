// Partition streaming: how a new owner gets the data of a partition it gains in a membership
// transition (DESIGN.md §6).
//
// StreamService (the source side) answers RpcMethod::kStreamPartition with one page of a
// partition's records, in index order (Store::scan_partition), bounded by bytes and records, and
// the position to continue from.
//
// PartitionStreamer (the new owner's side) watches the cluster view. For every partition the
// current transition says this node must stream, it pulls every page from the partition's
// previous owners, one partition at a time, applying each record with last-writer-wins (so pages
// seen twice, and writes arriving meanwhile through the pending-owner path, are harmless). It asks
// every previous owner that is alive and not removed by force, not just one: a write acknowledged
// by W replicas may be missing from any single one of them. A partition is complete when a
// majority of its previous owners (fewer when some were removed by force) streamed fully; then the
// node reports StreamDone through the metadata log, which hands the partition over. Pages are
// paced to stream_bytes_per_s. A failed page is retried from the same position (the stream
// resumes, it does not restart); a source that keeps failing is skipped for this attempt. A report
// the leader accepted but lost before committing (leader change) is sent again after
// report_retry_ms, without streaming the partition again.
// Streaming for a new transition starts start_delay_ms after this node first sees it, so writes
// coordinated with the previous view have landed on the previous owners before they are read.
//
// Thread-safety: StreamService::handle may run on any thread; PartitionStreamer's state lives on
// its strand, progress() may be called from any thread. Lifetime: stop(), drain the io_context.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/clock.h"
#include "core/limits.h"
#include "core/metrics.h"
#include "core/rate_limiter.h"
#include "engines/store.h"
#include "membership/membership.h"
#include "net/transport.h"

namespace chorus {

// One page: at most this many bytes of records, or one record alone when it is larger (a frame
// holds the largest record), and at most this many records.
constexpr size_t kStreamPageBytesMax = 1 << 20;
constexpr size_t kStreamPageRecordsMax = 4096;
static_assert(kStreamPageBytesMax + (64 << 10) <= kFrameBytesMax,
              "a full page plus its framing must fit one internode frame");

struct StreamPage {
  struct Item {
    std::string key;
    std::string record;  // encode_record bytes, checksummed
  };
  std::vector<Item> items;
  std::string next_position;  // resume after this; meaningful when !done
  bool done = false;
};

std::string encode_stream_request(uint32_t partition, std::string_view after, uint32_t max_bytes);
std::string encode_stream_page(const StreamPage& page);
[[nodiscard]] Status decode_stream_page(std::string_view bytes, StreamPage* page);

class StreamService {
 public:
  explicit StreamService(Store* store, MetricsRegistry* metrics);
  // Transport handler for kStreamPartition.
  void handle(std::string payload, const Responder& respond);
  // The page of `partition` after `after`, at most max_bytes of records (at least one record).
  Result<StreamPage> read_page(uint32_t partition, std::string_view after, size_t max_bytes);

 private:
  Store* store_;
  Counter* pages_served_;
};

struct PartitionStreamerOptions {
  std::string self_id;
  // 32 MiB/s moves a 1 GiB partition in about half a minute while leaving most of a LAN link and
  // of a disk to foreground traffic.
  uint64_t stream_bytes_per_s = 32 << 20;
  size_t page_bytes = 256 << 10;
  // Request deadline (2 s) plus margin: writes coordinated with the previous view are done.
  uint64_t start_delay_ms = 3000;
  uint64_t poll_interval_ms = 200;
  uint64_t rpc_timeout_ms = 5000;
  int page_attempts_max = 3;
  uint64_t retry_delay_ms = 500;
  uint64_t report_retry_ms = 10'000;
};

struct StreamProgress {
  uint64_t transition_id = 0;
  size_t partitions_assigned = 0;  // partitions this node streams in this transition
  size_t partitions_done = 0;
  int64_t current_partition = -1;
  uint64_t bytes = 0;  // in this transition, from every source (a key comes from several)
  uint64_t records = 0;
  uint64_t streaming_ms = 0;  // from the first page asked to the last partition reported
};

class PartitionStreamer {
 public:
  PartitionStreamer(boost::asio::io_context& io, Membership* membership, Transport* transport,
                    Store* store, const Clock* clock, PartitionStreamerOptions options,
                    MetricsRegistry* metrics);
  void start();
  void stop();
  StreamProgress progress() const;

 private:
  struct Job {
    uint32_t partition = 0;
    std::vector<std::string> sources;  // peer addresses still to stream from
    size_t needed = 0;                 // complete sources required
    size_t complete = 0;
    std::string position;  // within the current source
    int failures = 0;      // on the current source
  };

  void schedule(uint64_t delay_ms);
  void poll();
  bool start_job(const ClusterView& view);
  void request_page();
  void on_page(Result<std::string> reply);
  void next_source(bool completed);
  void finish_job();

  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer timer_;
  Membership* membership_;
  Transport* transport_;
  Store* store_;
  const Clock* clock_;
  PartitionStreamerOptions options_;
  RateLimiter pace_;  // stream_bytes_per_s, no burst
  std::atomic<bool> stopped_{false};
  bool busy_ = false;  // a page request or a StreamDone report is out
  uint64_t transition_id_ = 0;
  uint64_t transition_seen_ms_ = 0;
  uint64_t first_page_ms_ = 0;  // 0 until this transition's first page request
  // Partitions reported done in this transition, and when. A report is only accepted into the
  // leader's log, not committed: one still pending report_retry_ms later is sent again.
  std::map<uint32_t, uint64_t> reported_;
  std::unique_ptr<Job> job_;
  mutable std::mutex progress_mu_;  // guards progress_ only; never held across calls
  StreamProgress progress_;
  Counter* bytes_;
  Counter* records_;
  Counter* partitions_;
  Counter* page_failures_;
  Gauge* pending_;
};

}  // namespace chorus
