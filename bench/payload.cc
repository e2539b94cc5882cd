#include "bench/payload.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string_view>

namespace hyperplace::bench {
namespace {

constexpr const char* kMlTypes[] = {"ml.p5.48xlarge", "ml.p4d.24xlarge", "ml.g5.48xlarge",
                                    "ml.g5.8xlarge", "ml.trn1.32xlarge"};
constexpr const char* kPlainTypes[] = {"m5.large", "c5.2xlarge"};

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
    n.instance_type = plain ? kPlainTypes[i % 2] : kMlTypes[(rack / 3) % 5];
    const bool unhealthy = uniform(rng) < spec.unhealthy_fraction;
    const bool tainted = !unhealthy && uniform(rng) < spec.tainted_fraction;
    const char* health = unhealthy ? "UnschedulablePendingReplacement" : "Schedulable";
    const char* deep = tainted ? "InProgress" : (uniform(rng) < 0.5 ? "Passed" : "Passed");
    const bool four_layers = n.instance_type == "ml.p5.48xlarge";
    n.ml_type = !plain;
    n.unhealthy = unhealthy;
    n.health_taint = tainted;
    n.layers = four_layers ? 4 : 3;
    n.layer = {1000 + top, 2000 + spine, 30000 + rack, four_layers ? 400000 + i / 4 : 0};
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
         R"(","sagemaker.amazonaws.com/node-health-status":")" + health +
         R"(","sagemaker.amazonaws.com/deep-health-check-status":")" + deep + R"(",)";
    j +=
        R"("topology.k8s.aws/zone-id":"usw2-az1","topology.kubernetes.io/region":"us-west-2","topology.kubernetes.io/zone":"us-west-2a",)";
    j +=
        R"("nvidia.com/gpu.count":"8","nvidia.com/gpu.product":"NVIDIA-H100-80GB-HBM3","vpc.amazonaws.com/efa.present":"true",)";
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
    const char* pods = n.instance_type == "ml.g5.8xlarge" ? "29" : "49";
    n.max_pods = std::atoi(pods);
    j +=
        R"(},"status":{"capacity":{"cpu":"192","ephemeral-storage":"1048576000Ki","hugepages-1Gi":"0","memory":"2097152000Ki","nvidia.com/gpu":"8","pods":")";
    j += pods;
    j +=
        R"(","vpc.amazonaws.com/efa":"32"},"allocatable":{"cpu":"191450m","ephemeral-storage":"965895780Ki","memory":"2044000000Ki","nvidia.com/gpu":"8","pods":")";
    j += pods;
    j += R"(","vpc.amazonaws.com/efa":"32"},"conditions":[)";
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
  const std::string ns = "hyperpod-ns-" + o.team;
  const std::string name = o.name.empty() ? o.job + "-worker-" + std::to_string(o.index) : o.name;
  const bool grouped = o.group_size > 0 && !o.job.empty();
  std::string j;
  j.reserve(2600);
  j += R"({"metadata":{"name":")" + name + R"(","namespace":")" + ns + R"(","uid":")" + Uuid(rng) +
       R"(","resourceVersion":")" + o.resource_version +
       R"(","creationTimestamp":"2026-11-20T10:04:11Z","labels":{)";
  j += R"("kueue.x-k8s.io/queue-name":")" + ns +
       R"(-localqueue","kueue.x-k8s.io/priority-class":"training-priority")";
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
  const std::string owner_uid = Hex(rng, 8);
  if (!o.job.empty()) {
    j += R"(,"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":")" + o.job +
         R"(","uid":")" + owner_uid + R"(","controller":true,"blockOwnerDeletion":true}])";
  }
  j += "},";
  j +=
      R"("spec":{"containers":[{"name":"trainer","image":"123456789012.dkr.ecr.us-west-2.amazonaws.com/llama:2.1","resources":{"limits":{"nvidia.com/gpu":"8"},"requests":{"cpu":"90","memory":"900Gi","nvidia.com/gpu":"8"}}}],)";
  j += R"("restartPolicy":"Never","schedulerName":"default-scheduler",)";
  if (!o.node_name.empty()) j += R"("nodeName":")" + o.node_name + R"(",)";
  j +=
      R"("tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}],"priority":0},)";
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
  j +=
      R"("containerStatuses":[{"name":"trainer","state":{"running":{"startedAt":"2026-11-20T10:05:03Z"}},"lastState":{},"ready":true,"restartCount":0,"image":"123456789012.dkr.ecr.us-west-2.amazonaws.com/llama:2.1","imageID":"123456789012.dkr.ecr.us-west-2.amazonaws.com/llama@sha256:)" +
      Hex(rng, 64) + R"(","containerID":"containerd://)" + Hex(rng, 64) +
      R"(","started":true}],"qosClass":"Burstable"}})";
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

// Pending pod `i`'s gang: kind by i % 20 (see SchedulingSpec), sizes 4, 8, 16, 32 in turn.
struct PendingPlan {
  TopologyKind topology = TopologyKind::kNone;
  int group_size = 0;
  int placed_peers = 0;
  int rack = 0;  // where the placed peers run
};

PendingPlan PlanPending(const SchedulingSpec& spec, int i, int nodes) {
  PendingPlan p;
  const int kind = i % 20;
  static constexpr int kSizes[] = {4, 8, 16, 32};
  if (kind < 17) p.group_size = kSizes[(i / 20 + kind) % 4];
  if (kind < 14) {
    p.topology = TopologyKind::kRequired;
  } else if (kind < 17) {
    p.topology = TopologyKind::kPreferred;
  }
  const int racks = std::max(1, nodes / 16);
  if (kind < 8) {
    p.placed_peers = std::min(p.group_size / 2, 8);
    std::mt19937_64 rng(spec.seed * 104729 + static_cast<std::uint64_t>(i));
    p.rack = static_cast<int>(rng() % static_cast<std::uint64_t>(racks));
  }
  return p;
}

std::string PendingTeam(int i) { return "team-" + std::string(1, static_cast<char>('a' + i % 3)); }
std::string PendingJob(int i) { return "pending-" + std::to_string(i); }

}  // namespace

std::vector<PendingPod> GeneratePendingPods(const SchedulingSpec& spec,
                                            const std::vector<GeneratedNode>& nodes) {
  std::vector<PendingPod> out;
  const int n = static_cast<int>(nodes.size());
  for (int i = 0; i < spec.pending_pods; ++i) {
    const PendingPlan plan = PlanPending(spec, i, n);
    PodOptions o;
    o.seed = spec.seed;
    o.index = 1000000 + i;
    o.team = PendingTeam(i);
    o.group_size = plan.group_size;
    o.topology = plan.topology;
    if (plan.group_size > 0) {
      o.job = PendingJob(i);
      o.name = o.job + "-worker-" + std::to_string(plan.placed_peers);
    } else {
      o.job.clear();  // a bare pod: no owner, so no group
      o.name = "notebook-" + std::to_string(i);
    }
    PendingPod pod;
    pod.json = GeneratePod(o);
    pod.name = o.name;
    pod.namespace_name = "hyperpod-ns-" + o.team;
    const std::string key = R"("uid":")";
    const std::size_t at = pod.json.find(key) + key.size();
    pod.uid = pod.json.substr(at, pod.json.find('"', at) - at);
    pod.topology = plan.topology;
    pod.placed_peers = plan.placed_peers;
    pod.group_size = plan.group_size;
    out.push_back(std::move(pod));
  }
  return out;
}

namespace {

// The placement behind ForEachPlacedPod and ModelOccupancy: calls `place(options, node)` once per
// placed pod, in a fixed order, with the pod's options (without node_name). `pending_of` tells
// which pending pod's gang a pod belongs to (-1: a background gang). Returns how many it placed.
int PlacePods(const SchedulingSpec& spec, const std::vector<GeneratedNode>& nodes,
              const std::function<void(PodOptions&, int node, int pending_of)>& place) {
  const int n = static_cast<int>(nodes.size());
  if (n == 0) return 0;
  std::vector<int> used(nodes.size(), 0);
  auto cap = [&](int node) { return std::max(0, nodes[node].max_pods - 4); };
  int emitted = 0;
  auto put = [&](PodOptions& o, int node, int pending_of) {
    ++used[node];
    ++emitted;
    place(o, node, pending_of);
  };
  // Peers of the pending gangs: in the rack the plan chose, on its first nodes with room.
  for (int i = 0; i < spec.pending_pods && emitted < spec.total_pods; ++i) {
    const PendingPlan plan = PlanPending(spec, i, n);
    for (int k = 0; k < plan.placed_peers && emitted < spec.total_pods; ++k) {
      int node = -1;
      for (int m = 0; m < 16 && node < 0; ++m) {
        const int candidate = (plan.rack * 16 + k + m) % n;
        if (used[candidate] < cap(candidate)) node = candidate;
      }
      if (node < 0) break;
      PodOptions o;
      o.seed = spec.seed;
      o.index = 2000000 + i * 64 + k;
      o.team = PendingTeam(i);
      o.job = PendingJob(i);
      o.name = o.job + "-worker-" + std::to_string(k);
      o.group_size = plan.group_size;
      o.topology = plan.topology;
      put(o, node, i);
    }
  }
  // Background gangs of 8, each on the next 8 nodes (round robin) that have room.
  int cursor = 0, job = 0;
  while (emitted < spec.total_pods) {
    PodOptions o;
    o.seed = spec.seed;
    o.team = "team-" + std::string(1, static_cast<char>('a' + job % 3));
    o.job = "bg-" + std::to_string(job);
    o.group_size = 8;
    o.topology = job % 2 == 0 ? TopologyKind::kRequired : TopologyKind::kNone;
    for (int k = 0; k < 8 && emitted < spec.total_pods; ++k) {
      int tried = 0;
      while (used[cursor] >= cap(cursor) && tried < n) {
        cursor = (cursor + 1) % n;
        ++tried;
      }
      if (tried == n) return emitted;  // every node is full
      o.index = job * 8 + k;
      o.name = o.job + "-worker-" + std::to_string(k);
      put(o, cursor, -1);
      cursor = (cursor + 1) % n;
    }
    ++job;
  }
  return emitted;
}

}  // namespace

int ForEachPlacedPod(const SchedulingSpec& spec, const std::vector<GeneratedNode>& nodes,
                     const std::function<void(const PlacedPod&)>& emit) {
  return PlacePods(spec, nodes, [&](PodOptions& o, int node, int) {
    o.node_name = nodes[node].name;
    o.resource_version = "__RV__";
    PlacedPod pod;
    pod.name = o.name;
    pod.namespace_name = "hyperpod-ns-" + o.team;
    pod.node = node;
    pod.json = GeneratePod(o);
    emit(pod);
  });
}

Occupancy ModelOccupancy(const SchedulingSpec& spec, const std::vector<GeneratedNode>& nodes) {
  Occupancy out;
  out.pods_on_node.assign(nodes.size(), 0);
  out.peers.resize(static_cast<std::size_t>(std::max(0, spec.pending_pods)));
  out.placed = PlacePods(spec, nodes, [&](PodOptions&, int node, int pending_of) {
    ++out.pods_on_node[node];
    if (pending_of >= 0) out.peers[pending_of].push_back(node);
  });
  return out;
}

std::string BindingArgs(const std::string& pod_name, const std::string& pod_namespace,
                        const std::string& pod_uid, const std::string& node) {
  return R"({"PodName":")" + pod_name + R"(","PodNamespace":")" + pod_namespace +
         R"(","PodUID":")" + pod_uid + R"(","Node":")" + node + R"("})";
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
// and fine-tuning (5) priority, the lowest is added; kube-system's service accounts are trusted.
// Rule 5 (schedulerName) is not expected: hyperplace does not apply it yet; when it does, its
// "replace" of /spec/schedulerName (Pods only) belongs here.
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
