// hyperplace's metrics: prometheus-cpp's counters, gauges and histograms, in families registered
// with their label names up front, exposed in the text format (0.0.4) by prometheus-cpp's
// TextSerializer.
//
// Updates are prometheus-cpp's: lock-free for counters and gauges, a short lock per histogram
// observation. Finding a child by label values builds a label map and takes the family's mutex,
// so hot paths look children up once and keep the reference (children live as long as the
// registry and never move).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cassert>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace hyperplace::metrics {

using Counter = prometheus::Counter;
using Gauge = prometheus::Gauge;
using Histogram = prometheus::Histogram;

// Buckets for request latencies in seconds: 50 µs .. 10 s.
std::vector<double> LatencyBuckets();
// Exponential buckets: start, start*factor, ... (count bounds).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// A metric family: one child per combination of label values, given in the order of the
// family's label names.
template <typename M>
class Family {
 public:
  // The child for these label values (as many as the family has label names), created on first
  // use. The reference stays valid for the registry's lifetime. Thread-safe (takes a mutex).
  M& With(std::initializer_list<std::string_view> label_values);
  // The child of a family without labels.
  M& Get() { return With({}); }
  // With(), once: the child kept in `slot` (null until the first use), for hot paths whose label
  // values come from a small fixed set that the caller indexes. Then one atomic load per use.
  M& Cached(std::atomic<M*>& slot, std::initializer_list<std::string_view> label_values) {
    M* child = slot.load(std::memory_order_acquire);
    if (child == nullptr) {
      child = &With(label_values);  // a racing thread finds the same child
      slot.store(child, std::memory_order_release);
    }
    return *child;
  }

 private:
  friend class Registry;
  Family(prometheus::Family<M>& family, std::vector<std::string> label_names,
         std::vector<double> upper_bounds)
      : family_(family),
        label_names_(std::move(label_names)),
        upper_bounds_(std::move(upper_bounds)) {}

  prometheus::Family<M>& family_;
  std::vector<std::string> label_names_;
  std::vector<double> upper_bounds_;  // histograms
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Metric and label names must match the Prometheus grammar ([a-zA-Z_:][a-zA-Z0-9_:]* for
  // metrics, [a-zA-Z_][a-zA-Z0-9_]* for labels, no "__" prefix) and help texts hold no newline
  // or backslash (the serializer writes them as they are). Breaking that, or registering a name
  // again with another type, labels or buckets, is a programming error (assert); a duplicate
  // registration returns the existing family.
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

  // The text exposition format 0.0.4, written by prometheus-cpp's TextSerializer: families
  // sorted by name and children by label values, so two scrapes of the same state are the same
  // bytes. Safe to call concurrently with updates, child creation and registration; callback
  // gauges and collectors run without any lock held.
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
                       std::vector<std::string> label_names, std::vector<double> upper_bounds);
  template <typename M>  // mu_ held
  Family<M>& Unexposed(std::vector<std::string> label_names, std::vector<double> upper_bounds);

  prometheus::Registry registry_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
  std::vector<std::shared_ptr<const std::function<void()>>> collectors_;
  // Release builds: families handed out for invalid or conflicting registrations.
  std::vector<std::shared_ptr<void>> unexposed_;
};

template <typename M>
M& Family<M>::With(std::initializer_list<std::string_view> label_values) {
  assert(label_values.size() == label_names_.size() && "wrong number of label values");
  prometheus::Labels labels;
  auto value = label_values.begin();
  // Release builds: missing values are empty, extra ones dropped, so the family stays consistent.
  for (const std::string& name : label_names_) {
    labels.emplace(name, value != label_values.end() ? std::string(*value++) : std::string());
  }
  if constexpr (std::is_same_v<M, Histogram>) {
    return family_.Add(labels, upper_bounds_);
  } else {
    return family_.Add(labels);
  }
}

}  // namespace hyperplace::metrics
