// The operator's runtime: watches ChorusClusters, holds a Lease while it acts, and for each
// cluster observes (API objects, the Secrets, pods, and the Chorus members through a ready pod's
// /v1/cluster), first makes the Secrets right (plan_credentials), then asks reconcile() what to
// do, does it, and writes the ChorusCluster's status. It speaks to the pods over HTTPS, verifying
// their certificates against the cluster CA, with its own admin token (credentials.h).
//
// Threads:
//   - the watch thread lists and watches ChorusClusters (WatchState) and posts what changed to
//     the reconcile strand; it is the only code that blocks for long (a watch stays open);
//   - two io_context threads run two strands: the lease strand (LeaderElection, renewing every
//     retry period) and the reconcile strand (the cluster cache and every reconcile pass). Each
//     strand has its own KubeClient, and every blocking call has a timeout, so a slow reconcile
//     pass never delays a renewal.
// Nothing is written unless the Lease is held: every write is preceded by a check that the last
// renewal is younger than the renew deadline, and lease requests are bounded in time, so a
// stalled leader stops writing before a standby may take over. Losing it (no renewal within the
// renew deadline, or another holder) ends run() with an error: the process exits and its Deployment
// restarts it as a candidate, as client-go's leader election does. No other state is kept across
// restarts: every pass observes everything again, which is what makes a restart mid-operation
// safe (reconcile.h).
//
// Errors: run() returns when stop() is called (OK) or leadership is lost (Unavailable).
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/status.h"
#include "k8s/operator/credentials.h"
#include "k8s/operator/kube_client.h"
#include "k8s/operator/leader_election.h"
#include "k8s/operator/objects.h"
#include "k8s/operator/reconcile.h"
#include "k8s/operator/watch_state.h"

namespace chorus::op {

struct OperatorOptions {
  std::string namespace_;  // where the ChorusClusters (and what they own) live
  std::string identity;    // the Lease holder name: the pod name
  std::string lease_name = "chorus-operator";
  LeaseTimings lease;
  // Chorus's own state (members, transitions) is not watchable: clusters are observed again
  // this often when idle, and every busy_resync_ms while an operation is under way.
  uint64_t resync_ms = 10'000;
  uint64_t busy_resync_ms = 1'000;
  // Retries of failed passes (409 conflicts, 5xx, no answer).
  uint64_t retry_initial_ms = 250;
  uint64_t retry_max_ms = 10'000;
  int chorus_http_port = kChorusHttpPort;
  int chorus_timeout_ms = 2'000;
  int watch_timeout_s = 300;
  // Validity and renewal of the certificates the operator issues (credentials.h).
  CertPolicy certs;
  KubeClientOptions api;
};

// A ready pod, as the operator reaches it: by IP, verifying the certificate against its DNS
// name (no IP is known when the certificate is issued).
struct PodEndpoint {
  std::string dns_name;
  std::string ip;
};

class Operator {
 public:
  Operator(KubeConfig config, OperatorOptions options, const Clock* clock);
  ~Operator();
  Operator(const Operator&) = delete;
  Operator& operator=(const Operator&) = delete;

  // Runs until stop() or until leadership is lost. Call once.
  [[nodiscard]] Status run();
  // Thread-safe; stops writing at once, then (after any pass under way) releases the Lease and
  // makes run() return.
  void stop();

 private:
  struct Tracked {
    nlohmann::json object;
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::unique_ptr<Backoff> backoff;
  };

  // Lease strand.
  void lease_tick();
  Status lease_write(LeaseStep step, const ApiResponse& read);
  void release_lease();

  // Watch thread.
  void watch_loop();

  // Reconcile strand.
  // True while the Lease is held and not stopping: checked before every write.
  bool may_act() const;
  void upsert(nlohmann::json object);
  void remove_cluster(const std::string& name);
  void replace_all(std::vector<nlohmann::json> objects);
  void schedule(const std::string& name, uint64_t delay_ms);
  void pass(const std::string& name);
  void pass_checked(const std::string& name);
  // Observes one cluster; a non-OK Status means the API did not answer well enough to decide.
  // The Secrets of credentials.h as they are, keeping the objects for a replace.
  Status observe_secrets(const ChorusCluster& c, ObservedSecrets* s,
                         std::map<std::string, nlohmann::json>* objects);
  // Creates or updates the Secrets `plan` needs; OK when there was nothing to do.
  Status secure(const ChorusCluster& c, int pods, const CredentialPlan& plan,
                const ObservedSecrets& s, const std::map<std::string, nlohmann::json>& objects);
  Status observe(const ChorusCluster& c, const ChorusAccess& access, Observed* o,
                 nlohmann::json* sts, std::vector<PodEndpoint>* pods);
  Status act(const ChorusCluster& c, const Action& a, nlohmann::json sts,
             const ChorusAccess& access, const std::vector<PodEndpoint>& pods);
  Status write_status(const ChorusCluster& c, const ClusterStatus& s);

  const OperatorOptions options_;
  const Clock* clock_;
  boost::asio::io_context io_;
  boost::asio::strand<boost::asio::io_context::executor_type> lease_strand_;
  boost::asio::strand<boost::asio::io_context::executor_type> reconcile_strand_;
  boost::asio::steady_timer lease_timer_;
  KubeClient lease_api_;
  KubeClient reconcile_api_;
  KubeConfig config_;
  LeaderElection election_;
  std::atomic<bool> leading_{false};
  // Steady time until which the reconcile strand may write (LeaderElection::act_deadline_ms).
  std::atomic<uint64_t> act_until_ms_{0};
  std::atomic<bool> stopping_{false};
  Status exit_status_;                       // written on the lease strand before io_ stops
  std::map<std::string, Tracked> clusters_;  // reconcile strand
  uint64_t seed_ = 0;
};

}  // namespace chorus::op
