#include "engines/space_guard.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

namespace chorus {

SpaceGuardedEngine::SpaceGuardedEngine(std::unique_ptr<Engine> inner, std::string path,
                                       uint64_t reserve_bytes)
    : inner_(std::move(inner)), path_(std::move(path)), reserve_bytes_(reserve_bytes) {}

Status SpaceGuardedEngine::check_space() const {
  if (reserve_bytes_ == 0) return Status::OK();
  struct statvfs fs {};
  if (::statvfs(path_.c_str(), &fs) != 0) {
    return Status::IOError("statvfs " + path_ + ": " + std::strerror(errno));
  }
  const uint64_t block_bytes = fs.f_frsize != 0 ? fs.f_frsize : fs.f_bsize;
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * block_bytes;
  if (free_bytes < reserve_bytes_) {
    return Status::IOError("disk full: " + std::to_string(free_bytes) + " bytes free under " +
                           path_ + ", below the reserve of " + std::to_string(reserve_bytes_) +
                           " (--disk-reserve-bytes); writes resume when space returns");
  }
  return Status::OK();
}

Status SpaceGuardedEngine::check_before_write() {
  if (failed_.load(std::memory_order_acquire)) {
    // One writer tries to resume; the others fail fast meanwhile instead of queueing behind it.
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) return Status::IOError("writes stopped after an engine error; resuming");
    if (failed_.load(std::memory_order_relaxed)) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_resume_ < std::chrono::milliseconds(kEngineResumeIntervalMs)) return failure_;
      last_resume_ = now;
      // Resuming onto a disk that is still full would only fail (and write) again.
      if (Status space = check_space(); !space.ok()) return space;
      if (Status resumed = inner_->resume(); !resumed.ok()) {
        failure_ = Status::IOError("writes stopped after an engine error, resume failed: " +
                                   resumed.message());
        return failure_;
      }
      failed_.store(false, std::memory_order_release);
    }
  }
  return check_space();
}

Status SpaceGuardedEngine::write(const WriteBatch& batch, bool sync) {
  CHORUS_RETURN_IF_ERROR(check_before_write());
  Status st = inner_->write(batch, sync);
  // An I/O error leaves the engine's writer in doubt; anything else (a bad batch) does not.
  if (st.code() == Status::Code::kIOError || st.code() == Status::Code::kCorruption) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.load(std::memory_order_relaxed)) {
      failure_ = st;
      last_resume_ = std::chrono::steady_clock::now();
      failed_.store(true, std::memory_order_release);
    }
  }
  return st;
}

}  // namespace chorus
