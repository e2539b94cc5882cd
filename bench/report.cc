#include "bench/report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace hyperplace::bench {
namespace {

using Json = nlohmann::ordered_json;

constexpr double kMiB = 1024.0 * 1024.0;

double Us(std::int64_t ns) { return static_cast<double>(ns) / 1000.0; }

// Rounds for the file only where digits carry no information (sub-nanosecond latency noise).
double Round3(double v) { return std::round(v * 1000.0) / 1000.0; }

Json LatencyJson(const LatencySummary& l) {
  return Json{{"min", l.min_us}, {"mean", l.mean_us}, {"p50", l.p50_us}, {"p90", l.p90_us},
              {"p99", l.p99_us}, {"p999", l.p999_us}, {"max", l.max_us}};
}

template <typename T>
void Get(const Json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) out = it->get<T>();
}

}  // namespace

LatencySummary LatencySummary::Of(const Histogram& h) {
  LatencySummary l;
  l.min_us = Us(h.min());
  l.mean_us = Round3(h.mean() / 1000.0);
  l.p50_us = Us(h.Percentile(0.50));
  l.p90_us = Us(h.Percentile(0.90));
  l.p99_us = Us(h.Percentile(0.99));
  l.p999_us = Us(h.Percentile(0.999));
  l.max_us = Us(h.max());
  return l;
}

std::uint64_t ScenarioResult::total_errors() const {
  std::uint64_t n = 0;
  for (const auto& [kind, count] : errors) n += count;
  return n;
}

const ScenarioResult* Results::FindScenario(const std::string& id) const {
  for (const ScenarioResult& s : scenarios) {
    if (s.id == id && !s.skipped) return &s;
  }
  return nullptr;
}

const MicroResult* Results::FindMicro(const std::string& name) const {
  for (const MicroResult& m : micro) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

void FillFromLoad(const LoadStats& stats, ScenarioResult& out) {
  out.measured_s = stats.measured_s;
  out.ops = stats.ops;
  out.requests = stats.requests;
  out.warmup_ops = stats.warmup_ops;
  out.warmup_errors = stats.warmup_errors;
  out.warmup_error_sample = stats.warmup_error_sample;
  out.throughput = stats.throughput();
  out.latency = LatencySummary::Of(stats.latency);
  out.errors.clear();
  out.error_samples.clear();
  for (int k = 1; k < kErrorKindCount; ++k) {
    const std::string kind(ErrorKindName(static_cast<ErrorKind>(k)));
    out.errors[kind] = stats.errors[k];
    if (!stats.error_samples[k].empty()) out.error_samples[kind] = stats.error_samples[k];
  }
  const std::uint64_t total = stats.warmup_ops + stats.ops + stats.total_errors();
  if (total > 0) {
    out.request_bytes = static_cast<double>(stats.bytes_sent) / static_cast<double>(total);
    out.response_bytes = static_cast<double>(stats.bytes_received) / static_cast<double>(total);
  }
  out.max_send_lag_us = Us(stats.max_send_lag_ns);
  out.client_cpu_percent = stats.client_cpu_percent;
  out.percentiles.clear();
  for (const auto& [q, ns] : stats.latency.PercentileCurve())
    out.percentiles.emplace_back(q, Us(ns));
  out.timeline.clear();
  for (const TimelinePoint& p : stats.timeline) {
    out.timeline.push_back({p.t_s, p.ops, p.errors, Us(p.p50_ns), Us(p.p99_ns), Us(p.max_ns)});
  }
}

std::string ToJson(const Results& r) {
  Json j;
  j["schema"] = kSchemaName;
  j["schema_version"] = kSchemaVersion;
  j["tool"] = "hpbench";
  j["created"] = r.created;
  j["label"] = r.label;
  j["host"] = Json{{"cpus", r.host.cpus},
                   {"cpu_model", r.host.cpu_model},
                   {"kernel", r.host.kernel},
                   {"load1_start", r.host.load1_start},
                   {"load5_start", r.host.load5_start},
                   {"load15_start", r.host.load15_start},
                   {"load1_end", r.host.load1_end}};
  j["settings"] = Json::object();
  for (const auto& [k, v] : r.settings) j["settings"][k] = v;
  j["scenarios"] = Json::array();
  for (const ScenarioResult& s : r.scenarios) {
    Json e;
    e["id"] = s.id;
    e["target"] = s.target;
    e["face"] = s.face;
    e["verb"] = s.verb;
    e["mode"] = s.mode;
    e["load"] = s.load;
    e["nodes"] = s.nodes;
    e["pods_cached"] = s.pods_cached;
    e["connections"] = s.connections;
    e["rate"] = s.rate;
    e["warmup_s"] = s.warmup_s;
    e["duration_s"] = s.duration_s;
    e["measured_s"] = s.measured_s;
    e["ops"] = s.ops;
    e["requests"] = s.requests;
    e["warmup_ops"] = s.warmup_ops;
    e["warmup_errors"] = s.warmup_errors;
    e["warmup_error_sample"] = s.warmup_error_sample;
    e["throughput"] = s.throughput;
    e["latency_us"] = LatencyJson(s.latency);
    e["errors"] = Json::object();
    for (const auto& [k, v] : s.errors) e["errors"][k] = v;
    e["error_samples"] = Json::object();
    for (const auto& [k, v] : s.error_samples) e["error_samples"][k] = v;
    e["request_bytes"] = s.request_bytes;
    e["response_bytes"] = s.response_bytes;
    e["max_send_lag_us"] = s.max_send_lag_us;
    e["server"] = Json{{"cpu_percent", s.server_cpu_percent},
                       {"cpu_us_per_op", s.server_cpu_us_per_op},
                       {"rss_mean_mib", s.server_rss_mean_mib},
                       {"rss_max_mib", s.server_rss_max_mib}};
    e["client"] = Json{{"cpu_percent", s.client_cpu_percent}};
    e["percentiles"] = Json::array();
    for (const auto& [q, us] : s.percentiles) e["percentiles"].push_back(Json::array({q, us}));
    e["timeline"] = Json::array();
    for (const TimelineRow& t : s.timeline) {
      e["timeline"].push_back(Json::array({t.t_s, t.ops, t.errors, t.p50_us, t.p99_us, t.max_us}));
    }
    e["skipped"] = s.skipped;
    e["note"] = s.note;
    j["scenarios"].push_back(std::move(e));
  }
  j["memory"] = Json::array();
  for (const MemoryResult& m : r.memory) {
    j["memory"].push_back(Json{{"id", m.id},
                               {"nodes", m.nodes},
                               {"pods_served", m.pods_served},
                               {"nodes_cached", m.nodes_cached},
                               {"pods_cached", m.pods_cached},
                               {"sync_s", m.sync_s},
                               {"rss_after_sync_mib", m.rss_after_sync_mib},
                               {"rss_max_mib", m.rss_max_mib},
                               {"peak_rss_mib", m.peak_rss_mib},
                               {"rss_max_full_mib", m.rss_max_full_mib},
                               {"note", m.note}});
  }
  j["micro"] = Json::array();
  for (const MicroResult& m : r.micro) {
    j["micro"].push_back(Json{{"name", m.name},
                              {"real_time_ns", m.real_time_ns},
                              {"cpu_time_ns", m.cpu_time_ns},
                              {"bytes_per_second", m.bytes_per_second},
                              {"iterations", m.iterations}});
  }
  j["targets"] = Json::array();
  for (const TargetCheck& t : r.targets) {
    j["targets"].push_back(Json{{"name", t.name},
                                {"target", t.target},
                                {"measured", t.measured},
                                {"pass", t.pass},
                                {"value", t.value},
                                {"limit", t.limit},
                                {"unit", t.unit},
                                {"detail", t.detail},
                                {"floor", t.floor}});
  }
  return j.dump(1) + "\n";
}

StatusOr<Results> FromJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("not a JSON object");
  if (j.value("schema", "") != kSchemaName) {
    return InvalidArgument(std::string("not a ") + kSchemaName + " results file");
  }
  if (j.value("schema_version", 0) != kSchemaVersion) {
    return InvalidArgument("schema_version " + std::to_string(j.value("schema_version", 0)) +
                           " is not supported (this hpbench reads version " +
                           std::to_string(kSchemaVersion) + ")");
  }
  Results r;
  try {
    Get(j, "created", r.created);
    Get(j, "label", r.label);
    if (j.contains("host")) {
      const Json& h = j["host"];
      Get(h, "cpus", r.host.cpus);
      Get(h, "cpu_model", r.host.cpu_model);
      Get(h, "kernel", r.host.kernel);
      Get(h, "load1_start", r.host.load1_start);
      Get(h, "load5_start", r.host.load5_start);
      Get(h, "load15_start", r.host.load15_start);
      Get(h, "load1_end", r.host.load1_end);
    }
    if (j.contains("settings")) {
      for (const auto& [k, v] : j["settings"].items()) r.settings[k] = v.get<std::string>();
    }
    for (const Json& e : j.value("scenarios", Json::array())) {
      ScenarioResult s;
      Get(e, "id", s.id);
      Get(e, "target", s.target);
      Get(e, "face", s.face);
      Get(e, "verb", s.verb);
      Get(e, "mode", s.mode);
      Get(e, "load", s.load);
      Get(e, "nodes", s.nodes);
      Get(e, "pods_cached", s.pods_cached);
      Get(e, "connections", s.connections);
      Get(e, "rate", s.rate);
      Get(e, "warmup_s", s.warmup_s);
      Get(e, "duration_s", s.duration_s);
      Get(e, "measured_s", s.measured_s);
      Get(e, "ops", s.ops);
      Get(e, "requests", s.requests);
      Get(e, "warmup_ops", s.warmup_ops);
      Get(e, "warmup_errors", s.warmup_errors);
      Get(e, "warmup_error_sample", s.warmup_error_sample);
      Get(e, "throughput", s.throughput);
      if (e.contains("latency_us")) {
        const Json& l = e["latency_us"];
        Get(l, "min", s.latency.min_us);
        Get(l, "mean", s.latency.mean_us);
        Get(l, "p50", s.latency.p50_us);
        Get(l, "p90", s.latency.p90_us);
        Get(l, "p99", s.latency.p99_us);
        Get(l, "p999", s.latency.p999_us);
        Get(l, "max", s.latency.max_us);
      }
      if (e.contains("errors")) {
        for (const auto& [k, v] : e["errors"].items()) s.errors[k] = v.get<std::uint64_t>();
      }
      if (e.contains("error_samples")) {
        for (const auto& [k, v] : e["error_samples"].items()) {
          s.error_samples[k] = v.get<std::string>();
        }
      }
      Get(e, "request_bytes", s.request_bytes);
      Get(e, "response_bytes", s.response_bytes);
      Get(e, "max_send_lag_us", s.max_send_lag_us);
      if (e.contains("server")) {
        const Json& v = e["server"];
        Get(v, "cpu_percent", s.server_cpu_percent);
        Get(v, "cpu_us_per_op", s.server_cpu_us_per_op);
        Get(v, "rss_mean_mib", s.server_rss_mean_mib);
        Get(v, "rss_max_mib", s.server_rss_max_mib);
      }
      if (e.contains("client")) Get(e["client"], "cpu_percent", s.client_cpu_percent);
      for (const Json& p : e.value("percentiles", Json::array())) {
        s.percentiles.emplace_back(p.at(0).get<double>(), p.at(1).get<double>());
      }
      for (const Json& t : e.value("timeline", Json::array())) {
        s.timeline.push_back({t.at(0).get<double>(), t.at(1).get<std::uint64_t>(),
                              t.at(2).get<std::uint64_t>(), t.at(3).get<double>(),
                              t.at(4).get<double>(), t.at(5).get<double>()});
      }
      Get(e, "skipped", s.skipped);
      Get(e, "note", s.note);
      r.scenarios.push_back(std::move(s));
    }
    for (const Json& e : j.value("memory", Json::array())) {
      MemoryResult m;
      Get(e, "id", m.id);
      Get(e, "nodes", m.nodes);
      Get(e, "pods_served", m.pods_served);
      Get(e, "nodes_cached", m.nodes_cached);
      Get(e, "pods_cached", m.pods_cached);
      Get(e, "sync_s", m.sync_s);
      Get(e, "rss_after_sync_mib", m.rss_after_sync_mib);
      Get(e, "rss_max_mib", m.rss_max_mib);
      Get(e, "peak_rss_mib", m.peak_rss_mib);
      Get(e, "rss_max_full_mib", m.rss_max_full_mib);
      Get(e, "note", m.note);
      r.memory.push_back(std::move(m));
    }
    for (const Json& e : j.value("micro", Json::array())) {
      MicroResult m;
      Get(e, "name", m.name);
      Get(e, "real_time_ns", m.real_time_ns);
      Get(e, "cpu_time_ns", m.cpu_time_ns);
      Get(e, "bytes_per_second", m.bytes_per_second);
      Get(e, "iterations", m.iterations);
      r.micro.push_back(std::move(m));
    }
    for (const Json& e : j.value("targets", Json::array())) {
      TargetCheck t;
      Get(e, "name", t.name);
      Get(e, "target", t.target);
      Get(e, "measured", t.measured);
      Get(e, "pass", t.pass);
      Get(e, "value", t.value);
      Get(e, "limit", t.limit);
      Get(e, "unit", t.unit);
      Get(e, "detail", t.detail);
      if (e.contains("floor")) Get(e, "floor", t.floor);
      r.targets.push_back(std::move(t));
    }
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("malformed results: ") + e.what());
  }
  return r;
}

StatusOr<Results> LoadResultsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Unavailable("cannot read " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  auto r = FromJson(buf.str());
  if (!r.ok()) return InvalidArgument(path + ": " + r.status().message());
  return r;
}

Status SaveTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Unavailable("cannot write " + path);
  return Status::Ok();
}

StatusOr<std::vector<MicroResult>> ParseGoogleBenchmarkJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("benchmarks")) {
    return InvalidArgument("not Google Benchmark JSON output (no \"benchmarks\")");
  }
  std::vector<MicroResult> out;
  try {
    for (const Json& b : j["benchmarks"]) {
      if (b.value("run_type", "iteration") != "iteration") continue;
      const std::string unit = b.value("time_unit", "ns");
      const double scale = unit == "s" ? 1e9 : unit == "ms" ? 1e6 : unit == "us" ? 1e3 : 1.0;
      MicroResult m;
      m.name = b.value("name", "");
      m.real_time_ns = b.value("real_time", 0.0) * scale;
      m.cpu_time_ns = b.value("cpu_time", 0.0) * scale;
      m.bytes_per_second = b.value("bytes_per_second", 0.0);
      m.iterations = b.value("iterations", std::int64_t{0});
      if (!b.value("error_occurred", false)) out.push_back(std::move(m));
    }
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("malformed benchmark JSON: ") + e.what());
  }
  return out;
}

std::string ScenarioId(const std::string& target, const std::string& face, const std::string& verb,
                       const std::string& mode, int nodes, int connections, double rate) {
  std::string id = target == "hyperplace" ? "" : target + "/";
  id += face;
  if (!mode.empty()) id += "/" + mode;
  id += "/" + verb;
  if (nodes > 0) id += "/n" + std::to_string(nodes);
  id += "/c" + std::to_string(connections);
  if (rate > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "/r%g", rate);
    id += buf;
  } else {
    id += "/closed";
  }
  return id;
}

namespace {

// Errors of a scenario including its warm-up: a request that never got a right answer counts
// against a target wherever it fell (64 connections of which 56 time out at the start leave the
// measured interval clean).
std::uint64_t AllErrors(const ScenarioResult& s) { return s.total_errors() + s.warmup_errors; }

std::string ErrorText(const ScenarioResult& s) {
  std::string text = std::to_string(s.total_errors()) + " errors";
  if (s.warmup_errors > 0) {
    text += " (and " + std::to_string(s.warmup_errors) +
            " during the warm-up: " + s.warmup_error_sample.substr(0, 80) + ")";
  }
  return text;
}

}  // namespace

std::string FailureSummary(const Results& r) {
  std::string out;
  for (const ScenarioResult& s : r.scenarios) {
    if (s.skipped || (s.total_errors() == 0 && s.warmup_errors == 0)) continue;
    out += s.id + ": ";
    bool first = true;
    for (const auto& [kind, count] : s.errors) {
      if (count == 0) continue;
      out += (first ? "" : ", ") + std::to_string(count) + " " + kind;
      first = false;
    }
    if (s.warmup_errors > 0) {
      out += (first ? "" : ", ") + std::to_string(s.warmup_errors) + " during the warm-up";
    }
    std::string sample = s.warmup_error_sample;
    for (const auto& [kind, text] : s.error_samples) {
      if (!text.empty()) {
        sample = kind + ": " + text;
        break;
      }
    }
    if (!sample.empty()) out += "; first: " + sample.substr(0, 300);
    out += "\n";
  }
  return out;
}

namespace {

// "p99 282us (p50 120us)" of a floor scenario (the p50 first when `median`), or empty.
std::string FloorLatency(const Results& r, const std::string& id, bool median) {
  const ScenarioResult* f = r.FindScenario(id);
  if (f == nullptr || f->skipped || f->ops == 0) return "";
  const double first = median ? f->latency.p50_us : f->latency.p99_us;
  const double second = median ? f->latency.p99_us : f->latency.p50_us;
  return std::string(median ? "p50 " : "p99 ") + FormatMicros(first) +
         (median ? " (p99 " : " (p50 ") + FormatMicros(second) + ")";
}

}  // namespace

std::vector<TargetCheck> EvaluateTargets(const Results& r) {
  std::vector<TargetCheck> out;
  {
    TargetCheck t;
    t.name = "extender names mode, 5000-node cache: filter+prioritize p99, 1 keep-alive connection";
    t.target = "< 1 ms";
    t.limit = 1000;
    t.unit = "us";
    const std::string id =
        ScenarioId("hyperplace", "extender", "filter+prioritize", "names", 5000, 1, 0);
    if (const ScenarioResult* s = r.FindScenario(id)) {
      t.measured = true;
      t.value = s->latency.p99_us;
      t.pass = AllErrors(*s) == 0 && s->ops > 0 && t.value < t.limit;
      t.detail = "p50 " + FormatMicros(s->latency.p50_us) + ", p99.9 " +
                 FormatMicros(s->latency.p999_us) + ", " + std::to_string(s->pods_cached) +
                 " pods cached, " + ErrorText(*s);
    } else {
      t.detail = "scenario " + id + " not run";
    }
    t.floor = FloorLatency(
        r, ScenarioId("floor", "extender", "filter+prioritize", "names", 5000, 1, 0), false);
    out.push_back(t);
  }
  {
    TargetCheck t;
    t.name =
        "extender names mode: verdicts identical to full-node mode on the same pod and nodes, "
        "5000 nodes";
    t.target = "every reply of both modes matches the generator's expected answer";
    t.unit = "wrong answers";
    std::uint64_t wrong = 0, ops = 0;
    int found = 0;
    bool modes[2] = {false, false};  // names, full: at least one scenario of each ran
    std::string missing;
    for (int m = 0; m < 2; ++m) {
      for (const char* verb : {"filter", "prioritize", "filter+prioritize"}) {
        const std::string id =
            ScenarioId("hyperplace", "extender", verb, m == 0 ? "names" : "full", 5000, 1, 0);
        const ScenarioResult* s = r.FindScenario(id);
        if (s == nullptr || s->skipped) {
          missing += (missing.empty() ? "" : ", ") + id;
          continue;
        }
        ++found;
        modes[m] = true;
        ops += s->ops;
        wrong += AllErrors(*s);
      }
    }
    // Both modes are checked against one expectation per pod, so both passing means identical.
    if (modes[0] && modes[1]) {
      t.measured = true;
      t.value = static_cast<double>(wrong);
      t.pass = wrong == 0 && ops > 0;
      t.detail = std::to_string(ops) + " operations in " + std::to_string(found) +
                 " scenarios checked against the same expected answers; " + std::to_string(wrong) +
                 " errors";
      if (!missing.empty()) t.detail += "; not run: " + missing;
    } else {
      t.detail = "needs names- and full-node scenarios at 5000 nodes";
    }
    out.push_back(t);
  }
  {
    TargetCheck t;
    t.name = "extender names mode: throughput bounded by the HTTP floor, not by scoring";
    t.target = "hyperplace / floor ops/s (informational)";
    t.unit = "ratio";
    const std::string id =
        ScenarioId("hyperplace", "extender", "filter+prioritize", "names", 5000, 1, 0);
    const std::string floor_id =
        ScenarioId("floor", "extender", "filter+prioritize", "names", 5000, 1, 0);
    const ScenarioResult* s = r.FindScenario(id);
    const ScenarioResult* f = r.FindScenario(floor_id);
    if (s != nullptr && f != nullptr && f->throughput > 0) {
      t.measured = true;
      t.value = s->throughput / f->throughput;
      t.pass = true;
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "%.0f vs %.0f ops/s; server CPU %.0f vs %.0f us per op (hyperplace vs floor)",
                    s->throughput, f->throughput, s->server_cpu_us_per_op, f->server_cpu_us_per_op);
      t.detail = buf;
      std::snprintf(buf, sizeof buf, "%.0f ops/s", f->throughput);
      t.floor = buf;
    } else {
      t.detail = "needs " + id + " and " + floor_id;
    }
    out.push_back(t);
  }
  {
    TargetCheck t;
    t.name =
        "extender full-node mode, 5000 nodes: /filter end to end vs the transfer floor (the same "
        "request, a reply of the same size)";
    t.target = "<= 2x";
    t.limit = 2;
    t.unit = "x";
    const std::string id = ScenarioId("hyperplace", "extender", "filter", "full", 5000, 1, 0);
    const std::string floor_id = ScenarioId("floor", "extender", "filter", "full", 5000, 1, 0);
    const ScenarioResult* s = r.FindScenario(id);
    const ScenarioResult* f = r.FindScenario(floor_id);
    if (s != nullptr && f != nullptr && !s->skipped && !f->skipped && f->latency.p50_us > 0) {
      t.measured = true;
      t.value = s->latency.p50_us / f->latency.p50_us;
      t.pass = t.value <= t.limit && AllErrors(*s) == 0 && s->ops > 0;
      char buf[256];
      std::snprintf(
          buf, sizeof buf, "p50 %s vs %s, p99 %s vs %s (hyperplace vs floor); ",
          FormatMicros(s->latency.p50_us).c_str(), FormatMicros(f->latency.p50_us).c_str(),
          FormatMicros(s->latency.p99_us).c_str(), FormatMicros(f->latency.p99_us).c_str());
      t.detail = buf + ErrorText(*s);
    } else {
      t.detail = "needs " + id + " and " + floor_id;
    }
    t.floor = FloorLatency(r, floor_id, true);
    out.push_back(t);
  }
  {
    TargetCheck t;
    t.name =
        "extender full-node mode: decode cost vs the fastest parse of the same bytes, 5000 nodes";
    t.target = "<= 1.5x";
    t.limit = 1.5;
    t.unit = "x";
    const MicroResult* decode = r.FindMicro("BM_DecodeArgsFull/5000");
    const MicroResult* fastest = r.FindMicro("BM_OnDemandTouch/5000");
    const MicroResult* dom = r.FindMicro("BM_DomParse/5000");
    // CPU time, not wall time: on a shared machine it is the steadier of the two.
    if (decode != nullptr && fastest != nullptr && fastest->cpu_time_ns > 0) {
      t.measured = true;
      t.value = decode->cpu_time_ns / fastest->cpu_time_ns;
      t.pass = t.value <= t.limit;
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "CPU time: hyperplace decode %.2f ms vs simdjson On-Demand touching the "
                    "rule fields %.2f ms",
                    decode->cpu_time_ns / 1e6, fastest->cpu_time_ns / 1e6);
      t.detail = buf;
      if (dom != nullptr && dom->cpu_time_ns > 0) {
        std::snprintf(buf, sizeof buf, "; vs simdjson DOM (validates every byte) %.2f ms = %.2fx",
                      dom->cpu_time_ns / 1e6, decode->cpu_time_ns / dom->cpu_time_ns);
        t.detail += buf;
      }
      std::snprintf(buf, sizeof buf, "On-Demand %.2f ms", fastest->cpu_time_ns / 1e6);
      t.floor = buf;
    } else {
      t.detail = "needs codec_bench results (--micro FILE)";
    }
    out.push_back(t);
  }
  // The webhook at 5,000 admissions/s: over a few connections, and over an API server's pool.
  for (const bool pool : {false, true}) {
    TargetCheck t;
    t.name = pool ? "webhook: p99 at 5,000 admissions/s over 64 TLS keep-alive connections"
                  : "webhook: p99 at 5,000 admissions/s over TLS keep-alive";
    t.target = "< 1 ms";
    t.limit = 1000;
    t.unit = "us";
    const ScenarioResult* s = nullptr;
    for (const ScenarioResult& c : r.scenarios) {
      if (c.target == "hyperplace" && c.face == "webhook" && c.rate == 5000 && !c.skipped &&
          (c.connections >= 64) == pool && s == nullptr) {
        s = &c;
      }
    }
    if (s != nullptr) {
      t.measured = true;
      t.value = s->latency.p99_us;
      const bool kept_up = s->throughput >= 0.98 * s->rate;
      t.pass = t.value < t.limit && AllErrors(*s) == 0 && kept_up;
      char buf[256];
      std::snprintf(buf, sizeof buf, "%d connections, achieved %.0f/s, p50 %s, p99.9 %s, ",
                    s->connections, s->throughput, FormatMicros(s->latency.p50_us).c_str(),
                    FormatMicros(s->latency.p999_us).c_str());
      t.detail = buf + ErrorText(*s);
      for (const ScenarioResult& c : r.scenarios) {
        if (c.target == "floor" && c.face == "webhook" && c.rate == s->rate &&
            c.connections == s->connections && !c.skipped) {
          t.floor = FloorLatency(r, c.id, false);
        }
      }
    } else {
      t.detail = pool ? "webhook scenario at 5000/s with 64 connections not run"
                      : "webhook scenario at 5000/s not run";
      for (const ScenarioResult& c : r.scenarios) {
        if (c.face == "webhook" && c.skipped) t.detail = "skipped: " + c.note;
      }
    }
    out.push_back(t);
  }
  {
    // The webhook as fast as an API server's pool of connections
    // drives it, against a Go standard-library webhook doing only the JSON work.
    TargetCheck t;
    t.name = "webhook: throughput over 64 TLS keep-alive connections vs a Go stdlib webhook";
    t.target = ">= 3x";
    t.limit = 3;
    t.unit = "x";
    const ScenarioResult* s = nullptr;
    const ScenarioResult* go = nullptr;
    const ScenarioResult* f = nullptr;
    for (const ScenarioResult& c : r.scenarios) {
      if (c.face != "webhook" || c.rate != 0 || c.connections < 64 || c.skipped) continue;
      if (c.target == "hyperplace") s = &c;
      if (c.target == "go") go = &c;
      if (c.target == "floor") f = &c;
    }
    if (s != nullptr && go != nullptr && go->throughput > 0) {
      t.measured = true;
      t.value = s->throughput / go->throughput;
      t.pass = t.value >= t.limit && AllErrors(*s) == 0 && AllErrors(*go) == 0 && s->ops > 0;
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "%.0f vs %.0f admissions/s, p99 %s vs %s, server CPU %.0f vs %.0f us per "
                    "admission (hyperplace vs Go, %d connections); ",
                    s->throughput, go->throughput, FormatMicros(s->latency.p99_us).c_str(),
                    FormatMicros(go->latency.p99_us).c_str(), s->server_cpu_us_per_op,
                    go->server_cpu_us_per_op, s->connections);
      t.detail = buf + ErrorText(*s);
      if (f != nullptr && f->ops > 0) {
        std::snprintf(buf, sizeof buf, "%.0f/s", f->throughput);
        t.floor = buf;
      }
    } else {
      t.detail = "needs webhook/mutate/c64/closed and go/webhook/mutate/c64/closed (--go-webhook)";
    }
    out.push_back(t);
  }
  {
    TargetCheck t;
    t.name = "memory: RSS with 5000 nodes and 150,000 pods cached";
    t.target = "< 200 MiB";
    t.limit = 200;
    t.unit = "MiB";
    const MemoryResult* m = nullptr;
    for (const MemoryResult& c : r.memory) {
      if (c.nodes == 5000 && c.pods_cached >= 150000) m = &c;
    }
    if (m != nullptr) {
      t.measured = true;
      // A container limit must hold the peak, which the initial list of 150,000 pods sets.
      t.value = std::max(m->peak_rss_mib, m->rss_max_mib);
      t.pass = t.value < t.limit;
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "peak (VmHWM, includes the initial list) %.1f MiB; settled after sync %.1f "
                    "MiB; max while serving names mode %.1f MiB; %lld pods cached",
                    m->peak_rss_mib, m->rss_after_sync_mib, m->rss_max_mib,
                    static_cast<long long>(m->pods_cached));
      t.detail = buf;
      if (m->rss_max_full_mib > 0) {
        std::snprintf(buf, sizeof buf,
                      ". Full-node requests (43 MB each) then take it to %.1f MiB: their buffers "
                      "stay with the workers",
                      m->rss_max_full_mib);
        t.detail += buf;
      }
    } else {
      t.detail = "needs the 5000-node run with 30 pods per node";
    }
    out.push_back(t);
  }
  {
    TargetCheck t;
    t.name = "kube-scheduler throughput with the extender vs without";
    t.target = ">= 90%";
    t.unit = "%";
    t.detail = "not measurable here: needs a real kube-scheduler and API server (e2e/)";
    out.push_back(t);
  }
  return out;
}

HostInfo ReadHostInfo() {
  HostInfo h;
  h.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      h.cpu_model = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  if (uname(&u) == 0) h.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
  double loads[3] = {0, 0, 0};
  if (getloadavg(loads, 3) == 3) {
    h.load1_start = loads[0];
    h.load5_start = loads[1];
    h.load15_start = loads[2];
  }
  return h;
}

std::string UtcNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FormatMicros(double us) {
  char buf[32];
  if (us < 1000) {
    std::snprintf(buf, sizeof buf, us < 10 ? "%.1fus" : "%.0fus", us);
  } else if (us < 1e6) {
    std::snprintf(buf, sizeof buf, us < 1e4 ? "%.2fms" : us < 1e5 ? "%.1fms" : "%.0fms", us / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", us / 1e6);
  }
  return buf;
}

namespace {

// A target's figure in its unit ("800us", "1.50 x"), or empty when not measured.
std::string TargetValue(const TargetCheck& t) {
  if (!t.measured) return "";
  if (t.unit == "us") return FormatMicros(t.value);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s", t.value, t.unit.c_str());
  return buf;
}

}  // namespace

std::string FormatSummary(const Results& r) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-52s %9s %8s %8s %8s %8s %8s %6s %6s %8s %7s\n", "scenario",
                "ops/s", "p50", "p90", "p99", "p99.9", "max", "errors", "srvCPU", "CPU/op",
                "srvRSS");
  out += line;
  for (const ScenarioResult& s : r.scenarios) {
    if (s.skipped) {
      std::snprintf(line, sizeof line, "%-52s skipped: %s\n", s.id.c_str(), s.note.c_str());
      out += line;
      continue;
    }
    std::snprintf(line, sizeof line, "%-52s %9.0f %8s %8s %8s %8s %8s %6llu %5.0f%% %8s %6.0fM\n",
                  s.id.c_str(), s.throughput, FormatMicros(s.latency.p50_us).c_str(),
                  FormatMicros(s.latency.p90_us).c_str(), FormatMicros(s.latency.p99_us).c_str(),
                  FormatMicros(s.latency.p999_us).c_str(), FormatMicros(s.latency.max_us).c_str(),
                  static_cast<unsigned long long>(s.total_errors()), s.server_cpu_percent,
                  FormatMicros(s.server_cpu_us_per_op).c_str(), s.server_rss_max_mib);
    out += line;
    if (s.warmup_errors > 0) {
      out += "    warm-up errors (" + std::to_string(s.warmup_errors) +
             ", not counted above): " + s.warmup_error_sample.substr(0, 200) + "\n";
    }
    for (const auto& [kind, text] : s.error_samples) {
      out += "    " + kind + " (" + std::to_string(s.errors.at(kind)) +
             "): " + text.substr(0, 200) + "\n";
    }
  }
  if (!r.memory.empty()) {
    out += "\nmemory (hyperplace with its watch cache filled through the fake API server)\n";
    for (const MemoryResult& m : r.memory) {
      std::snprintf(line, sizeof line,
                    "  %-6s nodes %5lld  pods %7lld  sync %5.1fs  RSS settled %6.1f MiB  max "
                    "names mode %6.1f MiB  peak %6.1f MiB  max full mode %6.1f MiB\n",
                    m.id.c_str(), static_cast<long long>(m.nodes_cached),
                    static_cast<long long>(m.pods_cached), m.sync_s, m.rss_after_sync_mib,
                    m.rss_max_mib, m.peak_rss_mib, m.rss_max_full_mib);
      out += line;
    }
  }
  if (!r.micro.empty()) {
    out += "\nmicro-benchmarks\n";
    for (const MicroResult& m : r.micro) {
      std::snprintf(
          line, sizeof line, "  %-40s %12s%s\n", m.name.c_str(),
          FormatMicros(m.real_time_ns / 1000).c_str(),
          m.bytes_per_second > 0
              ? ("  " + std::to_string(static_cast<int>(m.bytes_per_second / 1e6)) + " MB/s")
                    .c_str()
              : "");
      out += line;
    }
  }
  if (!r.targets.empty()) {
    out += "\nDESIGN section 5 targets\n";
    for (const TargetCheck& t : r.targets) {
      const char* verdict = !t.measured         ? "n/a "
                            : t.unit == "ratio" ? "info"
                            : t.pass            ? "PASS"
                                                : "MISS";
      const std::string value = TargetValue(t);
      std::snprintf(line, sizeof line, "  [%s] %s: %s (target %s)\n         %s\n", verdict,
                    t.name.c_str(), value.empty() ? "-" : value.c_str(), t.target.c_str(),
                    t.detail.c_str());
      out += line;
    }
  }
  return out;
}

namespace {

// A table cell: no line breaks, and '|' escaped.
std::string Cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += c == '\n' ? ' ' : c;
    }
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string FormatMarkdown(const Results& r, const std::string& command,
                           const std::string& html_link) {
  std::string out;
  char line[1024];
  std::uint64_t ops = 0, errors = 0;
  for (const ScenarioResult& s : r.scenarios) {
    if (s.skipped) continue;
    ops += s.ops;
    errors += AllErrors(s);
  }
  std::snprintf(line, sizeof line,
                "Measured %s on %d CPUs (%s, %s), build %s; load average %.2f / %.2f / %.2f "
                "before, %.2f after. Every reply checked: %llu operations, %llu errors.\n\n",
                r.created.c_str(), r.host.cpus, r.host.cpu_model.c_str(), r.host.kernel.c_str(),
                r.label.empty() ? "unlabelled" : r.label.c_str(), r.host.load1_start,
                r.host.load5_start, r.host.load15_start, r.host.load1_end,
                static_cast<unsigned long long>(ops), static_cast<unsigned long long>(errors));
  out += line;
  out += "```sh\n" + command + "\n```\n\n";
  out += "| DESIGN §5 target | limit | hyperplace | floor, same run | |\n";
  out += "|---|---|---|---|---|\n";
  for (const TargetCheck& t : r.targets) {
    const char* verdict = !t.measured         ? "not measured here"
                          : t.unit == "ratio" ? "information"
                          : t.pass            ? "met"
                                              : "**not met**";
    out += "| " + Cell(t.name) + " | " + Cell(t.target) + " | " + Cell(TargetValue(t)) + " | " +
           Cell(t.floor) + " | " + verdict + " |\n";
  }
  out += "\n";
  for (const TargetCheck& t : r.targets) {
    if (!t.detail.empty()) out += "- " + t.name + ": " + t.detail + "\n";
  }
  if (!html_link.empty())
    out += "\nEvery scenario, percentile and timeline: [the HTML report](" + html_link + ").\n";
  return out;
}

}  // namespace hyperplace::bench
