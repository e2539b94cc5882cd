#include "common/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <map>
#include <type_traits>

namespace hyperplace::metrics {
namespace {

bool IsMetricNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsMetricNameChar(char c) { return IsMetricNameStart(c) || (c >= '0' && c <= '9'); }

[[maybe_unused]] bool IsValidMetricName(std::string_view name) {
  return !name.empty() && IsMetricNameStart(name[0]) &&
         std::all_of(name.begin(), name.end(), IsMetricNameChar);
}

// Label names are metric names without ':', and the "__" prefix is reserved for Prometheus.
bool IsValidLabelName(std::string_view name) {
  return IsValidMetricName(name) && name.find(':') == std::string_view::npos &&
         !name.starts_with("__");
}

[[maybe_unused]] bool AreValidLabelNames(const std::vector<std::string>& names) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!IsValidLabelName(names[i])) return false;
    if (std::find(names.begin(), names.begin() + i, names[i]) != names.begin() + i) return false;
  }
  return true;
}

// prometheus-cpp's serializer writes help texts as they are: a newline would end the line.
[[maybe_unused]] bool IsPlainHelp(std::string_view help) {
  return help.find_first_of("\n\\") == std::string_view::npos;
}

[[maybe_unused]] bool AreValidBounds(const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) return false;
    if (i > 0 && !(bounds[i - 1] < bounds[i])) return false;
  }
  return true;
}

template <typename M>
constexpr const char* TypeOf() {
  if constexpr (std::is_same_v<M, Counter>) {
    return "counter";
  } else if constexpr (std::is_same_v<M, Gauge>) {
    return "gauge";
  } else {
    static_assert(std::is_same_v<M, Histogram>);
    return "histogram";
  }
}

template <typename M>
auto Builder() {
  if constexpr (std::is_same_v<M, Counter>) {
    return prometheus::BuildCounter();
  } else if constexpr (std::is_same_v<M, Gauge>) {
    return prometheus::BuildGauge();
  } else {
    return prometheus::BuildHistogram();
  }
}

}  // namespace

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  assert(start > 0 && factor > 1 && count >= 1);
  std::vector<double> bounds;
  bounds.reserve(count > 0 ? count : 0);
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

// One registered name. Exactly one of the families or `read` is set, the one its type names.
struct Registry::Entry {
  std::string type;
  std::string help;
  std::vector<std::string> label_names;
  std::vector<double> upper_bounds;
  std::unique_ptr<Family<Counter>> counter;
  std::unique_ptr<Family<Gauge>> gauge;
  std::unique_ptr<Family<Histogram>> histogram;
  std::shared_ptr<const std::function<double()>> read;  // callback gauges

  template <typename M>
  std::unique_ptr<Family<M>>& Slot() {
    if constexpr (std::is_same_v<M, Counter>) {
      return counter;
    } else if constexpr (std::is_same_v<M, Gauge>) {
      return gauge;
    } else {
      return histogram;
    }
  }
};

Registry::Registry() = default;
Registry::~Registry() = default;

template <typename M>
Family<M>& Registry::Unexposed(std::vector<std::string> label_names,
                               std::vector<double> upper_bounds) {
  auto family = std::make_shared<prometheus::Family<M>>("unexposed", "", prometheus::Labels{});
  std::shared_ptr<Family<M>> wrapper(
      new Family<M>(*family, std::move(label_names), std::move(upper_bounds)));
  unexposed_.push_back(std::move(family));
  unexposed_.push_back(wrapper);
  return *wrapper;
}

template <typename M>
Family<M>& Registry::AddFamily(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names,
                               std::vector<double> upper_bounds) {
  const bool valid_name = IsValidMetricName(name);
  const bool valid_labels = AreValidLabelNames(label_names);
  assert(valid_name && "invalid metric name");
  assert(valid_labels && "invalid or repeated label name");
  assert(IsPlainHelp(help) && "help text with a newline or backslash");
  std::lock_guard<std::mutex> lock(mu_);
  // Release builds: prometheus-cpp would throw on an invalid name. The caller gets a working
  // family, without labels, that is never exposed.
  if (!valid_name || !valid_labels) return Unexposed<M>({}, std::move(upper_bounds));
  std::unique_ptr<Entry>& entry = entries_[name];
  if (entry != nullptr) {
    assert(entry->type == TypeOf<M>() && entry->read == nullptr &&
           "metric registered twice with different types");
    assert(entry->label_names == label_names && "metric registered twice with different labels");
    assert(entry->upper_bounds == upper_bounds && "histogram registered twice with other buckets");
    // Release builds: a conflicting registration gets the first family when the types agree,
    // and one that is never exposed when they do not.
    if (std::unique_ptr<Family<M>>& family = entry->Slot<M>(); family != nullptr) return *family;
    return Unexposed<M>(std::move(label_names), std::move(upper_bounds));
  }
  entry = std::make_unique<Entry>();
  entry->type = TypeOf<M>();
  entry->help = help;
  entry->label_names = label_names;
  entry->upper_bounds = upper_bounds;
  prometheus::Family<M>& family = Builder<M>().Name(name).Help(help).Register(registry_);
  std::unique_ptr<Family<M>>& slot = entry->Slot<M>();
  slot.reset(new Family<M>(family, std::move(label_names), std::move(upper_bounds)));
  // A family without labels has exactly one child; create it now so it is exposed as `name 0`
  // before its first update.
  if (slot->label_names_.empty()) slot->Get();
  return *slot;
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  return AddFamily<Counter>(name, help, std::move(label_names), {});
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  return AddFamily<Gauge>(name, help, std::move(label_names), {});
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> upper_bounds) {
  assert(std::find(label_names.begin(), label_names.end(), "le") == label_names.end() &&
         "\"le\" is reserved for histogram buckets");
  assert(AreValidBounds(upper_bounds) && "bounds must be finite and strictly increasing");
  return AddFamily<Histogram>(name, help, std::move(label_names), std::move(upper_bounds));
}

void Registry::AddCallbackGauge(const std::string& name, const std::string& help,
                                std::function<double()> read) {
  assert(IsValidMetricName(name) && "invalid metric name");
  assert(IsPlainHelp(help) && "help text with a newline or backslash");
  assert(read != nullptr && "callback gauge without a callback");
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Entry>& entry = entries_[name];
  // There is no family to hand back, and Render() calls `read` without a lock, so a second
  // registration cannot replace the first: it is a programming error and is ignored.
  assert(entry == nullptr && "metric registered twice");
  if (entry != nullptr) return;
  entry = std::make_unique<Entry>();
  entry->type = "gauge";
  entry->help = help;
  entry->read = std::make_shared<const std::function<double()>>(std::move(read));
}

void Registry::AddCollector(std::function<void()> collect) {
  auto shared = std::make_shared<const std::function<void()>>(std::move(collect));
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(shared));
}

std::string Registry::Render() const {
  std::vector<std::shared_ptr<const std::function<void()>>> collectors;
  std::vector<std::pair<prometheus::MetricFamily, std::shared_ptr<const std::function<double()>>>>
      callbacks;
  std::map<std::string, std::vector<std::string>, std::less<>> label_names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
    for (const auto& [name, entry] : entries_) {
      if (entry->label_names.size() > 1) label_names.emplace(name, entry->label_names);
      if (entry->read == nullptr) continue;
      prometheus::MetricFamily family;
      family.name = name;
      family.help = entry->help;
      family.type = prometheus::MetricType::Gauge;
      callbacks.emplace_back(std::move(family), entry->read);
    }
  }
  for (const auto& collect : collectors) (*collect)();

  std::vector<prometheus::MetricFamily> families = registry_.Collect();
  for (auto& [family, read] : callbacks) {
    family.metric.emplace_back().gauge.value = (*read)();
    families.push_back(std::move(family));
  }
  std::sort(families.begin(), families.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& family : families) {
    // prometheus-cpp hands labels sorted by name; expose them in the order they were declared
    // (`server`, `verb`, `code`), as they always were.
    if (auto order = label_names.find(family.name); order != label_names.end()) {
      for (auto& metric : family.metric) {
        std::vector<prometheus::ClientMetric::Label> declared;
        declared.reserve(metric.label.size());
        for (const std::string& name : order->second) {
          auto label = std::find_if(metric.label.begin(), metric.label.end(),
                                    [&](const auto& l) { return l.name == name; });
          if (label != metric.label.end()) declared.push_back(std::move(*label));
        }
        metric.label = std::move(declared);
      }
    }
    std::sort(family.metric.begin(), family.metric.end(),
              [](const auto& a, const auto& b) { return a.label < b.label; });
  }
  return prometheus::TextSerializer().Serialize(families);
}

std::vector<Registry::Description> Registry::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Description> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) {
    out.push_back({name, entry->type, entry->help, entry->label_names});
  }
  return out;
}

}  // namespace hyperplace::metrics
