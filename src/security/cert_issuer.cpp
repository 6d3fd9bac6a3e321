#include "security/cert_issuer.h"

#include <arpa/inet.h>

#include <ctime>
#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "security/crypto.h"

namespace chorus::security {

namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

constexpr size_t kNameBytesMax = 64;   // X.509's upper bound for a Common Name
constexpr size_t kHostBytesMax = 253;  // a DNS name's upper bound

std::string openssl_error(const char* what) {
  return std::string("tls: ") + what + ": " + openssl_error_text();
}

bool is_ip_literal(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// Names go into an OpenSSL extension string ("DNS:a,IP:b"), so only characters that cannot
// change its meaning are accepted.
bool valid_name(const std::string& name, bool allow_colon, size_t bytes_max = kNameBytesMax) {
  if (name.empty() || name.size() > bytes_max) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == '*' || (allow_colon && c == ':');
    if (!ok) return false;
  }
  return true;
}

Result<KeyPtr> new_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Status::IOError(openssl_error("generating a P-256 key"));
  return key;
}

Status add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return Status::InvalidArgument(openssl_error(value.c_str()));
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (added != 1) return Status::IOError(openssl_error("adding an extension"));
  return Status::OK();
}

// A certificate for `subject_key` named `common_name`, not yet signed; issuer name set by caller.
Result<CertPtr> new_certificate(EVP_PKEY* subject_key, const std::string& common_name,
                                uint32_t days) {
  CertPtr cert(X509_new());
  if (!cert) return Status::IOError(openssl_error("allocating a certificate"));
  X509_set_version(cert.get(), 2);  // v3
  // A random 127-bit serial: unique without keeping state (RFC 5280 allows up to 20 bytes).
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) {
    return Status::IOError(openssl_error("random serial"));
  }
  serial_bytes[0] &= 0x7f;
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
  const bool serial_set =
      serial != nullptr && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(serial);
  if (!serial_set) return Status::IOError(openssl_error("setting the serial"));
  // Valid from an hour ago: clocks of the machines that check it may lag this one.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(days), 0, nullptr);
  X509_set_pubkey(cert.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return Status::InvalidArgument(openssl_error("common name"));
  }
  return cert;
}

Result<PemPair> to_pem(X509* cert, EVP_PKEY* key) {
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Status::IOError(openssl_error("encoding PEM"));
  }
  const auto text = [](BIO* bio) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(length));
  };
  return PemPair{text(cert_bio.get()), text(key_bio.get())};
}

Status check_days(uint32_t days) {
  if (days == 0 || days > kCertDaysMax) {
    return Status::InvalidArgument("tls: validity must be 1.." + std::to_string(kCertDaysMax) +
                                   " days, got " + std::to_string(days));
  }
  return Status::OK();
}

}  // namespace

Result<PemPair> make_ca(const std::string& common_name, uint32_t days) {
  if (Status s = check_days(days); !s.ok()) return s;
  if (!valid_name(common_name, false)) {
    return Status::InvalidArgument("tls: bad CA name \"" + common_name + "\"");
  }
  Result<KeyPtr> key = new_key();
  if (!key.ok()) return key.status();
  Result<CertPtr> cert = new_certificate(key->get(), common_name, days);
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  X509_set_issuer_name(c, X509_get_subject_name(c));
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                            std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                            std::pair{NID_subject_key_identifier, "hash"}}) {
    if (Status s = add_extension(c, c, nid, value); !s.ok()) return s;
  }
  if (X509_sign(c, key->get(), EVP_sha256()) == 0) {
    return Status::IOError(openssl_error("signing the CA"));
  }
  return to_pem(c, key->get());
}

Result<PemPair> issue_certificate(const PemPair& ca, const std::string& common_name,
                                  const std::vector<std::string>& hosts, uint32_t days) {
  if (Status s = check_days(days); !s.ok()) return s;
  if (!valid_name(common_name, false) || common_name.find('*') != std::string::npos) {
    return Status::InvalidArgument("tls: bad node name \"" + common_name + "\"");
  }
  if (hosts.size() > kCertHostsMax) {
    return Status::InvalidArgument("tls: at most " + std::to_string(kCertHostsMax) + " hosts");
  }
  std::string sans;
  for (const std::string& host : hosts) {
    const bool ip = is_ip_literal(host);
    if (!ip && !valid_name(host, false, kHostBytesMax)) {
      return Status::InvalidArgument("tls: bad host \"" + host + "\"");
    }
    sans += (sans.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + host;
  }
  BioPtr ca_cert_bio(BIO_new_mem_buf(ca.cert.data(), static_cast<int>(ca.cert.size())));
  BioPtr ca_key_bio(BIO_new_mem_buf(ca.key.data(), static_cast<int>(ca.key.size())));
  CertPtr ca_cert(PEM_read_bio_X509(ca_cert_bio.get(), nullptr, nullptr, nullptr));
  KeyPtr ca_key(PEM_read_bio_PrivateKey(ca_key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key) return Status::InvalidArgument(openssl_error("reading the CA"));
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    return Status::InvalidArgument("tls: the CA key does not match the CA certificate");
  }
  Result<KeyPtr> key = new_key();
  if (!key.ok()) return key.status();
  Result<CertPtr> cert = new_certificate(key->get(), common_name, days);
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  X509_set_issuer_name(c, X509_get_subject_name(ca_cert.get()));
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, "serverAuth,clientAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid"}};
  if (!sans.empty()) extensions.emplace_back(NID_subject_alt_name, sans);
  for (const auto& [nid, value] : extensions) {
    if (Status s = add_extension(c, ca_cert.get(), nid, value); !s.ok()) return s;
  }
  if (X509_sign(c, ca_key.get(), EVP_sha256()) == 0) {
    return Status::IOError(openssl_error("signing the certificate"));
  }
  return to_pem(c, key->get());
}

Result<CertificateInfo> read_certificate(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::InvalidArgument(openssl_error("reading a certificate"));
  CertificateInfo info;
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    info.common_name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                            static_cast<size_t>(ASN1_STRING_length(cn)));
  }
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) {
    return Status::InvalidArgument(openssl_error("reading a certificate's notAfter"));
  }
  info.not_after_unix_s = static_cast<int64_t>(timegm(&tm));
  return info;
}

}  // namespace chorus::security
