#include "scoring/resources.h"

#include <gtest/gtest.h>

#include <string>

namespace hyperplace::scoring {
namespace {

constexpr std::int64_t kGi = std::int64_t{1} << 30;

// A PodResourceSpec in the order a pod spec lists it.
class Spec {
 public:
  Spec& Container(ResourceList requests) {
    spec_.containers.push_back(std::move(requests));
    return *this;
  }
  Spec& Init(ResourceList requests) {
    spec_.init_containers.push_back({std::move(requests), false});
    return *this;
  }
  Spec& Sidecar(ResourceList requests) {  // an init container with restartPolicy: Always
    spec_.init_containers.push_back({std::move(requests), true});
    return *this;
  }
  Spec& PodLevel(ResourceList requests) {
    spec_.pod_level = std::move(requests);
    return *this;
  }
  Spec& Overhead(ResourceList overhead) {
    spec_.overhead = std::move(overhead);
    return *this;
  }
  PodResourceSpec Build() const { return spec_; }

 private:
  PodResourceSpec spec_;
};

struct Case {
  const char* name;
  PodResourceSpec spec;
  ResourceList want;
};

TEST(EffectiveRequestsTest, FollowsKubeSchedulerPodRequests) {
  const Case cases[] = {
      {"nothing requested", Spec().Build(), {}},
      {"plain containers are summed",
       Spec()
           .Container({{"cpu", 500}, {"memory", kGi}})
           .Container({{"cpu", 250}, {"nvidia.com/gpu", 8}})
           .Build(),
       // cpu 500 + 250; memory and gpus from one container each
       {{"cpu", 750}, {"memory", kGi}, {"nvidia.com/gpu", 8}}},
      {"a big init container dominates what it names",
       Spec().Container({{"cpu", 1000}, {"memory", kGi}}).Init({{"cpu", 4000}}).Build(),
       // cpu max(1000, 4000); memory only from the container
       {{"cpu", 4000}, {"memory", kGi}}},
      {"the largest plain init container, not their sum",
       Spec().Container({{"cpu", 100}}).Init({{"cpu", 3000}}).Init({{"cpu", 2000}}).Build(),
       {{"cpu", 3000}}},  // max(100, 3000, 2000)
      {"sidecars add to the containers",
       Spec().Container({{"cpu", 1000}}).Sidecar({{"cpu", 100}}).Build(),
       {{"cpu", 1100}}},  // 1000 + 100
      {"a sidecar before a plain init container runs beside it",
       Spec().Container({{"cpu", 1000}}).Sidecar({{"cpu", 100}}).Init({{"cpu", 2000}}).Build(),
       {{"cpu", 2100}}},  // max(1000 + 100, 2000 + 100)
      {"a sidecar after a plain init container does not",
       Spec().Container({{"cpu", 1000}}).Init({{"cpu", 2000}}).Sidecar({{"cpu", 100}}).Build(),
       {{"cpu", 2000}}},  // max(1000 + 100, 2000 + 0)
      {"sidecars and init containers interleaved",
       Spec()
           .Container({{"cpu", 400}, {"memory", 200}})
           .Init({{"cpu", 500}})
           .Sidecar({{"cpu", 300}, {"memory", 100}})
           .Init({{"cpu", 1000}, {"memory", 50}})
           .Sidecar({{"cpu", 200}})
           .Build(),
       // running: cpu 400 + 300 + 200 = 900, memory 200 + 100 = 300
       // init:    cpu max(500 + 0, 1000 + 300) = 1300, memory 50 + 100 = 150
       {{"cpu", 1300}, {"memory", 300}}},
      {"only init containers: a sidecar and the init after it",
       Spec().Sidecar({{"cpu", 100}}).Init({{"cpu", 50}}).Build(),
       {{"cpu", 150}}},  // max(100, 50 + 100)
      {"pod-level cpu and memory replace the containers' sum",
       Spec()
           .Container({{"cpu", 1000}, {"memory", 2 * kGi}, {"nvidia.com/gpu", 8}})
           .PodLevel({{"cpu", 4000}, {"memory", 8 * kGi}, {"nvidia.com/gpu", 1}})
           .Build(),
       // gpus are no pod-level resource: the containers' 8 stay
       {{"cpu", 4000}, {"memory", 8 * kGi}, {"nvidia.com/gpu", 8}}},
      {"pod-level hugepages replace, and a pod-level 0 removes",
       Spec()
           .Container({{"cpu", 1000}, {"hugepages-1Gi", 2 * kGi}})
           .PodLevel({{"cpu", 0}, {"hugepages-1Gi", 4 * kGi}})
           .Build(),
       {{"hugepages-1Gi", 4 * kGi}}},
      {"pod-level requests may be below the containers' sum",
       Spec().Container({{"memory", 8 * kGi}}).PodLevel({{"memory", kGi}}).Build(),
       {{"memory", kGi}}},
      {"overhead is added last, after pod-level requests",
       Spec()
           .Container({{"cpu", 1000}})
           .Init({{"cpu", 3000}})
           .PodLevel({{"cpu", 4000}})
           .Overhead({{"cpu", 250}, {"memory", 128 << 20}})
           .Build(),
       // max(1000, 3000) replaced by 4000, plus 250; memory only from the overhead
       {{"cpu", 4250}, {"memory", 128 << 20}}},
      {"zeros are dropped",
       Spec()
           .Container({{"cpu", 0}, {"memory", kGi}})
           .Container({{"vpc.amazonaws.com/efa", 0}})
           .Init({{"nvidia.com/gpu", 0}})
           .Overhead({{"pods", 0}})
           .Build(),
       {{"memory", kGi}}},
      {"names from every list, sorted and unique",
       Spec()
           .Container({{"memory", 1}, {"z.io/x", 1}})
           .Container({{"a.io/x", 1}, {"memory", 1}})
           .Sidecar({{"cpu", 1}})
           .Init({{"b.io/x", 1}})
           .Overhead({{"a.io/x", 1}})
           .Build(),
       {{"a.io/x", 2}, {"b.io/x", 1}, {"cpu", 1}, {"memory", 2}, {"z.io/x", 1}}},
      {"sums saturate at INT64_MAX",
       Spec()
           .Container({{"cpu", INT64_MAX}})
           .Container({{"cpu", INT64_MAX}})
           .Sidecar({{"memory", INT64_MAX}})
           .Init({{"memory", 1}})
           .Overhead({{"cpu", 1}})
           .Build(),
       {{"cpu", INT64_MAX}, {"memory", INT64_MAX}}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(EffectiveRequests(c.spec), c.want) << c.name;
  }
}

TEST(EffectiveRequestsTest, NamesViewTheInputs) {
  const std::string gpu = "nvidia.com/gpu";
  ResourceList got = EffectiveRequests(Spec().Container({{gpu, 8}}).Build());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].name.data(), gpu.data());
}

TEST(EffectiveRequestsTest, ManyContainersAndResourcesCostNoMoreThanTheirEntries) {
  // 100000 containers of 1 millicore each, and as many sidecars with a resource of their own:
  // container × resource work would be 10^10 steps; by entries it is a few hundred thousand.
  std::vector<std::string> names;
  for (int i = 0; i < 100000; ++i) names.push_back("example.com/r" + std::to_string(i));
  Spec spec;
  for (int i = 0; i < 100000; ++i) spec.Container({{"cpu", 1}});
  for (const std::string& name : names) spec.Sidecar({{name, 1}});
  spec.Init({{"cpu", 1}});
  ResourceList got = EffectiveRequests(spec.Build());
  ASSERT_EQ(got.size(), 100001u);
  EXPECT_EQ(AmountOf(got, "cpu"), 100000);  // max(100000, 1 + 0)
  EXPECT_EQ(AmountOf(got, "example.com/r99999"), 1);
}

}  // namespace
}  // namespace hyperplace::scoring
