// FileSystem: the few file-system calls the Raft WAL (wal.h) makes, behind an interface so tests
// can substitute versions that fail, or write half a buffer and then fail (LevelDB's Env idea,
// kept to what the WAL needs).
//
// default_file_system() is the POSIX implementation: it retries EINTR and short writes, opens
// every descriptor O_CLOEXEC, syncs data with fdatasync and directories with fsync. Every call
// returns a Status instead of throwing; a failed system call becomes IOError("<call> <path>:
// <errno text>").
//
// Thread-safety: the POSIX FileSystem is stateless and may be shared; a WritableFile or FileLock
// is owned by one caller at a time. Destroying a WritableFile closes it without syncing;
// destroying a FileLock releases the lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace chorus::raft {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` at the end of the file (not yet durable).
  [[nodiscard]] virtual Status append(std::string_view data) = 0;
  // Makes every byte appended so far, and the file's size, durable.
  [[nodiscard]] virtual Status sync() = 0;
  // Closes the descriptor; later calls fail.
  [[nodiscard]] virtual Status close() = 0;
};

// Held for as long as the directory is in use; released on destruction (or by process death).
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Opens `path` for appending, creating it if missing; `truncate` empties an existing file.
  [[nodiscard]] virtual Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path,
                                                                            bool truncate) = 0;
  // Reads the whole file into *contents. TooLarge (and *contents unchanged) when the file holds
  // more than max_bytes; NotFound when it does not exist.
  [[nodiscard]] virtual Status read_file(const std::string& path, size_t max_bytes,
                                         std::string* contents) = 0;
  // Names (not paths) of the entries in `dir`, without "." and "..", in no particular order.
  [[nodiscard]] virtual Status list_dir(const std::string& dir,
                                        std::vector<std::string>* names) = 0;
  // Creates `dir` and missing parents; OK when it already exists.
  [[nodiscard]] virtual Status create_dir(const std::string& dir) = 0;
  // Atomically replaces `to` with `from` (rename(2)); durable only after sync_dir.
  [[nodiscard]] virtual Status rename(const std::string& from, const std::string& to) = 0;
  [[nodiscard]] virtual Status remove(const std::string& path) = 0;
  [[nodiscard]] virtual Status truncate(const std::string& path, uint64_t size_bytes) = 0;
  // Makes creations, renames and removals of entries in `dir` durable.
  [[nodiscard]] virtual Status sync_dir(const std::string& dir) = 0;
  // An exclusive advisory lock on `path` (created if missing). IOError when another holder has
  // it, in this process or another.
  [[nodiscard]] virtual Result<std::unique_ptr<FileLock>> lock(const std::string& path) = 0;
};

// The POSIX implementation; lives for the whole process.
FileSystem* default_file_system();

}  // namespace chorus::raft
