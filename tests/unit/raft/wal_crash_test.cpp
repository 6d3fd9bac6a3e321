// A real crash: a child process saves entries (and compacts now and then) in a loop, reporting
// each index on a pipe only after save() returned OK; the parent SIGKILLs it mid-stream, reopens
// the WAL and checks that every acknowledged entry survived. Waits are poll() with a deadline.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "core/coding.h"
#include "membership/raft/wal.h"
#include "wal_test_util.h"

using namespace chorus;
using namespace chorus::raft;
using namespace chorus::raft::test;

namespace {

constexpr uint64_t kCompactEvery = 50;
constexpr uint64_t kSnapshotLag = 10;  // a snapshot at index i covers up to i - kSnapshotLag
constexpr auto kDeadline = std::chrono::seconds(60);

WalOptions crash_options() {
  WalOptions options;
  options.segment_target_bytes = 4096;  // rotate often, so kills land around rotations too
  return options;
}

// Runs in the forked child: never returns, never touches Catch.
[[noreturn]] void save_forever(const std::string& dir, int ack_fd) {
  auto opened = Wal::open(dir, crash_options());
  if (!opened.ok()) _exit(2);
  Wal& wal = **opened;
  for (uint64_t index = wal.storage().last_index() + 1;; ++index) {
    if (!wal.save(HardState{1, 1, index - 1}, {Entry{1, index, payload(index)}}).ok()) _exit(3);
    if (index % kCompactEvery == 0 &&
        !wal.save_snapshot(snapshot_at(index - kSnapshotLag, 1)).ok()) {
      _exit(4);
    }
    std::string ack;
    put_fixed64(&ack, index);
    // 8 bytes is below PIPE_BUF, so the write is atomic; a closed pipe means the parent is done.
    if (::write(ack_fd, ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) _exit(0);
  }
}

// Reads acknowledgements until `want` arrived (want 0: until end of file) or the deadline.
void read_acks(int fd, size_t want, std::chrono::steady_clock::time_point deadline,
               std::vector<uint64_t>* acks, std::string* carry) {
  while (want == 0 || acks->size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    REQUIRE(left.count() > 0);
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    REQUIRE(ready >= 0);
    if (ready == 0) continue;  // the deadline check above ends the loop
    char buffer[4096];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    REQUIRE(n >= 0);
    if (n == 0) return;  // the child is gone and the pipe drained
    carry->append(buffer, static_cast<size_t>(n));
    while (carry->size() >= 8) {
      acks->push_back(decode_fixed64(carry->data()));
      carry->erase(0, 8);
    }
  }
}

// One child lifetime: start it, take `acks_before_kill` acknowledgements, SIGKILL it, collect
// whatever acknowledgements it managed to send before dying.
void run_and_kill(const std::string& dir, size_t acks_before_kill, std::vector<uint64_t>* acks) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    save_forever(dir, fds[1]);
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  std::string carry;
  const size_t before = acks->size();
  read_acks(fds[0], before + acks_before_kill, deadline, acks, &carry);
  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  read_acks(fds[0], 0, deadline, acks, &carry);  // acknowledged before the kill: they count too
  ::close(fds[0]);
  REQUIRE(carry.empty());
}

void require_every_ack_durable(const MemoryStorage& s, const std::vector<uint64_t>& acks) {
  const uint64_t snapshot_index = s.snapshot().metadata.index;
  if (snapshot_index > 0) {
    REQUIRE(s.snapshot() == snapshot_at(snapshot_index, 1));
  }
  for (uint64_t index : acks) {
    INFO("acknowledged index " << index << "; recovered snapshot " << snapshot_index
                               << " and entries up to " << s.last_index());
    REQUIRE(index <= s.last_index());
    if (index <= snapshot_index) continue;  // compacted into the snapshot, which was saved first
    REQUIRE(s.entries()[index - s.first_index()] == Entry{1, index, payload(index)});
  }
  // Each save carries commit = index - 1 after its entry; losing that hard state record to a torn
  // write can cost one step, never more.
  REQUIRE(s.hard_state().commit <= s.last_index());
  REQUIRE(s.hard_state().commit + 2 >= s.last_index());
}

}  // namespace

TEST_CASE("wal keeps every acknowledged entry when its writer is SIGKILLed mid-stream") {
  TempDir tmp;
  std::vector<uint64_t> acks;
  // Three lives: each child resumes after what the previous one left durable.
  for (size_t acks_before_kill : {300, 450, 200}) {
    run_and_kill(tmp.wal(), acks_before_kill, &acks);
    // Increasing, with a gap only where a child died between a save and its acknowledgement.
    for (size_t i = 1; i < acks.size(); ++i) REQUIRE(acks[i] > acks[i - 1]);
    auto wal = Wal::open(tmp.wal(), crash_options());
    INFO(wal.status().to_string());
    REQUIRE(wal.ok());
    require_every_ack_durable((*wal)->storage(), acks);
    // The reopened WAL is released (its lock with it) before the next child starts.
  }
  REQUIRE(acks.size() >= 950);
  auto wal = Wal::open(tmp.wal(), crash_options());
  REQUIRE(wal.ok());
  REQUIRE((*wal)->storage().snapshot().metadata.index > 0);  // compactions happened under fire
  REQUIRE((*wal)->current_segment() > 2);                    // and so did rotations
}
