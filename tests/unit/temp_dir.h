// TempDir: a fresh directory under /tmp for one test, removed (best effort) when it goes out of
// scope. Shared by the unit tests that need real files (engines, the Raft WAL, the process
// harness).
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <system_error>

namespace chorus::test {

class TempDir {
 public:
  // The directory is /tmp/<prefix>-XXXXXX.
  explicit TempDir(const std::string& prefix = "chorus-test") {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    if (ec) WARN("cannot remove " << path_ << ": " << ec.message());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace chorus::test
