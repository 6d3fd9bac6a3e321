// `chorusctl tls init`: a CA and one certificate per node in a directory, ready for chorusd's
// --tls-cert/--tls-key/--tls-ca (DESIGN.md §10).
//
// Files: ca.pem and ca-key.pem (the CA; an existing pair in the directory is reused, so nodes can
// be added later with the same CA), and <id>.pem and <id>-key.pem per node (Common Name = id,
// subjectAltNames = the id plus --hosts). Keys are written mode 0600; every file is written to a
// temporary name and renamed, so a node never reads half of one. Node files are replaced (that is
// how a node's certificate is renewed: reissue, then SIGHUP).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chorus::cli {

struct TlsInitFlags {
  std::string dir;
  std::vector<std::string> nodes;
  std::vector<std::string> hosts = {"localhost", "127.0.0.1", "::1"};
  uint32_t days = 365;
  uint32_t ca_days = 3650;
};

// Prints what it wrote (stdout) or the failure (stderr); returns the exit code (format.h).
int run_tls_init(const TlsInitFlags& flags);

}  // namespace chorus::cli
