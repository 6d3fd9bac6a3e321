// chorusd: one Chorus node. Flags come from the command line and, optionally, a JSON config file
// (--config) whose keys are the flag names without dashes; the command line wins over the file.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "node/node.h"

namespace {

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// Turns {"id": "n1", "bootstrap-expect": 3, "hints": false} into "--id=n1 --bootstrap-expect=3
// --hints=false" placed before the real arguments, so real arguments override the file.
bool config_args(const std::string& path, std::vector<std::string>* args, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read config file " + path;
    return false;
  }
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "config file " + path + " is not a JSON object";
    return false;
  }
  for (const auto& [key, value] : j.items()) {
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_array()) {
      for (const auto& item : value) {
        text +=
            (text.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
      }
    } else {
      text = value.dump();
    }
    args->push_back("--" + key + "=" + text);
  }
  return true;
}

// Every HTTP connection (up to 1024), peer connection and engine table file takes a descriptor; a
// stock login shell allows 1024. Raise the soft limit to the hard one (capped) and say so if the
// result is still low, instead of failing later with EMFILE under load.
void raise_fd_limit() {
  constexpr rlim_t kWantedFds = 65536;
  constexpr rlim_t kLowFds = 4096;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t target = std::min(limit.rlim_max, kWantedFds);
  if (limit.rlim_cur < target) {
    limit.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  }
  if (limit.rlim_cur < kLowFds) {
    spdlog::warn("open-file limit is {} (hard limit {}); raise it (ulimit -n) to at least {}",
                 limit.rlim_cur, limit.rlim_max, kLowFds);
  }
}

}  // namespace

int main(int argc, char** argv) {
  chorus::NodeOptions o;
  std::string seeds, engine = "rocksdb", log_level = "info", config;
  CLI::App app{"chorusd: a Chorus node (leaderless, Dynamo-style key-value store)"};
  // The config file's flags come first and the command line's after them: the last one wins.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--config", config, "JSON file of flags (keys are flag names)");
  app.add_option("--id", o.id, "Node id, unique in the cluster ([A-Za-z0-9._-])")->required();
  app.add_option("--http", o.http_address, "HTTP API listen address host:port");
  app.add_option("--peer", o.peer_address, "Internode listen address host:port");
  app.add_option("--data", o.data_dir, "Data directory");
  app.add_option("--seeds", seeds, "Comma-separated peer addresses to gossip with first");
  app.add_option("--bootstrap-expect", o.bootstrap_expect,
                 "Members that bootstrap a new cluster together");
  app.add_option("--engine", engine, "Storage engine: rocksdb | leveldb");
  app.add_option("--replicas", o.replicas, "Replicas per key (N)");
  app.add_option("--read-quorum", o.read_quorum, "Default read quorum (R)");
  app.add_option("--write-quorum", o.write_quorum, "Default write quorum (W)");
  app.add_option("--partitions", o.partitions, "Partitions (power of two, fixed at creation)");
  app.add_option("--threads", o.threads, "I/O threads (0 = cores)");
  app.add_option("--max-value-bytes", o.max_value_bytes, "Largest accepted value");
  app.add_option("--request-timeout-ms", o.request_timeout_ms, "Coordinator deadline");
  app.add_option("--epoch-interval-s", o.epoch_interval_s, "Seconds between epoch advances");
  app.add_option("--stream-bytes-per-s", o.stream_bytes_per_s,
                 "Rate limit for streaming partitions to new owners");
  app.add_option("--disk-reserve-bytes", o.disk_reserve_bytes,
                 "Free bytes kept on the data disk: below them writes fail cleanly (0 = no check)");
  app.add_option("--hints", o.hints_enabled, "Hinted handoff (true|false)");
  app.add_option("--hints-per-second", o.hints_per_second_max, "Hint delivery rate limit");
  app.add_option("--aae", o.aae_enabled, "Anti-entropy (true|false)");
  app.add_option("--aae-max-bytes-per-s", o.aae_max_bytes_per_s,
                 "Anti-entropy byte budget (requests and replies)");
  app.add_option("--aae-max-exchanges", o.aae_max_exchanges,
                 "Partitions anti-entropy works on at once");
  app.add_option("--aae-full-sweep-interval-s", o.aae_full_sweep_interval_s,
                 "Seconds between full-partition anti-entropy sweeps");
  app.add_option("--aae-leaves", o.aae_leaves, "Merkle leaves per (partition, epoch) tree");
  app.add_option("--tombstone-grace-s", o.tombstone_grace_s,
                 "Seconds a tombstone is kept before collection (0 = forever; needs --aae)");
  app.add_option("--acl-file", o.acl_file,
                 "JSON file of HTTP API tokens (SHA-256) and their rules; re-read on SIGHUP");
  app.add_option(
      "--gossip-key", o.gossip_key,
      "Gossip keyring: one base64 32-byte key a line, the first seals; re-read on SIGHUP");
  app.add_option(
      "--tls-cert", o.tls_cert,
      "PEM certificate (CN = --id) for HTTPS and internode mutual TLS; with --tls-key and "
      "--tls-ca; re-read on SIGHUP");
  app.add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert");
  app.add_option("--tls-ca", o.tls_ca, "PEM CA bundle the node's and peers' certificates chain to");
  app.add_option("--security-reload-check-s", o.security_reload_check_s,
                 "Also re-read the ACL, gossip key and TLS files when their contents change, "
                 "checked every N seconds (0 = only on SIGHUP)");
  app.add_flag("--insecure", o.insecure,
               "allow non-loopback --http/--peer without TLS, --acl-file and --gossip-key");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");

  // A first pass finds --config so its values can be put in front of the real arguments.
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) config = args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) config = args[i].substr(9);
  }
  if (!config.empty()) {
    std::vector<std::string> from_file;
    std::string error;
    if (!config_args(config, &from_file, &error)) {
      std::fprintf(stderr, "chorusd: %s\n", error.c_str());
      return 2;
    }
    args.insert(args.begin(), from_file.begin(), from_file.end());
  }
  std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [" + o.id + "] %v");
  raise_fd_limit();
  o.seeds = split(seeds);
  auto kind = chorus::parse_engine_kind(engine);
  if (!kind.ok() || *kind == chorus::EngineKind::kMemory) {
    std::fprintf(stderr, "chorusd: --engine must be rocksdb or leveldb\n");
    return 2;
  }
  o.engine = *kind;

  chorus::Node node(o);
  chorus::Status st = node.start();
  if (!st.ok()) {
    spdlog::critical("cannot start: {}", st.to_string());
    return 1;
  }
  node.run();
  return 0;
}
