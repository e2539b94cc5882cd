#include "bench/payload.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string_view>

namespace hyperplace::bench {

namespace {

auto ByName(std::string_view name) {
  return [name](const std::pair<std::string, std::int64_t>& e) { return e.first < name; };
}

}  // namespace

std::int64_t Resources::Get(std::string_view name) const {
  auto it = std::find_if_not(items.begin(), items.end(), ByName(name));
  return it != items.end() && it->first == name ? it->second : 0;
}

void Resources::Add(std::string_view name, std::int64_t amount) {
  auto it = std::find_if_not(items.begin(), items.end(), ByName(name));
  if (it != items.end() && it->first == name) {
    it->second += amount;
  } else {
    items.emplace(it, std::string(name), amount);
  }
}

void Resources::Add(const Resources& other) {
  for (const auto& [name, amount] : other.items) Add(name, amount);
}

Resources EffectiveRequests(const std::vector<ContainerPlan>& containers) {
  auto requests = [](const ContainerPlan& c) {
    Resources r;
    for (const Quantity& q : c.requests) r.Add(q.resource, q.amount);
    return r;
  };
  auto raise_to = [](Resources& into, const Resources& r) {
    for (const auto& [name, amount] : r.items) {
      const std::int64_t have = into.Get(name);
      if (amount > have) into.Add(name, amount - have);
    }
  };
  Resources running, sidecars, init;
  for (const ContainerPlan& c : containers) {
    const Resources r = requests(c);
    switch (c.kind) {
      case ContainerPlan::Kind::kContainer:
        running.Add(r);
        break;
      case ContainerPlan::Kind::kSidecar:
        running.Add(r);
        sidecars.Add(r);
        raise_to(init, sidecars);
        break;
      case ContainerPlan::Kind::kInit: {
        Resources alone = r;
        alone.Add(sidecars);
        raise_to(init, alone);
        break;
      }
    }
  }
  raise_to(running, init);
  std::erase_if(running.items, [](const auto& e) { return e.second <= 0; });
  return running;
}

namespace {

constexpr std::int64_t kKi = 1024, kMi = kKi * 1024, kGi = kMi * 1024;

std::string Hex(std::mt19937_64& rng, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < digits; ++i) s += kHex[rng() & 15];
  return s;
}

std::string Uuid(std::mt19937_64& rng) {
  return Hex(rng, 8) + "-" + Hex(rng, 4) + "-" + Hex(rng, 4) + "-" + Hex(rng, 4) + "-" +
         Hex(rng, 12);
}

// An instance type: what its nodes carry in status.capacity and status.allocatable (resources
// sorted by name, as the API server writes them) and their accelerator labels.
struct NodeType {
  std::string name;
  int pods = 49;
  std::vector<Quantity> capacity, allocatable;
  std::string labels;  // JSON members, each followed by a comma
};

std::vector<Quantity> NodeResources(std::vector<Quantity> extra, Quantity cpu, Quantity memory,
                                    Quantity storage, int pods) {
  std::vector<Quantity> out = std::move(extra);
  out.push_back(std::move(cpu));
  out.push_back(std::move(storage));
  out.push_back({"hugepages-1Gi", "0", 0});
  out.push_back(std::move(memory));
  out.push_back({"pods", std::to_string(pods), pods});
  std::sort(out.begin(), out.end(),
            [](const Quantity& a, const Quantity& b) { return a.resource < b.resource; });
  return out;
}

const NodeType& TypeOf(std::string_view name) {
  static const std::vector<NodeType> kTypes = [] {
    const Quantity cap_storage{"ephemeral-storage", "1048576000Ki", 1048576000 * kKi};
    const Quantity storage{"ephemeral-storage", "965895780Ki", 965895780 * kKi};
    auto gpus = [](int n) { return Quantity{"nvidia.com/gpu", std::to_string(n), n}; };
    auto efa = [](int n) { return Quantity{"vpc.amazonaws.com/efa", std::to_string(n), n}; };
    auto make = [&](std::string type, int pods, std::vector<Quantity> extra, Quantity cap_cpu,
                    Quantity cpu, Quantity cap_memory, Quantity memory, std::string labels) {
      NodeType t;
      t.name = std::move(type);
      t.pods = pods;
      t.capacity =
          NodeResources(extra, std::move(cap_cpu), std::move(cap_memory), cap_storage, pods);
      t.allocatable = NodeResources(extra, std::move(cpu), std::move(memory), storage, pods);
      t.labels = std::move(labels);
      return t;
    };
    const std::string efa_label = R"("vpc.amazonaws.com/efa.present":"true",)";
    auto gpu_labels = [&](int n, const char* product) {
      return R"("nvidia.com/gpu.count":")" + std::to_string(n) + R"(","nvidia.com/gpu.product":")" +
             product + R"(",)" + efa_label;
    };
    std::vector<NodeType> types;
    types.push_back(make("ml.p5.48xlarge", 49, {gpus(8), efa(32)}, {"cpu", "192", 192000},
                         {"cpu", "191450m", 191450}, {"memory", "2097152000Ki", 2097152000 * kKi},
                         {"memory", "2044000000Ki", 2044000000 * kKi},
                         gpu_labels(8, "NVIDIA-H100-80GB-HBM3")));
    types.push_back(make("ml.p4d.24xlarge", 49, {gpus(8), efa(4)}, {"cpu", "96", 96000},
                         {"cpu", "95690m", 95690}, {"memory", "1207959552Ki", 1207959552 * kKi},
                         {"memory", "1154768000Ki", 1154768000 * kKi},
                         gpu_labels(8, "NVIDIA-A100-SXM4-40GB")));
    types.push_back(make("ml.g5.48xlarge", 49, {gpus(8), efa(1)}, {"cpu", "192", 192000},
                         {"cpu", "191450m", 191450}, {"memory", "805306368Ki", 805306368 * kKi},
                         {"memory", "780000000Ki", 780000000 * kKi}, gpu_labels(8, "NVIDIA-A10G")));
    types.push_back(make("ml.g5.8xlarge", 29, {gpus(1), efa(1)}, {"cpu", "32", 32000},
                         {"cpu", "31850m", 31850}, {"memory", "134217728Ki", 134217728 * kKi},
                         {"memory", "127000000Ki", 127000000 * kKi}, gpu_labels(1, "NVIDIA-A10G")));
    types.push_back(make("ml.trn1.32xlarge", 49,
                         {{"aws.amazon.com/neuron", "16", 16},
                          {"aws.amazon.com/neuroncore", "32", 32},
                          {"aws.amazon.com/neurondevice", "16", 16},
                          efa(8)},
                         {"cpu", "128", 128000}, {"cpu", "127610m", 127610},
                         {"memory", "536870912Ki", 536870912 * kKi},
                         {"memory", "520000000Ki", 520000000 * kKi},
                         R"("aws.amazon.com/neuron.present":"true",)" + efa_label));
    types.push_back(make("m5.large", 29, {}, {"cpu", "2", 2000}, {"cpu", "1930m", 1930},
                         {"memory", "8010436Ki", 8010436 * kKi},
                         {"memory", "7500000Ki", 7500000 * kKi}, ""));
    types.push_back(make("c5.2xlarge", 58, {}, {"cpu", "8", 8000}, {"cpu", "7910m", 7910},
                         {"memory", "16005480Ki", 16005480 * kKi},
                         {"memory", "15000000Ki", 15000000 * kKi}, ""));
    return types;
  }();
  for (const NodeType& t : kTypes) {
    if (t.name == name) return t;
  }
  return kTypes.front();
}

// Instance types by group of three racks: half the racks ml.p5.48xlarge, as in a cluster built
// for large-model training, the rest the other accelerated types.
constexpr const char* kRackTypes[] = {"ml.p5.48xlarge", "ml.p5.48xlarge",  "ml.p4d.24xlarge",
                                      "ml.p5.48xlarge", "ml.g5.48xlarge",  "ml.p5.48xlarge",
                                      "ml.g5.8xlarge",  "ml.trn1.32xlarge"};
constexpr const char* kPlainTypes[] = {"m5.large", "c5.2xlarge"};

void AppendQuantities(std::string& j, const std::vector<Quantity>& list) {
  j += '{';
  for (std::size_t k = 0; k < list.size(); ++k) {
    if (k > 0) j += ',';
    j += '"' + list[k].resource + R"(":")" + list[k].text + '"';
  }
  j += '}';
}

}  // namespace

std::vector<GeneratedNode> GenerateNodes(const ClusterSpec& spec) {
  std::mt19937_64 rng(spec.seed);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<GeneratedNode> nodes;
  nodes.reserve(spec.nodes);
  for (int i = 0; i < spec.nodes; ++i) {
    GeneratedNode n;
    const int rack = i / 16, spine = rack / 4, top = spine / 8;
    char name[64];
    std::snprintf(name, sizeof name, "hyperpod-i-%012llx",
                  0x0a00000000ull + static_cast<unsigned>(i));
    n.name = name;
    const bool plain = uniform(rng) < spec.non_ml_fraction;
    n.instance_type = plain ? kPlainTypes[i % 2] : kRackTypes[(rack / 3) % 8];
    const NodeType& type = TypeOf(n.instance_type);
    const bool unhealthy = uniform(rng) < spec.unhealthy_fraction;
    const bool tainted = !unhealthy && uniform(rng) < spec.tainted_fraction;
    const char* health = unhealthy ? "UnschedulablePendingReplacement" : "Schedulable";
    const bool unknown = !tainted && uniform(rng) < spec.deep_health_unknown_fraction;
    const char* deep = tainted ? "InProgress" : "Passed";
    const bool four_layers = n.instance_type == "ml.p5.48xlarge";
    n.ml_type = !plain;
    n.unhealthy = unhealthy;
    n.health_taint = tainted;
    n.deep_health_unknown = unknown;
    n.layers = four_layers ? 4 : 3;
    n.layer = {1000 + top, 2000 + spine, 30000 + rack, four_layers ? 400000 + i / 4 : 0};
    for (const Quantity& q : type.allocatable) n.allocatable.Add(q.resource, q.amount);
    const std::string ip = "10." + std::to_string(1 + top) + "." + std::to_string(rack % 250) +
                           "." + std::to_string(i % 250);
    std::string& j = n.json;
    j.reserve(9000);
    j += R"({"metadata":{"name":")" + n.name + R"(","uid":")" + Hex(rng, 8) + "-" + Hex(rng, 4) +
         "-" + Hex(rng, 4) + "-" + Hex(rng, 4) + "-" + Hex(rng, 12) + R"(","resourceVersion":")" +
         std::to_string(100000 + i) + R"(","creationTimestamp":"2026-11-01T08:00:00Z","labels":{)";
    j += R"("beta.kubernetes.io/arch":"amd64","beta.kubernetes.io/instance-type":")" +
         n.instance_type + R"(","beta.kubernetes.io/os":"linux",)";
    j +=
        R"("failure-domain.beta.kubernetes.io/region":"us-west-2","failure-domain.beta.kubernetes.io/zone":"us-west-2a",)";
    j += R"("kubernetes.io/arch":"amd64","kubernetes.io/hostname":")" + n.name +
         R"(","kubernetes.io/os":"linux","node.kubernetes.io/instance-type":")" + n.instance_type +
         R"(",)";
    j +=
        R"("sagemaker.amazonaws.com/cluster-name":"ml-cluster","sagemaker.amazonaws.com/compute-type":"hyperpod",)";
    j += R"("sagemaker.amazonaws.com/instance-group-name":"workers-)" + std::to_string(top) +
         R"(","sagemaker.amazonaws.com/node-health-status":")" + health + R"(",)";
    if (!unknown) {
      j += R"("sagemaker.amazonaws.com/deep-health-check-status":")" + std::string(deep) + R"(",)";
    }
    j +=
        R"("topology.k8s.aws/zone-id":"usw2-az1","topology.kubernetes.io/region":"us-west-2","topology.kubernetes.io/zone":"us-west-2a",)";
    j += type.labels;
    j += R"("topology.k8s.aws/network-node-layer-1":"nn-)" + std::to_string(1000 + top) +
         R"(","topology.k8s.aws/network-node-layer-2":"nn-)" + std::to_string(2000 + spine) +
         R"(","topology.k8s.aws/network-node-layer-3":"nn-)" + std::to_string(30000 + rack) + "\"";
    if (four_layers) {
      j += R"(,"topology.k8s.aws/network-node-layer-4":"nn-)" + std::to_string(400000 + i / 4) +
           "\"";
    }
    j +=
        R"(},"annotations":{"alpha.kubernetes.io/provided-node-ip":")" + ip +
        R"(","node.alpha.kubernetes.io/ttl":"0","volumes.kubernetes.io/controller-managed-attach-detach":"true"}},)";
    j += R"("spec":{"providerID":"aws:///us-west-2a/i-)" + Hex(rng, 17) + "\"";
    if (tainted) {
      j +=
          R"(,"taints":[{"key":"sagemaker.amazonaws.com/node-health-status","value":"Unschedulable","effect":"NoSchedule"}])";
    }
    n.max_pods = type.pods;
    j += R"(},"status":{"capacity":)";
    AppendQuantities(j, type.capacity);
    j += R"(,"allocatable":)";
    AppendQuantities(j, type.allocatable);
    j += R"(,"conditions":[)";
    const char* kConditions[] = {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"};
    for (int c = 0; c < 4; ++c) {
      j += c ? "," : "";
      j +=
          R"({"type":")" + std::string(kConditions[c]) + R"(","status":")" +
          (c == 3 ? "True" : "False") +
          R"(","lastHeartbeatTime":"2026-11-20T10:00:00Z","lastTransitionTime":"2026-11-01T08:01:00Z","reason":"Kubelet)" +
          (c == 3 ? "Ready" : "HasSufficientResources") + R"(","message":"kubelet is healthy"})";
    }
    j += R"(],"addresses":[{"type":"InternalIP","address":")" + ip +
         R"("},{"type":"Hostname","address":")" + n.name + R"("}],)";
    j +=
        R"("daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},"nodeInfo":{"machineID":")" +
        Hex(rng, 32) + R"(","systemUUID":"ec2)" + Hex(rng, 29) + R"(","bootID":")" + Hex(rng, 32) +
        R"(","kernelVersion":"5.10.227-219.884.amzn2.x86_64","osImage":"Amazon Linux 2","containerRuntimeVersion":"containerd://1.7.22","kubeletVersion":"v1.31.2-eks-7f9249a","kubeProxyVersion":"v1.31.2-eks-7f9249a","operatingSystem":"linux","architecture":"amd64"},"images":[)";
    for (int m = 0; m < spec.images_per_node; ++m) {
      j += m ? "," : "";
      j += R"({"names":["123456789012.dkr.ecr.us-west-2.amazonaws.com/training/image-)" +
           std::to_string(m) + "@sha256:" + Hex(rng, 64) +
           R"(","123456789012.dkr.ecr.us-west-2.amazonaws.com/training/image-)" +
           std::to_string(m) + ":v" + std::to_string(m % 7) + R"("],"sizeBytes":)" +
           std::to_string(100000000 + (rng() % 9000000000ull)) + "}";
    }
    j += "]}}";
    nodes.push_back(std::move(n));
  }
  return nodes;
}

namespace {

// The containers of the pods the generator places or asks about. Quantities use several of the
// forms the API server accepts ("0.25", "250m", "2G", "128974848", "900Gi").
ContainerPlan Container(std::string name, std::vector<Quantity> requests,
                        ContainerPlan::Kind kind = ContainerPlan::Kind::kContainer) {
  ContainerPlan c;
  c.name = std::move(name);
  c.kind = kind;
  for (const Quantity& q : requests) {
    if (q.resource != "cpu" && q.resource != "memory") c.limits.push_back(q);
  }
  c.requests = std::move(requests);
  return c;
}

ContainerPlan LogRouter() {
  return Container("log-router", {{"cpu", "500m", 500}, {"memory", "512Mi", 512 * kMi}},
                   ContainerPlan::Kind::kSidecar);
}

// A trainer (its requests sorted by resource) with its log router sidecar.
std::vector<ContainerPlan> WithLogRouter(std::vector<Quantity> trainer) {
  return {Container("trainer", std::move(trainer)), LogRouter()};
}

// A whole node's training pod for the instance type (a p5 one is TrainerContainers()).
std::vector<ContainerPlan> WholeNodeContainers(std::string_view type) {
  const Quantity gpus{"nvidia.com/gpu", "8", 8};
  if (type == "ml.p4d.24xlarge") {
    return WithLogRouter({{"cpu", "80", 80000},
                          {"memory", "900Gi", 900 * kGi},
                          gpus,
                          {"vpc.amazonaws.com/efa", "4", 4}});
  }
  if (type == "ml.g5.48xlarge") {
    return WithLogRouter({{"cpu", "80", 80000},
                          {"memory", "600Gi", 600 * kGi},
                          gpus,
                          {"vpc.amazonaws.com/efa", "1", 1}});
  }
  if (type == "ml.trn1.32xlarge") {
    return WithLogRouter({{"aws.amazon.com/neurondevice", "16", 16},
                          {"cpu", "100", 100000},
                          {"memory", "400Gi", 400 * kGi},
                          {"vpc.amazonaws.com/efa", "8", 8}});
  }
  return TrainerContainers();
}

std::vector<ContainerPlan> FourGpuContainers() {
  return {Container(
      "server",
      {{"cpu", "40", 40000}, {"memory", "300Gi", 300 * kGi}, {"nvidia.com/gpu", "4", 4}})};
}

// A notebook: 1 GPU, and an init container fetching weights that needs more memory than it.
std::vector<ContainerPlan> OneGpuContainers() {
  return {
      Container("fetch-weights", {{"cpu", "4", 4000}, {"memory", "80Gi", 80 * kGi}},
                ContainerPlan::Kind::kInit),
      Container("notebook",
                {{"cpu", "8", 8000}, {"memory", "64Gi", 64 * kGi}, {"nvidia.com/gpu", "1", 1}})};
}

std::vector<ContainerPlan> CpuContainers() {
  return {
      Container("setup", {{"cpu", "1", 1000}, {"memory", "1Gi", kGi}}, ContainerPlan::Kind::kInit),
      Container("worker", {{"cpu", "2", 2000}, {"memory", "8Gi", 8 * kGi}})};
}

// A small CPU job's pod: 100m and 2G, after a 250m staging init container.
std::vector<ContainerPlan> SmallJobContainers() {
  return {Container("stage", {{"cpu", "250m", 250}, {"memory", "256Mi", 256 * kMi}},
                    ContainerPlan::Kind::kInit),
          Container("worker", {{"cpu", "100m", 100}, {"memory", "2G", 2000000000}})};
}

std::string ImageOf(const std::string& container) {
  if (container == "trainer") return "123456789012.dkr.ecr.us-west-2.amazonaws.com/llama:2.1";
  return "123456789012.dkr.ecr.us-west-2.amazonaws.com/" + container + ":1.4";
}

void AppendContainers(std::string& j, const std::vector<ContainerPlan>& containers, bool init) {
  bool first = true;
  for (const ContainerPlan& c : containers) {
    if ((c.kind != ContainerPlan::Kind::kContainer) != init) continue;
    j += first ? "" : ",";
    first = false;
    j += R"({"name":")" + c.name + R"(","image":")" + ImageOf(c.name) + "\"";
    if (c.kind == ContainerPlan::Kind::kSidecar) j += R"(,"restartPolicy":"Always")";
    j += R"(,"resources":{)";
    if (!c.limits.empty()) {
      j += R"("limits":)";
      AppendQuantities(j, c.limits);
    }
    if (!c.requests.empty()) {
      j += c.limits.empty() ? R"("requests":)" : R"(,"requests":)";
      AppendQuantities(j, c.requests);
    }
    j += "}}";
  }
}

}  // namespace

std::vector<ContainerPlan> TrainerContainers() {
  return WithLogRouter({{"cpu", "80", 80000},
                        {"memory", "900Gi", 900 * kGi},
                        {"nvidia.com/gpu", "8", 8},
                        {"vpc.amazonaws.com/efa", "32", 32}});
}

std::string GeneratePodJson(std::uint64_t seed, int index, int group_size, bool topology) {
  PodOptions o;
  o.seed = seed;
  o.index = index;
  const int job = index / (group_size > 0 ? group_size : 1);
  o.team = "team-" + std::string(1, static_cast<char>('a' + job % 3));
  o.job = "train-" + std::to_string(job);
  o.group_size = group_size;
  o.topology = topology ? TopologyKind::kRequired : TopologyKind::kNone;
  return GeneratePod(o);
}

std::string GeneratePod(const PodOptions& o) {
  std::mt19937_64 rng(o.seed * 7919 + static_cast<std::uint64_t>(o.index));
  const bool system = !o.system_namespace.empty();
  const std::string ns = system ? o.system_namespace : "hyperpod-ns-" + o.team;
  const std::string name = o.name.empty() ? o.job + "-worker-" + std::to_string(o.index) : o.name;
  const bool grouped = o.group_size > 0 && !o.job.empty();
  const std::vector<ContainerPlan> containers =
      o.containers.empty() ? TrainerContainers() : o.containers;
  std::string j;
  j.reserve(2600);
  j += R"({"metadata":{"name":")" + name + R"(","namespace":")" + ns + R"(","uid":")" + Uuid(rng) +
       R"(","resourceVersion":")" + o.resource_version +
       R"(","creationTimestamp":"2026-11-20T10:04:11Z","labels":{)";
  if (system) {
    j += R"("app.kubernetes.io/name":")" + o.job + R"(","pod-template-generation":"1")";
  } else {
    j += R"("kueue.x-k8s.io/queue-name":")" + ns +
         R"(-localqueue","kueue.x-k8s.io/priority-class":"training-priority")";
  }
  if (grouped) j += R"(,"kueue.x-k8s.io/pod-group-name":")" + o.job + "\"";
  j += R"(},"annotations":{)";
  if (grouped) {
    j += R"("kueue.x-k8s.io/pod-group-total-count":")" + std::to_string(o.group_size) + "\"";
    if (o.topology == TopologyKind::kRequired) {
      j += R"(,"kueue.x-k8s.io/podset-required-topology":"topology.k8s.aws/network-node-layer-3")";
    } else if (o.topology == TopologyKind::kPreferred) {
      j += R"(,"kueue.x-k8s.io/podset-preferred-topology":"topology.k8s.aws/network-node-layer-3")";
    }
  }
  j += "}";
  const std::string random_owner_uid = Hex(rng, 8);
  if (!o.job.empty()) {
    const std::string api = o.owner_kind == "Job" ? "batch/v1" : "apps/v1";
    j += R"(,"ownerReferences":[{"apiVersion":")" + api + R"(","kind":")" + o.owner_kind +
         R"(","name":")" + o.job + R"(","uid":")" +
         (o.owner_uid.empty() ? random_owner_uid : o.owner_uid) +
         R"(","controller":true,"blockOwnerDeletion":true}])";
  }
  j += "},";
  j += R"("spec":{)";
  const bool has_init = std::any_of(containers.begin(), containers.end(), [](const auto& c) {
    return c.kind != ContainerPlan::Kind::kContainer;
  });
  if (has_init) {
    j += R"("initContainers":[)";
    AppendContainers(j, containers, /*init=*/true);
    j += "],";
  }
  j += R"("containers":[)";
  AppendContainers(j, containers, /*init=*/false);
  j += "],";
  j += std::string(R"("restartPolicy":")") + (system ? "Always" : "Never") +
       R"(","schedulerName":")" + o.scheduler_name + R"(",)";
  if (!o.node_name.empty()) j += R"("nodeName":")" + o.node_name + R"(",)";
  if (system) {
    j +=
        R"("tolerations":[{"operator":"Exists"}],"priorityClassName":"system-node-critical","priority":2000001000},)";
  } else {
    j +=
        R"("tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}],"priority":0},)";
  }
  if (o.node_name.empty()) {
    j += R"("status":{"phase":"Pending","qosClass":"Burstable"}})";
    return j;
  }
  const std::string ip = "10." + std::to_string(1 + o.index % 4) + "." +
                         std::to_string((o.index / 4) % 250) + "." + std::to_string(o.index % 250);
  j += R"("status":{"phase":"Running","conditions":[)";
  const char* kConditions[] = {"Initialized", "Ready", "ContainersReady", "PodScheduled"};
  for (int c = 0; c < 4; ++c) {
    j += c ? "," : "";
    j += R"({"type":")" + std::string(kConditions[c]) +
         R"(","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-20T10:05:0)" +
         std::to_string(c) + R"(Z"})";
  }
  j += R"(],"hostIP":"10.1.0.1","hostIPs":[{"ip":"10.1.0.1"}],"podIP":")" + ip +
       R"(","podIPs":[{"ip":")" + ip + R"("}],"startTime":"2026-11-20T10:05:00Z",)";
  j += R"("containerStatuses":[)";
  bool first = true;
  for (const ContainerPlan& c : containers) {
    if (c.kind != ContainerPlan::Kind::kContainer) continue;
    j += first ? "" : ",";
    first = false;
    j +=
        R"({"name":")" + c.name +
        R"(","state":{"running":{"startedAt":"2026-11-20T10:05:03Z"}},"lastState":{},"ready":true,"restartCount":0,"image":")" +
        ImageOf(c.name) + R"(","imageID":"123456789012.dkr.ecr.us-west-2.amazonaws.com/)" + c.name +
        "@sha256:" + Hex(rng, 64) + R"(","containerID":"containerd://)" + Hex(rng, 64) +
        R"(","started":true})";
  }
  j += R"(],"qosClass":"Burstable"}})";
  return j;
}

std::string FullNodesArgs(const std::string& pod_json, const std::vector<GeneratedNode>& nodes) {
  std::size_t bytes = pod_json.size() + 64;
  for (const auto& n : nodes) bytes += n.json.size() + 1;
  std::string out;
  out.reserve(bytes);
  out += R"({"Pod":)";
  out += pod_json;
  out += R"(,"Nodes":{"metadata":{},"items":[)";
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (i > 0) out += ',';
    out += nodes[i].json;
  }
  out += R"(]},"NodeNames":null})";
  return out;
}

std::string NodeNamesArgs(const std::string& pod_json, const std::vector<GeneratedNode>& nodes) {
  std::string out = R"({"Pod":)" + pod_json + R"(,"Nodes":null,"NodeNames":[)";
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (i > 0) out += ',';
    out += '"' + nodes[i].name + '"';
  }
  out += "]}";
  return out;
}

namespace {

enum class Shape : std::uint8_t { kTrainer, kCpu, kFourGpu, kOneGpu };

// Pending pod `i`: its kind by i % 20 (see SchedulingSpec), gang sizes 4, 8, 16, 32 in turn.
struct PendingPlan {
  TopologyKind topology = TopologyKind::kNone;
  int group_size = 0;
  int peers = 0;           // peers to place
  std::uint64_t draw = 0;  // picks the rack of the peers among the p5 racks
  Shape shape = Shape::kTrainer;
  std::string what;
};

PendingPlan PlanPending(const SchedulingSpec& spec, int i) {
  PendingPlan p;
  const int kind = i % 20;
  static constexpr int kSizes[] = {4, 8, 16, 32};
  if (kind < 17) {
    p.group_size = kSizes[(i / 20 + kind) % 4];
    p.topology =
        kind < 6 || (kind >= 8 && kind < 14) ? TopologyKind::kRequired : TopologyKind::kPreferred;
    const std::string level = p.topology == TopologyKind::kRequired ? "required" : "preferred";
    if (kind < 8) {
      p.peers = std::min(p.group_size / 2, 8);
      std::mt19937_64 rng(spec.seed * 104729 + static_cast<std::uint64_t>(i));
      p.draw = rng();
      p.what = "8-GPU gang of " + std::to_string(p.group_size) + ", " + level;
    } else {
      p.what = "first pod of an 8-GPU gang of " + std::to_string(p.group_size) + ", " + level;
    }
  } else {
    p.shape = kind == 17 ? Shape::kCpu : kind == 18 ? Shape::kFourGpu : Shape::kOneGpu;
    p.what = kind == 17 ? "CPU pod" : kind == 18 ? "4-GPU pod" : "1-GPU pod";
  }
  return p;
}

std::vector<ContainerPlan> ContainersOf(Shape shape) {
  switch (shape) {
    case Shape::kTrainer:
      return TrainerContainers();
    case Shape::kCpu:
      return CpuContainers();
    case Shape::kFourGpu:
      return FourGpuContainers();
    case Shape::kOneGpu:
      return OneGpuContainers();
  }
  return {};
}

// metadata.uid of a generated pod.
std::string UidOf(const std::string& json) {
  const std::string key = R"("uid":")";
  const std::size_t at = json.find(key) + key.size();
  return json.substr(at, json.find('"', at) - at);
}

std::string PendingTeam(int i) { return "team-" + std::string(1, static_cast<char>('a' + i % 3)); }
std::string PendingJob(int i) { return "pending-" + std::to_string(i); }
std::string TeamOf(int n) { return "team-" + std::string(1, static_cast<char>('a' + n % 3)); }

// The DaemonSets of a node: `on` says which nodes run one ('*' every node, 'm' ml. nodes, 'g'
// GPU nodes, 'n' Neuron nodes, 'e' nodes with EFA).
struct Daemon {
  const char* name;
  const char* ns;
  char on;
  std::vector<Quantity> requests;
};

const std::vector<Daemon>& Daemons() {
  static const std::vector<Daemon> kDaemons = {
      {"aws-node", "kube-system", '*', {{"cpu", "25m", 25}}},
      {"kube-proxy", "kube-system", '*', {{"cpu", "100m", 100}}},
      {"ebs-csi-node", "kube-system", '*', {{"cpu", "10m", 10}, {"memory", "40Mi", 40 * kMi}}},
      {"eks-pod-identity-agent",
       "kube-system",
       '*',
       {{"cpu", "25m", 25}, {"memory", "32Mi", 32 * kMi}}},
      {"node-problem-detector",
       "kube-system",
       '*',
       {{"cpu", "20m", 20}, {"memory", "100Mi", 100 * kMi}}},
      {"fluent-bit",
       "amazon-cloudwatch",
       '*',
       {{"cpu", "500m", 500}, {"memory", "100Mi", 100 * kMi}}},
      {"cloudwatch-agent",
       "amazon-cloudwatch",
       '*',
       {{"cpu", "0.25", 250}, {"memory", "128974848", 128974848}}},
      {"node-exporter", "monitoring", '*', {{"cpu", "0.1", 100}, {"memory", "180Mi", 180 * kMi}}},
      {"health-monitoring-agent",
       "aws-hyperpod",
       'm',
       {{"cpu", "500m", 500}, {"memory", "512Mi", 512 * kMi}}},
      {"fsx-csi-node", "kube-system", 'm', {}},
      {"mountpoint-s3-csi-node", "kube-system", 'm', {}},
      {"nvidia-device-plugin", "kube-system", 'g', {}},
      {"dcgm-exporter", "monitoring", 'g', {{"cpu", "100m", 100}, {"memory", "512Mi", 512 * kMi}}},
      {"neuron-device-plugin", "kube-system", 'n', {}},
      {"neuron-monitor", "monitoring", 'n', {{"cpu", "100m", 100}, {"memory", "256Mi", 256 * kMi}}},
      {"efa-device-plugin", "kube-system", 'e', {{"cpu", "10m", 10}, {"memory", "20Mi", 20 * kMi}}},
  };
  return kDaemons;
}

bool RunsOn(const Daemon& d, const GeneratedNode& n) {
  switch (d.on) {
    case '*':
      return true;
    case 'm':
      return n.ml_type;
    case 'g':
      return n.allocatable.Get("nvidia.com/gpu") > 0;
    case 'n':
      return n.allocatable.Get("aws.amazon.com/neurondevice") > 0;
    case 'e':
      return n.allocatable.Get("vpc.amazonaws.com/efa") > 0;
  }
  return false;
}

// Pod indices seed the uids, so each kind has its own range: pending pods 1000000 + i, their
// peers 2000000 + 64 i + k, bind targets 20000000 + i, every other placed pod from here.
constexpr int kPlacedIndex = 10000000;
constexpr int kFreeToKeep = 6;     // p5 nodes of a rack left free by the pending gangs' peers
constexpr int kEniFullEvery = 37;  // one ml. node in 37 is filled to its maximum pods

// The placement behind ForEachPlacedPod, ModelOccupancy and the pending pods' peer counts: calls
// `place(options, node, pending_of, requests)` once per placed pod, in a fixed order, with the
// pod's options (without node_name). `pending_of` tells which pending pod's gang a pod belongs to
// (-1: background). With `peers_only`, stops after the pending gangs' peers. Returns how many it
// placed.
class Placement {
 public:
  using Place = std::function<void(PodOptions&, int node, int pending_of, const Resources&)>;

  Placement(const SchedulingSpec& spec, const std::vector<GeneratedNode>& nodes, Place place)
      : spec_(spec),
        nodes_(nodes),
        place_(std::move(place)),
        pods_(nodes.size(), 0),
        used_(nodes.size()) {}

  int Run(bool peers_only) {
    if (nodes_.empty()) return 0;
    Peers();
    if (peers_only) return emitted_;
    Background();
    DaemonPods();
    SmallJobs();
    return emitted_;
  }

 private:
  int n() const { return static_cast<int>(nodes_.size()); }
  bool Full() const { return emitted_ >= spec_.total_pods; }
  // Pods a node may get: its maximum minus 4, or the maximum on the nodes filled to it.
  int Cap(int node) const {
    const int max = nodes_[node].max_pods;
    return nodes_[node].ml_type && node % kEniFullEvery == 11 ? max : std::max(0, max - 4);
  }
  bool Fits(int node, const Resources& requests) const {
    if (pods_[node] >= Cap(node)) return false;
    for (const auto& [name, amount] : requests.items) {
      if (nodes_[node].allocatable.Get(name) - used_[node].Get(name) < amount) return false;
    }
    return true;
  }
  // Places the pod when it fits; false when it does not or the total is reached.
  bool Put(PodOptions& o, int node, int pending_of = -1) {
    if (Full()) return false;
    const Resources requests = EffectiveRequests(o.containers);
    if (!Fits(node, requests)) return false;
    o.seed = spec_.seed;
    ++pods_[node];
    used_[node].Add(requests);
    ++emitted_;
    place_(o, node, pending_of, requests);
    return true;
  }
  PodOptions Team(std::string job, int team, std::vector<ContainerPlan> containers) {
    PodOptions o;
    o.index = kPlacedIndex + serial_++;
    o.team = TeamOf(team);
    o.job = std::move(job);
    o.containers = std::move(containers);
    return o;
  }

  // The pending gangs' peers: whole p5 nodes in one rack, the first of the p5 racks from the one
  // the plan drew that keeps kFreeToKeep such nodes free besides; none if no rack does.
  void Peers() {
    std::vector<int> racks;
    for (int r = 0; r * 16 < n(); ++r) {
      for (int i = r * 16; i < std::min(n(), r * 16 + 16); ++i) {
        if (nodes_[i].instance_type == "ml.p5.48xlarge") {
          racks.push_back(r);
          break;
        }
      }
    }
    const Resources whole = EffectiveRequests(TrainerContainers());
    for (int i = 0; i < spec_.pending_pods && !Full(); ++i) {
      const PendingPlan plan = PlanPending(spec_, i);
      if (plan.peers == 0 || racks.empty()) continue;
      std::vector<int> free;
      for (std::size_t t = 0; t < racks.size() && free.empty(); ++t) {
        const int rack = racks[(plan.draw + t) % racks.size()];
        for (int node = rack * 16; node < std::min(n(), rack * 16 + 16); ++node) {
          if (Fits(node, whole)) free.push_back(node);
        }
        if (static_cast<int>(free.size()) < plan.peers + kFreeToKeep) free.clear();
      }
      if (!free.empty()) peer_racks_.push_back(free.front() / 16);
      for (int k = 0; k < plan.peers && k < static_cast<int>(free.size()); ++k) {
        PodOptions o;
        o.index = 2000000 + i * 64 + k;
        o.team = PendingTeam(i);
        o.job = PendingJob(i);
        o.name = o.job + "-worker-" + std::to_string(k);
        o.group_size = plan.group_size;
        o.topology = plan.topology;
        o.containers = TrainerContainers();
        Put(o, free[static_cast<std::size_t>(k)], i);
      }
    }
  }

  // Whether a GPU pod must not go to the node: in a rack of the pending gangs' peers, the last
  // kFreeToKeep nodes with every GPU free stay free for the rest of those gangs.
  bool Kept(int node, int gathered = 0) const {
    const int rack = node / 16;
    if (std::find(peer_racks_.begin(), peer_racks_.end(), rack) == peer_racks_.end()) return false;
    if (used_[node].Get("nvidia.com/gpu") > 0) return false;
    int free = 0;
    for (int i = rack * 16; i < std::min(n(), rack * 16 + 16); ++i) {
      free +=
          nodes_[i].allocatable.Get("nvidia.com/gpu") == 8 && used_[i].Get("nvidia.com/gpu") == 0;
    }
    return free - gathered <= kFreeToKeep;
  }

  // GPU and Neuron work, rack by rack (see SchedulingSpec).
  void Background() {
    for (int rack = 0; rack * 16 < n() && !Full(); ++rack) {
      std::mt19937_64 rng(spec_.seed * 1000003 + static_cast<std::uint64_t>(rack));
      const int busy = static_cast<int>(rng() % 11);
      const int start = static_cast<int>(rng() % 16);
      auto eight_gpus = [&](int node) {
        return nodes_[node].allocatable.Get("nvidia.com/gpu") == 8;
      };
      // Whole-node gangs on consecutive nodes of the rack, 8 at most per gang.
      std::vector<int> whole;
      for (int k = 0; k < 16 && static_cast<int>(whole.size()) < busy; ++k) {
        const int node = rack * 16 + (start + k) % 16;
        if (node < n() && eight_gpus(node) && !Kept(node, static_cast<int>(whole.size())) &&
            Fits(node, EffectiveRequests(WholeNodeContainers(nodes_[node].instance_type)))) {
          whole.push_back(node);
        }
      }
      for (std::size_t at = 0; at < whole.size(); at += 8) {
        const int size = static_cast<int>(std::min<std::size_t>(8, whole.size() - at));
        const int job = gangs_++;
        for (int k = 0; k < size; ++k) {
          const int node = whole[at + static_cast<std::size_t>(k)];
          PodOptions o = Team("bg-" + std::to_string(job), job,
                              WholeNodeContainers(nodes_[node].instance_type));
          o.name = o.job + "-worker-" + std::to_string(k);
          o.group_size = size;
          o.topology = job % 2 == 0 ? TopologyKind::kRequired : TopologyKind::kNone;
          Put(o, node);
        }
      }
      for (int node = rack * 16; node < std::min(n(), rack * 16 + 16); ++node) {
        const int draw = static_cast<int>(rng() % 100);
        const int ones = 1 + static_cast<int>(rng() % 3);
        const GeneratedNode& nd = nodes_[node];
        if (eight_gpus(node) && used_[node].Get("nvidia.com/gpu") == 0 && !Kept(node)) {
          const int halves = draw < 15 ? 1 : draw < 22 ? 2 : 0;
          for (int h = 0; h < halves; ++h) Server(node);
          if (draw >= 22 && draw < 37) {
            for (int k = 0; k < ones; ++k) Notebook(node);
          }
        } else if (nd.allocatable.Get("nvidia.com/gpu") == 1 && draw < 50) {
          Notebook(node);
        } else if (nd.allocatable.Get("aws.amazon.com/neurondevice") > 0 && draw < 50) {
          const int job = gangs_++;
          PodOptions o =
              Team("bg-" + std::to_string(job), job, WholeNodeContainers(nd.instance_type));
          o.name = o.job + "-worker-0";
          o.group_size = 1;
          Put(o, node);
        }
      }
    }
  }
  // A 4-GPU inference server of a Deployment.
  void Server(int node) {
    const int k = servers_++;
    PodOptions o =
        Team("infer-" + std::to_string(k / 4) + "-5c8d7b9f4", k / 4, FourGpuContainers());
    o.owner_kind = "ReplicaSet";
    o.name = o.job + "-" + std::to_string(k % 4);
    Put(o, node);
  }
  // A 1-GPU notebook: a bare pod, no group.
  void Notebook(int node) {
    const int k = notebooks_++;
    PodOptions o = Team("", k, OneGpuContainers());
    o.name = "jupyter-" + std::to_string(k);
    Put(o, node);
  }

  void DaemonPods() {
    const std::vector<Daemon>& daemons = Daemons();
    std::vector<std::string> owner_uids;
    for (std::size_t d = 0; d < daemons.size(); ++d) {
      std::mt19937_64 rng(spec_.seed * 31337 + d);
      owner_uids.push_back(Uuid(rng));
    }
    for (int node = 0; node < n() && !Full(); ++node) {
      for (std::size_t d = 0; d < daemons.size(); ++d) {
        if (!RunsOn(daemons[d], nodes_[node])) continue;
        PodOptions o;
        o.index = kPlacedIndex + serial_++;
        o.system_namespace = daemons[d].ns;
        o.job = daemons[d].name;
        o.owner_kind = "DaemonSet";
        o.owner_uid = owner_uids[d];
        char suffix[16];
        std::snprintf(suffix, sizeof suffix, "-%05x", static_cast<unsigned>(node));
        o.name = std::string(daemons[d].name) + suffix;
        o.containers = {Container(daemons[d].name, daemons[d].requests)};
        Put(o, node);
      }
    }
  }

  // Small CPU jobs of 8 pods: first the nodes filled to their maximum pods, then round robin.
  void SmallJobs() {
    auto next = [&]() {
      const int k = small_++;
      PodOptions o = Team("etl-" + std::to_string(k / 8), k / 8, SmallJobContainers());
      o.name = o.job + "-" + std::to_string(k % 8);
      return o;
    };
    const Resources small = EffectiveRequests(SmallJobContainers());
    for (int node = 11; node < n() && !Full(); node += kEniFullEvery) {
      while (!Full() && Fits(node, small)) {
        PodOptions o = next();
        Put(o, node);
      }
    }
    int cursor = 0;
    while (!Full()) {
      int tried = 0;
      while (tried < n() && !Fits(cursor, small)) {
        cursor = (cursor + 1) % n();
        ++tried;
      }
      if (tried == n()) return;  // every node is full
      PodOptions o = next();
      Put(o, cursor);
      cursor = (cursor + 1) % n();
    }
  }

  const SchedulingSpec& spec_;
  const std::vector<GeneratedNode>& nodes_;
  Place place_;
  std::vector<int> pods_;
  std::vector<Resources> used_;
  std::vector<int> peer_racks_;
  int emitted_ = 0;
  int serial_ = 0, gangs_ = 0, servers_ = 0, notebooks_ = 0, small_ = 0;
};

}  // namespace

std::vector<PendingPod> GeneratePendingPods(const SchedulingSpec& spec,
                                            const std::vector<GeneratedNode>& nodes) {
  // How many peers each gang has placed (fewer than planned when the p5 racks are too busy).
  std::vector<int> placed(static_cast<std::size_t>(std::max(0, spec.pending_pods)), 0);
  Placement(spec, nodes, [&](PodOptions&, int, int pending_of, const Resources&) {
    if (pending_of >= 0) ++placed[pending_of];
  }).Run(/*peers_only=*/true);
  std::vector<PendingPod> out;
  for (int i = 0; i < spec.pending_pods; ++i) {
    const PendingPlan plan = PlanPending(spec, i);
    PodOptions o;
    o.seed = spec.seed;
    o.index = 1000000 + i;
    o.team = PendingTeam(i);
    o.group_size = plan.group_size;
    o.topology = plan.topology;
    o.containers = ContainersOf(plan.shape);
    if (plan.group_size > 0) {
      o.job = PendingJob(i);
      o.name = o.job + "-worker-" + std::to_string(placed[i]);
    } else {
      o.job.clear();  // a bare pod: no owner, so no group
      o.name = "notebook-" + std::to_string(i);
    }
    PendingPod pod;
    pod.json = GeneratePod(o);
    pod.name = o.name;
    pod.namespace_name = "hyperpod-ns-" + o.team;
    pod.uid = UidOf(pod.json);
    pod.what = plan.what;
    if (plan.peers > 0) {
      pod.what += placed[i] > 0 ? ", " + std::to_string(placed[i]) + " peers placed"
                                : ", no peer placed (no p5 rack had room)";
    }
    pod.topology = plan.topology;
    pod.placed_peers = placed[i];
    pod.group_size = plan.group_size;
    pod.requests = EffectiveRequests(o.containers);
    out.push_back(std::move(pod));
  }
  return out;
}

int ForEachPlacedPod(const SchedulingSpec& spec, const std::vector<GeneratedNode>& nodes,
                     const std::function<void(const PlacedPod&)>& emit) {
  return Placement(spec, nodes,
                   [&](PodOptions& o, int node, int, const Resources& requests) {
                     o.node_name = nodes[node].name;
                     o.resource_version = "__RV__";
                     PlacedPod pod;
                     pod.name = o.name;
                     pod.namespace_name =
                         o.system_namespace.empty() ? "hyperpod-ns-" + o.team : o.system_namespace;
                     pod.node = node;
                     pod.json = GeneratePod(o);
                     pod.requests = requests;
                     emit(pod);
                   })
      .Run(/*peers_only=*/false);
}

Occupancy ModelOccupancy(const SchedulingSpec& spec, const std::vector<GeneratedNode>& nodes) {
  Occupancy out;
  out.pods_on_node.assign(nodes.size(), 0);
  out.used.assign(nodes.size(), Resources());
  out.peers.resize(static_cast<std::size_t>(std::max(0, spec.pending_pods)));
  out.placed =
      Placement(spec, nodes, [&](PodOptions&, int node, int pending_of, const Resources& requests) {
        ++out.pods_on_node[node];
        out.used[node].Add(requests);
        if (pending_of >= 0) out.peers[pending_of].push_back(node);
      }).Run(/*peers_only=*/false);
  return out;
}

std::string BindingArgs(const std::string& pod_name, const std::string& pod_namespace,
                        const std::string& pod_uid, const std::string& node) {
  return R"({"PodName":")" + pod_name + R"(","PodNamespace":")" + pod_namespace +
         R"(","PodUID":")" + pod_uid + R"(","Node":")" + node + R"("})";
}

std::vector<BindTarget> GenerateBindTargets(std::uint64_t seed, const std::string& tag, int count) {
  std::vector<BindTarget> out;
  out.reserve(static_cast<std::size_t>(std::max(0, count)));
  for (int i = 0; i < count; ++i) {
    PodOptions o;
    o.seed = seed;
    o.index = 20000000 + i;
    o.team = TeamOf(i);
    o.job.clear();  // no owner: no group
    o.name = "bind-" + tag + "-" + std::to_string(i);
    o.containers = {Container("worker", {{"cpu", "250m", 250}, {"memory", "1Gi", kGi}})};
    o.resource_version = "__RV__";
    BindTarget t;
    t.json = GeneratePod(o);
    t.name = o.name;
    t.namespace_name = "hyperpod-ns-" + o.team;
    t.uid = UidOf(t.json);
    out.push_back(std::move(t));
  }
  return out;
}

namespace {

struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
};

UserInfo TeamMember(const std::string& team, int n) {
  return {"user" + std::to_string(n) + "@" + team + ".example.com",
          "aws-iam:" + std::to_string(n),
          {"hyperpod-ns-" + team + "-namespace-level-group", "system:authenticated"}};
}

UserInfo ServiceAccount(const std::string& ns, const std::string& name) {
  return {"system:serviceaccount:" + ns + ":" + name,
          "sa-" + ns + "-" + name,
          {"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}};
}

std::string JsonStringArray(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"' + values[i] + '"';
  }
  return out + "]";
}

// What one review asks the webhook to admit.
struct ReviewPlan {
  std::string kind = "Pod";  // or "Job"
  std::string ns;
  UserInfo user;
  std::string queue;                   // empty: no queue-name label
  std::string priority;                // empty: no priority-class label
  std::string instance_type_selector;  // empty: none
  bool job_labels = false;  // a pod of a Job: batch.kubernetes.io/job-name, controller-uid
  std::string manager = "kubectl-client-side-apply";
};

std::string PodSpecJson(std::mt19937_64& rng, const ReviewPlan& r, const std::string& sa) {
  const std::string token_volume = "kube-api-access-" + Hex(rng, 5);
  std::string j =
      R"({"volumes":[{"name":")" + token_volume +
      R"(","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}},{"name":"dshm","emptyDir":{"medium":"Memory","sizeLimit":"64Gi"}}],)";
  j +=
      R"("containers":[{"name":"pytorch","image":"763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:2.3.0-gpu-py311-cu121-ubuntu20.04-sagemaker","command":["torchrun"],"args":["--nnodes=8","--nproc_per_node=8","train.py","--config","/config/llama3-70b.yaml"],)";
  j +=
      R"("env":[{"name":"NCCL_DEBUG","value":"WARN"},{"name":"FI_PROVIDER","value":"efa"},{"name":"FI_EFA_USE_DEVICE_RDMA","value":"1"},{"name":"NCCL_SOCKET_IFNAME","value":"^lo,docker"},{"name":"MASTER_ADDR","value":"llama-0.llama"},{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}}],)";
  j +=
      R"("resources":{"limits":{"nvidia.com/gpu":"8","vpc.amazonaws.com/efa":"32"},"requests":{"cpu":"90","memory":"900Gi","nvidia.com/gpu":"8","vpc.amazonaws.com/efa":"32"}},)";
  j +=
      R"("volumeMounts":[{"name":"dshm","mountPath":"/dev/shm"},{"name":")" + token_volume +
      R"(","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],)";
  j += R"("restartPolicy":"Never","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst",)";
  if (!r.instance_type_selector.empty()) {
    j += R"("nodeSelector":{"node.kubernetes.io/instance-type":")" + r.instance_type_selector +
         R"("},)";
  }
  j += R"("serviceAccountName":")" + sa + R"(","serviceAccount":")" + sa +
       R"(","securityContext":{},"schedulerName":"default-scheduler",)";
  j +=
      R"("tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}],)";
  j += R"("priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"})";
  return j;
}

std::string ReviewJson(std::mt19937_64& rng, const ReviewPlan& r, int index, std::string& uid_out) {
  const bool job = r.kind == "Job";
  const std::string name = (job ? "llama-" : "llama-worker-") + std::to_string(index);
  const std::string uid = Uuid(rng);
  uid_out = uid;
  std::string labels;
  auto add = [&labels](const std::string& k, const std::string& v) {
    labels += labels.empty() ? "" : ",";
    labels += '"' + k + R"(":")" + v + '"';
  };
  const std::string controller_uid = Uuid(rng);
  add("app.kubernetes.io/name", "llama-train");
  if (r.job_labels) {
    add("batch.kubernetes.io/controller-uid", controller_uid);
    add("batch.kubernetes.io/job-name", "llama-" + std::to_string(index / 8));
    add("controller-uid", controller_uid);
    add("job-name", "llama-" + std::to_string(index / 8));
  }
  if (!r.queue.empty()) add("kueue.x-k8s.io/queue-name", r.queue);
  if (!r.priority.empty()) add("kueue.x-k8s.io/priority-class", r.priority);

  std::string object = R"({"kind":")" + r.kind + R"(","apiVersion":")" + (job ? "batch/v1" : "v1") +
                       R"(","metadata":{)";
  if (r.job_labels) {
    object += R"("generateName":"llama-)" + std::to_string(index / 8) + R"(-",)";
  } else {
    object += R"("name":")" + name + R"(",)";
  }
  object += R"("namespace":")" + r.ns + R"(","creationTimestamp":null,"labels":{)" + labels + "}";
  if (r.job_labels) {
    object += R"(,"annotations":{"batch.kubernetes.io/job-completion-index":")" +
              std::to_string(index % 8) +
              R"("},"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":"llama-)" +
              std::to_string(index / 8) + R"(","uid":")" + controller_uid +
              R"(","controller":true,"blockOwnerDeletion":true}])";
  }
  object +=
      R"(,"managedFields":[{"manager":")" + r.manager + R"(","operation":"Update","apiVersion":")" +
      (job ? "batch/v1" : "v1") +
      R"(","time":"2026-11-20T10:04:11Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app.kubernetes.io/name":{}}},"f:spec":{)";
  object +=
      job ? R"("f:backoffLimit":{},"f:completions":{},"f:parallelism":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"pytorch\"}":{".":{},"f:image":{},"f:name":{},"f:resources":{}}}}}}}}]},)"
          : R"("f:containers":{"k:{\"name\":\"pytorch\"}":{".":{},"f:image":{},"f:name":{},"f:resources":{}}},"f:restartPolicy":{}}}}]},)";
  const std::string sa = "default";
  if (job) {
    object +=
        R"("spec":{"parallelism":8,"completions":8,"backoffLimit":0,"completionMode":"Indexed","suspend":false,"podReplacementPolicy":"TerminatingOrFailed","manualSelector":false,)";
    object +=
        R"("selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":")" + controller_uid +
        R"("}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app.kubernetes.io/name":"llama-train","batch.kubernetes.io/controller-uid":")" +
        controller_uid + R"("}},"spec":)" + PodSpecJson(rng, r, sa) + "}},";
    object += R"("status":{}})";
  } else {
    object += R"("spec":)" + PodSpecJson(rng, r, sa) + R"(,"status":{}})";
  }

  const std::string group = job ? "batch" : "";
  const std::string resource = job ? "jobs" : "pods";
  std::string j =
      R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":")" + uid +
      "\"";
  const std::string gvk =
      R"({"group":")" + group + R"(","version":"v1","kind":")" + r.kind + R"("})";
  const std::string gvr =
      R"({"group":")" + group + R"(","version":"v1","resource":")" + resource + R"("})";
  j += R"(,"kind":)" + gvk + R"(,"resource":)" + gvr + R"(,"requestKind":)" + gvk +
       R"(,"requestResource":)" + gvr;
  if (!r.job_labels) j += R"(,"name":")" + name + "\"";
  j += R"(,"namespace":")" + r.ns + R"(","operation":"CREATE","userInfo":{"username":")" +
       r.user.username + R"(","uid":")" + r.user.uid + R"(","groups":)" +
       JsonStringArray(r.user.groups);
  if (r.user.username.rfind("system:serviceaccount:", 0) == 0) {
    j += R"(,"extra":{"authentication.kubernetes.io/credential-id":["JTI=)" + Uuid(rng) + R"("]})";
  }
  j +=
      R"(},"object":)" + object +
      R"(,"oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":")" +
      r.manager + R"("}}})";
  return j;
}

constexpr std::string_view kTeamPrefix = "hyperpod-ns-";
constexpr std::string_view kServiceAccountPrefix = "system:serviceaccount:";

std::string Base64Encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::size_t left = in.size() - i;
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (left > 1) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (left > 2) v |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += left > 1 ? kAlphabet[(v >> 6) & 63] : '=';
    out += left > 2 ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// What the webhook must answer for `r`: DESIGN §3's rules 1-4 applied to the plan (not to the
// review's bytes, and not by the webhook's code), with the defaults of DESIGN §1 and §3 that
// hyperplace starts with: team T owns namespace hyperpod-ns-T, LocalQueue hyperpod-ns-T-localqueue
// and group hyperpod-ns-T-namespace-level-group; the classes are inference (15), training (10)
// and fine-tuning (5) priority, the lowest is added; kube-system's service accounts are trusted;
// Pods that name the default scheduler (every generated one) go to hyperplace's (rule 5).
void ExpectAdmission(const ReviewPlan& r, AdmissionCase& c) {
  c.expect_allowed = true;
  if (!r.ns.starts_with(kTeamPrefix)) return;  // not a team namespace: untouched
  const std::string team = r.ns.substr(kTeamPrefix.size());
  const std::string group = r.ns + "-namespace-level-group";
  auto deny = [&](std::vector<std::string> message_has) {
    c.expect_allowed = false;
    c.expect_message_has = std::move(message_has);
  };

  // 1. Team scope.
  bool in_scope = false;
  if (r.user.username.starts_with(kServiceAccountPrefix)) {
    const std::string rest = r.user.username.substr(kServiceAccountPrefix.size());
    const std::string sa_namespace = rest.substr(0, rest.find(':'));
    in_scope = sa_namespace == r.ns || sa_namespace == "kube-system";
  } else {
    in_scope = std::find(r.user.groups.begin(), r.user.groups.end(), group) != r.user.groups.end();
  }
  if (!in_scope) return deny({r.user.username, team, group});

  // 2. Queue.
  const std::string queue = r.ns + "-localqueue";
  if (!r.queue.empty() && r.queue != queue) return deny({r.queue, queue});

  // 3. Priority.
  static const std::vector<std::string> kClasses = {"inference-priority", "training-priority",
                                                    "fine-tuning-priority"};
  if (!r.priority.empty() &&
      std::find(kClasses.begin(), kClasses.end(), r.priority) == kClasses.end()) {
    std::vector<std::string> has = {r.priority};
    has.insert(has.end(), kClasses.begin(), kClasses.end());
    return deny(std::move(has));
  }

  // The object always has a labels object (app.kubernetes.io/name), so each missing label is one
  // "add" into it.
  std::vector<PatchOp> ops;
  auto quoted = [](const std::string& v) { return '"' + v + '"'; };
  if (r.queue.empty()) {
    ops.push_back({"add", "/metadata/labels/kueue.x-k8s.io~1queue-name", quoted(queue)});
  }
  if (r.priority.empty()) {
    ops.push_back(
        {"add", "/metadata/labels/kueue.x-k8s.io~1priority-class", quoted("fine-tuning-priority")});
  }
  // 4. Instance type prefix.
  if (!r.instance_type_selector.empty() && !r.instance_type_selector.starts_with("ml.")) {
    const std::string spec = r.kind == "Job" ? "/spec/template/spec" : "/spec";
    ops.push_back({"replace", spec + "/nodeSelector/node.kubernetes.io~1instance-type",
                   quoted("ml." + r.instance_type_selector)});
    ++c.expect_warnings;
  }
  // 5. Scheduler name, Pods only: the generated ones all name default-scheduler.
  if (r.kind == "Pod") ops.push_back({"add", "/spec/schedulerName", quoted("hyperplace")});
  if (ops.empty()) return;
  c.expect_patch_json = "[";
  for (const PatchOp& op : ops) {
    if (c.expect_patch_json.size() > 1) c.expect_patch_json += ',';
    c.expect_patch_json +=
        R"({"op":")" + op.op + R"(","path":")" + op.path + R"(","value":)" + op.value + "}";
  }
  c.expect_patch_json += ']';
  c.expect_patch_base64 = Base64Encode(c.expect_patch_json);
  std::sort(ops.begin(), ops.end());
  c.expect_patch = std::move(ops);
}

}  // namespace

std::vector<AdmissionCase> GenerateAdmissionReviews(std::uint64_t seed, int count) {
  static const char* kTeams[] = {"team-a", "team-b", "team-c"};
  std::vector<AdmissionCase> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    std::mt19937_64 rng(seed * 15485863 + static_cast<std::uint64_t>(i));
    const std::string team = kTeams[i % 3];
    const std::string other = kTeams[(i + 1) % 3];
    const std::string ns = "hyperpod-ns-" + team;
    const std::string queue = ns + "-localqueue";
    ReviewPlan r;
    r.ns = ns;
    AdmissionCase c;
    switch (i % 20) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
        // The Job controller creating the pods of an admitted (already labelled) Job.
        r.user = ServiceAccount("kube-system", "job-controller");
        r.queue = queue;
        r.priority = "training-priority";
        r.job_labels = true;
        r.manager = "kube-controller-manager";
        c.what = "job-controller pod, labelled";
        break;
      case 6:
      case 7:
      case 8:
      case 9:
      case 10:
        r.kind = "Job";
        r.user = TeamMember(team, i);
        c.what = "team member's job, labels added";
        break;
      case 11:
      case 12:
        r.user = TeamMember(team, i);
        r.instance_type_selector = "p5.48xlarge";
        r.queue = queue;
        c.what = "team member's pod, instance type without ml.";
        break;
      case 13:
      case 14:
        r.kind = "Job";
        r.user = TeamMember(team, i);
        r.queue = queue;
        r.priority = "inference-priority";
        c.what = "team member's job, fully labelled";
        break;
      case 15:
        r.user = ServiceAccount(ns, "default");
        c.what = "team service account's pod";
        break;
      case 16:
        r.kind = "Job";
        r.user = TeamMember(other, i);
        c.what = "deny: user of another team";
        break;
      case 17:
        r.kind = "Job";
        r.user = TeamMember(team, i);
        r.queue = "hyperpod-ns-" + other + "-localqueue";
        c.what = "deny: another team's queue";
        break;
      case 18:
        r.user = TeamMember(team, i);
        r.priority = "urgent-priority";
        c.what = "deny: unknown priority class";
        break;
      default:
        r.ns = "default";
        r.user = TeamMember(team, i);
        c.what = "non-team namespace, untouched";
        break;
    }
    c.kind = r.kind;
    c.body = ReviewJson(rng, r, i, c.uid);
    ExpectAdmission(r, c);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace hyperplace::bench
