#include "inspect/topology.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "inspect/source.h"
#include "scoring/testing/builders.h"

namespace hyperplace::inspect {
namespace {

using scoring::testing::DefaultPolicy;
using scoring::testing::LayerKey;
using scoring::testing::NodeBuilder;
using scoring::testing::PodBuilder;

// The fixed cluster of testdata/cluster.json (written like `kubectl get nodes,pods -A -o json`):
//   nn-1000 / nn-2001 / nn-3011 / nn-4011a: i-11, i-12; nn-4011b: i-13, i-14   (p5, 8 GPUs)
//                       nn-3012 / nn-4012a: i-21, i-22, i-23 (health UnschedulablePendingReboot)
//             nn-2002 / nn-3021 / nn-4021a: i-31, i-32 (health taint)
//   nn-1100 / nn-2101 / nn-3111: i-41, i-42, i-43 (g5.12xlarge, 4 GPUs)
//                       nn-3112: i-51, i-52 (trn1, 16 Neuron devices, 32 cores)
//   no layers: ip-10-1-0-7… (c5.large, cordoned)
// Jobs: train-a (4 × 8 GPUs, required layer 3) on i-11..i-14; finetune-b (2 × 4 GPUs, preferred
// layer 3) on i-21 and i-31; eval-c (Job, 3 × 2 GPUs, required layer 3) on i-41, i-42 and one
// pending; neuron-d (owner only) on i-51; done-e (Succeeded, 8 GPUs) on i-22; coredns (no owner).
View FixtureView() {
  std::ifstream in(std::string(HYPERPLACE_INSPECT_TESTDATA) + "/cluster.json");
  std::stringstream text;
  text << in.rdbuf();
  ClusterInput input;
  Status st = AddList(text.str(), input);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(input.nodes.size(), 15u);
  EXPECT_EQ(input.pods.size(), 12u);
  return BuildView(input, DefaultPolicy());
}

const NodeView& NodeNamed(const View& view, std::string_view name) {
  for (const NodeView& n : view.nodes) {
    if (n.name == name) return n;
  }
  ADD_FAILURE() << "no node " << name;
  return view.nodes.front();
}

const JobView* JobNamed(const View& view, std::string_view id) {
  for (const JobView& j : view.jobs) {
    if (j.id == id) return &j;
  }
  return nullptr;
}

std::int64_t FreeOf(const Capacity& c, std::string_view resource) {
  for (const Accelerator& a : c.accelerators) {
    if (a.resource == resource) return a.free;
  }
  return -1;
}

// Every domain's count is the sum of its children's and its own nodes'; the root holds all.
void CheckSums(const View& view) {
  for (const DomainView& d : view.domains) {
    Capacity sum;
    for (std::size_t c : d.children) sum.Add(view.domains[c].capacity);
    for (std::size_t n : d.nodes) sum.Add(view.nodes[n].capacity);
    EXPECT_EQ(sum.nodes, d.capacity.nodes) << d.name;
    EXPECT_EQ(sum.healthy, d.capacity.healthy) << d.name;
    EXPECT_EQ(sum.AcceleratorsFree(), d.capacity.AcceleratorsFree()) << d.name;
    EXPECT_EQ(sum.slots_free, d.capacity.slots_free) << d.name;
    for (std::size_t c : d.children) EXPECT_EQ(view.domains[c].level, d.level + 1);
  }
  EXPECT_EQ(view.domains[0].capacity.nodes, static_cast<int>(view.nodes.size()));
}

TEST(TopologyView, TreeFollowsTheLayersAndSumsAddUp) {
  View view = FixtureView();
  CheckSums(view);
  const DomainView& root = view.domains[0];
  ASSERT_EQ(root.children.size(), 2u);
  EXPECT_EQ(view.domains[root.children[0]].name, "nn-1000");
  EXPECT_EQ(view.domains[root.children[1]].name, "nn-1100");
  // The node without layers sits at the top.
  ASSERT_EQ(root.nodes.size(), 1u);
  EXPECT_EQ(view.nodes[root.nodes[0]].name, "ip-10-1-0-7.us-west-2.compute.internal");
  // nn-1000: 9 nodes, 7 healthy (i-23 unhealthy, i-32 tainted).
  const Capacity& l1 = view.domains[root.children[0]].capacity;
  EXPECT_EQ(l1.nodes, 9);
  EXPECT_EQ(l1.healthy, 7);
  // GPUs free: 72 in all, less train-a 4 × 8 and finetune-b 2 × 4 = 32 (done-e finished).
  EXPECT_EQ(FreeOf(l1, "nvidia.com/gpu"), 32);
}

TEST(TopologyView, UnhealthyAndTaintedNodesCarryTheirReason) {
  View view = FixtureView();
  const NodeView& reboot = NodeNamed(view, "hyperpod-i-000000000023");
  EXPECT_FALSE(reboot.healthy);
  EXPECT_EQ(reboot.problems, std::vector<std::string>{"health UnschedulablePendingReboot"});
  const NodeView& tainted = NodeNamed(view, "hyperpod-i-000000000032");
  EXPECT_FALSE(tainted.healthy);
  EXPECT_EQ(tainted.problems,
            std::vector<std::string>{"taint sagemaker.amazonaws.com/node-health-status="
                                     "Unschedulable:NoSchedule"});
  // A cordoned node is named as such, but its health is the health agent's to say.
  const NodeView& cordoned = NodeNamed(view, "ip-10-1-0-7.us-west-2.compute.internal");
  EXPECT_TRUE(cordoned.healthy);
  EXPECT_EQ(cordoned.problems,
            std::vector<std::string>{"taint node.kubernetes.io/unschedulable:NoSchedule"});
  EXPECT_TRUE(NodeNamed(view, "hyperpod-i-000000000011").problems.empty());
}

TEST(TopologyView, FreeCountsOnlyPodsStillRunning) {
  View view = FixtureView();
  // i-21: finetune-b-0 takes 4 of 8. i-22: done-e-0 (Succeeded) took 8: all free again.
  EXPECT_EQ(FreeOf(NodeNamed(view, "hyperpod-i-000000000021").capacity, "nvidia.com/gpu"), 4);
  EXPECT_EQ(FreeOf(NodeNamed(view, "hyperpod-i-000000000022").capacity, "nvidia.com/gpu"), 8);
  EXPECT_EQ(NodeNamed(view, "hyperpod-i-000000000022").capacity.pods, 0);
  // Neuron devices and cores are counted apart.
  const Capacity& trn = NodeNamed(view, "hyperpod-i-000000000051").capacity;
  EXPECT_EQ(FreeOf(trn, "aws.amazon.com/neuron"), 0);
  EXPECT_EQ(FreeOf(trn, "aws.amazon.com/neuroncore"), 32);
}

TEST(TopologyView, PodSlotsFollowTheInstanceTypeTable) {
  View view = FixtureView();
  // ml.p5.48xlarge: 49 by the table, whatever allocatable says (100); one pod on it.
  const Capacity& p5 = NodeNamed(view, "hyperpod-i-000000000011").capacity;
  EXPECT_EQ(p5.slots_total, 49);
  EXPECT_EQ(p5.slots_free, 48);
  // c5.large lacks the ml. prefix, so the table does not apply: allocatable pods (29).
  const Capacity& c5 = NodeNamed(view, "ip-10-1-0-7.us-west-2.compute.internal").capacity;
  EXPECT_EQ(c5.slots_total, 29);
  EXPECT_EQ(c5.slots_free, 28);
}

TEST(TopologyView, JobsAreTheDesignsGroups) {
  View view = FixtureView();
  std::vector<std::string> ids;
  for (const JobView& j : view.jobs) ids.push_back(j.id);
  // Kueue pod groups, then the Job label, then the owner; coredns has none and done-e finished.
  EXPECT_EQ(ids, (std::vector<std::string>{
                     "hyperpod-ns-team-a/batch.kubernetes.io/job-name=eval-c",
                     "hyperpod-ns-team-a/kueue.x-k8s.io/pod-group-name=train-a",
                     "hyperpod-ns-team-b/kueue.x-k8s.io/pod-group-name=finetune-b",
                     "hyperpod-ns-team-b/owner=uid-job-neuron-d",
                 }));
}

TEST(TopologyView, GangInOneRackMeetsItsRequiredLevel) {
  View view = FixtureView();
  const JobView* job = JobNamed(view, "hyperpod-ns-team-a/kueue.x-k8s.io/pod-group-name=train-a");
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->placed, 4);
  EXPECT_EQ(job->total, 4);
  EXPECT_EQ(job->shared_levels, 3);
  EXPECT_EQ(job->shared_path, (std::vector<std::string>{"nn-1000", "nn-2001", "nn-3011"}));
  EXPECT_EQ(job->spans, (std::vector<int>{1, 1, 1, 2}));
  EXPECT_EQ(job->required, Want::kMet);
  EXPECT_EQ(job->preferred, Want::kNone);
  // A layer-4 domain holds 2 nodes: 2 copies of an 8-GPU pod, not 4.
  EXPECT_FALSE(job->wider_than_needed);
}

TEST(TopologyView, SpreadJobIsFlaggedWithTheTightestDomainThatHoldsIt) {
  View view = FixtureView();
  const JobView* job =
      JobNamed(view, "hyperpod-ns-team-b/kueue.x-k8s.io/pod-group-name=finetune-b");
  ASSERT_NE(job, nullptr);
  // i-21 (nn-2001) and i-31 (nn-2002) share layer 1 only.
  EXPECT_EQ(job->shared_levels, 1);
  EXPECT_EQ(job->spans, (std::vector<int>{1, 2, 2, 2}));
  EXPECT_EQ(job->preferred, Want::kNotMet);
  // Copies of a 4-GPU pod with the job's own GPUs given back: nn-4012a i-21 2 + i-22 2 + i-23
  // (unhealthy) 0 = 4; nn-4021a i-31 2 + i-32 (untolerated taint) 0 = 2; nn-4011a/b 0. Both
  // hold 2; the tightest is nn-4021a.
  EXPECT_TRUE(job->wider_than_needed);
  EXPECT_EQ(job->tighter_level, 3);
  EXPECT_EQ(job->tighter_domain, "nn-4021a");
}

TEST(TopologyView, PendingPodKeepsTheSchedulersMessage) {
  View view = FixtureView();
  const JobView* job = JobNamed(view, "hyperpod-ns-team-a/batch.kubernetes.io/job-name=eval-c");
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->placed, 2);
  EXPECT_EQ(job->pending, 1);
  ASSERT_EQ(job->pods.size(), 3u);
  EXPECT_EQ(job->pods[2].name, "eval-c-2");
  EXPECT_EQ(job->pods[2].node, "");
  EXPECT_NE(job->pods[2].pending_reason.find("outside the topology domain"), std::string::npos);
  EXPECT_EQ(job->pods[0].pending_reason, "");
  EXPECT_EQ(job->required, Want::kMet);  // for the pods placed
  EXPECT_FALSE(job->wider_than_needed);  // not judged while pods wait
}

// Two pods in two racks; whether that is wider than needed depends on the room in one rack.
View TwoRacks(int free_in_rack_a) {
  ClusterInput input;
  for (int i = 0; i < 2; ++i) {
    input.nodes.push_back(NodeBuilder("a" + std::to_string(i))
                              .InstanceType("ml.p5.48xlarge")
                              .Layers({"l1", "l2", "rack-a"})
                              .Gpus(8)
                              .Build());
  }
  input.nodes.push_back(NodeBuilder("b0")
                            .InstanceType("ml.p5.48xlarge")
                            .Layers({"l1", "l2", "rack-b"})
                            .Gpus(8)
                            .Build());
  auto member = [](std::string name, std::string node) {
    return PodInput{PodBuilder("hyperpod-ns-t", name)
                        .Group("g", 2)
                        .PreferredTopology(LayerKey(3))
                        .Request("nvidia.com/gpu", 8)
                        .OnNode(node)
                        .Build(),
                    ""};
  };
  input.pods.push_back(member("p0", "a0"));
  input.pods.push_back(member("p1", "b0"));
  // Something else fills a1 unless rack a is to have room for the second pod.
  if (free_in_rack_a < 2) {
    input.pods.push_back(
        PodInput{PodBuilder("other", "x").Request("nvidia.com/gpu", 8).OnNode("a1").Build(), ""});
  }
  return BuildView(input, DefaultPolicy());
}

TEST(TopologyView, WiderThanNeededOnlyWhenATighterDomainHasRoom) {
  View roomy = TwoRacks(2);
  ASSERT_EQ(roomy.jobs.size(), 1u);
  EXPECT_EQ(roomy.jobs[0].shared_levels, 2);
  EXPECT_TRUE(roomy.jobs[0].wider_than_needed);
  EXPECT_EQ(roomy.jobs[0].tighter_domain, "rack-a");

  View full = TwoRacks(1);
  ASSERT_EQ(full.jobs.size(), 1u);  // the pod filling a1 has no group
  const JobView* job = JobNamed(full, "hyperpod-ns-t/kueue.x-k8s.io/pod-group-name=g");
  ASSERT_NE(job, nullptr);
  EXPECT_FALSE(job->wider_than_needed);
}

// A tighter domain the pods' node selector rules out is no room for them. Whole-node pods (8
// GPUs) in rack-b and rack-c: only rack-a's two nodes could hold both.
TEST(TopologyView, WiderThanNeededRespectsTheNodeSelector) {
  ClusterInput input;
  for (std::string_view name : {"a0", "a1"}) {
    input.nodes.push_back(NodeBuilder(name)
                              .InstanceType("ml.p5.48xlarge")
                              .Label("pool", "other")
                              .Layers({"l1", "l2", "rack-a"})
                              .Gpus(8)
                              .Build());
  }
  for (std::string_view name : {"b0", "c0"}) {
    input.nodes.push_back(NodeBuilder(name)
                              .InstanceType("ml.p5.48xlarge")
                              .Label("pool", "mine")
                              .Layers({"l1", "l2", std::string("rack-") + name[0]})
                              .Gpus(8)
                              .Build());
  }
  auto member = [](std::string name, std::string node, std::string pool) {
    return PodInput{PodBuilder("hyperpod-ns-t", name)
                        .Group("g", 2)
                        .RequiredTopology(LayerKey(2))
                        .NodeSelector("pool", pool)
                        .Request("nvidia.com/gpu", 8)
                        .OnNode(node)
                        .Build(),
                    ""};
  };
  input.pods = {member("p0", "b0", "mine"), member("p1", "c0", "mine")};
  View mine = BuildView(input, DefaultPolicy());
  ASSERT_EQ(mine.jobs.size(), 1u);
  EXPECT_EQ(mine.jobs[0].required, Want::kMet);
  EXPECT_FALSE(mine.jobs[0].wider_than_needed);  // rack-a has room, for other pools only
  // The same pods selecting nothing: rack-a could have held both.
  input.pods = {member("p0", "b0", ""), member("p1", "c0", "")};
  for (PodInput& p : input.pods) p.pod.node_selector = {};
  View any = BuildView(input, DefaultPolicy());
  EXPECT_TRUE(any.jobs[0].wider_than_needed);
  EXPECT_EQ(any.jobs[0].tighter_domain, "rack-a");
}

// A pod bound to a node the lists lack (deleted since): counted as placed, but the job's domain
// is unknown, so its topology is not met and nothing is shared.
TEST(TopologyView, PodOnAMissingNodeLeavesThePlacementUnknown) {
  ClusterInput input;
  input.nodes.push_back(NodeBuilder("a0").InstanceType("ml.p5.48xlarge").Layers({"l1"}).Build());
  for (auto [name, node] : {std::pair{"p0", "a0"}, std::pair{"p1", "gone"}}) {
    input.pods.push_back(PodInput{
        PodBuilder("ns", name).Group("g", 2).RequiredTopology(LayerKey(1)).OnNode(node).Build(),
        ""});
  }
  View view = BuildView(input, DefaultPolicy());
  ASSERT_EQ(view.jobs.size(), 1u);
  EXPECT_EQ(view.jobs[0].placed, 2);
  EXPECT_EQ(view.jobs[0].shared_levels, 0);
  EXPECT_EQ(view.jobs[0].required, Want::kNotMet);
  EXPECT_EQ(view.jobs[0].pods[1].node, "gone");
}

TEST(TopologyView, LevelNamesAreShort) {
  EXPECT_EQ(LevelName("topology.k8s.aws/network-node-layer-3"), "layer 3");
  EXPECT_EQ(LevelName("example.com/rack"), "example.com/rack");
  EXPECT_EQ(LevelName("example.com/rack-"), "example.com/rack-");
}

}  // namespace
}  // namespace hyperplace::inspect
