#include "scoring/model.h"

#include <gtest/gtest.h>

namespace hyperplace::scoring {
namespace {

TEST(LabelsTest, LookupFindsEveryKeyWhateverTheInputOrder) {
  Labels labels({{"b", "2"}, {"a", "1"}, {"c", "3"}});
  EXPECT_EQ(labels.Get("a"), "1");
  EXPECT_EQ(labels.Get("b"), "2");
  EXPECT_EQ(labels.Get("c"), "3");
  EXPECT_FALSE(labels.Get("d").has_value());
  EXPECT_FALSE(labels.Get("").has_value());
}

TEST(LabelsTest, LastDuplicateKeyWinsLikeAJsonObject) {
  Labels labels({{"k", "first"}, {"z", "z"}, {"k", "second"}});
  EXPECT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels.Get("k"), "second");
}

TEST(LabelsTest, EmptyValueIsPresent) {
  Labels labels(std::vector<Labels::Entry>{{"k", ""}});
  EXPECT_TRUE(labels.Has("k"));
  EXPECT_EQ(labels.Get("k"), "");
}

struct TolerationCase {
  const char* name;
  Toleration toleration;
  Taint taint;
  bool tolerates;
};

TEST(TolerationTest, FollowsKubernetesSemantics) {
  const Taint health{"health", "Unschedulable", TaintEffect::kNoSchedule};
  const TolerationCase cases[] = {
      {"equal key value and effect",
       {"health", Toleration::Operator::kEqual, "Unschedulable", TaintEffect::kNoSchedule},
       health,
       true},
      {"equal with other value",
       {"health", Toleration::Operator::kEqual, "Schedulable", TaintEffect::kNoSchedule},
       health,
       false},
      {"exists on the key",
       {"health", Toleration::Operator::kExists, "", std::nullopt},
       health,
       true},
      {"exists with empty key tolerates all",
       {"", Toleration::Operator::kExists, "", std::nullopt},
       health,
       true},
      {"empty effect matches every effect",
       {"health", Toleration::Operator::kEqual, "Unschedulable", std::nullopt},
       health,
       true},
      {"other effect",
       {"health", Toleration::Operator::kEqual, "Unschedulable", TaintEffect::kNoExecute},
       health,
       false},
      {"other key", {"gpu", Toleration::Operator::kExists, "", std::nullopt}, health, false},
      {"equal with empty key is invalid",
       {"", Toleration::Operator::kEqual, "Unschedulable", std::nullopt},
       health,
       false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Tolerates(c.toleration, c.taint), c.tolerates) << c.name;
  }
}

TEST(TaintEffectTest, ParsesTheThreeEffects) {
  EXPECT_EQ(ParseTaintEffect("NoSchedule"), TaintEffect::kNoSchedule);
  EXPECT_EQ(ParseTaintEffect("PreferNoSchedule"), TaintEffect::kPreferNoSchedule);
  EXPECT_EQ(ParseTaintEffect("NoExecute"), TaintEffect::kNoExecute);
  EXPECT_EQ(ParseTaintEffect("noschedule"), TaintEffect::kUnknown);
}

}  // namespace
}  // namespace hyperplace::scoring

namespace hyperplace::scoring {
namespace {

TEST(OwnedCopyTest, NodeCopyOutlivesItsSource) {
  Node copy;
  {
    std::string name = "node-1", key = "k", value = "v", tkey = "t", tvalue = "u";
    Node source;
    source.name = name;
    source.labels = Labels(std::vector<Labels::Entry>{{key, value}});
    source.taints.push_back({tkey, tvalue, TaintEffect::kNoExecute});
    source.allocatable_pods = 7;
    copy = OwnedCopy(source);
    name.assign("xxxxxx");  // the copy must not see changes to the source's bytes
  }
  EXPECT_EQ(copy.name, "node-1");
  EXPECT_EQ(copy.labels.Get("k"), "v");
  ASSERT_EQ(copy.taints.size(), 1u);
  EXPECT_EQ(copy.taints[0].key, "t");
  EXPECT_EQ(copy.taints[0].value, "u");
  EXPECT_EQ(copy.taints[0].effect, TaintEffect::kNoExecute);
  EXPECT_EQ(copy.allocatable_pods, 7);
  EXPECT_NE(copy.storage, nullptr);
}

TEST(OwnedCopyTest, PodCopyKeepsEveryField) {
  Pod copy;
  {
    std::string buf = "ns name uid owner node lk lv ak av sk sv key In v1 v2 tk tv";
    auto w = [&](std::size_t pos, std::size_t len) {
      return std::string_view(buf).substr(pos, len);
    };
    Pod p;
    p.namespace_name = w(0, 2);
    p.name = w(3, 4);
    p.uid = w(8, 3);
    p.controller_uid = w(12, 5);
    p.node_name = w(18, 4);
    p.labels = Labels(std::vector<Labels::Entry>{{w(23, 2), w(26, 2)}});
    p.annotations = Labels(std::vector<Labels::Entry>{{w(29, 2), w(32, 2)}});
    p.node_selector = Labels(std::vector<Labels::Entry>{{w(35, 2), w(38, 2)}});
    p.required_node_terms = {{{w(41, 3), w(45, 2), {w(48, 2), w(51, 2)}}}};
    p.tolerations = {{w(54, 2), Toleration::Operator::kEqual, w(57, 2), TaintEffect::kNoSchedule}};
    copy = OwnedCopy(p);
    buf.assign(buf.size(), '#');
  }
  EXPECT_EQ(copy.namespace_name, "ns");
  EXPECT_EQ(copy.name, "name");
  EXPECT_EQ(copy.uid, "uid");
  EXPECT_EQ(copy.controller_uid, "owner");
  EXPECT_EQ(copy.node_name, "node");
  EXPECT_EQ(copy.labels.Get("lk"), "lv");
  EXPECT_EQ(copy.annotations.Get("ak"), "av");
  EXPECT_EQ(copy.node_selector.Get("sk"), "sv");
  ASSERT_EQ(copy.required_node_terms.size(), 1u);
  EXPECT_EQ(copy.required_node_terms[0][0].key, "key");
  EXPECT_EQ(copy.required_node_terms[0][0].op, "In");
  EXPECT_EQ(copy.required_node_terms[0][0].values, (std::vector<std::string_view>{"v1", "v2"}));
  EXPECT_EQ(copy.tolerations[0].key, "tk");
  EXPECT_EQ(copy.tolerations[0].value, "tv");
}

}  // namespace
}  // namespace hyperplace::scoring
