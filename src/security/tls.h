// TLS credentials of a node (DESIGN.md §10): one certificate, its key and the CA every peer and
// client certificate must chain to, turned into OpenSSL contexts for the three roles a node plays.
//
//   https()       server side of the HTTP API: presents the node's certificate; clients need no
//                 certificate of their own (they authenticate with ACL tokens).
//   peer_server() server side of the internode transport: presents the node's certificate and
//                 requires one from the peer that chains to the CA (mutual TLS).
//   peer_client() client side of the internode transport: presents the node's certificate and
//                 verifies the server's against the CA.
//
// Every context allows TLS 1.2 and 1.3 only, with forward-secret AEAD suites (ECDHE with AES-GCM
// or ChaCha20-Poly1305); ECDSA and RSA keys both work. Loading checks what would otherwise fail at
// the first handshake: the key matches the certificate, and the certificate chains to the CA.
//
// Rotation: reload() re-reads the three files and swaps in fresh contexts atomically. A connection
// keeps the context it was made with (it holds the shared_ptr), so traffic in flight is never
// dropped; new connections use the new files. On error the current contexts stay in force.
//
// Thread-safety: the accessors and reload() may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "core/status.h"

struct ssl_st;  // OpenSSL's SSL

namespace chorus::security {

struct TlsFiles {
  std::string cert;  // PEM certificate (chain), leaf first
  std::string key;   // PEM private key of the leaf
  std::string ca;    // PEM CA bundle every peer certificate must chain to
  // The Common Name the certificate must carry (the node id); a file naming anyone else is
  // refused at open and at reload. Empty: any.
  std::string common_name;
};

using SslContextPtr = std::shared_ptr<boost::asio::ssl::context>;

class TlsCredentials {
 public:
  // Loads the files; the error names the file and what is wrong with it.
  [[nodiscard]] static Result<std::unique_ptr<TlsCredentials>> open(TlsFiles files);

  // Never null. The contexts are not modified after they are published.
  SslContextPtr https() const;
  SslContextPtr peer_server() const;
  SslContextPtr peer_client() const;
  // The Common Name of this node's own certificate.
  std::string common_name() const;

  // Re-reads the files. On error the current credentials stay in force and the error is returned.
  [[nodiscard]] Status reload();
  const TlsFiles& files() const { return files_; }

 private:
  struct Snapshot;
  explicit TlsCredentials(TlsFiles files) : files_(std::move(files)) {}
  [[nodiscard]] static Result<std::shared_ptr<const Snapshot>> load(const TlsFiles& files);
  std::shared_ptr<const Snapshot> current() const;

  const TlsFiles files_;
  std::shared_ptr<const Snapshot> snapshot_;  // read and written with std::atomic_load/store
};

// The Common Name of the certificate the peer presented on an established connection, or empty
// when it presented none. Only meaningful after a handshake that verified the certificate.
std::string peer_common_name(const ssl_st* ssl);

}  // namespace chorus::security
