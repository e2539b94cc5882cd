// A small metrics registry with the Prometheus text exposition format (version 0.0.4).
//
// prometheus-cpp is not packaged in Debian 12, so hyperplace carries this one: counters, gauges
// and histograms, with label families. Metric updates are lock-free (atomics); looking up a child
// by label values takes a mutex, so hot paths look children up once and keep the reference
// (children live as long as the registry and never move).
#pragma once

#include <atomic>
#include <cassert>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hyperplace::metrics {

class Counter {
 public:
  void Inc(double v = 1.0);  // v must be >= 0
  double Value() const;

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v);
  void Add(double v);
  double Value() const;

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `upper_bounds` strictly increasing, without +Inf (always implied).
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative_counts;  // one per bound, then one for +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket (not cumulative), +Inf last
  std::atomic<double> sum_{0.0};
  std::atomic<std::uint64_t> count_{0};
};

// Buckets for request latencies in seconds: 50 µs .. 10 s.
std::vector<double> LatencyBuckets();
// Exponential buckets: start, start*factor, ... (count bounds).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// A metric family: one child per combination of label values.
template <typename M>
class Family {
 public:
  // The child for these label values (as many as the family has label names), created on first
  // use. The reference stays valid for the registry's lifetime. Thread-safe (takes a mutex).
  M& With(std::initializer_list<std::string_view> label_values);
  // The child of a family without labels.
  M& Get() { return With({}); }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<M>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;
};

class Registry {
 public:
  // Metric and label names must match the Prometheus grammar ([a-zA-Z_:][a-zA-Z0-9_:]* for
  // metrics, [a-zA-Z_][a-zA-Z0-9_]* for labels, no "__" prefix); registering an invalid or
  // duplicate name is a programming error (assert) and returns the existing family for duplicates.
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> upper_bounds);
  // A gauge read at exposition time (cache sizes, seconds to certificate expiry).
  void AddCallbackGauge(const std::string& name, const std::string& help,
                        std::function<double()> read);
  // Runs at the start of every Render(), without any lock held: for families whose values are
  // read from live state (a server's open connections). `collect` must stay valid as long as
  // the registry renders.
  void AddCollector(std::function<void()> collect);

  // Text exposition format 0.0.4: families sorted by name, children by label values; HELP and
  // TYPE lines; label values escaped (\\, \", \n); histograms as _bucket{le=...} (cumulative,
  // ending with le="+Inf"), _sum and _count. Content type: kContentType.
  // Safe to call concurrently with updates, child creation and registration; callback gauges are
  // read without any lock held.
  std::string Render() const;

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // What a scrape can show, without values: one entry per family, sorted by name. Dashboards and
  // alerts depend on these; a test pins them.
  struct Description {
    std::string name;
    std::string type;  // "counter", "gauge" or "histogram"
    std::string help;
    std::vector<std::string> label_names;
  };
  std::vector<Description> Describe() const;

 private:
  struct Entry;
  template <typename M>
  Family<M>& AddFamily(const std::string& name, const std::string& help,
                       std::vector<std::string> label_names, std::vector<double> upper_bounds,
                       std::function<std::unique_ptr<M>()> make);
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  std::vector<std::shared_ptr<const std::function<void()>>> collectors_;
};

template <typename M>
M& Family<M>::With(std::initializer_list<std::string_view> label_values) {
  assert(label_values.size() == label_names_.size() && "wrong number of label values");
  std::vector<std::string> key(label_values.begin(), label_values.end());
  // Release builds: pad or truncate so the exposition stays well-formed.
  key.resize(label_names_.size());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(key);
  if (it == children_.end()) it = children_.emplace(std::move(key), make_()).first;
  return *it->second;
}

}  // namespace hyperplace::metrics
