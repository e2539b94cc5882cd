#include "inspect/render.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/payload.h"
#include "inspect/source.h"
#include "scoring/testing/builders.h"

namespace hyperplace::inspect {
namespace {

using scoring::testing::DefaultPolicy;
using scoring::testing::LayerKey;
using scoring::testing::NodeBuilder;
using scoring::testing::PodBuilder;

const std::string kTestdata = HYPERPLACE_INSPECT_TESTDATA;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

View FixtureView() {
  ClusterInput input;
  Status st = AddList(ReadFile(kTestdata + "/cluster.json"), input);
  EXPECT_TRUE(st.ok()) << st.message();
  return BuildView(input, DefaultPolicy());
}

// Compares with testdata/golden/NAME; HYPERPLACE_UPDATE_GOLDEN=1 rewrites the file instead.
void ExpectGolden(const std::string& name, const std::string& got) {
  const std::string path = kTestdata + "/golden/" + name;
  if (const char* update = std::getenv("HYPERPLACE_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path, std::ios::binary) << got;
    return;
  }
  EXPECT_EQ(got, ReadFile(path)) << "rendering differs from " << path
                                 << " (HYPERPLACE_UPDATE_GOLDEN=1 rewrites it)";
}

std::size_t Columns(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80 ? 1 : 0;
  return n;
}

void ExpectFitsColumns(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_LE(Columns(line), kTextColumns) << "line " << n << ": " << line;
  }
}

// Well-formed XML in the sense that matters here: every element closed in order, attribute
// values quoted, '<' and '&' in text only as markup or entities. Returns the first problem.
std::string XmlProblem(const std::string& doc) {
  std::vector<std::string> open;
  std::size_t i = 0;
  while (i < doc.size()) {
    if (doc[i] == '&') {
      std::size_t end = doc.find(';', i);
      if (end == std::string::npos || end - i > 10 || end == i + 1) {
        return "bare & at " + std::to_string(i);
      }
      i = end + 1;
      continue;
    }
    if (doc[i] != '<') {
      if (doc[i] == '>') return "bare > at " + std::to_string(i);
      ++i;
      continue;
    }
    if (doc.compare(i, 9, "<!DOCTYPE") == 0) {
      i = doc.find('>', i) + 1;
      continue;
    }
    std::size_t end = i + 1;
    char quote = 0;
    for (; end < doc.size(); ++end) {
      if (quote != 0) {
        if (doc[end] == '<') return "< in an attribute at " + std::to_string(end);
        if (doc[end] == quote) quote = 0;
      } else if (doc[end] == '"' || doc[end] == '\'') {
        quote = doc[end];
      } else if (doc[end] == '>') {
        break;
      } else if (doc[end] == '<') {
        return "< inside a tag at " + std::to_string(end);
      }
    }
    if (end >= doc.size()) return "unterminated tag at " + std::to_string(i);
    std::string tag = doc.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '/') {
      std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">");
      }
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
    }
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

TEST(Render, GoldenText) {
  View view = FixtureView();
  std::string text = RenderText(view, {.tree = true, .jobs = true});
  ExpectGolden("topology.txt", text);
  ExpectFitsColumns(text);
}

TEST(Render, GoldenJson) {
  View view = FixtureView();
  std::string json = RenderJson(view, {.tree = true, .jobs = true});
  ExpectGolden("topology.json", json);
  auto doc = nlohmann::json::parse(json);
  EXPECT_EQ(doc["cluster"]["nodes"], 15);
  EXPECT_EQ(doc["cluster"]["accelerators"]["nvidia.com/gpu"]["free"], 40);
  EXPECT_EQ(doc["jobs"].size(), 4u);
}

TEST(Render, GoldenMermaid) { ExpectGolden("topology.mmd", RenderMermaid(FixtureView(), {})); }

TEST(Render, JsonPartsFollowTheOptions) {
  View view = FixtureView();
  auto tree = nlohmann::json::parse(RenderJson(view, {.tree = true, .jobs = false}));
  EXPECT_TRUE(tree.contains("cluster"));
  EXPECT_FALSE(tree.contains("jobs"));
  auto jobs = nlohmann::json::parse(RenderJson(view, {.tree = false, .jobs = true}));
  EXPECT_FALSE(jobs.contains("cluster"));
  EXPECT_EQ(jobs["jobs"].size(), 4u);
  EXPECT_EQ(jobs["levels"].size(), 4u);
}

TEST(Render, HtmlIsWellFormedAndCarriesTheNumbers) {
  View view = FixtureView();
  std::string html = RenderHtml(view, {.tree = true, .jobs = true});
  EXPECT_EQ(XmlProblem(html), "");
  EXPECT_NE(html.find("15 nodes, 13 healthy"), std::string::npos);
  EXPECT_NE(html.find("gpu 40 of 84 free"), std::string::npos);
  // One box per domain (root + 12) and per node (15), each with its figures.
  std::size_t boxes = 0;
  for (std::size_t at = html.find("<g class="); at != std::string::npos;
       at = html.find("<g class=", at + 1)) {
    ++boxes;
  }
  EXPECT_EQ(boxes, view.domains.size() + view.nodes.size());
  EXPECT_NE(html.find("data-name=\"nn-3011\" data-nodes=\"4\" data-healthy=\"4\" "
                      "data-resource=\"nvidia.com/gpu\" data-free=\"0\" data-total=\"32\""),
            std::string::npos);
  EXPECT_NE(html.find("class=\"node unhealthy\" data-name=\"hyperpod-i-000000000023\""),
            std::string::npos);
  // The hostile message of the pending pod is text, not markup; nothing is fetched or run.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co."),
            std::string::npos);
  for (const char* fetches : {"src=", "href", "url(", "@import"}) {
    EXPECT_EQ(html.find(fetches), std::string::npos) << fetches;
  }
}

// Strings an attacker controls (taint values, messages) never leave their quotes or lines.
TEST(Render, HostileStringsAreEscapedInEveryFormat) {
  ClusterInput input;
  const std::string evil = "x\"]\nclick d0 call alert()\n<b>&#'";
  input.nodes.push_back(NodeBuilder("n\"1")
                            .InstanceType("ml.p5.48xlarge")
                            .Layers({"l1"})
                            .Taint("evil", evil, "NoSchedule")
                            .Build());
  input.pods.push_back(
      PodInput{PodBuilder("ns", "p<0>").Group("g\"x").Build(), "\x1b[31mred\x1b[0m " + evil});
  View view = BuildView(input, DefaultPolicy());
  RenderOptions both{.tree = true, .jobs = true};

  std::string text = RenderText(view, both);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find("\nclick"), std::string::npos);

  auto json = nlohmann::json::parse(RenderJson(view, both));
  EXPECT_EQ(json["cluster"]["domains"][0]["nodeList"][0]["problems"][0],
            "taint evil=" + evil + ":NoSchedule");
  EXPECT_EQ(json["jobs"][0]["pods"][0]["name"], "p<0>");

  std::string mermaid = RenderMermaid(view, {});
  std::istringstream lines(mermaid);
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_NE(line.rfind("click", 0), 0u) << line;  // no statement of its own
    // Inside a label only the opening and closing quotes are raw.
    if (auto open = line.find("[\""); open != std::string::npos) {
      EXPECT_EQ(line.find('"', open + 2), line.rfind('"')) << line;
    }
  }
  EXPECT_EQ(XmlProblem(RenderHtml(view, both)), "");
}

// A gang with no pod placed yet (Kueue holds it, or it waits for capacity) has violated nothing:
// its annotation is waiting, not "not met", in the view and in the JSON.
TEST(Render, AJobWithNothingPlacedIsWaiting) {
  ClusterInput input;
  input.nodes.push_back(NodeBuilder("a0").InstanceType("ml.p5.48xlarge").Layers({"l1"}).Build());
  for (const char* name : {"p0", "p1"}) {
    input.pods.push_back(PodInput{
        PodBuilder("ns", name).Group("g", 2).RequiredTopology(LayerKey(1)).Build(), "waiting"});
  }
  View view = BuildView(input, DefaultPolicy());
  ASSERT_EQ(view.jobs.size(), 1u);
  EXPECT_EQ(view.jobs[0].placed, 0);
  EXPECT_EQ(view.jobs[0].required, Want::kWaiting);
  EXPECT_EQ(view.jobs[0].preferred, Want::kNone);
  auto json = nlohmann::json::parse(RenderJson(view, {.tree = false, .jobs = true}));
  EXPECT_TRUE(json["jobs"][0]["requiredMet"].is_null());
  EXPECT_NE(RenderText(view, {.tree = false, .jobs = true}).find("required layer 1: waiting"),
            std::string::npos);
}

// Quantities reach 2^63 - 1 ("8Ei") and names may be any UTF-8: sums saturate instead of
// wrapping negative, and a name cut to fit its box is cut between characters, never inside one.
TEST(Render, HugeQuantitiesAndLongUtf8NamesStayValid) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  ClusterInput input;
  std::string wide;
  for (int i = 0; i < 200; ++i) wide += "\xc3\xa9";  // é
  for (const std::string& name : {std::string("a-") + wide, std::string("b-") + wide + "z"}) {
    input.nodes.push_back(NodeBuilder(name)
                              .InstanceType("ml.p5.48xlarge")
                              .Layers({"l1-" + wide, "l2"})
                              .Allocatable("nvidia.com/gpu", kMax)
                              .Build());
  }
  View view = BuildView(input, DefaultPolicy());
  ASSERT_FALSE(view.domains.empty());
  const Capacity& all = view.domains[0].capacity;
  ASSERT_EQ(all.accelerators.size(), 1u);
  EXPECT_EQ(all.accelerators[0].total, kMax);
  EXPECT_EQ(all.accelerators[0].free, kMax);
  EXPECT_EQ(all.AcceleratorsFree(), kMax);
  RenderOptions both{.tree = true, .jobs = true};
  auto json = nlohmann::json::parse(RenderJson(view, both));  // throws on invalid UTF-8
  EXPECT_FALSE(json["cluster"].is_null());
  const std::string html = RenderHtml(view, both);
  EXPECT_EQ(XmlProblem(html), "");
  // Every multi-byte sequence whole: a lead byte followed by exactly its continuation bytes.
  for (std::size_t i = 0; i < html.size();) {
    const auto c = static_cast<unsigned char>(html[i]);
    const int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    ASSERT_FALSE((c & 0xC0) == 0x80) << "stray continuation byte at " << i;
    for (int k = 1; k < len; ++k) {
      ASSERT_LT(i + k, html.size());
      ASSERT_EQ(static_cast<unsigned char>(html[i + k]) & 0xC0, 0x80) << "cut sequence at " << i;
    }
    i += static_cast<std::size_t>(len);
  }
  EXPECT_NE(html.find("~"), std::string::npos);  // some name was cut to fit
}

// A HyperPod-sized cluster from the bench generator (5000 nodes named hyperpod-i-…, layers of
// 512 / 64 / 16 / 4 nodes), with 8-pod training jobs on consecutive p5 nodes.
TEST(Render, GeneratedClusterOf5000Nodes) {
  bench::ClusterSpec spec;
  spec.nodes = 5000;
  spec.seed = 7;
  std::vector<bench::GeneratedNode> nodes = bench::GenerateNodes(spec);
  std::string node_list = "{\"kind\":\"NodeList\",\"items\":[";
  std::int64_t gpus = 0;
  std::map<std::string, const bench::GeneratedNode*> by_name;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    node_list += (i > 0 ? "," : "") + nodes[i].json;
    by_name[nodes[i].name] = &nodes[i];
    gpus += nodes[i].allocatable.Get("nvidia.com/gpu");
  }
  node_list += "]}";
  std::string pod_list = "{\"kind\":\"PodList\",\"items\":[";
  std::vector<std::vector<const bench::GeneratedNode*>> jobs;
  int pods = 0;
  std::vector<const bench::GeneratedNode*> job;
  for (const bench::GeneratedNode& n : nodes) {
    if (n.instance_type != "ml.p5.48xlarge" || n.unhealthy || n.health_taint) continue;
    if (jobs.size() == 100) break;
    bench::PodOptions o;
    o.index = pods;
    o.job = "train-" + std::to_string(jobs.size());
    o.group_size = 8;
    o.topology = bench::TopologyKind::kRequired;
    o.node_name = n.name;
    pod_list += (pods++ > 0 ? "," : "") + bench::GeneratePod(o);
    job.push_back(&n);
    if (job.size() == 8) jobs.push_back(std::move(job)), job.clear();
  }
  pod_list += "]}";
  ClusterInput input;
  ASSERT_TRUE(AddList(node_list, input).ok());
  ASSERT_TRUE(AddList(pod_list, input).ok());
  ASSERT_EQ(input.pods.size(), 800u);
  View view = BuildView(input, DefaultPolicy());

  ASSERT_EQ(view.nodes.size(), 5000u);
  EXPECT_EQ(view.nodes.front().name.rfind("hyperpod-i-", 0), 0u);
  for (const DomainView& d : view.domains) {
    int sum = 0;
    for (std::size_t c : d.children) sum += view.domains[c].capacity.nodes;
    sum += static_cast<int>(d.nodes.size());
    ASSERT_EQ(sum, d.capacity.nodes) << d.name;
  }
  std::int64_t free = 0, total = 0;
  for (const Accelerator& a : view.domains[0].capacity.accelerators) {
    if (a.resource == "nvidia.com/gpu") free = a.free, total = a.total;
  }
  EXPECT_EQ(total, gpus);
  EXPECT_EQ(free, gpus - 800 * 8);  // every training pod takes a whole p5 node's 8 GPUs

  // Shared levels from the generator's own layer numbers.
  ASSERT_EQ(view.jobs.size(), 100u);
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    int shared = 0;
    for (int l = 0; l < 4; ++l) {
      bool same = std::all_of(jobs[k].begin(), jobs[k].end(), [&](const auto* n) {
        return n->layers > l && n->layer[l] == jobs[k][0]->layer[l];
      });
      if (!same) break;
      shared = l + 1;
    }
    const std::string id =
        "hyperpod-ns-team-a/kueue.x-k8s.io/pod-group-name=train-" + std::to_string(k);
    auto it = std::find_if(view.jobs.begin(), view.jobs.end(), [&](const JobView& j) {
      return j.id.ends_with("=train-" + std::to_string(k));
    });
    ASSERT_NE(it, view.jobs.end()) << id;
    EXPECT_EQ(it->placed, 8);
    EXPECT_EQ(it->shared_levels, shared) << it->id;
    EXPECT_EQ(it->required == Want::kMet, shared >= 3) << it->id;
  }

  RenderOptions both{.tree = true, .jobs = true};
  ExpectFitsColumns(RenderText(view, both));
  auto json = nlohmann::json::parse(RenderJson(view, both));
  EXPECT_EQ(json["cluster"]["nodes"], 5000);
  int listed = 0;
  for (const auto& l1 : json["cluster"]["domains"]) listed += l1["nodes"].get<int>();
  listed += static_cast<int>(json["cluster"]["nodeList"].size());
  EXPECT_EQ(listed, 5000);
  std::string html = RenderHtml(view, both);
  EXPECT_EQ(XmlProblem(html), "");
  EXPECT_NE(html.find("5000 nodes"), std::string::npos);
  // A chart Mermaid renders: within its default edge and text limits, the top levels drawn and a
  // comment saying where it stops.
  std::string mermaid = RenderMermaid(view, {});
  EXPECT_EQ(mermaid.find("hyperpod-i-"), std::string::npos);  // past the node limit
  std::size_t edges = 0;
  for (std::size_t at = mermaid.find(" --> "); at != std::string::npos;
       at = mermaid.find(" --> ", at + 1)) {
    ++edges;
  }
  EXPECT_LE(edges, kMermaidEdgeLimit);
  EXPECT_GT(edges, 50u);  // layers 1 and 2 at least (10 + 79 domains)
  EXPECT_LE(mermaid.size(), kMermaidTextLimit);
  EXPECT_NE(mermaid.find("layer 2: "), std::string::npos);
  EXPECT_NE(mermaid.find("%% down to layer"), std::string::npos);
  EXPECT_EQ(mermaid.find("layer 4: "), std::string::npos);
}

}  // namespace
}  // namespace hyperplace::inspect
