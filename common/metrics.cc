#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <type_traits>

namespace hyperplace::metrics {
namespace {

// C++20 has atomic<double>::fetch_add, but spelling the loop out keeps the memory order
// (sequentially consistent, which Histogram::Read relies on) and the cost visible.
void AtomicAdd(std::atomic<double>& target, double v) {
  double old = target.load();
  while (!target.compare_exchange_weak(old, old + v)) {
  }
}

bool IsMetricNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsMetricNameChar(char c) { return IsMetricNameStart(c) || (c >= '0' && c <= '9'); }

bool IsValidMetricName(std::string_view name) {
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

[[maybe_unused]] bool AreValidBounds(const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) return false;
    if (i > 0 && !(bounds[i - 1] < bounds[i])) return false;
  }
  return true;
}

// Exact integers up to 2^53 print as integers ("3", not "3.0" or "3e+00"); everything else prints
// as the shortest text that parses back to the same double ("0.1", "0.30000000000000004",
// "5e-05", "1.23456725e+06"), in the %g style of Go's strconv.FormatFloat(v, 'g', -1, 64) that
// Prometheus' own client uses.
void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  std::to_chars_result result;
  if (std::fabs(v) <= 9007199254740992.0 && v == std::trunc(v)) {
    result = std::to_chars(buf, buf + sizeof(buf), static_cast<std::int64_t>(v));
  } else {
    result = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general);
  }
  out.append(buf, result.ptr);
}

void AppendCount(std::string& out, std::uint64_t n) {
  char buf[32];
  auto result = std::to_chars(buf, buf + sizeof(buf), n);
  out.append(buf, result.ptr);
}

void AppendEscapedHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendHeader(std::string& out, std::string_view name, std::string_view help,
                  std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  AppendEscapedHelp(out, help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// `name{a="x",b="y",le="0.5"} ` (no braces when there are no labels), up to the value.
void AppendSeries(std::string& out, std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, const double* le) {
  out += name;
  out += suffix;
  if (!label_names.empty() || le != nullptr) {
    out += '{';
    for (std::size_t i = 0; i < label_names.size(); ++i) {
      if (i > 0) out += ',';
      out += label_names[i];
      out += "=\"";
      AppendEscapedLabelValue(out, label_values[i]);
      out += '"';
    }
    if (le != nullptr) {
      if (!label_names.empty()) out += ',';
      out += "le=\"";
      AppendValue(out, *le);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void AppendHistogram(std::string& out, std::string_view name,
                     const std::vector<std::string>& label_names,
                     const std::vector<std::string>& label_values,
                     const Histogram::Snapshot& snapshot) {
  for (std::size_t i = 0; i <= snapshot.upper_bounds.size(); ++i) {
    double le = i < snapshot.upper_bounds.size() ? snapshot.upper_bounds[i] : HUGE_VAL;
    AppendSeries(out, name, "_bucket", label_names, label_values, &le);
    AppendCount(out, snapshot.cumulative_counts[i]);
    out += '\n';
  }
  AppendSeries(out, name, "_sum", label_names, label_values, nullptr);
  AppendValue(out, snapshot.sum);
  out += '\n';
  AppendSeries(out, name, "_count", label_names, label_values, nullptr);
  AppendCount(out, snapshot.count);
  out += '\n';
}

enum class Kind { kCounter, kGauge, kHistogram, kCallbackGauge };

template <typename M>
constexpr Kind KindOf() {
  if constexpr (std::is_same_v<M, Counter>) {
    return Kind::kCounter;
  } else if constexpr (std::is_same_v<M, Gauge>) {
    return Kind::kGauge;
  } else {
    static_assert(std::is_same_v<M, Histogram>);
    return Kind::kHistogram;
  }
}

}  // namespace

void Counter::Inc(double v) {
  assert(v >= 0 && "counters only go up");
  if (!(v >= 0)) return;  // release builds: drop negative and NaN increments
  AtomicAdd(value_, v);
}

double Counter::Value() const { return value_.load(); }

void Gauge::Set(double v) { value_.store(v); }

void Gauge::Add(double v) { AtomicAdd(value_, v); }

double Gauge::Value() const { return value_.load(); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  assert(AreValidBounds(bounds_) && "bounds must be finite and strictly increasing");
}

void Histogram::Observe(double v) {
  // Buckets are `le` (less or equal): the first bound >= v, so a value equal to a bound counts in
  // that bound's bucket. NaN compares false with every bound and lands in +Inf.
  std::size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  // Order matters for Read(): bucket, then sum, then count.
  counts_[bucket].fetch_add(1);
  AtomicAdd(sum_, v);
  count_.fetch_add(1);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.upper_bounds = bounds_;
  snapshot.cumulative_counts.resize(bounds_.size() + 1);
  // Observe() writes bucket, sum, count in that order; reading count, sum, buckets, count in the
  // opposite order, the snapshot is consistent when both counts agree with the buckets' total: an
  // observation caught half-way shows as a bucket total above count or as a count that moved. Under
  // constant contention give up after a few tries and report the buckets' total as the count, so
  // that le="+Inf" always equals _count (the sum may then be off by the observations in flight).
  for (int attempt = 0;; ++attempt) {
    std::uint64_t count_before = count_.load();
    snapshot.sum = sum_.load();
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      total += counts_[i].load();
      snapshot.cumulative_counts[i] = total;
    }
    std::uint64_t count_after = count_.load();
    snapshot.count = total;
    if ((count_before == count_after && count_after == total) || attempt == 16) break;
  }
  return snapshot;
}

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

struct Registry::Entry {
  Kind kind;
  std::string help;
  std::vector<std::string> label_names;
  std::vector<double> upper_bounds;  // histograms
  std::function<double()> read;      // callback gauges
  // The slot matching `kind` is the rendered family. Release builds register a name again with
  // another type into the other slots: callers get a working family that is never rendered.
  std::unique_ptr<Family<Counter>> counter;
  std::unique_ptr<Family<Gauge>> gauge;
  std::unique_ptr<Family<Histogram>> histogram;

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

template <typename M>
Family<M>& Registry::AddFamily(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names,
                               std::vector<double> upper_bounds,
                               std::function<std::unique_ptr<M>()> make) {
  assert(IsValidMetricName(name) && "invalid metric name");
  assert(AreValidLabelNames(label_names) && "invalid or repeated label name");
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Entry>& entry = entries_[name];
  if (entry == nullptr) {
    entry = std::make_shared<Entry>();
    entry->kind = KindOf<M>();
    entry->help = help;
    entry->label_names = label_names;
    entry->upper_bounds = upper_bounds;
  } else {
    assert(entry->kind == KindOf<M>() && "metric registered twice with different types");
    assert(entry->label_names == label_names && "metric registered twice with different labels");
    assert(entry->upper_bounds == upper_bounds && "histogram registered twice with other buckets");
  }
  std::unique_ptr<Family<M>>& family = entry->Slot<M>();
  if (family == nullptr) {
    bool unlabelled = label_names.empty();
    family.reset(new Family<M>(name, help, std::move(label_names), std::move(make)));
    // A family without labels has exactly one child; create it now so it renders `name 0` before
    // its first update.
    if (unlabelled) family->Get();
  }
  return *family;
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  return AddFamily<Counter>(name, help, std::move(label_names), {},
                            [] { return std::make_unique<Counter>(); });
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  return AddFamily<Gauge>(name, help, std::move(label_names), {},
                          [] { return std::make_unique<Gauge>(); });
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> upper_bounds) {
  assert(std::find(label_names.begin(), label_names.end(), "le") == label_names.end() &&
         "\"le\" is reserved for histogram buckets");
  assert(AreValidBounds(upper_bounds) && "bounds must be finite and strictly increasing");
  auto make = [upper_bounds] { return std::make_unique<Histogram>(upper_bounds); };
  return AddFamily<Histogram>(name, help, std::move(label_names), std::move(upper_bounds),
                              std::move(make));
}

void Registry::AddCallbackGauge(const std::string& name, const std::string& help,
                                std::function<double()> read) {
  assert(IsValidMetricName(name) && "invalid metric name");
  assert(read != nullptr && "callback gauge without a callback");
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Entry>& entry = entries_[name];
  // There is no family to hand back, and Render() reads `read` without a lock, so a second
  // registration cannot replace the first: it is a programming error and is ignored.
  assert(entry == nullptr && "callback gauge registered twice");
  if (entry != nullptr) return;
  entry = std::make_shared<Entry>();
  entry->kind = Kind::kCallbackGauge;
  entry->help = help;
  entry->read = std::move(read);
}

void Registry::AddCollector(std::function<void()> collect) {
  auto shared = std::make_shared<const std::function<void()>>(std::move(collect));
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(shared));
}

std::vector<Registry::Description> Registry::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Description> out;
  for (const auto& [name, entry] : entries_) {
    const char* type = entry->kind == Kind::kCounter     ? "counter"
                       : entry->kind == Kind::kHistogram ? "histogram"
                                                         : "gauge";
    out.push_back({name, type, entry->help, entry->label_names});
  }
  return out;
}

std::string Registry::Render() const {
  std::vector<std::shared_ptr<const std::function<void()>>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) (*collect)();

  // Entries are never removed and their kind, help, labels and rendered family never change
  // after registration, so a snapshot of the pointers is all the registry lock has to cover.
  std::vector<std::pair<const std::string*, std::shared_ptr<Entry>>> entries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entries.reserve(entries_.size());
    for (const auto& [name, entry] : entries_) entries.emplace_back(&name, entry);
  }

  // Likewise children never move and their keys are immutable map keys: hold each family's lock
  // only to collect pointers, then read the atomics without it.
  auto children_of = [](const auto& family) {
    using M = std::remove_cvref_t<decltype(*family->children_.begin()->second)>;
    std::vector<std::pair<const std::vector<std::string>*, const M*>> children;
    std::lock_guard<std::mutex> lock(family->mu_);
    children.reserve(family->children_.size());
    for (const auto& [values, child] : family->children_) {
      children.emplace_back(&values, child.get());
    }
    return children;
  };

  std::string out;
  for (const auto& named : entries) {
    // Plain references rather than structured bindings: lambdas below capture them.
    const auto& name = named.first;
    const auto& entry = named.second;
    switch (entry->kind) {
      case Kind::kCounter:
      case Kind::kGauge: {
        bool counter = entry->kind == Kind::kCounter;
        AppendHeader(out, *name, entry->help, counter ? "counter" : "gauge");
        auto append = [&](const auto& family) {
          for (const auto& [values, child] : children_of(family)) {
            AppendSeries(out, *name, "", entry->label_names, *values, nullptr);
            AppendValue(out, child->Value());
            out += '\n';
          }
        };
        if (counter) {
          append(entry->counter);
        } else {
          append(entry->gauge);
        }
        break;
      }
      case Kind::kHistogram:
        AppendHeader(out, *name, entry->help, "histogram");
        for (const auto& [values, child] : children_of(entry->histogram)) {
          AppendHistogram(out, *name, entry->label_names, *values, child->Read());
        }
        break;
      case Kind::kCallbackGauge:
        AppendHeader(out, *name, entry->help, "gauge");
        out += *name;
        out += ' ';
        AppendValue(out, entry->read ? entry->read() : std::nan(""));
        out += '\n';
        break;
    }
  }
  return out;
}

}  // namespace hyperplace::metrics
