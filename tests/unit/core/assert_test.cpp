// CHORUS_ASSERT holds in every build: this test binary is built like the shipped one (NDEBUG, as
// dev.sh's RelWithDebInfo sets), and a failed assertion still stops the process with its reason.
#include "core/assert.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

namespace {

// Runs fn in a child process; returns its stderr and how it ended.
std::string in_child(void (*fn)(), int* status) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    fn();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  REQUIRE(::waitpid(pid, status, 0) == pid);
  return out;
}

int g_side_effects = 0;

}  // namespace

TEST_CASE("CHORUS_ASSERT aborts with the condition, the reason and file:line in every build") {
#ifndef NDEBUG
  WARN("built without NDEBUG: this proves less than in a release build");
#endif
  int status = 0;
  const std::string err = in_child(
      [] {
        const int seats = 2;
        CHORUS_ASSERT(seats == 3, "placement left a seat empty");
      },
      &status);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(err.find("seats == 3") != std::string::npos);
  CHECK(err.find("placement left a seat empty") != std::string::npos);
  CHECK(err.find("assert_test.cpp:") != std::string::npos);

  const std::string bare = in_child([] { CHORUS_ASSERT(1 + 1 == 3); }, &status);
  CHECK(WIFSIGNALED(status));
  CHECK(bare.find("1 + 1 == 3") != std::string::npos);
}

TEST_CASE("CHORUS_ASSERT that holds does nothing and evaluates its condition once") {
  int status = 0;
  const std::string err = in_child([] { CHORUS_ASSERT(true, "never"); }, &status);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(err.empty());
  g_side_effects = 0;
  CHORUS_ASSERT(++g_side_effects == 1);
  CHECK(g_side_effects == 1);
}
