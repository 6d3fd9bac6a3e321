#include "tests/testkit/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <thread>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace chorus::testkit {
namespace {

// Runs closures on one thread that lives until the process exits. Every fork happens here, so
// PR_SET_PDEATHSIG (which tracks the forking *thread*) fires only when the test process dies.
class Spawner {
 public:
  static Spawner& instance() {
    // Leaked on purpose: the thread is detached and may still wait on cv_ during static
    // destruction at exit.
    static Spawner* spawner = new Spawner();
    return *spawner;
  }

  template <typename T>
  T run(std::function<T()> fn) {
    // Shared ownership: the spawner thread may still be inside set_value() when get() returns.
    auto promise = std::make_shared<std::promise<T>>();
    std::future<T> result = promise->get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.emplace_back([promise, fn = std::move(fn)] { promise->set_value(fn()); });
    }
    cv_.notify_one();
    return result.get();
  }

 private:
  Spawner() {
    std::thread([this] { loop(); }).detach();
  }

  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !tasks_.empty(); });
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
};

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Everything the child needs, prepared before fork: after fork in a multi-threaded process only
// async-signal-safe calls are allowed, so no allocation happens in the child.
struct ChildSetup {
  std::vector<char*> argv;
  int log_fd = -1;
  int null_fd = -1;
  int error_pipe_write = -1;
  pid_t parent_pid = 0;
  int max_fd = 0;
};

[[noreturn]] void run_child(const ChildSetup& setup) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != setup.parent_pid) _exit(127);  // the parent died before prctl took effect
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  signal(SIGPIPE, SIG_DFL);  // the test runner (cpp-httplib) may ignore it; the node must not
  dup2(setup.null_fd, 0);
  dup2(setup.log_fd, 1);
  dup2(setup.log_fd, 2);
  // Mark every other descriptor close-on-exec; the error pipe stays usable until execv.
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < setup.max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  execv(setup.argv[0], setup.argv.data());
  int exec_errno = errno;
  ssize_t ignored = write(setup.error_pipe_write, &exec_errno, sizeof(exec_errno));
  (void)ignored;
  _exit(127);
}

// Forks and execs; returns the child's pid once execv succeeded. Runs on the spawner thread.
Result<pid_t> fork_exec(ChildSetup& setup, const std::string& binary) {
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0)
    return Status::IOError("pipe2: " + std::string(strerror(errno)));
  setup.error_pipe_write = error_pipe[1];
  pid_t pid = fork();
  if (pid == 0) run_child(setup);
  int fork_errno = errno;
  close(error_pipe[1]);
  if (pid < 0) {
    close(error_pipe[0]);
    return Status::IOError("fork: " + std::string(strerror(fork_errno)));
  }
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(error_pipe[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (n == 0) return pid;  // EOF: execv closed the pipe, the binary is running
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return Status::IOError("execv " + binary + ": " + strerror(exec_errno));
}

}  // namespace

Result<std::unique_ptr<Process>> Process::start(const std::string& binary,
                                                const std::vector<std::string>& args,
                                                const std::string& log_path) {
  std::vector<std::string> argv_storage;
  argv_storage.push_back(binary);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  ChildSetup setup;
  for (std::string& arg : argv_storage) setup.argv.push_back(arg.data());
  setup.argv.push_back(nullptr);
  setup.parent_pid = getpid();
  struct rlimit limit {};
  setup.max_fd = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                     ? static_cast<int>(limit.rlim_cur)
                     : 65536;

  setup.log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (setup.log_fd < 0) return Status::IOError("open " + log_path + ": " + strerror(errno));
  setup.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (setup.null_fd < 0) {
    close(setup.log_fd);
    return Status::IOError(std::string("open /dev/null: ") + strerror(errno));
  }
  Result<pid_t> pid = Spawner::instance().run<Result<pid_t>>(
      [&setup, &binary] { return fork_exec(setup, binary); });
  close(setup.log_fd);
  close(setup.null_fd);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<Process>(new Process(*pid, log_path));
}

Process::~Process() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reap_locked(/*block=*/false)) return;
  ::kill(pid_, SIGKILL);  // also ends a SIGSTOPped child
  reap_locked(/*block=*/true);
}

bool Process::reap_locked(bool block) {
  if (exit_status_) return true;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, block ? 0 : WNOHANG);
    if (r == pid_) {
      exit_status_ = decode_wait_status(status);
      return true;
    }
    if (r == 0) return false;
    if (errno == EINTR) continue;
    // ECHILD: someone else reaped it (SIGCHLD ignored?). Never signal that pid again.
    exit_status_ = -1;
    return true;
  }
}

bool Process::alive() {
  std::lock_guard<std::mutex> lock(mu_);
  return !reap_locked(/*block=*/false);
}

Status Process::kill(int signal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reap_locked(/*block=*/false)) {
    return Status::NotFound("pid " + std::to_string(pid_) + " already exited with status " +
                            std::to_string(*exit_status_));
  }
  if (::kill(pid_, signal) != 0) {
    return Status::IOError("kill " + std::to_string(pid_) + ": " + strerror(errno));
  }
  return Status::OK();
}

std::optional<int> Process::wait_exit(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (reap_locked(/*block=*/false)) return exit_status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(kProcessPollIntervalMs));
  }
}

std::optional<int> Process::exit_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exit_status_;
}

}  // namespace chorus::testkit
