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
