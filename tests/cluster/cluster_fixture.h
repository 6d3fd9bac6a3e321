// Helpers shared by the cluster tests: start a cluster or fail the test with its logs, and read
// a node's metrics.
#pragma once

#include <httplib.h>
#include <catch2/catch.hpp>
#include <string>

#include "tests/testkit/client.h"
#include "tests/testkit/cluster.h"

namespace chorus::testkit {

inline constexpr int kReadyTimeoutMs = 30'000;
inline constexpr int kConvergeTimeoutMs = 30'000;

inline void start_or_fail(LocalCluster& cluster) {
  Status st = cluster.start();
  if (st.ok()) st = cluster.wait_ready(kReadyTimeoutMs);
  if (!st.ok()) {
    cluster.dump_all_logs();
    FAIL("cluster did not start: " << st.to_string());
  }
}

// Replaces a file a node reads (ACL, keyring, certificates) in one step.
inline void write_file(const std::string& path, const std::string& text) {
  REQUIRE(write_file_atomically(path, text).ok());
}

inline KvClient client_for(const LocalCluster& cluster, int i) {
  return KvClient(cluster.node(i).host, cluster.node(i).http_port, cluster.client_options());
}

// An httplib client of node i for requests KvClient does not make (raw bodies, odd methods):
// HTTPS and the admin token when the cluster has them.
inline httplib::Client raw_http_client(const LocalCluster& cluster, int i) {
  const ClientOptions options = cluster.client_options();
  httplib::Client c(cluster.url(i));
  if (!options.cacert.empty()) c.set_ca_cert_path(options.cacert.c_str());
  if (!options.token.empty()) c.set_bearer_token_auth(options.token.c_str());
  c.set_tcp_nodelay(true);
  c.set_read_timeout(10, 0);
  return c;
}

// Sum of every series of a Prometheus metric on one node (0 when absent).
inline double metric(const LocalCluster& cluster, int i, const std::string& name) {
  KvClient c = client_for(cluster, i);
  JsonReply r = c.get_raw("/metrics");
  double total = 0;
  size_t pos = 0;
  while ((pos = r.body.find(name, pos)) != std::string::npos) {
    const bool line_start = pos == 0 || r.body[pos - 1] == '\n';
    const size_t end = pos + name.size();
    const bool exact = end < r.body.size() && (r.body[end] == ' ' || r.body[end] == '{');
    if (line_start && exact) {
      const size_t space = r.body.find(' ', r.body[end] == '{' ? r.body.find('}', end) : end);
      total += std::stod(r.body.substr(space + 1, r.body.find('\n', space) - space - 1));
    }
    pos = end;
  }
  return total;
}

// True when node i's own replica of key holds exactly `value` (not a tombstone).
inline bool local_has(const LocalCluster& cluster, int i, const std::string& key,
                      const std::string& value) {
  KvClient c = client_for(cluster, i);
  JsonReply r = c.get_json("/v1/debug/local/" + percent_encode(key));
  return r.http_status == 200 && r.json.is_object() && r.json.value("value", "") == value &&
         !r.json.value("tombstone", false);
}

}  // namespace chorus::testkit
