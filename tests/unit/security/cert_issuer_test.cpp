// The certificates `chorusctl tls init` and the operator issue, read back as the operator reads
// them to decide on renewal.
#include "security/cert_issuer.h"

#include <catch2/catch.hpp>
#include <ctime>

namespace chorus::security {
namespace {

TEST_CASE("cert issuer: an issued certificate names its node and expires when it was asked to",
          "[security]") {
  const int64_t before_s = static_cast<int64_t>(std::time(nullptr));
  auto ca = make_ca("test-ca", 30);
  REQUIRE(ca.ok());
  auto cert = issue_certificate(*ca, "chorus-2",
                                {"chorus-2.chorus-peers.some-long-namespace-name-for-apps."
                                 "svc.cluster.local.example.internal.corp.company",
                                 "10.0.0.7"},
                                2);
  REQUIRE(cert.ok());
  auto info = read_certificate(cert->cert);
  REQUIRE(info.ok());
  CHECK(info->common_name == "chorus-2");
  const int64_t after_s = static_cast<int64_t>(std::time(nullptr));
  CHECK(info->not_after_unix_s >= before_s + 2 * 86'400);
  CHECK(info->not_after_unix_s <= after_s + 2 * 86'400);

  auto ca_info = read_certificate(ca->cert);
  REQUIRE(ca_info.ok());
  CHECK(ca_info->common_name == "test-ca");
  CHECK(ca_info->not_after_unix_s >= before_s + 30 * 86'400);
}

TEST_CASE("cert issuer: what is not a certificate is refused", "[security]") {
  CHECK(read_certificate("").status().code() == Status::Code::kInvalidArgument);
  CHECK(read_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .status()
            .code() == Status::Code::kInvalidArgument);
  auto ca = make_ca("test-ca", 1);
  REQUIRE(ca.ok());
  // A DNS name longer than DNS allows.
  CHECK(issue_certificate(*ca, "n1", {std::string(254, 'a')}, 1).status().code() ==
        Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace chorus::security
