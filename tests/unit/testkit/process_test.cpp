// Process: exit statuses, signals, reaping, logs, and that no child outlives its Process.
#include "tests/testkit/process.h"
#include "tests/unit/temp_dir.h"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testkit/client.h"

namespace chorus::testkit {
namespace {

// Bounds every wait below; generous because the 2-core CI box is shared.
constexpr int kWaitMs = 10000;

using chorus::test::TempDir;  // a fresh directory for logs, removed at the end of the test

std::unique_ptr<Process> start_or_fail(const std::string& binary,
                                       const std::vector<std::string>& args,
                                       const std::string& log) {
  Result<std::unique_ptr<Process>> process = Process::start(binary, args, log);
  INFO(process.status().to_string());
  REQUIRE(process.ok());
  return std::move(*process);
}

bool pid_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

TEST_CASE("a process that exits reports its exit status", "[process]") {
  TempDir dir;
  auto process = start_or_fail("/bin/sh", {"-c", "exit 3"}, dir.file("sh.log"));
  CHECK(process->pid() > 0);
  CHECK(process->wait_exit(kWaitMs) == std::optional<int>(3));
  CHECK_FALSE(process->alive());
  CHECK(process->exit_status() == std::optional<int>(3));
  CHECK(process->kill(SIGTERM).is_not_found());  // never signal a reaped pid
}

TEST_CASE("SIGKILL ends a process - which is reaped", "[process]") {
  TempDir dir;
  auto process = start_or_fail("/bin/sleep", {"100"}, dir.file("sleep.log"));
  CHECK(process->alive());
  CHECK_FALSE(process->wait_exit(0).has_value());
  REQUIRE(process->kill(SIGKILL).ok());
  CHECK(process->wait_exit(kWaitMs) == std::optional<int>(128 + SIGKILL));
  CHECK_FALSE(process->alive());
  CHECK_FALSE(pid_exists(process->pid()));
}

TEST_CASE("a stopped process is alive and resumes on SIGCONT", "[process]") {
  TempDir dir;
  auto process = start_or_fail("/bin/sleep", {"100"}, dir.file("sleep.log"));
  REQUIRE(process->kill(SIGSTOP).ok());
  CHECK(process->alive());
  REQUIRE(process->kill(SIGCONT).ok());
  REQUIRE(process->kill(SIGTERM).ok());
  CHECK(process->wait_exit(kWaitMs) == std::optional<int>(128 + SIGTERM));
}

TEST_CASE("the destructor kills and reaps a running child", "[process]") {
  TempDir dir;
  pid_t pid = 0;
  {
    auto process = start_or_fail("/bin/sleep", {"100"}, dir.file("sleep.log"));
    pid = process->pid();
    REQUIRE(process->kill(SIGSTOP).ok());  // even a stopped one
    REQUIRE(pid_exists(pid));
  }
  CHECK(::kill(pid, 0) == -1);
  CHECK(errno == ESRCH);
}

TEST_CASE("stdout and stderr go to the log - appended", "[process]") {
  TempDir dir;
  std::string log = dir.file("out.log");
  for (const char* word : {"first", "second"}) {
    std::string script = std::string("echo ") + word + "-out; echo " + word + "-err >&2";
    auto process = start_or_fail("/bin/sh", {"-c", script}, log);
    REQUIRE(process->wait_exit(kWaitMs) == std::optional<int>(0));
  }
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "first-out\nfirst-err\nsecond-out\nsecond-err\n");
}

TEST_CASE("a binary that cannot be executed is an error", "[process]") {
  TempDir dir;
  Result<std::unique_ptr<Process>> process =
      Process::start("/nonexistent/chorusd", {}, dir.file("x.log"));
  REQUIRE_FALSE(process.ok());
  CHECK(process.status().message().find("execv") != std::string::npos);

  Result<std::unique_ptr<Process>> no_log =
      Process::start("/bin/true", {}, "/nonexistent/dir/x.log");
  CHECK_FALSE(no_log.ok());
}

TEST_CASE("a child outlives the thread that started it", "[process]") {
  // PR_SET_PDEATHSIG follows the forking thread; testkit forks on its own long-lived thread.
  TempDir dir;
  std::unique_ptr<Process> process;
  std::thread starter([&] {
    Result<std::unique_ptr<Process>> started =
        Process::start("/bin/sleep", {"100"}, dir.file("sleep.log"));
    if (started.ok()) process = std::move(*started);
  });
  starter.join();
  REQUIRE(process != nullptr);
  // Bounded check that it is *not* killed: a death signal would arrive well within this window.
  CHECK_FALSE(poll_until(
      300, [&] { return !process->alive(); }, 10));
}

TEST_CASE("descriptors of the test do not leak into the child", "[process]") {
  TempDir dir;
  int fds[2];
  REQUIRE(pipe(fds) == 0);  // deliberately without O_CLOEXEC
  std::string script = "test -e /proc/self/fd/" + std::to_string(fds[0]) + " && exit 1; exit 0";
  auto process = start_or_fail("/bin/sh", {"-c", script}, dir.file("fd.log"));
  CHECK(process->wait_exit(kWaitMs) == std::optional<int>(0));
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace chorus::testkit
