#include "ring/ring.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "core/assert.h"
#include "core/limits.h"

namespace chorus {
namespace {

// Seeds the rendezvous scores. Part of the placement format: changing it moves every partition.
constexpr uint64_t kScoreSeed = 0x43686f7275735231;  // "ChorusR1"

// Replica loads may spread this far (in percent) either side of the average. Zero would balance
// perfectly but every join or leave would then re-shuffle partitions among the old members to even
// out the newcomer's random take; 10% halves that churn at N=3 (see ring_test.cpp) and keeps the
// max/min ratio within (100 + 10) / (100 - 10) = 1.22. Primaries move no data, so they get no
// slack.
constexpr uint64_t kReplicaLoadSlackPercent = 10;
static_assert((100 + kReplicaLoadSlackPercent) * 100 <= 125 * (100 - kReplicaLoadSlackPercent),
              "replica loads must stay within a max/min ratio of 1.25");

constexpr uint32_t kNone = UINT32_MAX;

uint64_t member_hash(const std::string& id) {
  return XXH3_64bits_withSeed(id.data(), id.size(), kScoreSeed);
}

// Rendezvous score of (partition, member): XXH3 of the little-endian partition number, seeded with
// the member's id hash, so it is the same on every platform.
uint64_t score_of(uint32_t partition, uint64_t member_hash) {
  const unsigned char bytes[4] = {
      static_cast<unsigned char>(partition), static_cast<unsigned char>(partition >> 8),
      static_cast<unsigned char>(partition >> 16), static_cast<unsigned char>(partition >> 24)};
  return XXH3_64bits_withSeed(bytes, sizeof bytes, member_hash);
}

// A (partition, member) pair as the member ranks it. Partitions rank pairs by the same score (ties
// broken by index), which makes the stable assignment below unique.
struct Bid {
  uint64_t score;
  uint32_t partition;
};

bool better(const Bid& a, const Bid& b) {
  return a.score != b.score ? a.score > b.score : a.partition < b.partition;
}

bool holds(const std::vector<uint32_t>& members, uint32_t m) {
  return std::find(members.begin(), members.end(), m) != members.end();
}

Status validate(const std::vector<Member>& sorted, uint32_t partitions, int replicas) {
  if (sorted.empty()) return Status::InvalidArgument("ring needs at least one member");
  if (sorted.size() > kRingMembersMax) {
    return Status::InvalidArgument("ring has " + std::to_string(sorted.size()) +
                                   " members, more than " + std::to_string(kRingMembersMax));
  }
  if (!is_valid_partition_count(partitions)) {
    return Status::InvalidArgument("partition count " + std::to_string(partitions) +
                                   " is not a power of two in [1, " +
                                   std::to_string(kPartitionsMax) + "]");
  }
  if (size_t{partitions} * sorted.size() > kRingEntriesMax) {
    return Status::InvalidArgument("partitions * members exceeds " +
                                   std::to_string(kRingEntriesMax));
  }
  if (replicas < 1 || replicas > kReplicasMax) {
    return Status::InvalidArgument("replicas " + std::to_string(replicas) + " is outside [1, " +
                                   std::to_string(kReplicasMax) + "]");
  }
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& id = sorted[i].id;
    if (id.empty()) return Status::InvalidArgument("member id is empty");
    if (id.size() > kNodeIdBytesMax) {
      return Status::InvalidArgument("member id '" + id + "' is longer than " +
                                     std::to_string(kNodeIdBytesMax) + " bytes");
    }
    if (i > 0 && sorted[i - 1].id == id) {
      return Status::InvalidArgument("duplicate member id '" + id + "'");
    }
  }
  return Status::OK();
}

// For every partition, all member indices by descending score (ties: lower index first).
std::vector<std::vector<uint32_t>> rendezvous_order(const std::vector<uint64_t>& hashes,
                                                    uint32_t partitions) {
  const auto member_count = static_cast<uint32_t>(hashes.size());
  std::vector<std::vector<uint32_t>> order(partitions);
  std::vector<std::pair<uint64_t, uint32_t>> scored(member_count);
  for (uint32_t p = 0; p < partitions; ++p) {
    for (uint32_t m = 0; m < member_count; ++m) scored[m] = {score_of(p, hashes[m]), m};
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    order[p].resize(member_count);
    for (uint32_t i = 0; i < member_count; ++i) order[p][i] = scored[i].second;
  }
  return order;
}

// One capacitated assignment: partition p needs `seats` distinct members from candidates[p] (best
// first), and every member should end with a load in [load_min, load_max].
struct Problem {
  const std::vector<std::vector<uint32_t>>& candidates;
  const std::vector<uint64_t>& hashes;
  size_t seats;
  uint32_t load_min;
  uint32_t load_max;
  bool everyone_eligible;  // candidates[p] lists every member, for every p
};

// chosen[p]: the members assigned to partition p; load[m]: how many partitions member m holds.
struct Assignment {
  std::vector<std::vector<uint32_t>> chosen;
  std::vector<uint32_t> load;
};

// Capacitated stable assignment (hospitals/residents, partition-proposing Gale-Shapley). Member m
// holds at most load_max partitions and keeps the best bids. As both sides rank a pair by the same
// score, the stable assignment is unique: the result does not depend on the order partitions
// propose in. A partition whose remaining candidates are all full with better bids is left short.
Assignment assign_stable(const Problem& problem) {
  const auto partitions = static_cast<uint32_t>(problem.candidates.size());
  Assignment out{std::vector<std::vector<uint32_t>>(partitions),
                 std::vector<uint32_t>(problem.hashes.size(), 0)};
  std::vector<std::vector<Bid>> held(problem.hashes.size());  // per member: heap, worst on top
  std::vector<size_t> next(partitions, 0);  // the next candidate each partition proposes to
  std::vector<uint32_t> proposing;
  for (uint32_t p = partitions; p-- > 0;) proposing.push_back(p);
  while (!proposing.empty()) {
    const uint32_t p = proposing.back();
    proposing.pop_back();
    const std::vector<uint32_t>& candidates = problem.candidates[p];
    while (out.chosen[p].size() < problem.seats && next[p] < candidates.size()) {
      const uint32_t m = candidates[next[p]++];
      const Bid bid{score_of(p, problem.hashes[m]), p};
      std::vector<Bid>& heap = held[m];
      if (heap.size() >= problem.load_max) {
        if (!better(bid, heap.front())) continue;  // m keeps its bids; try p's next candidate
        const uint32_t loser = heap.front().partition;
        std::pop_heap(heap.begin(), heap.end(), better);
        heap.pop_back();
        auto& lost = out.chosen[loser];
        lost.erase(std::find(lost.begin(), lost.end(), m));
        proposing.push_back(loser);
      }
      heap.push_back(bid);
      std::push_heap(heap.begin(), heap.end(), better);
      out.chosen[p].push_back(m);
    }
  }
  for (size_t m = 0; m < held.size(); ++m) out.load[m] = static_cast<uint32_t>(held[m].size());
  return out;
}

// Gives short partition p one more seat without exceeding load_max, along the shortest augmenting
// path: p takes a seat at member m1; if m1 is full it hands one of its partitions q1 to m2, and so
// on until a member with room takes the last one. Only the partitions on the path move, one seat
// each. Returns false when no such path exists.
bool augment(uint32_t p, const Problem& problem, std::vector<std::vector<uint32_t>>* holders,
             Assignment* a) {
  struct Hop {
    uint32_t mover = kNone;  // the partition that takes a seat at this member
    uint32_t from = kNone;   // the member the mover gives up (kNone: the mover is p, which gains)
  };
  std::vector<Hop> reached(a->load.size());
  std::vector<uint32_t> queue;
  uint32_t end = kNone;
  auto reach = [&](uint32_t m, Hop hop) {
    reached[m] = hop;
    if (a->load[m] < problem.load_max) end = m;
    queue.push_back(m);
  };
  for (uint32_t m : problem.candidates[p]) {
    if (end == kNone && !holds(a->chosen[p], m)) reach(m, {p, kNone});
  }
  for (size_t head = 0; head < queue.size() && end == kNone; ++head) {
    const uint32_t m = queue[head];
    for (uint32_t q : (*holders)[m]) {
      for (uint32_t next : problem.candidates[q]) {
        if (end != kNone) break;
        if (reached[next].mover == kNone && !holds(a->chosen[q], next)) reach(next, {q, m});
      }
    }
  }
  if (end == kNone) return false;
  ++a->load[end];
  for (uint32_t m = end; m != kNone;) {
    const Hop hop = reached[m];
    a->chosen[hop.mover].push_back(m);
    (*holders)[m].push_back(hop.mover);
    if (hop.from != kNone) {
      auto& chosen = a->chosen[hop.mover];
      chosen.erase(std::find(chosen.begin(), chosen.end(), hop.from));
      auto& held = (*holders)[hop.from];
      held.erase(std::find(held.begin(), held.end(), hop.mover));
    }
    m = hop.from;
  }
  return true;
}

// Completes the partitions the stable pass left short, which happens when every member with room
// already holds the partition. If no augmenting path exists (load_max cannot be met, e.g. N == M
// with uneven slots) the seat goes to the least-loaded candidate: a partition is never left with
// fewer replicas than asked for.
void complete(const Problem& problem, Assignment* a) {
  const auto partitions = static_cast<uint32_t>(problem.candidates.size());
  std::vector<std::vector<uint32_t>> holders(a->load.size());
  for (uint32_t p = 0; p < partitions; ++p) {
    for (uint32_t m : a->chosen[p]) holders[m].push_back(p);
  }
  for (uint32_t p = 0; p < partitions; ++p) {
    while (a->chosen[p].size() < problem.seats) {
      if (augment(p, problem, &holders, a)) continue;
      uint32_t best = kNone;
      for (uint32_t m : problem.candidates[p]) {
        if (holds(a->chosen[p], m)) continue;
        if (best == kNone || a->load[m] < a->load[best]) best = m;
      }
      if (best == kNone) break;  // fewer candidates than seats: build() never asks for that
      a->chosen[p].push_back(best);
      holders[best].push_back(p);
      ++a->load[best];
    }
  }
}

// The partitions member m may hold, by descending score (ties: lower partition first).
std::vector<uint32_t> preferred_partitions(uint32_t m, const Problem& problem) {
  std::vector<Bid> bids;
  for (uint32_t p = 0; p < problem.candidates.size(); ++p) {
    if (problem.everyone_eligible || holds(problem.candidates[p], m)) {
      bids.push_back({score_of(p, problem.hashes[m]), p});
    }
  }
  std::sort(bids.begin(), bids.end(), better);
  std::vector<uint32_t> out(bids.size());
  for (size_t i = 0; i < bids.size(); ++i) out[i] = bids[i].partition;
  return out;
}

// Moves one seat to under-loaded member u along the shortest pull path: u takes partition q1 from
// member d1; if that would leave d1 below load_min, d1 takes q2 from d2, and so on until a member
// above the minimum gives one up. Members take the partitions they score highest, the order the
// stable pass uses, so what is pulled tends to stay put as membership changes.
bool pull(uint32_t u, const Problem& problem, std::vector<std::vector<uint32_t>>* preferred,
          Assignment* a) {
  struct Hop {
    uint32_t partition = kNone;  // moves from this member...
    uint32_t to = kNone;         // ...to this one
  };
  std::vector<Hop> reached(a->load.size());
  std::vector<bool> visited(a->load.size(), false);
  std::vector<uint32_t> queue{u};
  visited[u] = true;
  uint32_t end = kNone;
  for (size_t head = 0; head < queue.size() && end == kNone; ++head) {
    const uint32_t x = queue[head];
    if ((*preferred)[x].empty()) (*preferred)[x] = preferred_partitions(x, problem);
    for (uint32_t q : (*preferred)[x]) {
      if (end != kNone) break;
      if (holds(a->chosen[q], x)) continue;
      for (uint32_t d : a->chosen[q]) {
        if (visited[d]) continue;
        visited[d] = true;
        reached[d] = {q, x};
        if (a->load[d] > problem.load_min) {
          end = d;
          break;
        }
        queue.push_back(d);
      }
    }
  }
  if (end == kNone) return false;
  --a->load[end];
  ++a->load[u];
  for (uint32_t m = end; m != u;) {
    const Hop hop = reached[m];
    auto& chosen = a->chosen[hop.partition];
    *std::find(chosen.begin(), chosen.end(), m) = hop.to;
    m = hop.to;
  }
  return true;
}

// Stable pass, then completion, then every member below load_min (lowest index first) pulls seats
// until it reaches the minimum or no pull path exists.
Assignment solve(const Problem& problem) {
  Assignment a = assign_stable(problem);
  complete(problem, &a);
  std::vector<std::vector<uint32_t>> preferred(a.load.size());
  for (uint32_t u = 0; u < a.load.size(); ++u) {
    while (a.load[u] < problem.load_min && pull(u, problem, &preferred, &a)) {
    }
  }
  return a;
}

uint32_t ceil_div(uint64_t a, uint64_t b) {
  return static_cast<uint32_t>((a + b - 1) / b);
}
uint32_t floor_div(uint64_t a, uint64_t b) {
  return static_cast<uint32_t>(a / b);
}

}  // namespace

Result<std::shared_ptr<const Ring>> Ring::build(std::vector<Member> members, uint32_t partitions,
                                                int replicas, uint64_t epoch) {
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.id < b.id; });
  CHORUS_RETURN_IF_ERROR(validate(members, partitions, replicas));

  const size_t member_count = members.size();
  std::vector<uint64_t> hashes(member_count);
  for (size_t m = 0; m < member_count; ++m) hashes[m] = member_hash(members[m].id);
  // Walk order first: it is every partition's preference list.
  const std::vector<std::vector<uint32_t>> order = rendezvous_order(hashes, partitions);

  // Owners: min(N, M) per partition, each member's load within the slack band around the average.
  const size_t seats = std::min<size_t>(static_cast<size_t>(replicas), member_count);
  const uint64_t total = uint64_t{partitions} * seats;
  const uint32_t load_max =
      std::max(ceil_div(total, member_count),
               floor_div(total * (100 + kReplicaLoadSlackPercent), 100 * member_count));
  const uint32_t load_min =
      std::min(floor_div(total, member_count),
               ceil_div(total * (100 - kReplicaLoadSlackPercent), 100 * member_count));
  const Assignment replica = solve({order, hashes, seats, load_min, load_max, true});

  // Each partition's owners, in walk order, are the candidates for its primary.
  std::vector<std::vector<uint32_t>> owners(partitions);
  for (uint32_t p = 0; p < partitions; ++p) {
    for (uint32_t m : order[p]) {
      if (holds(replica.chosen[p], m)) owners[p].push_back(m);
    }
  }
  const Assignment primary = solve({owners, hashes, 1, floor_div(partitions, member_count),
                                    ceil_div(partitions, member_count), false});

  auto ring = std::shared_ptr<Ring>(new Ring());
  ring->partitions_ = partitions;
  ring->replicas_ = replicas;
  ring->epoch_ = epoch;
  ring->members_ = std::move(members);
  ring->walk_.reserve(partitions);
  for (uint32_t p = 0; p < partitions; ++p) {
    // The assignments above never drop a seat; a short partition would silently lose replicas.
    CHORUS_ASSERT(owners[p].size() == seats && primary.chosen[p].size() == 1,
                  "placement left a seat empty");
    // Primary to the front, the other owners keep walk order; then the non-owners, in walk order.
    const uint32_t lead = primary.chosen[p].front();
    std::stable_partition(owners[p].begin(), owners[p].end(),
                          [lead](uint32_t m) { return m == lead; });
    std::vector<uint32_t> walk = owners[p];
    for (uint32_t m : order[p]) {
      if (!holds(owners[p], m)) walk.push_back(m);
    }
    ring->walk_.push_back(std::move(walk));
  }
  ring->owners_ = std::move(owners);
  return std::shared_ptr<const Ring>(std::move(ring));
}

namespace {
// Re-expresses member indices of `from` as indices of `into` (whose members include them all).
std::vector<uint32_t> remap(const std::vector<uint32_t>& indices, const Ring& from,
                            const Ring& into) {
  std::vector<uint32_t> out;
  out.reserve(indices.size());
  for (uint32_t m : indices) {
    auto index = into.index_of(from.members()[m].id);
    CHORUS_ASSERT(index.has_value(), "transition member missing from the union");
    out.push_back(static_cast<uint32_t>(*index));
  }
  return out;
}

void append_missing(const std::vector<uint32_t>& from, std::vector<uint32_t>* into) {
  for (uint32_t m : from) {
    if (!holds(*into, m)) into->push_back(m);
  }
}
}  // namespace

Result<std::shared_ptr<const Ring>> Ring::build_transition(std::vector<Member> current,
                                                           std::vector<Member> target,
                                                           const std::vector<bool>& handed_over,
                                                           uint32_t partitions, int replicas,
                                                           uint64_t epoch) {
  if (handed_over.size() != partitions) {
    return Status::InvalidArgument("handed_over must have one flag per partition");
  }
  std::vector<Member> all = current;
  for (const Member& m : target) {
    auto same = [&m](const Member& c) { return c.id == m.id; };
    if (std::find_if(all.begin(), all.end(), same) == all.end()) all.push_back(m);
  }
  auto before = build(std::move(current), partitions, replicas, epoch);
  if (!before.ok()) return before.status();
  auto after = build(std::move(target), partitions, replicas, epoch);
  if (!after.ok()) return after.status();
  auto both = build(std::move(all), partitions, replicas, epoch);
  if (!both.ok()) return both.status();

  auto ring = std::shared_ptr<Ring>(new Ring(**both));
  ring->write_owners_.resize(partitions);
  ring->previous_owners_.resize(partitions);
  ring->target_owners_.resize(partitions);
  for (uint32_t p = 0; p < partitions; ++p) {
    std::vector<uint32_t> old_owners = remap((*before)->owners(p), **before, *ring);
    std::vector<uint32_t> new_owners = remap((*after)->owners(p), **after, *ring);
    std::vector<uint32_t> owners = handed_over[p] ? new_owners : old_owners;
    std::vector<uint32_t> write_owners = owners;
    if (!handed_over[p]) append_missing(new_owners, &write_owners);
    // The walk starts with every write owner so stand-ins are never owners; then the members in
    // the target ring's preference order (they hold the partition's future), then the rest.
    std::vector<uint32_t> walk = write_owners;
    append_missing(remap((*after)->walk(p), **after, *ring), &walk);
    append_missing(ring->walk_[p], &walk);
    ring->owners_[p] = std::move(owners);
    ring->write_owners_[p] = std::move(write_owners);
    ring->walk_[p] = std::move(walk);
    ring->previous_owners_[p] = std::move(old_owners);
    ring->target_owners_[p] = std::move(new_owners);
  }
  return std::shared_ptr<const Ring>(std::move(ring));
}

const std::vector<uint32_t>& Ring::write_owners(uint32_t partition) const {
  CHORUS_ASSERT(partition < partitions_, "partition out of range");
  return write_owners_.empty() ? owners_[partition] : write_owners_[partition];
}

const std::vector<uint32_t>& Ring::previous_owners(uint32_t partition) const {
  CHORUS_ASSERT(partition < partitions_, "partition out of range");
  return previous_owners_.empty() ? owners_[partition] : previous_owners_[partition];
}

const std::vector<uint32_t>& Ring::target_owners(uint32_t partition) const {
  CHORUS_ASSERT(partition < partitions_, "partition out of range");
  return target_owners_.empty() ? owners_[partition] : target_owners_[partition];
}

std::optional<size_t> Ring::index_of(std::string_view id) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), id,
                             [](const Member& m, std::string_view key) { return m.id < key; });
  if (it == members_.end() || it->id != id) return std::nullopt;
  return static_cast<size_t>(it - members_.begin());
}

const std::vector<uint32_t>& Ring::owners(uint32_t partition) const {
  CHORUS_ASSERT(partition < partitions_, "partition out of range");
  return owners_[partition];
}

const std::vector<uint32_t>& Ring::walk(uint32_t partition) const {
  CHORUS_ASSERT(partition < partitions_, "partition out of range");
  return walk_[partition];
}

std::vector<uint32_t> Ring::partitions_replicated_by(size_t index) const {
  CHORUS_ASSERT(index < members_.size(), "member index out of range");
  std::vector<uint32_t> out;
  for (uint32_t p = 0; p < partitions_; ++p) {
    if (holds(owners_[p], static_cast<uint32_t>(index))) out.push_back(p);
  }
  return out;
}

std::vector<uint32_t> Ring::partitions_led_by(size_t index) const {
  CHORUS_ASSERT(index < members_.size(), "member index out of range");
  std::vector<uint32_t> out;
  for (uint32_t p = 0; p < partitions_; ++p) {
    if (owners_[p].front() == index) out.push_back(p);
  }
  return out;
}

}  // namespace chorus
