// The one Catch2 main shared by every test executable.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <csignal>

int main(int argc, char** argv) {
  // Tests kill nodes their clients are talking to: a write to such a connection must fail with
  // EPIPE, not end the test process. OpenSSL (HTTPS clients) writes with write(2), which raises
  // SIGPIPE; nodes started by the testkit restore the default (tests/testkit/process.cpp).
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
