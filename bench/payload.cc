#include "bench/payload.h"

#include <cstdio>
#include <random>

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
  std::mt19937_64 rng(seed * 7919 + static_cast<std::uint64_t>(index));
  const int team = index % 3;
  const std::string ns = "hyperpod-ns-team-" + std::string(1, static_cast<char>('a' + team));
  const std::string job = "train-" + std::to_string(index / (group_size > 0 ? group_size : 1));
  std::string j;
  j += R"({"metadata":{"name":")" + job + "-worker-" + std::to_string(index) +
       R"(","namespace":")" + ns + R"(","uid":")" + Hex(rng, 8) + "-" + Hex(rng, 4) + "-" +
       Hex(rng, 4) + "-" + Hex(rng, 4) + "-" + Hex(rng, 12) +
       R"(","resourceVersion":"1","creationTimestamp":"2026-11-20T10:04:11Z","labels":{)";
  j += R"("kueue.x-k8s.io/queue-name":")" + ns +
       R"(-localqueue","kueue.x-k8s.io/priority-class":"training-priority")";
  if (group_size > 0) {
    j += R"(,"kueue.x-k8s.io/pod-group-name":")" + job + "\"";
  }
  j += R"(},"annotations":{)";
  if (group_size > 0) {
    j += R"("kueue.x-k8s.io/pod-group-total-count":")" + std::to_string(group_size) + "\"";
    if (topology) {
      j += R"(,"kueue.x-k8s.io/podset-required-topology":"topology.k8s.aws/network-node-layer-3")";
    }
  }
  j += R"(},"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":")" + job +
       R"(","uid":")" + Hex(rng, 8) + R"(","controller":true,"blockOwnerDeletion":true}]},)";
  j +=
      R"("spec":{"containers":[{"name":"trainer","image":"123456789012.dkr.ecr.us-west-2.amazonaws.com/llama:2.1","resources":{"limits":{"nvidia.com/gpu":"8"},"requests":{"cpu":"90","memory":"900Gi","nvidia.com/gpu":"8"}}}],)";
  j +=
      R"("restartPolicy":"Never","schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}],"priority":0},"status":{"phase":"Pending","qosClass":"Burstable"}})";
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

}  // namespace hyperplace::bench
