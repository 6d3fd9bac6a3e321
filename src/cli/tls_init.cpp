#include "cli/tls_init.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/format.h"
#include "security/cert_issuer.h"
#include "security/crypto.h"

namespace chorus::cli {

namespace {

constexpr size_t kPemBytesMax = 64 * 1024;

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Writes `text` to `path` with `mode` through a temporary file and a rename.
Status write_file(const std::string& path, const std::string& text, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::IOError("open " + tmp + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string error = std::strerror(errno);
      ::close(fd);
      return Status::IOError("write " + tmp + ": " + error);
    }
    written += static_cast<size_t>(n);
  }
  // fchmod: the umask may have narrowed or (for 0644) kept the mode; make it exactly `mode`.
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0) {
    return Status::IOError("finish " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IOError("rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::OK();
}

Status write_pair(const std::string& dir, const std::string& name, const security::PemPair& pair) {
  if (Status s = write_file(dir + "/" + name + "-key.pem", pair.key, 0600); !s.ok()) return s;
  return write_file(dir + "/" + name + ".pem", pair.cert, 0644);
}

Result<security::PemPair> load_or_make_ca(const std::string& dir, uint32_t days, bool* made) {
  const std::string cert_path = dir + "/ca.pem";
  const std::string key_path = dir + "/ca-key.pem";
  if (exists(cert_path) || exists(key_path)) {
    Result<std::string> cert = security::read_small_file(cert_path, kPemBytesMax);
    if (!cert.ok()) return cert.status();
    Result<std::string> key = security::read_small_file(key_path, kPemBytesMax);
    if (!key.ok()) return key.status();
    *made = false;
    return security::PemPair{std::move(cert).value(), std::move(key).value()};
  }
  Result<security::PemPair> ca = security::make_ca("chorus-ca", days);
  if (!ca.ok()) return ca.status();
  if (Status s = write_pair(dir, "ca", ca.value()); !s.ok()) return s;
  *made = true;
  return ca;
}

int fail(const Status& status) {
  std::fprintf(stderr, "chorusctl: tls init: %s\n", status.message().c_str());
  return kExitUnreachable;
}

}  // namespace

int run_tls_init(const TlsInitFlags& flags) {
  if (flags.nodes.empty()) return fail(Status::InvalidArgument("--nodes names no node"));
  if (::mkdir(flags.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail(Status::IOError("mkdir " + flags.dir + ": " + std::strerror(errno)));
  }
  bool made_ca = false;
  Result<security::PemPair> ca = load_or_make_ca(flags.dir, flags.ca_days, &made_ca);
  if (!ca.ok()) return fail(ca.status());
  std::printf("%s %s/ca.pem and %s/ca-key.pem (keep ca-key.pem off the nodes)\n",
              made_ca ? "wrote" : "reused", flags.dir.c_str(), flags.dir.c_str());
  for (const std::string& node : flags.nodes) {
    std::vector<std::string> hosts = {node};
    hosts.insert(hosts.end(), flags.hosts.begin(), flags.hosts.end());
    Result<security::PemPair> cert =
        security::issue_certificate(ca.value(), node, hosts, flags.days);
    if (!cert.ok()) return fail(cert.status());
    if (Status s = write_pair(flags.dir, node, cert.value()); !s.ok()) return fail(s);
    std::printf("wrote %s/%s.pem and %s/%s-key.pem (CN=%s)\n", flags.dir.c_str(), node.c_str(),
                flags.dir.c_str(), node.c_str(), node.c_str());
  }
  std::printf(
      "start each node with --tls-cert %s/ID.pem --tls-key %s/ID-key.pem --tls-ca %s/ca.pem\n",
      flags.dir.c_str(), flags.dir.c_str(), flags.dir.c_str());
  return kExitOk;
}

}  // namespace chorus::cli
