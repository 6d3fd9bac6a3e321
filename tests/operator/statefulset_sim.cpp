#include "tests/operator/statefulset_sim.h"

#include <httplib.h>
#include <signal.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/text.h"

namespace chorus::testkit {

using nlohmann::json;

namespace {

constexpr int kRestartBackoffMaxMs = 10'000;
constexpr int kHttpPort = 8080;
constexpr int kPeerPort = 7000;

uint64_t now_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

const json* chorus_container(const json& pod_spec) {
  const auto containers = pod_spec.find("containers");
  if (containers == pod_spec.end() || !containers->is_array()) return nullptr;
  for (const json& c : *containers) {
    if (c.value("name", "") == "chorusd") return &c;
  }
  return nullptr;
}

}  // namespace

StatefulSetSim::StatefulSetSim(FakeApiServer* api, StatefulSetSimOptions options)
    : api_(api), options_(std::move(options)) {}

StatefulSetSim::~StatefulSetSim() {
  stop();
}

Status StatefulSetSim::start() {
  std::error_code ec;
  std::filesystem::create_directories(options_.root, ec);
  if (ec) return Status::IOError("cannot create " + options_.root + ": " + ec.message());
  thread_ = std::thread([this] { loop(); });
  return Status::OK();
}

void StatefulSetSim::stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  for (auto& [ordinal, pod] : pods_) {
    if (pod.process && pod.process->alive()) {
      (void)pod.process->kill(SIGTERM);
      if (!pod.process->wait_exit(5'000)) (void)pod.process->kill(SIGKILL);
      pod.process->wait_exit(5'000);
    }
  }
  pods_.clear();
}

std::string StatefulSetSim::pod_ip(int ordinal) const {
  return "127." + std::to_string(options_.block_x) + "." + std::to_string(options_.block_y) + "." +
         std::to_string(ordinal + 1);
}

std::vector<std::string> StatefulSetSim::ready_urls() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [ordinal, ready] : ready_) {
    if (ready) {
      out.push_back((https_ ? "https://" : "http://") + pod_ip(ordinal) + ":" +
                    std::to_string(kHttpPort));
    }
  }
  return out;
}

int StatefulSetSim::probe_failures() {
  std::lock_guard<std::mutex> lock(mu_);
  return probe_failures_total_;
}

int StatefulSetSim::restarts() {
  std::lock_guard<std::mutex> lock(mu_);
  return restarts_;
}

std::string StatefulSetSim::pod_path(int ordinal) const {
  return "/api/v1/namespaces/" + options_.ns + "/pods/" + options_.name + "-" +
         std::to_string(ordinal);
}

std::string StatefulSetSim::data_dir(int ordinal) const {
  return options_.root + "/" + options_.name + "-" + std::to_string(ordinal);
}

std::string StatefulSetSim::volume_dir(int ordinal, const std::string& volume) const {
  return data_dir(ordinal) + ".volumes/" + volume;
}

Status StatefulSetSim::sync_volumes(Pod& pod) {
  for (const SecretVolume& v : volumes_) {
    const auto secret = api_->get("/api/v1/namespaces/" + options_.ns + "/secrets/" + v.secret);
    if (!secret) return Status::Unavailable("Secret " + v.secret + " not found");
    const std::string dir = volume_dir(pod.ordinal, v.name);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
    std::set<std::string> keys;
    const json data = secret->value("data", json::object());
    for (const auto& [key, encoded] : data.items()) {
      auto bytes = encoded.is_string()
                       ? base64_decode(encoded.get<std::string>())
                       : Result<std::string>(Status::InvalidArgument("not a string"));
      if (!bytes.ok()) return Status::InvalidArgument("Secret " + v.secret + " " + key);
      keys.insert(key);
      const std::string path = dir + "/" + key;
      std::ifstream in(path, std::ios::binary);
      const std::string current{std::istreambuf_iterator<char>(in), {}};
      if (in.is_open() && current == *bytes) continue;
      // Replaced in one step, as the kubelet's atomic writer does: a reader sees old or new.
      {
        std::ofstream out(path + ".tmp", std::ios::binary | std::ios::trunc);
        out << *bytes;
      }
      ::chmod((path + ".tmp").c_str(), 0440);
      std::filesystem::rename(path + ".tmp", path, ec);
      if (ec) return Status::IOError("cannot write " + path + ": " + ec.message());
    }
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (!keys.count(entry.path().filename().string())) std::filesystem::remove(entry.path(), ec);
    }
  }
  pod.volumes_synced_ms = now_ms();
  return Status::OK();
}

std::vector<std::string> StatefulSetSim::container_args(const Pod& pod) const {
  const std::string pod_name = options_.name + "-" + std::to_string(pod.ordinal);
  std::vector<std::string> out;
  for (std::string arg : pod.args) {
    for (const auto& [var, value] :
         {std::pair<std::string, std::string>{"$(POD_NAME)", pod_name},
          std::pair<std::string, std::string>{"$(POD_NAMESPACE)", options_.ns}}) {
      for (size_t at; (at = arg.find(var)) != std::string::npos;)
        arg.replace(at, var.size(), value);
    }
    for (const SecretVolume& v : volumes_) {
      if (arg.compare(0, v.mount_path.size() + 1, v.mount_path + "/") == 0) {
        arg = volume_dir(pod.ordinal, v.name) + arg.substr(v.mount_path.size());
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

void StatefulSetSim::loop() {
  while (!stopping_) {
    step();
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.step_ms));
  }
}

Status StatefulSetSim::start_pod(Pod& pod) {
  const std::string ip = pod_ip(pod.ordinal);
  std::string seeds;
  const int seed_count = std::min(3, bootstrap_expect_);
  for (int i = 0; i < seed_count; ++i) {
    seeds += (i ? "," : "") + pod_ip(i) + ":" + std::to_string(kPeerPort);
  }
  CHORUS_RETURN_IF_ERROR(sync_volumes(pod));
  // What the template's launcher script adds before the container's args.
  std::vector<std::string> args = {"--id",    options_.name + "-" + std::to_string(pod.ordinal),
                                   "--http",  ip + ":" + std::to_string(kHttpPort),
                                   "--peer",  ip + ":" + std::to_string(kPeerPort),
                                   "--data",  data_dir(pod.ordinal) + "/data",
                                   "--seeds", seeds};
  const std::vector<std::string> from_template = container_args(pod);
  args.insert(args.end(), from_template.begin(), from_template.end());
  // The pod's volume: provisioned with its claim, kept across restarts and rolling updates.
  std::error_code ec;
  std::filesystem::create_directories(data_dir(pod.ordinal), ec);
  if (ec) return Status::IOError("cannot create " + data_dir(pod.ordinal) + ": " + ec.message());
  const std::string log = data_dir(pod.ordinal) + ".log";
  {
    std::ofstream out(log, std::ios::app);
    out << "=== sim: start of " << options_.name << "-" << pod.ordinal << " image " << pod.image
        << " ===" << std::endl;
  }
  auto process = Process::start(options_.chorusd, args, log);
  if (!process.ok()) return process.status();
  pod.process = std::move(*process);
  return Status::OK();
}

void StatefulSetSim::create_pod(int ordinal, const std::string& image,
                                const std::vector<std::string>& args) {
  Pod& pod = pods_[ordinal];
  pod.ordinal = ordinal;
  pod.image = image;
  pod.args = args;
  pod.backoff_ms = options_.restart_backoff_ms;
  // A container that cannot start is retried like one that exited.
  if (!start_pod(pod).ok()) pod.restart_at_ms = now_ms() + pod.backoff_ms;
  write_pod(pod);
}

void StatefulSetSim::write_pod(const Pod& pod) {
  json object = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", options_.name + "-" + std::to_string(pod.ordinal)},
        {"labels",
         {{"app.kubernetes.io/name", "chorus"}, {"app.kubernetes.io/instance", options_.name}}},
        {"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                          {"kind", "StatefulSet"},
                                          {"name", options_.name},
                                          {"controller", true}}})}}},
      {"spec",
       {{"containers",
         json::array({{{"name", "chorusd"}, {"image", pod.image}, {"args", pod.args}}})}}},
      {"status",
       {{"phase", "Running"},
        {"podIP", pod_ip(pod.ordinal)},
        {"containerStatuses",
         json::array(
             {{{"name", "chorusd"}, {"ready", pod.ready}, {"restartCount", pod.restarts}}})},
        {"conditions",
         json::array({{{"type", "Ready"}, {"status", pod.ready ? "True" : "False"}}})}}}};
  api_->put(pod_path(pod.ordinal), std::move(object));
  std::lock_guard<std::mutex> lock(mu_);
  ready_[pod.ordinal] = pod.ready;
}

bool StatefulSetSim::probe(const Pod& pod) {
  // The kubelet does not verify a probe's certificate.
  httplib::Client client((https_ ? "https://" : "http://") + pod_ip(pod.ordinal) + ":" +
                         std::to_string(kHttpPort));
  client.enable_server_certificate_verification(false);
  client.set_connection_timeout(std::chrono::milliseconds(options_.probe_timeout_ms));
  client.set_read_timeout(std::chrono::milliseconds(options_.probe_timeout_ms));
  auto r = client.Get("/v1/ready");
  return r && r->status == 200;
}

void StatefulSetSim::delete_pod(int ordinal, bool delete_claim) {
  auto it = pods_.find(ordinal);
  if (it == pods_.end()) return;
  Pod& pod = it->second;
  // Out of the endpoints first, then preStop, then SIGTERM and the grace period.
  pod.ready = false;
  write_pod(pod);
  std::this_thread::sleep_for(std::chrono::milliseconds(options_.pre_stop_ms));
  if (pod.process && pod.process->alive()) {
    (void)pod.process->kill(SIGTERM);
    if (!pod.process->wait_exit(options_.grace_ms)) {
      (void)pod.process->kill(SIGKILL);
      pod.process->wait_exit(options_.grace_ms);
    }
  }
  api_->remove(pod_path(ordinal));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready_.erase(ordinal);
  }
  pods_.erase(it);
  if (delete_claim) {
    std::error_code ec;
    std::filesystem::remove_all(data_dir(ordinal), ec);
    std::filesystem::remove_all(data_dir(ordinal) + ".volumes", ec);
  }
}

void StatefulSetSim::step() {
  const std::string sts_path =
      "/apis/apps/v1/namespaces/" + options_.ns + "/statefulsets/" + options_.name;
  const auto sts = api_->get(sts_path);
  if (!sts) {
    while (!pods_.empty()) delete_pod(pods_.rbegin()->first, false);
    return;
  }
  const json spec = sts->value("spec", json::object());
  const int replicas = spec.value("replicas", 1);
  const int partition = spec.value("updateStrategy", json::object())
                            .value("rollingUpdate", json::object())
                            .value("partition", 0);
  const json pod_template = spec.value("template", json::object()).value("spec", json::object());
  const json* container = chorus_container(pod_template);
  if (container == nullptr) return;
  const std::string image = container->value("image", "");
  const std::vector<std::string> args = container->value("args", std::vector<std::string>());
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--bootstrap-expect") bootstrap_expect_ = std::stoi(args[i + 1]);
  }
  volumes_.clear();
  for (const json& volume : pod_template.value("volumes", json::array())) {
    if (!volume.contains("secret")) continue;
    SecretVolume v;
    v.name = volume.value("name", "");
    v.secret = volume["secret"].value("secretName", "");
    for (const json& mount : container->value("volumeMounts", json::array())) {
      if (mount.value("name", "") == v.name) v.mount_path = mount.value("mountPath", "");
    }
    if (!v.mount_path.empty()) volumes_.push_back(v);
  }
  https_ = container->value("readinessProbe", json::object())
               .value("httpGet", json::object())
               .value("scheme", "HTTP") == "HTTPS";
  // Scale down (Parallel: every surplus pod at once), highest first.
  while (!pods_.empty() && pods_.rbegin()->first >= replicas) {
    delete_pod(pods_.rbegin()->first, true);
  }
  for (int i = 0; i < replicas; ++i) {
    if (!pods_.count(i)) create_pod(i, image, args);
  }
  // Containers that exited come back (restartPolicy Always), after a growing delay.
  for (auto& [ordinal, pod] : pods_) {
    const bool running = pod.process && pod.process->alive();
    if (running && now_ms() - pod.volumes_synced_ms >= 1'000) (void)sync_volumes(pod);
    if (!running) {
      if (pod.restart_at_ms == 0) {
        pod.restart_at_ms = now_ms() + pod.backoff_ms;
        pod.backoff_ms = std::min(pod.backoff_ms * 2, kRestartBackoffMaxMs);
      } else if (now_ms() >= pod.restart_at_ms) {
        pod.restart_at_ms = 0;
        ++pod.restarts;
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++restarts_;
        }
        (void)start_pod(pod);
      }
    }
    bool ready = false;
    if (running) {
      if (now_ms() - pod.probed_at_ms < static_cast<uint64_t>(options_.probe_period_ms)) continue;
      pod.probed_at_ms = now_ms();
      if (probe(pod)) {
        pod.probe_failures = 0;
        ready = true;
      } else {
        std::lock_guard<std::mutex> lock(mu_);
        ++probe_failures_total_;
        ready = pod.ready && ++pod.probe_failures < options_.probe_failure_threshold;
      }
    }
    if (ready != pod.ready) {
      pod.ready = ready;
      if (ready) pod.backoff_ms = options_.restart_backoff_ms;
      write_pod(pod);
    }
  }
  // Rolling update: one pod at a time, highest ordinal first, only while every pod is ready.
  bool all_ready = true;
  int ready_count = 0, updated = 0;
  for (const auto& [ordinal, pod] : pods_) {
    all_ready = all_ready && pod.ready;
    ready_count += pod.ready;
    updated += pod.image == image;
  }
  if (all_ready) {
    for (auto it = pods_.rbegin(); it != pods_.rend(); ++it) {
      if (it->first < partition || it->second.image == image) continue;
      const int ordinal = it->first;
      delete_pod(ordinal, false);
      create_pod(ordinal, image, args);
      break;
    }
  }
  const json status = {{"replicas", static_cast<int>(pods_.size())},
                       {"readyReplicas", ready_count},
                       {"updatedReplicas", updated},
                       {"observedGeneration", (*sts)["metadata"].value("generation", 1)}};
  if (sts->value("status", json()) != status) (void)api_->patch(sts_path, {{"status", status}});
}

}  // namespace chorus::testkit
