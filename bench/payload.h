// Deterministic, realistic kube-scheduler payloads for benchmarks and load tests.
//
// Nodes look like HyperPod EKS nodes (≈25 labels, the health taint on some, allocatable pods, a
// status with conditions, addresses and ~20 images: ≈8.5 KB each, as the scheduler sends them).
// The cluster is a network tree: 4 top (layer-1) domains, 8 spines each, racks of 16 nodes.
// Everything is derived from the seed, so two runs with one seed produce identical bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hyperplace::bench {

struct ClusterSpec {
  int nodes = 1000;
  std::uint64_t seed = 1;
  double unhealthy_fraction = 0.02;  // health label not Schedulable
  double tainted_fraction = 0.01;    // deep health check in progress, with the health taint
  double non_ml_fraction = 0.02;     // plain EC2 instance types
  int images_per_node = 20;
};

struct GeneratedNode {
  std::string name;
  std::string instance_type;
  std::string json;  // the Node object as the API server serializes it
};

std::vector<GeneratedNode> GenerateNodes(const ClusterSpec& spec);

// A pending pod of a training job: team namespace, queue and priority labels, a pod group of
// `group_size` with required or preferred topology at layer 3 (when `topology` is set).
std::string GeneratePodJson(std::uint64_t seed, int index, int group_size, bool topology);

// ExtenderArgs bodies, byte-for-byte in Go's encoding/json shape.
std::string FullNodesArgs(const std::string& pod_json, const std::vector<GeneratedNode>& nodes);
std::string NodeNamesArgs(const std::string& pod_json, const std::vector<GeneratedNode>& nodes);

}  // namespace hyperplace::bench
