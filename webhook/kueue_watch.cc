#include "webhook/kueue_watch.h"

#include <simdjson.h>

#include <chrono>

#include "common/log.h"

namespace hyperplace::webhook {

namespace od = simdjson::ondemand;

namespace {

// Reads metadata.name, metadata.namespace and the top-level `value` of an object.
Status ReadObject(std::string_view object, std::string& ns, std::string& name,
                  std::int64_t* value) {
  thread_local od::parser parser;
  thread_local std::string padded;
  padded.assign(object);
  padded.append(simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (auto e = parser.iterate(padded.data(), object.size(), padded.size()).get(doc)) {
    return InvalidArgument(std::string("object: ") + simdjson::error_message(e));
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) {
    return InvalidArgument(std::string("object: ") + simdjson::error_message(e));
  }
  ns.clear();
  name.clear();
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return InvalidArgument("object: bad key");
    if (key == "metadata") {
      od::object meta;
      if (field.value().get_object().get(meta)) return InvalidArgument("metadata: not an object");
      for (auto m : meta) {
        std::string_view mk, text;
        if (m.unescaped_key().get(mk)) return InvalidArgument("metadata: bad key");
        if (mk != "name" && mk != "namespace") continue;
        if (m.value().get_string().get(text)) return InvalidArgument("metadata." + std::string(mk));
        (mk == "name" ? name : ns) = std::string(text);
      }
    } else if (key == "value" && value != nullptr) {
      if (field.value().get_int64().get(*value)) return InvalidArgument("value: not an integer");
    }
  }
  if (name.empty()) return InvalidArgument("object without metadata.name");
  return Status::Ok();
}

}  // namespace

Status WatchedKueueCatalog::DecodeLocalQueue(std::string_view object, std::string& ns,
                                             std::string& name) {
  if (Status st = ReadObject(object, ns, name, nullptr); !st.ok()) return st;
  if (ns.empty()) return InvalidArgument("LocalQueue without metadata.namespace");
  return Status::Ok();
}

Status WatchedKueueCatalog::DecodePriorityClass(std::string_view object, PriorityClassConfig& out) {
  std::string ns;
  std::int64_t value = 0;
  if (Status st = ReadObject(object, ns, out.name, &value); !st.ok()) return st;
  if (value < INT32_MIN || value > INT32_MAX) return InvalidArgument("value out of range");
  out.value = static_cast<std::int32_t>(value);
  return Status::Ok();
}

class WatchedKueueCatalog::QueueHandler : public kube::InformerHandler {
 public:
  explicit QueueHandler(WatchedKueueCatalog& c) : c_(c) {}
  void BeginList() override { staged_.clear(); }
  void ListItems(const std::vector<std::string_view>& objects) override {
    for (auto o : objects) {
      std::string ns, name;
      if (DecodeLocalQueue(o, ns, name).ok()) staged_.emplace(ns, name);
    }
  }
  void EndList() override {
    {
      std::lock_guard lock(c_.mu_);
      c_.queue_set_ = std::move(staged_);
      c_.queues_synced_ = true;
    }
    staged_.clear();
    c_.Publish();
  }
  void OnEvent(kube::EventType type, std::string_view object) override {
    std::string ns, name;
    if (!DecodeLocalQueue(object, ns, name).ok()) return;
    std::lock_guard lock(c_.mu_);
    if (type == kube::EventType::kDeleted) {
      c_.queue_set_.erase({ns, name});
    } else {
      c_.queue_set_.emplace(ns, name);
    }
  }
  void Flush() override { c_.Publish(); }

 private:
  WatchedKueueCatalog& c_;
  std::set<std::pair<std::string, std::string>> staged_;
};

class WatchedKueueCatalog::ClassHandler : public kube::InformerHandler {
 public:
  explicit ClassHandler(WatchedKueueCatalog& c) : c_(c) {}
  void BeginList() override { staged_.clear(); }
  void ListItems(const std::vector<std::string_view>& objects) override {
    for (auto o : objects) {
      PriorityClassConfig pc;
      if (DecodePriorityClass(o, pc).ok()) staged_[pc.name] = pc.value;
    }
  }
  void EndList() override {
    {
      std::lock_guard lock(c_.mu_);
      c_.class_map_ = std::move(staged_);
      c_.classes_synced_ = true;
    }
    staged_.clear();
    c_.Publish();
  }
  void OnEvent(kube::EventType type, std::string_view object) override {
    PriorityClassConfig pc;
    if (!DecodePriorityClass(object, pc).ok()) return;
    std::lock_guard lock(c_.mu_);
    if (type == kube::EventType::kDeleted) {
      c_.class_map_.erase(pc.name);
    } else {
      c_.class_map_[pc.name] = pc.value;
    }
  }
  void Flush() override { c_.Publish(); }

 private:
  WatchedKueueCatalog& c_;
  std::map<std::string, std::int32_t> staged_;
};

WatchedKueueCatalog::WatchedKueueCatalog(std::shared_ptr<kube::Client> client, const Config& config,
                                         metrics::Registry& registry)
    : client_(std::move(client)), config_(config), registry_(registry) {}

WatchedKueueCatalog::~WatchedKueueCatalog() { Stop(); }

void WatchedKueueCatalog::Start() {
  discover_ = std::thread([this] { Discover(); });
}

void WatchedKueueCatalog::Stop() {
  stop_.store(true);
  if (discover_.joinable()) discover_.join();
  if (queues_) queues_->Stop();
  if (classes_) classes_->Stop();
}

std::string WatchedKueueCatalog::api_version() const {
  std::lock_guard lock(mu_);
  return version_;
}

void WatchedKueueCatalog::Discover() {
  // Ask the API server which Kueue versions it serves; retry until it answers at all.
  auto delay = std::chrono::milliseconds(500);
  while (!stop_.load()) {
    auto response = client_->Request("GET", "/apis/kueue.x-k8s.io");
    if (response.ok() && response->status == 404) {
      HP_LOG(kWarn,
             "Kueue API not found on the API server: the webhook uses the configured priority "
             "classes and assumes every team's LocalQueue exists");
      current_.store(StaticCatalog(config_).Current());
      return;
    }
    if (response.ok() && response->status == 200) {
      std::string version;
      if (response->body.find("\"v1beta2\"") != std::string::npos) {
        version = "v1beta2";
      } else if (response->body.find("\"v1beta1\"") != std::string::npos) {
        version = "v1beta1";
      }
      if (version.empty()) {
        HP_LOG(kWarn, "Kueue serves neither v1beta2 nor v1beta1; using the configuration");
        current_.store(StaticCatalog(config_).Current());
        return;
      }
      {
        std::lock_guard lock(mu_);
        version_ = version;
      }
      HP_LOG(kInfo, "watching Kueue objects for the webhook", {{"version", version}});
      const std::string base = "/apis/kueue.x-k8s.io/" + version;
      queues_handler_ = std::make_unique<QueueHandler>(*this);
      classes_handler_ = std::make_unique<ClassHandler>(*this);
      kube::InformerOptions q;
      q.resource = "localqueues";
      q.path = base + "/localqueues";
      q.timing = config_.kube;
      kube::InformerOptions c;
      c.resource = "workloadpriorityclasses";
      c.path = base + "/workloadpriorityclasses";
      c.timing = config_.kube;
      queues_ = std::make_unique<kube::Informer>(client_, q, queues_handler_.get(), registry_);
      classes_ = std::make_unique<kube::Informer>(client_, c, classes_handler_.get(), registry_);
      queues_->Start();
      classes_->Start();
      return;
    }
    HP_LOG(kWarn, "cannot discover Kueue's API yet",
           {{"error", response.ok() ? "HTTP " + std::to_string(response->status)
                                    : response.status().message()}});
    const auto until = std::chrono::steady_clock::now() + delay;
    while (!stop_.load() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    delay = std::min(delay * 2, config_.kube.backoff_max);
  }
}

void WatchedKueueCatalog::Publish() {
  std::lock_guard lock(mu_);
  if (!queues_synced_ || !classes_synced_) return;
  auto objects = std::make_shared<KueueObjects>();
  objects->from_cluster = true;
  objects->local_queues = queue_set_;
  for (const auto& [name, value] : class_map_) objects->priority_classes.push_back({name, value});
  current_.store(std::move(objects));
}

}  // namespace hyperplace::webhook
