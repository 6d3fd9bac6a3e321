#include "membership/raft/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

namespace chorus::raft {

namespace {

Status io_error(const char* call, const std::string& path, int error) {
  return Status::IOError(std::string(call) + " " + path + ": " +
                         std::error_code(error, std::generic_category()).message());
}

// Closes on destruction; close(2) is not retried on EINTR (Linux releases the descriptor anyway).
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  Status append(std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("write", path_, errno);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::OK();
  }

  Status sync() override {
    // fdatasync also flushes the size change an append makes, which is all a reader needs.
    while (::fdatasync(fd_.get()) != 0) {
      if (errno != EINTR) return io_error("fdatasync", path_, errno);
    }
    return Status::OK();
  }

  Status close() override {
    const int fd = fd_.release();
    if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) return io_error("close", path_, errno);
    return Status::OK();
  }

 private:
  std::string path_;
  Fd fd_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}  // closing the descriptor releases the flock

 private:
  Fd fd_;
};

int open_retrying(const char* path, int flags, mode_t mode = 0) {
  int fd = -1;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

Status read_all(int fd, const std::string& path, size_t size_bytes, std::string* contents) {
  std::string buffer(size_bytes, '\0');
  size_t done = 0;
  while (done < size_bytes) {
    const ssize_t n = ::read(fd, buffer.data() + done, size_bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("read", path, errno);
    if (n == 0) break;  // shrank while we read: keep what is there
    done += static_cast<size_t>(n);
  }
  buffer.resize(done);
  *contents = std::move(buffer);
  return Status::OK();
}

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path,
                                                      bool truncate) override {
    const int flags = O_WRONLY | O_CREAT | O_APPEND | (truncate ? O_TRUNC : 0);
    const int fd = open_retrying(path.c_str(), flags, 0644);
    if (fd < 0) return io_error("open", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  Status read_file(const std::string& path, size_t max_bytes, std::string* contents) override {
    Fd fd(open_retrying(path.c_str(), O_RDONLY));
    if (fd.get() < 0) {
      return errno == ENOENT ? Status::NotFound(path) : io_error("open", path, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return io_error("fstat", path, errno);
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      return Status::TooLarge(path + " holds " + std::to_string(st.st_size) + " bytes, over " +
                              std::to_string(max_bytes));
    }
    return read_all(fd.get(), path, static_cast<size_t>(st.st_size), contents);
  }

  Status list_dir(const std::string& dir, std::vector<std::string>* names) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return io_error("opendir", dir, errno);
    names->clear();
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names->push_back(name);
    }
    const int error = errno;
    ::closedir(d);
    if (error != 0) return io_error("readdir", dir, error);
    return Status::OK();
  }

  Status create_dir(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("mkdir " + dir + ": " + ec.message());
    return Status::OK();
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return io_error("rename", from + " -> " + to, errno);
    return Status::OK();
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return io_error("unlink", path, errno);
    return Status::OK();
  }

  Status truncate(const std::string& path, uint64_t size_bytes) override {
    int rc = 0;
    do {
      rc = ::truncate(path.c_str(), static_cast<off_t>(size_bytes));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return io_error("truncate", path, errno);
    return Status::OK();
  }

  Status sync_dir(const std::string& dir) override {
    Fd fd(open_retrying(dir.c_str(), O_RDONLY | O_DIRECTORY));
    if (fd.get() < 0) return io_error("open", dir, errno);
    while (::fsync(fd.get()) != 0) {
      if (errno != EINTR) return io_error("fsync", dir, errno);
    }
    return Status::OK();
  }

  Result<std::unique_ptr<FileLock>> lock(const std::string& path) override {
    Fd fd(open_retrying(path.c_str(), O_RDWR | O_CREAT, 0644));
    if (fd.get() < 0) return io_error("open", path, errno);
    int rc = 0;
    do {
      rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return io_error("flock (is another process using it?)", path, errno);
    return std::unique_ptr<FileLock>(new PosixFileLock(fd.release()));
  }
};

}  // namespace

FileSystem* default_file_system() {
  static PosixFileSystem* fs = new PosixFileSystem();  // never destroyed: outlives every user
  return fs;
}

}  // namespace chorus::raft
