// Runs the scoring core over builder-made nodes and pods, as the extender would.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "scoring/facts.h"
#include "scoring/filter.h"
#include "scoring/score.h"
#include "scoring/testing/builders.h"

namespace hyperplace::scoring::testing {

class Harness {
 public:
  explicit Harness(Policy policy = DefaultPolicy()) : policy_(std::move(policy)) {}

  Policy& policy() { return policy_; }

  // Adds a node with `pods` pods already occupying it, whose effective requests sum to `used`.
  Harness& AddNode(Node node, int pods = 0,
                   std::initializer_list<std::pair<std::string_view, std::int64_t>> used = {}) {
    nodes_.push_back(std::move(node));
    pods_.push_back(pods);
    auto& u = used_.emplace_back();
    for (auto [name, amount] : used) u[std::string(name)] += amount;
    return *this;
  }
  // Places one pod of the scheduled pod's group on the named node (which must have been added).
  Harness& AddPeer(std::string_view node_name) {
    peer_names_.emplace_back(node_name);
    return *this;
  }

  // Filter verdicts by node name.
  std::map<std::string, Reason> Filter(const Pod& pod) {
    Prepare(pod);
    std::vector<Reason> out(candidates_.size());
    scoring::Filter(MakeCycle(), policy_, out);
    std::map<std::string, Reason> by_name;
    for (std::size_t i = 0; i < out.size(); ++i) by_name[std::string(nodes_[i].name)] = out[i];
    return by_name;
  }

  // Scores 0..10 by node name.
  std::map<std::string, int> Score(const Pod& pod) {
    Prepare(pod);
    std::vector<std::int32_t> out(candidates_.size());
    scoring::Score(MakeCycle(), policy_, out);
    std::map<std::string, int> by_name;
    for (std::size_t i = 0; i < out.size(); ++i) by_name[std::string(nodes_[i].name)] = out[i];
    return by_name;
  }

  // One component's milli-scores by node name; empty when the component does not apply.
  std::map<std::string, int> Topology(const Pod& pod) {
    Prepare(pod);
    std::vector<std::int32_t> out(candidates_.size());
    std::map<std::string, int> by_name;
    if (!TopologyScores(MakeCycle(), policy_, out)) return by_name;
    for (std::size_t i = 0; i < out.size(); ++i) by_name[std::string(nodes_[i].name)] = out[i];
    return by_name;
  }

  // The cycle of the last Filter/Score/Topology call (valid until the next one).
  Cycle LastCycle() const { return MakeCycle(); }

 private:
  void Prepare(const Pod& pod) {
    domains_ = DomainTable();
    facts_.clear();
    candidates_.clear();
    peers_.clear();
    for (const Node& n : nodes_) facts_.push_back(DeriveNodeFacts(n, policy_, domains_));
    for (const NodeFacts& f : facts_) candidates_.push_back(&f);
    for (const std::string& name : peer_names_) {
      for (const NodeFacts& f : facts_) {
        if (f.node->name == name) peers_.push_back(&f);
      }
    }
    pod_facts_ = DerivePodFacts(pod, policy_);
    requests_.clear();
    for (const ResourceAmount& r : pod.requests) {
      if (r.amount > 0) requests_.push_back(r);
    }
    allocatable_.clear();
    free_.clear();
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      for (const ResourceAmount& r : requests_) {
        const std::int64_t alloc = AmountOf(nodes_[i].allocatable, r.name);
        auto used = used_[i].find(std::string(r.name));
        allocatable_.push_back(alloc);
        free_.push_back(alloc - (used == used_[i].end() ? 0 : used->second));
      }
    }
  }

  Cycle MakeCycle() const {
    Cycle c;
    c.pod = &pod_facts_;
    c.candidates = candidates_;
    c.pods_on_node = pods_;
    c.peers = peers_;
    c.requests = requests_;
    c.allocatable = allocatable_;
    c.free = free_;
    return c;
  }

  std::vector<std::map<std::string, std::int64_t>> used_;
  ResourceList requests_;
  std::vector<std::int64_t> allocatable_, free_;
  Policy policy_;
  std::deque<Node> nodes_;
  std::vector<std::int32_t> pods_;
  std::vector<std::string> peer_names_;
  DomainTable domains_;
  std::deque<NodeFacts> facts_;
  std::vector<const NodeFacts*> candidates_;
  std::vector<const NodeFacts*> peers_;
  PodFacts pod_facts_;
};

}  // namespace hyperplace::scoring::testing
