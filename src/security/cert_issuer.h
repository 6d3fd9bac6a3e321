// Certificate issuing for `chorusctl tls init` (as `cockroach cert` and `consul tls` do): a
// self-signed CA and, from it, one certificate per node whose Common Name is the node id (the
// identity DESIGN.md §10 binds to a connection), usable as TLS server and client (mutual TLS).
//
// Keys are ECDSA P-256, signatures SHA-256. Everything is PEM in memory; writing files (and their
// permissions) is the caller's business.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace chorus::security {

// Limits: a certificate outliving ten years is a key nobody will rotate.
constexpr uint32_t kCertDaysMax = 3650;
constexpr size_t kCertHostsMax = 64;

struct PemPair {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key (PKCS#8)
};

// A new self-signed CA named `common_name`, valid for `days` (1..kCertDaysMax).
[[nodiscard]] Result<PemPair> make_ca(const std::string& common_name, uint32_t days);

// A certificate for `common_name` signed by `ca`, valid for `days`, with a subjectAltName for each
// of `hosts` (an IPv4/IPv6 literal becomes an IP SAN, anything else a DNS SAN of up to 253
// characters; "*.x" wildcards allowed). InvalidArgument for a bad name or host, or a CA that does
// not parse.
[[nodiscard]] Result<PemPair> issue_certificate(const PemPair& ca, const std::string& common_name,
                                                const std::vector<std::string>& hosts,
                                                uint32_t days);

// What the operator needs to know of a certificate it issued earlier: whose it is and when it
// expires. InvalidArgument when `pem` holds no certificate.
struct CertificateInfo {
  std::string common_name;
  int64_t not_after_unix_s = 0;
};
[[nodiscard]] Result<CertificateInfo> read_certificate(const std::string& pem);

}  // namespace chorus::security
