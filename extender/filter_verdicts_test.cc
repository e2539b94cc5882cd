#include "extender/filter_verdicts.h"

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "extender/extender.h"
#include "net/http_server.h"
#include "scoring/testing/builders.h"

namespace hyperplace::extender {
namespace {

using scoring::Reason;
using scoring::ReasonText;

TEST(RejectionSummaryTest, MostFrequentReasonFirstTiesByText) {
  int rejected[scoring::kReasonCount] = {};
  rejected[static_cast<int>(Reason::kNodeUnhealthy)] = 2;
  rejected[static_cast<int>(Reason::kInsufficientResource)] = 12;
  rejected[static_cast<int>(Reason::kMaxPodsReached)] = 2;
  EXPECT_EQ(RejectionSummary(rejected, 16),
            "0/16 nodes fit: 12 " + std::string(ReasonText(Reason::kInsufficientResource)) +
                ", 2 " + std::string(ReasonText(Reason::kNodeUnhealthy)) + ", 2 " +
                std::string(ReasonText(Reason::kMaxPodsReached)));
}

TEST(FilterVerdictsTest, KeepsTheNewestAndForgetsPodsThatFit) {
  FilterVerdicts verdicts(4);  // generations of 2
  verdicts.Rejected("a", "ra");
  verdicts.Rejected("b", "rb");
  verdicts.Rejected("c", "rc");  // a and b move to the older generation
  EXPECT_EQ(verdicts.Find("a"), "ra");
  verdicts.Rejected("a", "ra2");
  EXPECT_EQ(verdicts.Find("a"), "ra2");
  verdicts.Rejected("d", "rd");  // {c, a} become the older generation; b is forgotten
  EXPECT_EQ(verdicts.Find("b"), std::nullopt);
  EXPECT_EQ(verdicts.Find("c"), "rc");
  verdicts.Fits("c");
  EXPECT_EQ(verdicts.Find("c"), std::nullopt);
  EXPECT_EQ(verdicts.Find("d"), "rd");
}

// Through the handler: a pod no node takes is remembered with the filter's reasons; once it fits
// somewhere it is forgotten.
TEST(FilterVerdictsTest, FilterRecordsPodsLeftWithoutANode) {
  auto state = std::make_shared<MemoryState>(scoring::testing::DefaultPolicy());
  state->UpsertNode(
      scoring::testing::NodeBuilder("n1").InstanceType("ml.p5.48xlarge").Layers({"a"}).Build());
  state->UpsertNode(scoring::testing::NodeBuilder("n2")
                        .InstanceType("ml.p5.48xlarge")
                        .Health("UnschedulablePendingReboot")
                        .Build());
  state->Publish();
  metrics::Registry registry;
  Extender extender(state->policy(), state, registry);
  auto verdicts = std::make_shared<FilterVerdicts>();
  extender.RecordVerdicts(verdicts);
  auto filter = [&](const std::string& names) {
    std::string body = R"({"Pod":{"metadata":{"name":"p","namespace":"hyperpod-ns-a","uid":"u1"}},)"
                       R"("NodeNames":)" +
                       names + "}";
    std::string padded = body + std::string(net::kBodyPadding, '\0');
    net::Response response;
    extender.Filter(std::string_view(padded.data(), body.size()), response);
    return nlohmann::json::parse(response.body);
  };
  filter(R"(["n2","ghost"])");
  EXPECT_EQ(verdicts->Find("u1"), "0/2 nodes fit: 1 " +
                                      std::string(ReasonText(Reason::kNodeUnhealthy)) + ", 1 " +
                                      std::string(ReasonText(Reason::kUnknownNode)));
  EXPECT_EQ(filter(R"(["n1","n2"])")["NodeNames"], nlohmann::json({"n1"}));
  EXPECT_EQ(verdicts->Find("u1"), std::nullopt);
}

}  // namespace
}  // namespace hyperplace::extender
