#include "security/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "security/crypto.h"

namespace chorus::security {

namespace ssl = boost::asio::ssl;

struct TlsCredentials::Snapshot {
  SslContextPtr https;
  SslContextPtr peer_server;
  SslContextPtr peer_client;
  std::string common_name;
};

namespace {

// TLS 1.2 suites: forward secret (ECDHE) and AEAD only, ECDSA and RSA certificates. TLS 1.3's
// suites are all AEAD and stay at OpenSSL's defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// Resumed sessions must belong to this application (OpenSSL refuses resumption with client
// verification on without it).
constexpr unsigned char kSessionIdContext[] = "chorus";

enum class Role { kHttps, kPeerServer, kPeerClient };

std::string common_name_of(const X509* cert) {
  if (cert == nullptr) return "";
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return "";
  std::string name(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return name;
}

// The leaf and its chain, as loaded into `native`, verify against the CA loaded into it.
Status check_chains_to_ca(SSL_CTX* native, const TlsFiles& files) {
  X509* leaf = SSL_CTX_get0_certificate(native);
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(native, &chain);
  X509_STORE_CTX* verify = X509_STORE_CTX_new();
  if (verify == nullptr) return Status::IOError("tls: out of memory");
  Status status = Status::OK();
  if (X509_STORE_CTX_init(verify, SSL_CTX_get_cert_store(native), leaf, chain) != 1) {
    status = Status::IOError("tls: cannot verify " + files.cert + ": " + openssl_error_text());
  } else if (X509_verify_cert(verify) != 1) {
    status = Status::InvalidArgument(
        "tls: certificate " + files.cert + " does not chain to the CA " + files.ca + ": " +
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify)));
  }
  X509_STORE_CTX_free(verify);
  return status;
}

Result<SslContextPtr> make_context(const TlsFiles& files, Role role) {
  auto context = std::make_shared<ssl::context>(
      role == Role::kPeerClient ? ssl::context::tls_client : ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return Status::IOError("tls: cannot configure a context: " + openssl_error_text());
  }
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(native, files.cert.c_str()) != 1) {
    return Status::InvalidArgument("tls: certificate " + files.cert + ": " + openssl_error_text());
  }
  if (SSL_CTX_use_PrivateKey_file(native, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return Status::InvalidArgument("tls: key " + files.key + " does not match certificate " +
                                     files.cert);
    }
    return Status::InvalidArgument("tls: key " + files.key + ": " + openssl_error_text());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return Status::InvalidArgument("tls: key " + files.key + " does not match certificate " +
                                   files.cert);
  }
  if (SSL_CTX_load_verify_locations(native, files.ca.c_str(), nullptr) != 1) {
    return Status::InvalidArgument("tls: CA " + files.ca + ": " + openssl_error_text());
  }
  if (Status s = check_chains_to_ca(native, files); !s.ok()) return s;
  switch (role) {
    case Role::kHttps:
      SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
      break;
    case Role::kPeerServer:
      SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
    case Role::kPeerClient:
      SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
      break;
  }
  if (role != Role::kPeerClient) {
    SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext - 1);
  }
  return SslContextPtr(std::move(context));
}

}  // namespace

Result<std::shared_ptr<const TlsCredentials::Snapshot>> TlsCredentials::load(
    const TlsFiles& files) {
  if (files.cert.empty() || files.key.empty() || files.ca.empty()) {
    return Status::InvalidArgument("tls: --tls-cert, --tls-key and --tls-ca go together");
  }
  auto snapshot = std::make_shared<Snapshot>();
  for (auto [role, slot] : {std::pair{Role::kHttps, &snapshot->https},
                            std::pair{Role::kPeerServer, &snapshot->peer_server},
                            std::pair{Role::kPeerClient, &snapshot->peer_client}}) {
    Result<SslContextPtr> context = make_context(files, role);
    if (!context.ok()) return context.status();
    *slot = std::move(context).value();
  }
  snapshot->common_name =
      common_name_of(SSL_CTX_get0_certificate(snapshot->https->native_handle()));
  if (snapshot->common_name.empty()) {
    return Status::InvalidArgument("tls: certificate " + files.cert +
                                   " has no Common Name (it must name the node id)");
  }
  if (!files.common_name.empty() && snapshot->common_name != files.common_name) {
    return Status::InvalidArgument("tls: certificate " + files.cert + " names \"" +
                                   snapshot->common_name + "\", not this node (\"" +
                                   files.common_name + "\")");
  }
  return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

Result<std::unique_ptr<TlsCredentials>> TlsCredentials::open(TlsFiles files) {
  Result<std::shared_ptr<const Snapshot>> snapshot = load(files);
  if (!snapshot.ok()) return snapshot.status();
  std::unique_ptr<TlsCredentials> credentials(new TlsCredentials(std::move(files)));
  credentials->snapshot_ = std::move(snapshot).value();
  return credentials;
}

std::shared_ptr<const TlsCredentials::Snapshot> TlsCredentials::current() const {
  return std::atomic_load(&snapshot_);
}

SslContextPtr TlsCredentials::https() const {
  return current()->https;
}
SslContextPtr TlsCredentials::peer_server() const {
  return current()->peer_server;
}
SslContextPtr TlsCredentials::peer_client() const {
  return current()->peer_client;
}
std::string TlsCredentials::common_name() const {
  return current()->common_name;
}

Status TlsCredentials::reload() {
  Result<std::shared_ptr<const Snapshot>> snapshot = load(files_);
  if (!snapshot.ok()) return snapshot.status();
  std::atomic_store(&snapshot_, std::move(snapshot).value());
  return Status::OK();
}

std::string peer_common_name(const ssl_st* ssl) {
  if (ssl == nullptr) return "";
  return common_name_of(SSL_get0_peer_certificate(ssl));
}

}  // namespace chorus::security
