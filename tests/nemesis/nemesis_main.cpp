// Main of the nemesis tests: where network namespaces cannot be made (not root, no iproute2 or
// nftables), every test is skipped with the reason, and ctest shows it as skipped (exit code 77),
// never as passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "tests/nemesis/network_lab.h"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing = listing || std::strncmp(argv[i], "--list", 6) == 0;
  if (!listing) {
    const std::string reason = chorus::nemesis::unavailable_reason();
    if (!reason.empty()) {
      std::printf("SKIPPED: the nemesis tests need network namespaces: %s\n", reason.c_str());
      return 77;
    }
  }
  return Catch::Session().run(argc, argv);
}
