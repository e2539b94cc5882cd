#include "extender/watch_cache.h"

#include <chrono>
#include <vector>

#include "common/log.h"
#include "extender/codec.h"

namespace hyperplace::extender {
namespace {

// Decoding needs padding after the object; watch lines and list items are views into buffers
// that do not promise it, so each object is copied into a reused padded buffer first.
std::string_view Padded(std::string& buffer, std::string_view object) {
  buffer.assign(object);
  buffer.append(kInputPadding, '\0');
  return std::string_view(buffer.data(), object.size());
}

}  // namespace

Status WatchCache::DecodeNode(std::string_view object, scoring::Node& out) {
  thread_local Decoder decoder;
  thread_local std::string buffer;
  scoring::Node node;
  if (Status st = decoder.DecodeNode(Padded(buffer, object), node); !st.ok()) return st;
  out = scoring::OwnedCopy(node);
  return Status::Ok();
}

Status WatchCache::DecodePod(std::string_view object, const scoring::Policy& policy, PodRecord& out,
                             bool& finished) {
  thread_local Decoder decoder;
  thread_local std::string buffer;
  scoring::Pod pod;
  if (Status st = decoder.DecodePod(Padded(buffer, object), pod); !st.ok()) return st;
  if (pod.uid.empty()) return InvalidArgument("Pod: missing metadata.uid");
  out.uid = std::string(pod.uid);
  out.node = std::string(pod.node_name);
  if (out.node.empty()) out.scheduler_name = std::string(pod.scheduler_name);  // for /bind
  out.group = scoring::DerivePodFacts(pod, policy).group;
  out.requests = OwnRequests(pod.requests);
  finished = pod.phase == "Succeeded" || pod.phase == "Failed";
  return Status::Ok();
}

class WatchCache::NodeHandler : public kube::InformerHandler {
 public:
  NodeHandler(std::shared_ptr<MemoryState> state, metrics::Counter& errors)
      : state_(std::move(state)), errors_(errors) {}

  void BeginList() override { staged_.clear(); }
  void ListItems(const std::vector<std::string_view>& objects) override {
    for (std::string_view object : objects) {
      scoring::Node node;
      if (Decode(object, node)) staged_.push_back(std::move(node));
    }
  }
  void EndList() override {
    state_->ReplaceNodes(std::move(staged_));
    staged_.clear();
    state_->Publish();
  }
  void OnEvent(kube::EventType type, std::string_view object) override {
    scoring::Node node;
    if (!Decode(object, node)) return;
    if (type == kube::EventType::kDeleted) {
      state_->DeleteNode(node.name);
    } else {
      state_->UpsertNode(std::move(node));
    }
  }
  void Flush() override { state_->Publish(); }

 private:
  bool Decode(std::string_view object, scoring::Node& node) {
    if (Status st = DecodeNode(object, node); !st.ok()) {
      errors_.Increment();
      HP_LOG(kWarn, "undecodable node skipped", {{"error", st.message()}});
      return false;
    }
    return true;
  }
  std::shared_ptr<MemoryState> state_;
  metrics::Counter& errors_;
  std::vector<scoring::Node> staged_;
};

class WatchCache::PodHandler : public kube::InformerHandler {
 public:
  PodHandler(std::shared_ptr<MemoryState> state, metrics::Counter& errors)
      : state_(std::move(state)), errors_(errors) {}

  void BeginList() override { staged_.clear(); }
  void ListItems(const std::vector<std::string_view>& objects) override {
    for (std::string_view object : objects) {
      PodRecord pod;
      bool finished = false;
      if (Decode(object, pod, finished) && !finished) {
        staged_.push_back(std::move(pod));
      }
    }
  }
  void EndList() override {
    state_->ReplacePods(std::move(staged_));
    staged_.clear();
    state_->Publish();
  }
  void OnEvent(kube::EventType type, std::string_view object) override {
    PodRecord pod;
    bool finished = false;
    if (!Decode(object, pod, finished)) return;
    // A finished pod frees its node even before it is deleted. An unscheduled one is kept for
    // its group: a /bind may come for it from a scheduler whose /filter another replica served.
    if (type == kube::EventType::kDeleted || finished) {
      state_->DeletePod(pod.uid);
    } else {
      state_->UpsertPod(std::move(pod));
    }
  }
  void Flush() override { state_->Publish(); }

 private:
  bool Decode(std::string_view object, PodRecord& pod, bool& finished) {
    if (Status st = DecodePod(object, state_->policy(), pod, finished); !st.ok()) {
      errors_.Increment();
      HP_LOG(kWarn, "undecodable pod skipped", {{"error", st.message()}});
      return false;
    }
    return true;
  }
  std::shared_ptr<MemoryState> state_;
  metrics::Counter& errors_;
  std::vector<PodRecord> staged_;
};

WatchCache::WatchCache(std::shared_ptr<kube::Client> client, std::shared_ptr<MemoryState> state,
                       const KubeConfig& config, metrics::Registry& registry)
    : state_(std::move(state)) {
  auto& errors =
      registry.AddCounter("hyperplace_kube_decode_errors_total",
                          "Objects from the API server that could not be decoded.", {"resource"});
  node_handler_ = std::make_unique<NodeHandler>(state_, errors.With({"nodes"}));
  pod_handler_ = std::make_unique<PodHandler>(state_, errors.With({"pods"}));
  kube::InformerOptions nodes;
  nodes.resource = "nodes";
  nodes.path = "/api/v1/nodes";
  nodes.timing = config;
  nodes_ = std::make_unique<kube::Informer>(client, nodes, node_handler_.get(), registry);
  kube::InformerOptions pods;
  pods.resource = "pods";
  pods.path = "/api/v1/pods";
  // Every pod not finished: the assigned ones occupy nodes; the pending ones are kept (uid and
  // group only) so that any replica can record a bind in its group (DESIGN §2.4).
  pods.field_selector = "status.phase!=Succeeded,status.phase!=Failed";
  pods.timing = config;
  pods_ = std::make_unique<kube::Informer>(client, pods, pod_handler_.get(), registry);
}

WatchCache::~WatchCache() { Stop(); }

void WatchCache::Start() {
  state_->SetReady(false);
  nodes_->Start();
  pods_->Start();
  expiry_ = std::thread([this] {
    bool ready = false;
    while (!stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!ready && Synced()) {
        ready = true;
        state_->SetReady(true);
        HP_LOG(
            kInfo, "cache synced",
            {{"nodes", state_->Current()->node_count()}, {"pods", state_->Current()->pod_count()}});
      }
      if (state_->ExpireAssumptions(MemoryState::Clock::now()) > 0) state_->Publish();
    }
  });
}

void WatchCache::Stop() {
  stop_.store(true);
  if (nodes_) nodes_->Stop();
  if (pods_) pods_->Stop();
  if (expiry_.joinable()) expiry_.join();
}

bool WatchCache::Synced() const { return nodes_->Synced() && pods_->Synced(); }

}  // namespace hyperplace::extender
