#include "bench/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "bench/compare.h"
#include "bench/html_report.h"

namespace hyperplace::bench {
namespace {

ScenarioResult Scenario(const std::string& id, double throughput, double p99_us) {
  ScenarioResult s;
  s.id = id;
  s.target = id.rfind("floor/", 0) == 0 ? "floor" : "hyperplace";
  s.face = "extender";
  s.verb = "filter+prioritize";
  s.mode = "names";
  s.load = "closed";
  s.nodes = 5000;
  s.pods_cached = 150000;
  s.connections = 1;
  s.warmup_s = 1;
  s.duration_s = 4;
  s.measured_s = 4;
  s.ops = 10000;
  s.requests = 20000;
  s.warmup_ops = 2400;
  s.warmup_errors = 1;
  s.warmup_error_sample = "bad_body: bind: write failed";
  s.throughput = throughput;
  s.latency = {90.5, 380.25, 350, 420, p99_us, p99_us * 1.5, p99_us * 3};
  s.errors = {{"bad_body", 0}, {"connect", 0}, {"http_status", 0}, {"io", 0}, {"timeout", 0}};
  s.request_bytes = 160123.5;
  s.response_bytes = 90000;
  s.server_cpu_percent = 97.5;
  s.server_cpu_us_per_op = 390.125;
  s.server_rss_mean_mib = 120.5;
  s.server_rss_max_mib = 130.25;
  s.client_cpu_percent = 20;
  s.percentiles = {{0, 90.5}, {0.9, 420}, {0.99, p99_us}, {1, p99_us * 3}};
  s.timeline = {{0, 250, 0, 350, p99_us, 900}, {0.1, 251, 1, 351, p99_us, 901.5}};
  return s;
}

Results Sample() {
  Results r;
  r.created = "2026-11-23T02:00:00Z";
  r.label = "v0.1.0-3-gabc";
  r.host = {2, "Some CPU", "Linux 6.1 x86_64", 0.5, 0.75, 1.0, 0.6};
  r.settings = {{"nodes", "100,1000,5000"}, {"seed", "1"}};
  r.scenarios.push_back(Scenario(
      ScenarioId("hyperplace", "extender", "filter+prioritize", "names", 5000, 1, 0), 2500, 800));
  r.scenarios.push_back(Scenario(
      ScenarioId("floor", "extender", "filter+prioritize", "names", 5000, 1, 0), 9000, 150));
  ScenarioResult hook =
      Scenario(ScenarioId("hyperplace", "webhook", "mutate", "", 0, 4, 5000), 4999, 700);
  hook.face = "webhook";
  hook.verb = "mutate";
  hook.mode = "";
  hook.load = "open";
  hook.rate = 5000;
  hook.connections = 4;
  hook.errors["bad_body"] = 2;
  hook.error_samples["bad_body"] = "mutate: allowed but expected denied (\"x\")";
  r.scenarios.push_back(hook);
  ScenarioResult skipped;
  skipped.id = "extender/bind/n5000/c4/closed";
  skipped.skipped = true;
  skipped.note = "no API server";
  r.scenarios.push_back(skipped);
  // Full-node /filter and its transfer floor: p50 60 ms vs 40 ms.
  ScenarioResult full =
      Scenario(ScenarioId("hyperplace", "extender", "filter", "full", 5000, 1, 0), 16, 90000);
  full.verb = "filter";
  full.mode = "full";
  full.latency.p50_us = 60000;
  ScenarioResult full_floor = full;
  full_floor.id = "floor/" + full.id;
  full_floor.target = "floor";
  full_floor.latency.p50_us = 40000;
  r.scenarios.push_back(full);
  r.scenarios.push_back(full_floor);
  // The webhook over an API server's 64 connections: p99 500 µs, all answers right.
  ScenarioResult pool =
      Scenario(ScenarioId("hyperplace", "webhook", "mutate", "", 0, 64, 5000), 5000, 500);
  pool.face = "webhook";
  pool.verb = "mutate";
  pool.load = "open";
  pool.rate = 5000;
  pool.connections = 64;
  pool.warmup_errors = 0;
  r.scenarios.push_back(pool);
  r.memory.push_back({"n5000", 5000, 150000, 5000, 150000, 12.5, 150.25, 160.5, 190.75, 420.5, ""});
  r.micro.push_back({"BM_DecodeArgsFull/5000", 29e6, 28.5e6, 1.5e9, 24});
  r.micro.push_back({"BM_OnDemandTouch/5000", 8e6, 7.9e6, 5.4e9, 90});
  r.targets = EvaluateTargets(r);
  return r;
}

TEST(ReportJsonTest, RoundTripKeepsEveryField) {
  const Results r = Sample();
  const std::string json = ToJson(r);
  auto back = FromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(ToJson(*back), json);
  ASSERT_EQ(back->scenarios.size(), r.scenarios.size());
  const ScenarioResult& a = r.scenarios[0];
  const ScenarioResult& b = back->scenarios[0];
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.latency.p99_us, a.latency.p99_us);
  EXPECT_EQ(b.latency.mean_us, a.latency.mean_us);
  EXPECT_EQ(b.request_bytes, a.request_bytes);
  EXPECT_EQ(b.warmup_errors, 1u);
  EXPECT_EQ(b.warmup_error_sample, a.warmup_error_sample);
  EXPECT_EQ(b.timeline.size(), 2u);
  EXPECT_EQ(b.timeline[1].max_us, 901.5);
  EXPECT_EQ(b.percentiles, a.percentiles);
  EXPECT_EQ(back->scenarios[2].error_samples.at("bad_body"),
            r.scenarios[2].error_samples.at("bad_body"));
  EXPECT_TRUE(back->scenarios[3].skipped);
  EXPECT_EQ(back->memory[0].peak_rss_mib, 190.75);
  EXPECT_EQ(back->memory[0].rss_max_full_mib, 420.5);
  EXPECT_EQ(back->micro[1].iterations, 90);
  ASSERT_EQ(back->targets.size(), r.targets.size());
  ASSERT_FALSE(r.targets.empty());
  EXPECT_FALSE(r.targets[0].floor.empty());
  EXPECT_EQ(back->targets[0].floor, r.targets[0].floor);
  EXPECT_EQ(back->host.load5_start, 0.75);
  EXPECT_EQ(back->settings, r.settings);
}

TEST(ReportJsonTest, RefusesOtherSchemasAndVersions) {
  EXPECT_FALSE(FromJson("[]").ok());
  EXPECT_FALSE(FromJson("{\"schema\":\"something-else\",\"schema_version\":1}").ok());
  auto v2 = FromJson("{\"schema\":\"hyperplace-bench\",\"schema_version\":2}");
  ASSERT_FALSE(v2.ok());
  EXPECT_NE(v2.status().message().find("schema_version 2"), std::string::npos);
  EXPECT_FALSE(FromJson("not json").ok());
  EXPECT_TRUE(FromJson("{\"schema\":\"hyperplace-bench\",\"schema_version\":1}").ok());
}

TEST(ReportTest, GoogleBenchmarkJsonIsReadInNanoseconds) {
  auto micro = ParseGoogleBenchmarkJson(R"({"context":{},"benchmarks":[
    {"name":"BM_A/100","run_type":"iteration","iterations":10,"real_time":1.5,"cpu_time":1.25,
     "time_unit":"ms","bytes_per_second":1e9},
    {"name":"BM_A/100_mean","run_type":"aggregate","real_time":9,"time_unit":"ms"},
    {"name":"BM_B","run_type":"iteration","iterations":3,"real_time":250,"cpu_time":240,
     "time_unit":"us"}]})");
  ASSERT_TRUE(micro.ok()) << micro.status().message();
  ASSERT_EQ(micro->size(), 2u);
  EXPECT_EQ((*micro)[0].name, "BM_A/100");
  EXPECT_DOUBLE_EQ((*micro)[0].real_time_ns, 1.5e6);
  EXPECT_DOUBLE_EQ((*micro)[1].cpu_time_ns, 240e3);
  EXPECT_FALSE(ParseGoogleBenchmarkJson("{}").ok());
}

const TargetCheck& FindTarget(const Results& r, const std::string& name_part) {
  for (const TargetCheck& t : r.targets) {
    if (t.name.find(name_part) != std::string::npos) return t;
  }
  ADD_FAILURE() << "no target named like " << name_part;
  static const TargetCheck kNone;
  return kNone;
}

TEST(ReportTest, TargetsReadTheirScenarios) {
  // Every scenario of the sample had an error in its warm-up but the 64-connection one; a
  // request that never got a right answer is a miss wherever it fell.
  const Results r = Sample();
  Results clean = r;
  for (ScenarioResult& s : clean.scenarios) {
    if (s.id.find("webhook/mutate/c4/") == std::string::npos) s.warmup_errors = 0;
  }
  clean.targets = EvaluateTargets(clean);

  // p99 800 µs < 1 ms, no errors once the warm-up is clean.
  const TargetCheck& names = FindTarget(r, "filter+prioritize p99");
  EXPECT_TRUE(names.measured);
  EXPECT_FALSE(names.pass);
  EXPECT_NE(names.detail.find("1 during the warm-up"), std::string::npos) << names.detail;
  EXPECT_EQ(names.value, 800);
  EXPECT_TRUE(FindTarget(clean, "filter+prioritize p99").pass);
  // 2500 / 9000 ops/s against the floor.
  EXPECT_NEAR(FindTarget(r, "bounded by the HTTP floor").value, 2500.0 / 9000.0, 1e-12);
  // Names and full-node verdicts: both ran; the warm-up errors count as wrong answers.
  const TargetCheck& verdicts = FindTarget(r, "verdicts identical");
  EXPECT_TRUE(verdicts.measured);
  EXPECT_FALSE(verdicts.pass);
  EXPECT_EQ(verdicts.value, 2);
  EXPECT_TRUE(FindTarget(clean, "verdicts identical").pass);
  // Full-node /filter: 60 ms / 40 ms = 1.5 <= 2.
  const TargetCheck& transfer = FindTarget(clean, "transfer floor");
  EXPECT_TRUE(transfer.measured);
  EXPECT_TRUE(transfer.pass);
  EXPECT_DOUBLE_EQ(transfer.value, 1.5);
  // CPU time 28.5 ms / 7.9 ms = 3.6 > 1.5.
  const TargetCheck& decode = FindTarget(r, "decode cost");
  EXPECT_TRUE(decode.measured);
  EXPECT_FALSE(decode.pass);
  EXPECT_DOUBLE_EQ(decode.value, 28.5 / 7.9);
  // The webhook's p99 is fine but two replies were wrong: not a pass. Over 64 connections: a pass.
  const TargetCheck& hook = FindTarget(clean, "admissions/s over TLS keep-alive");
  EXPECT_TRUE(hook.measured);
  EXPECT_FALSE(hook.pass);
  EXPECT_EQ(hook.value, 700);
  const TargetCheck& pool = FindTarget(clean, "64 TLS keep-alive connections");
  EXPECT_TRUE(pool.measured);
  EXPECT_TRUE(pool.pass);
  EXPECT_EQ(pool.value, 500);
  // Memory: the peak 190.75 MiB decides.
  const TargetCheck& memory = FindTarget(r, "memory");
  EXPECT_TRUE(memory.pass);
  EXPECT_EQ(memory.value, 190.75);
  EXPECT_FALSE(FindTarget(r, "kube-scheduler throughput").measured);  // needs a real scheduler

  // 56 of 64 connections timing out at the start fail the target though the interval is clean.
  for (ScenarioResult& s : clean.scenarios) {
    if (s.connections == 64) {
      s.warmup_errors = 56;
      s.warmup_error_sample = "timeout: mutate: deadline exceeded";
    }
  }
  clean.targets = EvaluateTargets(clean);
  EXPECT_FALSE(FindTarget(clean, "64 TLS keep-alive connections").pass);

  Results empty;
  for (const TargetCheck& t : EvaluateTargets(empty)) EXPECT_FALSE(t.measured) << t.name;

  // Against the Go peer over 64 connections, closed loop: 30,000 vs 8,000/s is 3.75x, met;
  // against 12,000/s, 2.5x, not met.
  Results peer;
  for (const char* target : {"hyperplace", "go"}) {
    ScenarioResult c = Scenario(ScenarioId(target, "webhook", "mutate", "", 0, 64, 0),
                                target[0] == 'h' ? 30000 : 8000, 900);
    c.target = target;
    c.face = "webhook";
    c.connections = 64;
    c.rate = 0;
    c.warmup_errors = 0;
    peer.scenarios.push_back(c);
  }
  EXPECT_EQ(peer.scenarios.back().id, "go/webhook/mutate/c64/closed");
  peer.targets = EvaluateTargets(peer);
  const TargetCheck& go = FindTarget(peer, "Go stdlib webhook");
  EXPECT_TRUE(go.measured);
  EXPECT_TRUE(go.pass);
  EXPECT_DOUBLE_EQ(go.value, 3.75);
  peer.scenarios.back().throughput = 12000;
  peer.targets = EvaluateTargets(peer);
  EXPECT_FALSE(FindTarget(peer, "Go stdlib webhook").pass);
}

// The README's table: when and how the run was made, and every target's figure beside its floor
// from the same run and its limit, with the verdict the summary gives.
TEST(ReportTest, MarkdownPutsEachFigureBesideItsFloorAndLimit) {
  Results r = Sample();
  for (ScenarioResult& s : r.scenarios) {
    if (s.id.find("webhook/mutate/c4/") == std::string::npos) s.warmup_errors = 0;
  }
  r.host.cpus = 2;
  r.host.load1_start = 0.25;
  r.host.load1_end = 1.5;
  r.targets = EvaluateTargets(r);
  const std::string md = FormatMarkdown(r, "bench/run.sh --readme", "bench/report.html");
  EXPECT_NE(md.find("Measured 2026-11-23T02:00:00Z on 2 CPUs"), std::string::npos) << md;
  EXPECT_NE(md.find("build v0.1.0-3-gabc"), std::string::npos) << md;
  EXPECT_NE(md.find("load average 0.25 / "), std::string::npos) << md;
  EXPECT_NE(md.find(", 1.50 after"), std::string::npos) << md;
  EXPECT_NE(md.find("```sh\nbench/run.sh --readme\n```"), std::string::npos) << md;
  EXPECT_NE(md.find("[the HTML report](bench/report.html)"), std::string::npos) << md;

  // One row per target, in order, each with five cells.
  std::vector<std::string> rows;
  std::istringstream in(md);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| ", 0) == 0 && line.find("DESIGN") == std::string::npos) rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), r.targets.size()) << md;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].rfind("| " + r.targets[i].name + " | " + r.targets[i].target + " | ", 0), 0u)
        << rows[i];
    EXPECT_EQ(std::count(rows[i].begin(), rows[i].end(), '|'), 6) << rows[i];
  }
  // Names mode: 800 µs beside the floor's p99 and p50, met.
  const std::string floor_names = "p99 " + FormatMicros(150) + " (p50 " + FormatMicros(350) + ")";
  EXPECT_NE(rows[0].find("| " + FormatMicros(800) + " | " + floor_names + " | met |"),
            std::string::npos)
      << rows[0];
  // The webhook over 4 connections answered wrongly in its warm-up: not met, whatever its p99.
  bool hook = false;
  for (const std::string& row : rows) {
    if (row.find("admissions/s over TLS keep-alive |") == std::string::npos) continue;
    hook = true;
    EXPECT_NE(row.find("| " + FormatMicros(700) + " | - | **not met** |"), std::string::npos)
        << row;
  }
  EXPECT_TRUE(hook);
  // Full-node: 1.5x beside the floor's p50 (40 ms), met.
  const std::string floor_full =
      "p50 " + FormatMicros(40000) + " (p99 " + FormatMicros(90000) + ")";
  bool full = false;
  for (const std::string& row : rows) {
    if (row.find("transfer floor") == std::string::npos) continue;
    full = true;
    EXPECT_NE(row.find("| 1.50 x | " + floor_full + " | met |"), std::string::npos) << row;
  }
  EXPECT_TRUE(full);
  // The scheduler's target needs e2e: no figure, no floor.
  EXPECT_NE(rows.back().find("| - | - | not measured here |"), std::string::npos) << rows.back();

  // Text from the run cannot break the table.
  r.targets[0].detail = "a | b";
  r.targets[0].floor = "x|y\nz";
  const std::string broken = FormatMarkdown(r, "c", "");
  EXPECT_NE(broken.find("| x\\|y z |"), std::string::npos) << broken;
  EXPECT_EQ(broken.find("HTML report"), std::string::npos);
}

TEST(ReportTest, FailureSummaryNamesEveryScenarioWithErrors) {
  Results r = Sample();
  const std::string summary = FailureSummary(r);
  // The webhook's two wrong answers, with the first message.
  EXPECT_NE(summary.find("webhook/mutate/c4/r5000: 2 bad_body"), std::string::npos) << summary;
  EXPECT_NE(summary.find("allowed but expected denied"), std::string::npos) << summary;
  // A warm-up error fails the run too; skipped scenarios do not.
  EXPECT_NE(summary.find("1 during the warm-up"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("extender/bind/"), std::string::npos) << summary;

  for (ScenarioResult& s : r.scenarios) {
    s.warmup_errors = 0;
    for (auto& [kind, count] : s.errors) count = 0;
  }
  EXPECT_EQ(FailureSummary(r), "");
}

TEST(CompareTest, JudgesEachMetricInItsOwnDirection) {
  const Results base = Sample();
  Results cur = Sample();
  cur.scenarios[0].throughput = 2500 * 1.2;      // +20%: better
  cur.scenarios[0].latency.p99_us = 800 * 1.25;  // +25% latency: worse
  cur.scenarios[0].latency.p50_us = 350 * 1.05;  // +5%: within 10%
  cur.scenarios[0].errors["timeout"] = 1;        // any new error: worse
  cur.scenarios[1].latency.max_us = 450 * 0.5;   // -50% latency: better
  cur.memory[0].peak_rss_mib = 190.75 * 1.11;    // +11% memory: worse
  cur.micro[0].real_time_ns = 29e6 * 0.85;       // -15% time: better
  cur.scenarios.push_back(Scenario("extender/names/filter/n100/c1/closed", 1, 1));
  cur.scenarios.erase(cur.scenarios.begin() + 2);  // the webhook run is gone
  const auto diffs = Compare(base, cur, 10);

  auto find = [&](const std::string& subject, const std::string& metric) -> const MetricDiff* {
    for (const MetricDiff& d : diffs) {
      if (d.subject == subject && d.metric == metric) return &d;
    }
    return nullptr;
  };
  const std::string names = base.scenarios[0].id, floor = base.scenarios[1].id;
  ASSERT_NE(find(names, "throughput"), nullptr);
  EXPECT_EQ(find(names, "throughput")->verdict, Verdict::kBetter);
  EXPECT_NEAR(find(names, "throughput")->change_pct, 20, 1e-9);
  EXPECT_EQ(find(names, "p99_us")->verdict, Verdict::kWorse);
  EXPECT_EQ(find(names, "p50_us")->verdict, Verdict::kSame);
  EXPECT_EQ(find(names, "errors")->verdict, Verdict::kWorse);
  EXPECT_EQ(find(floor, "max_us")->verdict, Verdict::kBetter);
  EXPECT_EQ(find(floor, "p999_us")->verdict, Verdict::kSame);
  EXPECT_EQ(find(floor, "throughput")->verdict, Verdict::kSame);
  EXPECT_EQ(find("memory:n5000", "peak_rss_mib")->verdict, Verdict::kWorse);
  EXPECT_EQ(find("memory:n5000", "rss_max_mib")->verdict, Verdict::kSame);
  EXPECT_EQ(find("micro:BM_DecodeArgsFull/5000", "real_time_ns")->verdict, Verdict::kBetter);

  int added = 0, gone = 0;
  for (const MetricDiff& d : diffs) {
    if (d.verdict == Verdict::kOnlyCurrent) {
      ++added;
      EXPECT_EQ(d.subject, "extender/names/filter/n100/c1/closed");
    }
    if (d.verdict == Verdict::kOnlyBaseline) {
      ++gone;
      EXPECT_EQ(d.subject, "webhook/mutate/c4/r5000");
    }
  }
  EXPECT_EQ(added, 1);
  EXPECT_EQ(gone, 1);
  // Skipped scenarios have no figures to compare.
  EXPECT_EQ(find("extender/bind/n5000/c4/closed", "throughput"), nullptr);

  const std::string table = FormatComparison(diffs, false);
  EXPECT_NE(table.find("WORSE"), std::string::npos);
  EXPECT_EQ(table.find(" same"), std::string::npos);  // only changes are listed
}

TEST(CompareTest, ZeroBaselines) {
  Results base = Sample(), cur = Sample();
  base.scenarios[0].throughput = 0;
  cur.scenarios[0].throughput = 10;
  base.scenarios[0].latency.p50_us = 0;
  cur.scenarios[0].latency.p50_us = 0;
  const auto diffs = Compare(base, cur, 10);
  for (const MetricDiff& d : diffs) {
    if (d.subject != base.scenarios[0].id) continue;
    if (d.metric == "throughput") {
      EXPECT_EQ(d.verdict, Verdict::kBetter);
    }
    if (d.metric == "p50_us") {
      EXPECT_EQ(d.verdict, Verdict::kSame);
    }
    EXPECT_TRUE(std::isfinite(d.change_pct));
  }
}

TEST(HtmlReportTest, IsSelfContainedWithInlineCharts) {
  const std::string html = RenderHtml(Sample());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("polyline"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // The only URL is the SVG namespace.
  std::size_t at = 0;
  while ((at = html.find("http", at)) != std::string::npos) {
    EXPECT_EQ(html.compare(at, 26, "http://www.w3.org/2000/svg"), 0) << html.substr(at, 40);
    ++at;
  }
  // Text from the results is escaped.
  EXPECT_NE(html.find("expected denied (&quot;x&quot;)"), std::string::npos);
}

TEST(HtmlReportTest, ChartsHandleEmptyAndFlatSeries) {
  ChartOptions o;
  o.title = "t";
  EXPECT_NE(SvgLineChart({}, o).find("no data"), std::string::npos);
  ChartSeries flat{"p50", "#000", false, {{0, 5}, {1, 5}, {2, 5}}};
  const std::string svg = SvgLineChart({flat}, o);
  EXPECT_NE(svg.find("polyline"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(ReportTest, FormatMicros) {
  EXPECT_EQ(FormatMicros(3.25), "3.2us");
  EXPECT_EQ(FormatMicros(87.4), "87us");
  EXPECT_EQ(FormatMicros(1234), "1.23ms");
  EXPECT_EQ(FormatMicros(45600), "45.6ms");
  EXPECT_EQ(FormatMicros(4.5e6), "4.50s");
}

}  // namespace
}  // namespace hyperplace::bench
