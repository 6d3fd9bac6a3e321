// chorus-operator: reconciles ChorusCluster objects into the Secrets, Services,
// PodDisruptionBudget, NetworkPolicy and StatefulSet that run Chorus securely, scaling and
// upgrading one member at a time (operator.h).
//
// Configuration: in a pod, the service account (in-cluster config); elsewhere --kubeconfig (or
// $KUBECONFIG). SIGTERM/SIGINT release the leader lease and exit 0; losing the lease exits 1.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "k8s/operator/kube_config.h"
#include "k8s/operator/objects.h"
#include "k8s/operator/operator.h"

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// Dry run: what the operator creates first for a ChorusCluster manifest (an API server would
// fill in the uid; a placeholder stands in). Lets the objects be reviewed and schema-checked.
int render_objects(const std::string& path) {
  using namespace chorus;
  auto text = op::read_small_file(path);
  if (!text.ok()) {
    spdlog::error("{}", text.status().to_string());
    return 2;
  }
  auto object = op::yaml_to_json(*text);
  if (!object.ok()) {
    spdlog::error("{}: {}", path, object.status().to_string());
    return 2;
  }
  if (object->is_object() && object->contains("metadata") && (*object)["metadata"].is_object() &&
      !(*object)["metadata"].contains("uid")) {
    (*object)["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000";
  }
  auto cluster = op::parse_cluster(*object);
  if (!cluster.ok()) {
    spdlog::error("{}: {}", path, cluster.status().to_string());
    return 2;
  }
  const nlohmann::json objects[] = {op::headless_service(*cluster), op::client_service(*cluster),
                                    op::pod_disruption_budget(*cluster),
                                    op::network_policy(*cluster),
                                    op::stateful_set(*cluster, cluster->replication_factor)};
  // The Secrets (credentials.h) are left out: they hold keys made at run time.
  for (const nlohmann::json& o : objects) std::printf("---\n%s\n", o.dump(2).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace chorus;
  CLI::App app{"chorus-operator: runs ChorusCluster objects as StatefulSets"};
  std::string kubeconfig = env_or("KUBECONFIG", "");
  std::string context;
  std::string ns;
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  op::OperatorOptions options;
  // Unique per process: two candidates with one identity would both think they hold the Lease.
  options.identity = env_or("POD_NAME", std::string(host) + "-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(std::random_device()() % 100000));
  uint64_t lease_duration_s = 15, renew_deadline_s = 10, retry_period_s = 2;
  uint64_t resync_s = 10;
  std::string log_level = "info";
  std::string render;
  app.add_option("--render", render,
                 "print the objects the operator would create for the ChorusCluster in this "
                 "YAML/JSON file (as a YAML stream), then exit");
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig for out-of-cluster runs ($KUBECONFIG)");
  app.add_option("--context", context, "kubeconfig context (default: current-context)");
  app.add_option("--namespace", ns,
                 "namespace to watch (default: the context's or the service account's)");
  app.add_option("--identity", options.identity, "leader election identity ($POD_NAME)");
  app.add_option("--lease-name", options.lease_name, "Lease used for leader election");
  app.add_option("--lease-duration-s", lease_duration_s)->check(CLI::Range(2, 600));
  app.add_option("--renew-deadline-s", renew_deadline_s)->check(CLI::Range(1, 599));
  app.add_option("--retry-period-s", retry_period_s)->check(CLI::Range(1, 300));
  app.add_option("--resync-s", resync_s, "observe idle clusters this often")
      ->check(CLI::Range(1, 3600));
  app.add_option("--chorus-port", options.chorus_http_port, "Chorus HTTP port on each pod")
      ->check(CLI::Range(1, 65535));
  app.add_option("--watch-timeout-s", options.watch_timeout_s)->check(CLI::Range(5, 3600));
  app.add_option("--cert-days", options.certs.cert_days,
                 "validity of the pod certificates the operator issues")
      ->check(CLI::Range(2u, 3650u))
      ->capture_default_str();
  app.add_option("--cert-renew-before-days", options.certs.renew_before_days,
                 "renew a pod certificate this many days before it expires")
      ->check(CLI::Range(1u, 3649u))
      ->capture_default_str();
  app.add_option("--log-level", log_level)
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (!render.empty()) return render_objects(render);
  if (!(retry_period_s < renew_deadline_s && renew_deadline_s < lease_duration_s)) {
    spdlog::error("need --retry-period-s < --renew-deadline-s < --lease-duration-s");
    return 2;
  }
  if (options.certs.renew_before_days >= options.certs.cert_days) {
    spdlog::error("need --cert-renew-before-days < --cert-days (or every pass would renew)");
    return 2;
  }
  options.lease = {lease_duration_s * 1000, renew_deadline_s * 1000, retry_period_s * 1000};
  options.resync_ms = resync_s * 1000;

  Result<op::KubeConfig> config =
      kubeconfig.empty() ? op::in_cluster_config(env_or("KUBERNETES_SERVICE_HOST", ""),
                                                 env_or("KUBERNETES_SERVICE_PORT", ""))
                         : op::load_kubeconfig(kubeconfig, context, env_or("TMPDIR", "/tmp"));
  if (!config.ok()) {
    spdlog::error("no Kubernetes API configuration: {}", config.status().to_string());
    return 2;
  }
  options.namespace_ = ns.empty() ? config->namespace_ : ns;
  if (options.namespace_.empty()) options.namespace_ = "default";

  // A peer that resets a kept-alive connection must fail the request, not kill the process
  // (cpp-httplib's client does not send with MSG_NOSIGNAL).
  ::signal(SIGPIPE, SIG_IGN);
  // Signals are taken by one thread with sigwait, so no handler runs inside library code.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SystemClock clock;
  op::Operator operator_(*config, options, &clock);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    operator_.stop();
  });
  waiter.detach();
  const Status st = operator_.run();
  // Flushed, not shut down: the detached watch thread may still log until _Exit.
  spdlog::default_logger()->flush();
  // Exit without unwinding the watch thread, which may sit in a long watch (operator.h).
  std::_Exit(st.ok() ? 0 : 1);
}
