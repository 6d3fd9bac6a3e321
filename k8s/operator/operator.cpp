#include "k8s/operator/operator.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <ctime>

namespace chorus::op {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// RFC 3339 in UTC: Kubernetes Time (whole seconds, conditions) or MicroTime (Lease times).
std::string utc_time(uint64_t wall_ms, bool micros) {
  const std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  if (micros) {
    std::snprintf(out, sizeof(out), "%s.%06uZ", buf, static_cast<unsigned>(wall_ms % 1000) * 1000u);
  } else {
    std::snprintf(out, sizeof(out), "%sZ", buf);
  }
  return out;
}

json* chorus_container(json& pod_spec) {
  if (!pod_spec.contains("containers") || !pod_spec["containers"].is_array()) return nullptr;
  for (json& c : pod_spec["containers"]) {
    if (c.value("name", "") == kContainerName) return &c;
  }
  return nullptr;
}

bool pod_ready(const json& pod) {
  const json status = pod.value("status", json::object());
  for (const json& cond : status.value("conditions", json::array())) {
    if (cond.value("type", "") == "Ready") return cond.value("status", "") == "True";
  }
  return false;
}

// Any answer but 2xx (and 409 AlreadyExists for a create) is a failed step.
Status expect(const Result<ApiResponse>& r, const std::string& what, bool exists_ok = false) {
  if (!r.ok()) return r.status();
  if (r->ok() || (exists_ok && r->http_status == 409)) return Status::OK();
  if (r->http_status == 409) return Status::Busy(what + ": conflict, " + r->message());
  return Status::Unavailable(what + ": " + r->message());
}

// Every certificate of a PEM bundle in a fresh store; null when there is none.
X509_STORE* ca_store(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return nullptr;
  X509_STORE* store = X509_STORE_new();
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    added += X509_STORE_add_cert(store, cert) == 1;
    X509_free(cert);
  }
  BIO_free(bio);
  if (added == 0) {
    X509_STORE_free(store);
    return nullptr;
  }
  return store;
}

// A client for one Chorus pod's HTTPS API: the pod's certificate must chain to the cluster CA and
// name the pod's DNS name; requests carry the operator's token; the operator's short timeouts.
std::unique_ptr<httplib::SSLClient> chorus_client(const PodEndpoint& pod, int port,
                                                  const ChorusAccess& access, int timeout_ms) {
  auto client = std::make_unique<httplib::SSLClient>(pod.dns_name, port);
  client->set_hostname_addr_map({{pod.dns_name, pod.ip}});
  // The client takes the store over; without one nothing verifies and every request fails.
  if (X509_STORE* store = ca_store(access.ca_pem)) client->set_ca_cert_store(store);
  client->enable_server_certificate_verification(true);
  client->set_bearer_token_auth(access.token);
  client->set_connection_timeout(std::chrono::milliseconds(timeout_ms));
  client->set_read_timeout(std::chrono::milliseconds(timeout_ms));
  return client;
}

// A lease read and write must finish well inside the renew deadline, or a stalled leader would
// still be renewing when it should have stopped.
KubeClientOptions lease_client_options(const OperatorOptions& o) {
  KubeClientOptions out = o.api;
  const uint64_t budget_ms = (o.lease.renew_deadline_ms - o.lease.retry_period_ms) / 4;
  const int each_ms = static_cast<int>(std::max<uint64_t>(250, budget_ms));
  out.connect_timeout_ms = std::min(out.connect_timeout_ms, each_ms);
  out.request_timeout_ms = std::min(out.request_timeout_ms, each_ms);
  return out;
}

}  // namespace

Operator::Operator(KubeConfig config, OperatorOptions options, const Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      lease_strand_(asio::make_strand(io_)),
      reconcile_strand_(asio::make_strand(io_)),
      lease_timer_(lease_strand_),
      lease_api_(config, lease_client_options(options_), clock),
      reconcile_api_(config, options_.api, clock),
      config_(std::move(config)),
      election_(options_.identity, options_.lease),
      seed_(clock->steady_ms() ^ std::hash<std::string>()(options_.identity)) {}

Operator::~Operator() = default;

Status Operator::run() {
  spdlog::info("operator {} watching ChorusClusters in namespace {} (lease {})", options_.identity,
               options_.namespace_, options_.lease_name);
  asio::post(lease_strand_, [this] { lease_tick(); });
  std::thread watcher([this] { watch_loop(); });
  std::thread second([this] { io_.run(); });
  io_.run();
  second.join();
  stopping_ = true;
  // The watch thread may be inside a long watch; it checks stopping_ on every event and at
  // the watch's timeout. It owns nothing the process still needs, so it is left to end.
  watcher.detach();
  return exit_status_;
}

void Operator::stop() {
  if (stopping_.exchange(true)) return;  // no write starts from now on (may_act)
  spdlog::info("operator stopping");
  // Through the reconcile strand first: the Lease is handed over only after any pass under way
  // has finished, so the next leader never overlaps with it.
  asio::post(reconcile_strand_, [this] {
    asio::post(lease_strand_, [this] {
      release_lease();
      io_.stop();
    });
  });
}

bool Operator::may_act() const {
  return !stopping_ && leading_ && clock_->steady_ms() < act_until_ms_.load();
}

// ---- Lease strand ----

void Operator::lease_tick() {
  if (stopping_) return;
  const std::string path = leases_path(options_.namespace_) + "/" + options_.lease_name;
  // Held from no later than when the read was sent (for the leader); but a standby measures
  // expiry from when it saw the answer, which errs on the late side.
  const uint64_t sent_ms = clock_->steady_ms();
  auto read = lease_api_.get(path);
  const uint64_t now_ms = clock_->steady_ms();
  if (read.ok() && (read->http_status == 200 || read->http_status == 404)) {
    std::optional<LeaseRecord> record;
    if (read->http_status == 200) {
      const json spec = read->body.value("spec", json::object());
      LeaseRecord r;
      r.holder = spec.value("holderIdentity", "");
      r.duration_ms = spec.value("leaseDurationSeconds", uint64_t{0}) * 1000;
      r.resource_version = read->body["metadata"].value("resourceVersion", "");
      record = r;
    }
    const LeaseStep step = election_.observe(record, now_ms);
    if (step != LeaseStep::kWait && !election_.lost(now_ms)) {
      const Status st = lease_write(step, *read);
      if (!st.ok()) spdlog::warn("lease {}: {}", options_.lease_name, st.to_string());
      election_.written(st.ok(), sent_ms);
      act_until_ms_ = election_.act_deadline_ms();
    }
  } else {
    spdlog::warn("lease {}: cannot read it: {}", options_.lease_name,
                 read.ok() ? read->message() : read.status().to_string());
  }
  if (election_.lost(clock_->steady_ms())) {
    spdlog::error("lost the leader lease {}; exiting so a fresh candidate takes over",
                  options_.lease_name);
    leading_ = false;
    act_until_ms_ = 0;
    exit_status_ = Status::Unavailable("leader lease lost");
    stopping_ = true;
    io_.stop();
    return;
  }
  if (election_.leading() && !leading_.exchange(true)) {
    spdlog::info("{} is the leader (lease {})", options_.identity, options_.lease_name);
    asio::post(reconcile_strand_, [this] {
      for (auto& [name, tracked] : clusters_) schedule(name, 0);
    });
  }
  lease_timer_.expires_after(std::chrono::milliseconds(options_.lease.retry_period_ms));
  lease_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) lease_tick();
  });
}

Status Operator::lease_write(LeaseStep step, const ApiResponse& read) {
  const std::string now = utc_time(clock_->wall_ms(), true);
  json lease = read.http_status == 200 ? read.body : json::object();
  lease["apiVersion"] = "coordination.k8s.io/v1";
  lease["kind"] = "Lease";
  lease["metadata"]["name"] = options_.lease_name;
  lease["metadata"]["namespace"] = options_.namespace_;
  json& spec = lease["spec"];
  if (!spec.is_object()) spec = json::object();
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = options_.lease.lease_duration_ms / 1000;
  spec["renewTime"] = now;
  if (step != LeaseStep::kRenew) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + (step == LeaseStep::kTakeOver);
  }
  const std::string collection = leases_path(options_.namespace_);
  // A PUT carries the resourceVersion read: if another candidate wrote first, it is a 409.
  auto r = step == LeaseStep::kCreate
               ? lease_api_.create(collection, lease)
               : lease_api_.replace(collection + "/" + options_.lease_name, lease);
  return expect(r, "lease write");
}

void Operator::release_lease() {
  if (!election_.leading()) return;
  const std::string path = leases_path(options_.namespace_) + "/" + options_.lease_name;
  auto read = lease_api_.get(path);
  if (!read.ok() || read->http_status != 200) return;
  json lease = read->body;
  if (lease["spec"].value("holderIdentity", "") != options_.identity) return;
  // Handing over at once instead of making the next leader wait out the lease duration.
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  const Status st = expect(lease_api_.replace(path, lease), "lease release");
  if (st.ok()) spdlog::info("released the leader lease {}", options_.lease_name);
}

// ---- Watch thread ----

void Operator::watch_loop() {
  KubeClient api(config_, options_.api, clock_);
  WatchState state;
  Backoff backoff(options_.retry_initial_ms, options_.retry_max_ms, seed_);
  const std::string collection = cluster_collection_path(options_.namespace_);
  auto pause = [this](uint64_t ms) {
    const uint64_t until = clock_->steady_ms() + ms;
    while (!stopping_ && clock_->steady_ms() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  while (!stopping_) {
    if (state.resource_version().empty()) {
      auto list = api.get(collection);
      if (!list.ok() || list->http_status != 200) {
        spdlog::warn("listing ChorusClusters failed: {}",
                     list.ok() ? list->message() : list.status().to_string());
        pause(backoff.next_ms());
        continue;
      }
      std::vector<json> items = state.listed(list->body);
      if (state.resource_version().empty()) {
        spdlog::warn("the ChorusCluster list has no resourceVersion; listing again");
        pause(backoff.next_ms());
        continue;
      }
      spdlog::info("listed {} ChorusCluster(s) at resourceVersion {}", items.size(),
                   state.resource_version());
      asio::post(reconcile_strand_,
                 [this, items = std::move(items)]() mutable { replace_all(std::move(items)); });
      backoff.reset();
      continue;
    }
    bool relist = false;
    bool rewatch = false;
    spdlog::debug("watching ChorusClusters from resourceVersion {}", state.resource_version());
    const Status st = api.watch(
        collection + "?" + state.watch_query(options_.watch_timeout_s), options_.watch_timeout_s,
        [&](const json& raw) {
          if (!raw.contains("object") || !raw["object"].is_object() ||
              !raw["object"].contains("metadata") || !raw["object"]["metadata"].is_object()) {
            if (raw.value("type", "") != "ERROR") {
              rewatch = true;
              return false;
            }
          }
          WatchEvent e = state.on_event(raw);
          switch (e.kind) {
            case WatchEventKind::kUpsert:
              asio::post(reconcile_strand_,
                         [this, o = std::move(e.object)]() mutable { upsert(std::move(o)); });
              break;
            case WatchEventKind::kDelete:
              asio::post(reconcile_strand_, [this, name = e.object["metadata"].value("name", "")] {
                remove_cluster(name);
              });
              break;
            case WatchEventKind::kBookmark:
              break;
            case WatchEventKind::kRelist:
              relist = true;
              return false;
            case WatchEventKind::kRewatch:
              spdlog::warn("watch error event: {}", raw.dump());
              rewatch = true;
              return false;
          }
          return !stopping_.load();
        });
    spdlog::debug("the watch ended: {}", st.to_string());
    if (relist) {
      spdlog::info("watch resourceVersion expired (410 Gone); listing again");
      continue;
    }
    if (!st.ok() || rewatch) {
      if (!st.ok()) spdlog::warn("watching ChorusClusters failed: {}", st.to_string());
      pause(backoff.next_ms());
    } else {
      backoff.reset();
    }
  }
}

// ---- Reconcile strand ----

void Operator::upsert(json object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object())
    return;
  const std::string name = object["metadata"].value("name", "");
  if (name.empty()) return;
  Tracked& t = clusters_[name];
  if (!t.timer) {
    t.timer = std::make_unique<asio::steady_timer>(reconcile_strand_);
    t.backoff = std::make_unique<Backoff>(options_.retry_initial_ms, options_.retry_max_ms,
                                          seed_ + clusters_.size());
  }
  // Our own status writes come back as MODIFIED events: they need no pass of their own.
  const bool spec_changed = !t.object.is_object() ||
                            t.object.value("spec", json()) != object.value("spec", json()) ||
                            object["metadata"].contains("deletionTimestamp");
  t.object = std::move(object);
  if (spec_changed) schedule(name, 0);
}

void Operator::remove_cluster(const std::string& name) {
  auto it = clusters_.find(name);
  if (it == clusters_.end()) return;
  // Its objects carry owner references: the garbage collector deletes them.
  spdlog::info("ChorusCluster {} deleted", name);
  if (it->second.timer) it->second.timer->cancel();
  clusters_.erase(it);
}

void Operator::replace_all(std::vector<json> objects) {
  std::map<std::string, bool> present;
  for (const json& o : objects) {
    if (o.is_object() && o.contains("metadata") && o["metadata"].is_object()) {
      present[o["metadata"].value("name", "")] = true;
    }
  }
  std::vector<std::string> gone;
  for (const auto& [name, tracked] : clusters_) {
    if (!present.count(name)) gone.push_back(name);
  }
  for (const std::string& name : gone) remove_cluster(name);
  for (json& o : objects) {
    if (!o.is_object() || !o.contains("metadata") || !o["metadata"].is_object()) continue;
    const std::string name = o["metadata"].value("name", "");
    upsert(std::move(o));
    schedule(name, 0);  // a relist may hide changes the watch missed
  }
}

void Operator::schedule(const std::string& name, uint64_t delay_ms) {
  auto it = clusters_.find(name);
  if (it == clusters_.end()) return;
  it->second.timer->expires_after(std::chrono::milliseconds(delay_ms));
  it->second.timer->async_wait([this, name](boost::system::error_code ec) {
    if (!ec) pass(name);
  });
}

void Operator::pass(const std::string& name) {
  if (!may_act()) return;  // becoming leader schedules every cluster
  try {
    pass_checked(name);
  } catch (const std::exception& e) {
    // An object of an unexpected shape (the API or a Chorus node answering something odd)
    // fails this pass, not the operator.
    spdlog::error("{}: reconcile failed: {}", name, e.what());
    auto it = clusters_.find(name);
    if (it != clusters_.end()) schedule(name, it->second.backoff->next_ms());
  }
}

void Operator::pass_checked(const std::string& name) {
  auto it = clusters_.find(name);
  if (it == clusters_.end()) return;
  Tracked& t = it->second;
  auto parsed = parse_cluster(t.object);
  if (!parsed.ok()) {
    spdlog::error("ChorusCluster {}: {}", name, parsed.status().to_string());
    return schedule(name, options_.resync_ms);
  }
  const ChorusCluster& c = *parsed;
  if (t.object["metadata"].contains("deletionTimestamp")) return;
  ClusterSpec spec;
  spec.name = c.name;
  spec.replicas = c.replicas;
  spec.image = c.image;
  spec.replication_factor = c.replication_factor;
  ObservedSecrets secrets;
  std::map<std::string, json> secret_objects;
  Status st = observe_secrets(c, &secrets, &secret_objects);
  Observed o;
  json sts;
  std::vector<PodEndpoint> pods;
  if (st.ok()) st = observe(c, chorus_access(secrets), &o, &sts, &pods);
  if (st.ok()) {
    // Certificates for every pod there is or is about to be, before any pod needs one.
    const int wanted = std::max({c.replicas, c.replication_factor, o.sts_replicas});
    const int64_t now_s = static_cast<int64_t>(clock_->wall_ms() / 1000);
    const CredentialPlan plan = plan_credentials(c, wanted, secrets, now_s, options_.certs);
    if (!plan.empty()) {
      if (!may_act()) return;
      for (const std::string& reason : plan.reasons) spdlog::info("{}: {}", name, reason);
      st = secure(c, wanted, plan, secrets, secret_objects);
      if (st.ok()) {
        t.backoff->reset();
        return schedule(name, options_.busy_resync_ms);  // decide the rest on what was written
      }
    }
  }
  std::vector<Action> actions;
  if (st.ok()) {
    const ChorusAccess access = chorus_access(secrets);
    actions = reconcile(spec, o);
    for (const Action& a : actions) {
      if (a.kind == ActionKind::kWait) {
        spdlog::debug("{}: waiting: {}", name, a.reason);
        continue;
      }
      if (!may_act()) return;  // the Lease may have gone while we observed
      spdlog::info("{}: {}", name, a.reason.empty() ? "creating owned objects" : a.reason);
      st = act(c, a, sts, access, pods);
      if (!st.ok()) break;
    }
  }
  if (!may_act()) return;
  if (st.ok()) st = write_status(c, status_of(spec, o, actions));
  if (!st.ok()) {
    const uint64_t delay_ms = t.backoff->next_ms();
    spdlog::warn("{}: {} (retrying in {} ms)", name, st.to_string(), delay_ms);
    return schedule(name, delay_ms);
  }
  t.backoff->reset();
  schedule(name, actions.empty() ? options_.resync_ms : options_.busy_resync_ms);
}

Status Operator::observe_secrets(const ChorusCluster& c, ObservedSecrets* s,
                                 std::map<std::string, json>* objects) {
  const std::pair<std::string, std::optional<SecretData>*> wanted[] = {
      {ca_secret_name(c), &s->ca},
      {tls_secret_name(c), &s->tls},
      {gossip_secret_name(c), &s->gossip},
      {acl_secret_name(c), &s->acl},
      {admin_secret_name(c), &s->admin}};
  for (const auto& [secret, out] : wanted) {
    auto r = reconcile_api_.get(secrets_path(c.namespace_) + "/" + secret);
    if (!r.ok()) return r.status();
    if (r->http_status == 404) continue;
    if (r->http_status != 200)
      return Status::Unavailable("GET Secret " + secret + ": " + r->message());
    auto data = secret_data(r->body);
    // A Secret someone broke is not overwritten: that could throw away a key still in use.
    if (!data.ok())
      return Status::InvalidArgument("Secret " + secret + ": " + data.status().message());
    *out = std::move(data).value();
    (*objects)[secret] = r->body;
  }
  return Status::OK();
}

Status Operator::secure(const ChorusCluster& c, int pods, const CredentialPlan& plan,
                        const ObservedSecrets& s, const std::map<std::string, json>& objects) {
  auto issued = issue_credentials(c, pods, plan, s, options_.certs);
  if (!issued.ok()) return issued.status();
  const std::string collection = secrets_path(c.namespace_);
  // In dependency order: the CA before the certificates it signs, the token before the ACL entry
  // that admits it. A create that meets an existing Secret (409) or a replace that meets a newer
  // one (409) fails the pass; the next one decides again on what is there.
  const std::pair<std::string, const std::optional<SecretData>*> writes[] = {
      {ca_secret_name(c), &issued->ca},
      {tls_secret_name(c), &issued->tls},
      {gossip_secret_name(c), &issued->gossip},
      {admin_secret_name(c), &issued->admin},
      {acl_secret_name(c), &issued->acl}};
  for (const auto& [secret, data] : writes) {
    if (!data->has_value()) continue;
    if (!may_act()) return Status::Unavailable("lost the Lease");
    auto existing = objects.find(secret);
    if (existing == objects.end()) {
      CHORUS_RETURN_IF_ERROR(
          expect(reconcile_api_.create(collection, secret_object(c, secret, **data)),
                 "creating the Secret " + secret));
    } else {
      json object = existing->second;
      object["data"] = secret_object(c, secret, **data)["data"];
      CHORUS_RETURN_IF_ERROR(expect(reconcile_api_.replace(collection + "/" + secret, object),
                                    "updating the Secret " + secret));
    }
  }
  return Status::OK();
}

Status Operator::observe(const ChorusCluster& c, const ChorusAccess& access, Observed* o, json* sts,
                         std::vector<PodEndpoint>* pod_endpoints) {
  const std::string& ns = c.namespace_;
  auto exists = [this](const std::string& path, bool* found, json* out) -> Status {
    auto r = reconcile_api_.get(path);
    if (!r.ok()) return r.status();
    if (r->http_status == 404) {
      *found = false;
      return Status::OK();
    }
    if (r->http_status != 200) return Status::Unavailable("GET " + path + ": " + r->message());
    *found = true;
    if (out != nullptr) *out = r->body;
    return Status::OK();
  };
  CHORUS_RETURN_IF_ERROR(
      exists(services_path(ns) + "/" + headless_service_name(c), &o->headless_service, nullptr));
  CHORUS_RETURN_IF_ERROR(exists(services_path(ns) + "/" + c.name, &o->client_service, nullptr));
  CHORUS_RETURN_IF_ERROR(exists(pdbs_path(ns) + "/" + c.name, &o->pdb, nullptr));
  CHORUS_RETURN_IF_ERROR(
      exists(networkpolicies_path(ns) + "/" + c.name, &o->network_policy, nullptr));
  CHORUS_RETURN_IF_ERROR(exists(statefulsets_path(ns) + "/" + c.name, &o->statefulset, sts));
  if (o->statefulset) {
    json& spec = (*sts)["spec"];
    o->sts_replicas = spec.value("replicas", 1);
    o->sts_partition = spec.value("updateStrategy", json::object())
                           .value("rollingUpdate", json::object())
                           .value("partition", 0);
    json* container = chorus_container(spec["template"]["spec"]);
    if (container != nullptr) o->sts_image = container->value("image", "");
  }
  auto pods =
      reconcile_api_.get(pods_path(ns) + "?labelSelector=" + kInstanceLabel + "%3D" + c.name);
  if (!pods.ok()) return pods.status();
  if (pods->http_status != 200) return Status::Unavailable("listing pods: " + pods->message());
  std::map<int, PodEndpoint> endpoints;
  for (json pod : pods->body.value("items", json::array())) {
    const int ordinal = ordinal_of(c.name, pod["metadata"].value("name", ""));
    if (ordinal < 0) continue;
    PodState p;
    p.ordinal = ordinal;
    json* container = chorus_container(pod["spec"]);
    if (container != nullptr) p.image = container->value("image", "");
    p.ready = pod_ready(pod) && !pod["metadata"].contains("deletionTimestamp");
    o->pods.push_back(p);
    const std::string ip = pod.value("status", json::object()).value("podIP", "");
    if (p.ready && !ip.empty()) endpoints[ordinal] = {pod_dns_name(c, ordinal), ip};
  }
  for (const auto& [ordinal, endpoint] : endpoints) pod_endpoints->push_back(endpoint);
  // Chorus's own view, from the first ready pod that answers.
  for (const PodEndpoint& pod : *pod_endpoints) {
    auto chorus = chorus_client(pod, options_.chorus_http_port, access, options_.chorus_timeout_ms);
    auto r = chorus->Get("/v1/cluster");
    if (!r || r->status != 200) {
      spdlog::debug("{}: /v1/cluster of {}: {}", c.name, pod.dns_name,
                    r ? "HTTP " + std::to_string(r->status) : httplib::to_string(r.error()));
      continue;
    }
    json view = json::parse(r->body, nullptr, false);
    if (view.is_discarded() || !view.is_object() || !view.value("formed", false)) continue;
    std::vector<MemberState> members;
    for (const json& m : view.value("members", json::array())) {
      members.push_back({m.value("id", ""), m.value("gossip", ""), m.value("status", "")});
    }
    o->members = std::move(members);
    o->transition = view.contains("transition") && !view["transition"].is_null();
    o->epoch = view.value("epoch", uint64_t{0});
    break;
  }
  return Status::OK();
}

Status Operator::act(const ChorusCluster& c, const Action& a, json sts, const ChorusAccess& access,
                     const std::vector<PodEndpoint>& pods) {
  const std::string& ns = c.namespace_;
  const std::string sts_path = statefulsets_path(ns) + "/" + c.name;
  switch (a.kind) {
    case ActionKind::kCreateHeadlessService:
      return expect(reconcile_api_.create(services_path(ns), headless_service(c)),
                    "creating the headless Service", true);
    case ActionKind::kCreateClientService:
      return expect(reconcile_api_.create(services_path(ns), client_service(c)),
                    "creating the client Service", true);
    case ActionKind::kCreatePdb:
      return expect(reconcile_api_.create(pdbs_path(ns), pod_disruption_budget(c)),
                    "creating the PodDisruptionBudget", true);
    case ActionKind::kCreateNetworkPolicy:
      return expect(reconcile_api_.create(networkpolicies_path(ns), network_policy(c)),
                    "creating the NetworkPolicy", true);
    case ActionKind::kCreateStatefulSet:
      return expect(reconcile_api_.create(statefulsets_path(ns), stateful_set(c, a.replicas)),
                    "creating the StatefulSet", true);
    case ActionKind::kSetImage:
    case ActionKind::kSetPartition:
    case ActionKind::kSetReplicas: {
      // A PUT of what we observed: if anyone changed the StatefulSet since, it is a 409 and the
      // next pass decides again on fresh state.
      json& spec = sts["spec"];
      if (a.kind == ActionKind::kSetReplicas) spec["replicas"] = a.replicas;
      if (a.kind != ActionKind::kSetReplicas) {
        spec["updateStrategy"]["type"] = "RollingUpdate";
        spec["updateStrategy"]["rollingUpdate"]["partition"] = a.partition;
      }
      if (a.kind == ActionKind::kSetImage) {
        json* container = chorus_container(spec["template"]["spec"]);
        if (container == nullptr) {
          return Status::InvalidArgument("StatefulSet " + c.name + " has no chorusd container");
        }
        (*container)["image"] = a.image;
      }
      return expect(reconcile_api_.replace(sts_path, sts), "updating the StatefulSet");
    }
    case ActionKind::kDecommission: {
      if (pods.empty()) return Status::Unavailable("no ready pod to ask for decommission");
      auto chorus = chorus_client(pods.front(), options_.chorus_http_port, access,
                                  options_.chorus_timeout_ms);
      auto r =
          chorus->Post("/v1/cluster/nodes/" + a.node + "/decommission", "", "application/json");
      if (!r)
        return Status::Unavailable("decommission " + a.node + ": " + httplib::to_string(r.error()));
      if (r->status / 100 != 2) {
        return Status::Unavailable("decommission " + a.node + ": HTTP " +
                                   std::to_string(r->status) + " " + r->body);
      }
      return Status::OK();
    }
    case ActionKind::kWait:
      return Status::OK();
  }
  return Status::OK();
}

Status Operator::write_status(const ChorusCluster& c, const ClusterStatus& s) {
  const json previous =
      c.status.is_object() && c.status.contains("conditions") && c.status["conditions"].is_array()
          ? c.status["conditions"]
          : json::array();
  json conditions = json::array();
  for (const Condition& cond : s.conditions) {
    std::string since = utc_time(clock_->wall_ms(), false);
    for (const json& p : previous) {
      if (p.value("type", "") == cond.type && p.value("status", "") == cond.status) {
        since = p.value("lastTransitionTime", since);
      }
    }
    conditions.push_back({{"type", cond.type},
                          {"status", cond.status},
                          {"reason", cond.reason},
                          {"message", cond.message},
                          {"lastTransitionTime", since}});
  }
  json status = {{"readyMembers", s.ready_members},
                 {"epoch", s.epoch},
                 {"currentOperation", s.current_operation},
                 {"observedGeneration", c.generation},
                 {"conditions", conditions}};
  if (status == c.status) return Status::OK();
  const std::string previous_operation =
      c.status.is_object() ? c.status.value("currentOperation", "") : "";
  if (s.current_operation != previous_operation) {
    spdlog::info("{}: {} (ready members {}, epoch {})", c.name, s.current_operation,
                 s.ready_members, s.epoch);
  }
  const std::string path = cluster_collection_path(c.namespace_) + "/" + c.name + "/status";
  CHORUS_RETURN_IF_ERROR(
      expect(reconcile_api_.merge_patch(path, {{"status", status}}), "writing the status"));
  // The watch brings the same change back; until then the cache must not look stale.
  auto it = clusters_.find(c.name);
  if (it != clusters_.end()) it->second.object["status"] = status;
  return Status::OK();
}

}  // namespace chorus::op
