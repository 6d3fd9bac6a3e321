// StatefulSetSim: what the StatefulSet controller and the kubelets would do for one StatefulSet
// in the FakeApiServer, with real chorusd processes as the pods' containers.
//
//   - Pods NAME-0 .. NAME-(replicas-1) exist (podManagementPolicy Parallel: created and deleted
//     together); pod i runs on 127.X.Y.(i+1) (its podIP), HTTP port 8080, peer port 7000, data in
//     <root>/NAME-i (its PersistentVolumeClaim). The container's args come from the StatefulSet's
//     template verbatim; the address flags are what the template's launcher script computes
//     (--id, --http, --peer, --data, --seeds of the first min(3, --bootstrap-expect) pods).
//   - Secret volumes, as the kubelet mounts them: the Secret's keys as files in
//     <root>/NAME-i.volumes/VOLUME (mode 0440), refreshed while the pod runs (about every second,
//     each file replaced by a rename, like the kubelet's atomic writer). A pod whose Secret does
//     not exist yet is not started (ContainerCreating). In the args, $(POD_NAME) and
//     $(POD_NAMESPACE) are expanded and a mountPath prefix becomes that directory.
//   - Readiness is the probe the template names (/v1/ready, over HTTPS without verifying the
//     certificate when its scheme is HTTPS, as the kubelet does), written into the pod's Ready
//     condition. A container that exits is restarted (restartPolicy Always) after a backoff.
//   - Rolling update: pods at or above the partition whose image differs from the template are
//     replaced one at a time, highest ordinal first, each only once every pod is ready.
//   - Deleting a pod: taken out of readiness, the preStop delay, SIGTERM, SIGKILL after the grace
//     period. Scaling down deletes the pod's claim too (persistentVolumeClaimRetentionPolicy
//     whenScaled: Delete, as the operator's StatefulSet asks).
//   - The StatefulSet's status (replicas, readyReplicas, updatedReplicas, observedGeneration).
// The image name only labels the pod: every image runs the same chorusd binary.
//
// Thread-safety: start()/stop() from the test thread; the simulation runs on its own thread;
// ready_urls() and restarts() may be called from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "tests/operator/fake_apiserver.h"
#include "tests/testkit/process.h"

namespace chorus::testkit {

struct StatefulSetSimOptions {
  std::string ns = "chorus";
  std::string name = "chorus";
  std::string chorusd;  // binary
  std::string root;     // data and logs
  int block_x = 0;      // pods on 127.block_x.block_y.(ordinal + 1)
  int block_y = 0;
  int step_ms = 100;
  int pre_stop_ms = 1'000;         // the template's preStop sleep, shortened
  int grace_ms = 30'000;           // terminationGracePeriodSeconds
  int restart_backoff_ms = 1'000;  // first container restart delay, doubling up to 10 s
  int probe_timeout_ms = 500;
  // The template's readinessProbe (periodSeconds 2, failureThreshold 3), time-scaled: a pod
  // leaves the endpoints after 3 failed probes in a row, and joins them at the first success.
  int probe_period_ms = 500;
  int probe_failure_threshold = 3;
};

class StatefulSetSim {
 public:
  StatefulSetSim(FakeApiServer* api, StatefulSetSimOptions options);
  ~StatefulSetSim();

  [[nodiscard]] Status start();
  // Stops the simulation and every pod's process (SIGTERM, then SIGKILL).
  void stop();

  std::string pod_ip(int ordinal) const;
  // Base URLs of the pods that are ready now: the client Service's endpoints ("https://" when the
  // template's probes speak HTTPS).
  std::vector<std::string> ready_urls();
  // Where pod `ordinal`'s volume `volume` is mounted on this machine.
  std::string volume_dir(int ordinal, const std::string& volume) const;
  int restarts();
  // Readiness probes that failed while the container was running.
  int probe_failures();

 private:
  struct SecretVolume {
    std::string name;
    std::string secret;
    std::string mount_path;
  };
  struct Pod {
    int ordinal = 0;
    uint64_t volumes_synced_ms = 0;
    std::string image;
    std::vector<std::string> args;
    std::unique_ptr<Process> process;
    bool ready = false;
    int restarts = 0;
    uint64_t restart_at_ms = 0;
    int backoff_ms = 0;
    uint64_t probed_at_ms = 0;
    int probe_failures = 0;
  };

  void loop();
  void step();
  Status start_pod(Pod& pod);
  // Writes the pod's Secret volumes; Unavailable names a Secret that does not exist.
  Status sync_volumes(Pod& pod);
  // The template's args as the kubelet hands them to the container.
  std::vector<std::string> container_args(const Pod& pod) const;
  // A new pod (or an updated one's replacement) of the template's image and args, started.
  void create_pod(int ordinal, const std::string& image, const std::vector<std::string>& args);
  void delete_pod(int ordinal, bool delete_claim);
  void write_pod(const Pod& pod);
  bool probe(const Pod& pod);
  std::string pod_path(int ordinal) const;
  std::string data_dir(int ordinal) const;

  FakeApiServer* api_;
  const StatefulSetSimOptions options_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::map<int, Pod> pods_;  // simulation thread only
  std::mutex mu_;            // guards ready_ and restarts_ for other threads
  std::map<int, bool> ready_;
  int restarts_ = 0;
  int probe_failures_total_ = 0;
  int bootstrap_expect_ = 3;
  std::vector<SecretVolume> volumes_;  // simulation thread only
  std::atomic<bool> https_{false};
};

}  // namespace chorus::testkit
