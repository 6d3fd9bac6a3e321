#include "k8s/operator/kube_config.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/text.h"

namespace chorus::op {

namespace {

// Tokens, CA bundles and certificates are small; anything larger is not what we expect.
constexpr size_t kSmallFileBytesMax = 1 << 20;

std::string join_path(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || dir.empty()) return path;
  return dir + "/" + path;
}

Result<std::string> write_private_file(const std::string& dir, const std::string& name,
                                       const std::string& bytes) {
  const std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IOError("cannot write " + path);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out || ::chmod(path.c_str(), 0600) != 0) return Status::IOError("cannot write " + path);
  return path;
}

// A *-data field (base64 PEM) becomes a file; a path field is resolved against the kubeconfig.
Result<std::string> file_or_data(const YAML::Node& node, const std::string& field,
                                 const std::string& base_dir, std::string* scratch,
                                 const std::string& scratch_root) {
  if (node[field + "-data"]) {
    auto bytes = base64_decode(node[field + "-data"].as<std::string>());
    if (!bytes.ok()) return Status::InvalidArgument(field + "-data is not base64");
    if (scratch->empty()) {
      std::string templ = scratch_root + "/chorus-operator-XXXXXX";
      if (::mkdtemp(templ.data()) == nullptr) {
        return Status::IOError("cannot create a private directory under " + scratch_root);
      }
      *scratch = templ;
    }
    return write_private_file(*scratch, field + ".pem", *bytes);
  }
  if (node[field]) return join_path(base_dir, node[field].as<std::string>());
  return std::string();
}

const YAML::Node find_named(const YAML::Node& list, const std::string& name, const char* what) {
  if (!list.IsSequence()) return YAML::Node();
  for (const YAML::Node& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item[what];
  }
  return YAML::Node();
}

nlohmann::json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = to_json(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string text = node.Scalar();
      if (node.Tag() == "!") return text;  // quoted: always a string
      int64_t i = 0;
      bool b = false;
      if (YAML::convert<int64_t>::decode(node, i)) return i;
      if (YAML::convert<bool>::decode(node, b) && (text == "true" || text == "false")) return b;
      if (text == "null" || text == "~") return nullptr;
      return text;
    }
    default:
      return nullptr;
  }
}

}  // namespace

Result<nlohmann::json> yaml_to_json(const std::string& yaml_text) {
  try {
    return to_json(YAML::Load(yaml_text));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("YAML does not parse: ") + e.what());
  }
}

Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::string text;
  text.resize(kSmallFileBytesMax + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Status::IOError("cannot read " + path);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kSmallFileBytesMax) return Status::TooLarge(path + " is larger than 1 MiB");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

Result<KubeConfig> in_cluster_config(const std::string& env_host, const std::string& env_port,
                                     const std::string& sa_dir) {
  if (env_host.empty() || env_port.empty()) {
    return Status::NotFound("KUBERNETES_SERVICE_HOST/PORT are not set: not running in a pod");
  }
  KubeConfig config;
  // An IPv6 service address needs brackets in a URL.
  const bool v6 = env_host.find(':') != std::string::npos;
  config.server = "https://" + (v6 ? "[" + env_host + "]" : env_host) + ":" + env_port;
  config.token_file = sa_dir + "/token";
  config.ca_file = sa_dir + "/ca.crt";
  CHORUS_RETURN_IF_ERROR(read_small_file(config.token_file).status());
  auto ns = read_small_file(sa_dir + "/namespace");
  if (!ns.ok()) return ns.status();
  config.namespace_ = *ns;
  return config;
}

Result<KubeConfig> parse_kubeconfig(const std::string& yaml_text, const std::string& context,
                                    const std::string& base_dir, const std::string& scratch_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("kubeconfig does not parse: ") + e.what());
  }
  try {
    const std::string ctx_name =
        context.empty() ? root["current-context"].as<std::string>("") : context;
    if (ctx_name.empty()) return Status::InvalidArgument("kubeconfig has no current-context");
    const YAML::Node ctx = find_named(root["contexts"], ctx_name, "context");
    if (!ctx) return Status::InvalidArgument("kubeconfig has no context " + ctx_name);
    const std::string cluster_name = ctx["cluster"].as<std::string>("");
    const std::string user_name = ctx["user"].as<std::string>("");
    const YAML::Node cluster = find_named(root["clusters"], cluster_name, "cluster");
    if (!cluster || !cluster["server"]) {
      return Status::InvalidArgument("kubeconfig has no cluster " + cluster_name +
                                     " with a server");
    }
    KubeConfig config;
    config.server = cluster["server"].as<std::string>();
    config.namespace_ = ctx["namespace"].as<std::string>("");
    config.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"].as<bool>(false);
    std::string scratch;
    auto ca = file_or_data(cluster, "certificate-authority", base_dir, &scratch, scratch_dir);
    if (!ca.ok()) return ca.status();
    config.ca_file = *ca;
    const YAML::Node user = find_named(root["users"], user_name, "user");
    if (user) {
      if (user["exec"] || user["auth-provider"]) {
        return Status::InvalidArgument("kubeconfig user " + user_name +
                                       " uses an exec/auth-provider plugin, which the operator "
                                       "does not run; use a token or `kubectl proxy`");
      }
      config.token = user["token"].as<std::string>("");
      if (user["tokenFile"])
        config.token_file = join_path(base_dir, user["tokenFile"].as<std::string>());
      auto cert = file_or_data(user, "client-certificate", base_dir, &scratch, scratch_dir);
      if (!cert.ok()) return cert.status();
      auto key = file_or_data(user, "client-key", base_dir, &scratch, scratch_dir);
      if (!key.ok()) return key.status();
      config.client_cert_file = *cert;
      config.client_key_file = *key;
    }
    return config;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("kubeconfig is malformed: ") + e.what());
  }
}

Result<KubeConfig> load_kubeconfig(const std::string& path, const std::string& context,
                                   const std::string& scratch_dir) {
  auto text = read_small_file(path);
  if (!text.ok()) return text.status();
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return parse_kubeconfig(*text, context, dir, scratch_dir);
}

}  // namespace chorus::op
