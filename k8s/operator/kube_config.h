// Where the operator finds the Kubernetes API and how it authenticates (issue 5).
//
// Two sources, as client-go has them:
//   - In-cluster: KUBERNETES_SERVICE_HOST/PORT, and the service account's token, CA bundle and
//     namespace under /var/run/secrets/kubernetes.io/serviceaccount. The token is *not* read here:
//     it rotates (bound service account tokens expire after an hour), so the client re-reads
//     `token_file` before it goes stale (see KubeClient).
//   - A kubeconfig file (out-of-cluster runs): the current (or a named) context's cluster server,
//     certificate-authority(-data), insecure-skip-tls-verify, and its user's token, tokenFile or
//     client-certificate/key(-data). Inline *-data is written to 0600 files in a private directory
//     made under `scratch_dir`, since OpenSSL (through cpp-httplib) loads certificates from files.
//     exec and auth-provider plugins are refused with InvalidArgument: run `kubectl proxy` and
//     point a kubeconfig at it instead.
//
// Thread-safety: values only. Errors: NotFound when the files or variables are missing,
// InvalidArgument for a kubeconfig that does not parse or names a missing context/cluster/user.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace chorus::op {

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct KubeConfig {
  std::string server;  // "https://10.0.0.1:443" or "http://127.0.0.1:8001"
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  std::string token;       // a fixed bearer token
  std::string token_file;  // re-read on rotation; wins over `token`
  std::string client_cert_file;
  std::string client_key_file;
  std::string namespace_;  // the namespace of the context or of the service account; may be empty
};

// In-cluster configuration. `env_host`/`env_port` are KUBERNETES_SERVICE_HOST/PORT as read by the
// caller (empty: not running in a pod).
[[nodiscard]] Result<KubeConfig> in_cluster_config(const std::string& env_host,
                                                   const std::string& env_port,
                                                   const std::string& sa_dir = kServiceAccountDir);

// Parses kubeconfig YAML text. `context` empty means current-context. `base_dir` resolves
// relative file paths (the kubeconfig's own directory).
[[nodiscard]] Result<KubeConfig> parse_kubeconfig(const std::string& yaml_text,
                                                  const std::string& context,
                                                  const std::string& base_dir,
                                                  const std::string& scratch_dir);

// Reads and parses a kubeconfig file.
[[nodiscard]] Result<KubeConfig> load_kubeconfig(const std::string& path,
                                                 const std::string& context,
                                                 const std::string& scratch_dir);

// Converts YAML text (one document) to JSON: mappings, sequences, and scalars as integers,
// booleans, null or strings as YAML 1.2's core schema reads them. InvalidArgument if it does
// not parse. (For `chorus-operator --render`, which reads ChorusCluster manifests.)
[[nodiscard]] Result<nlohmann::json> yaml_to_json(const std::string& yaml_text);

// Reads a whole small file (tokens, namespaces); trims trailing whitespace. NotFound/IOError.
[[nodiscard]] Result<std::string> read_small_file(const std::string& path);

}  // namespace chorus::op
