// Process: one child process started by a test (normally a chorusd node), with its stdout and
// stderr appended to a log file.
//
// The child is started with fork + execv from a single long-lived spawner thread, with
// PR_SET_PDEATHSIG(SIGKILL): Linux delivers that signal when the *thread* that forked exits, so
// spawning from a dedicated thread that lives as long as the test process means a child dies when
// the test runner dies, and never because some short-lived test thread (a nemesis that restarts
// nodes) finished. File descriptors other than 0/1/2 are closed in the child, so client sockets of
// the test never leak into a node.
//
// The destructor sends SIGKILL to a child that is still running (or stopped) and reaps it, so a
// test that fails or throws never leaks processes. A reaped pid is never signalled again (the
// kernel may have reused it).
//
// Thread-safety: all methods may be called from any thread; an internal mutex guards the state.
// Ownership: a Process owns its child; it is movable only through std::unique_ptr.
// Errors: start() returns a non-OK Result when the log cannot be opened, fork fails or execv fails
// (the exec errno is reported back through a close-on-exec pipe). kill() returns a non-OK Status
// when the child was already reaped or kill(2) fails.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace chorus::testkit {

// How often wait_exit() polls waitpid(WNOHANG). Short: tests wait on exits often.
inline constexpr int kProcessPollIntervalMs = 5;

class Process {
 public:
  // Starts `binary` with argv = {binary, args...}; stdout and stderr are appended to log_path
  // (created if missing). Returns once execv succeeded or failed.
  static Result<std::unique_ptr<Process>> start(const std::string& binary,
                                                const std::vector<std::string>& args,
                                                const std::string& log_path);

  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // True until the child has exited (a SIGSTOPped child is alive). Reaps it if it has exited.
  bool alive();

  // Sends `signal` (SIGKILL, SIGTERM, SIGSTOP, SIGCONT, ...). Non-OK if already reaped.
  Status kill(int signal);

  // Waits up to timeout_ms for the child to exit and reaps it. Returns its exit status: the exit
  // code for a normal exit, 128 + signal number when a signal ended it (the shell's convention);
  // std::nullopt if it is still running at the deadline.
  std::optional<int> wait_exit(int timeout_ms);

  // The exit status if the child was already reaped (see wait_exit), else std::nullopt.
  std::optional<int> exit_status() const;

 private:
  Process(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  // Calls waitpid(WNOHANG) (or blocking when `block`); records the status. Requires mu_ held.
  bool reap_locked(bool block);

  const pid_t pid_;
  const std::string log_path_;
  mutable std::mutex mu_;
  std::optional<int> exit_status_;  // set once reaped
};

}  // namespace chorus::testkit
