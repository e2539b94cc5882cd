#include "common/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hyperplace::metrics {
namespace {

// --- A strict reader of the text format 0.0.4, as far as Render() uses it. ---

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // values unescaped
  double value = 0;
};

bool IsMetricName(const std::string& s) {
  static const std::regex re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  return std::regex_match(s, re);
}

bool IsLabelName(const std::string& s) {
  static const std::regex re("[a-zA-Z_][a-zA-Z0-9_]*");
  return std::regex_match(s, re) && s.rfind("__", 0) != 0;
}

bool ParseValue(const std::string& s, double* value) {
  if (s == "+Inf") {
    *value = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-Inf") {
    *value = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "NaN" || s == "Nan") {  // Prometheus reads NaN in any case; prometheus-cpp writes Nan
    *value = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  static const std::regex re(R"([-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?)");
  if (!std::regex_match(s, re)) return false;
  *value = std::strtod(s.c_str(), nullptr);
  return true;
}

// Reads `\\`, `\n` and (in label values) `\"` escapes; anything else after a backslash is an error.
bool Unescape(const std::string& s, bool allow_quote, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      *out += s[i];
      continue;
    }
    if (++i == s.size()) return false;
    if (s[i] == '\\') {
      *out += '\\';
    } else if (s[i] == 'n') {
      *out += '\n';
    } else if (s[i] == '"' && allow_quote) {
      *out += '"';
    } else {
      return false;
    }
  }
  return true;
}

// Parses `name{l="v",...} value` into `sample`; returns an error message or "".
std::string ParseSampleLine(const std::string& line, Sample* sample) {
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  sample->name = line.substr(0, i);
  if (!IsMetricName(sample->name)) return "bad metric name";
  sample->labels.clear();
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      std::size_t eq = line.find('=', i);
      if (eq == std::string::npos) return "label without '='";
      std::string label = line.substr(i, eq - i);
      if (!IsLabelName(label)) return "bad label name '" + label + "'";
      for (const auto& [seen, unused] : sample->labels) {
        if (seen == label) return "repeated label '" + label + "'";
      }
      if (eq + 1 >= line.size() || line[eq + 1] != '"') return "label value not quoted";
      std::size_t j = eq + 2;
      std::string raw;
      while (j < line.size() && line[j] != '"') {
        if (line[j] == '\\' && j + 1 < line.size()) raw += line[j++];
        raw += line[j++];
      }
      if (j >= line.size()) return "unterminated label value";
      std::string value;
      if (!Unescape(raw, /*allow_quote=*/true, &value)) return "bad escape in label value";
      sample->labels.emplace_back(label, value);
      i = j + 1;
      if (i < line.size() && line[i] == ',') {
        ++i;
        continue;
      }
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      return "expected ',' or '}' after label value";
    }
  }
  if (i >= line.size() || line[i] != ' ') return "expected one space before the value";
  if (!ParseValue(line.substr(i + 1), &sample->value)) return "bad value";
  return "";
}

// Checks every line of `text` against the grammar: HELP then TYPE for each family, samples only
// for the family announced by the last TYPE (histograms: _bucket with `le` last, _sum, _count).
::testing::AssertionResult Parse(const std::string& text, std::vector<Sample>* samples) {
  if (!text.empty() && text.back() != '\n') {
    return ::testing::AssertionFailure() << "output does not end with a newline";
  }
  std::istringstream in(text);
  std::string line;
  std::string family;
  std::string type;
  std::string help_for;
  std::set<std::string> families;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto fail = [&](const std::string& why) {
      return ::testing::AssertionFailure() << "line " << number << ": " << why << ": " << line;
    };
    if (line.rfind("# HELP ", 0) == 0) {
      std::size_t space = line.find(' ', 7);
      if (space == std::string::npos) return fail("HELP without text");
      help_for = line.substr(7, space - 7);
      std::string help;
      if (!IsMetricName(help_for)) return fail("bad metric name in HELP");
      if (!Unescape(line.substr(space + 1), /*allow_quote=*/false, &help)) {
        return fail("bad escape in HELP");
      }
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::size_t space = line.find(' ', 7);
      if (space == std::string::npos) return fail("TYPE without type");
      family = line.substr(7, space - 7);
      type = line.substr(space + 1);
      // HELP is optional (prometheus-cpp leaves out an empty one), but only for its own family.
      if (!help_for.empty() && family != help_for) return fail("TYPE after another's HELP");
      help_for.clear();
      if (type != "counter" && type != "gauge" && type != "histogram") return fail("bad type");
      if (!families.insert(family).second) return fail("family announced twice");
      continue;
    }
    if (line.empty() || line[0] == '#') return fail("unexpected line");
    Sample sample;
    if (std::string why = ParseSampleLine(line, &sample); !why.empty()) return fail(why);
    if (type == "histogram") {
      bool has_le = !sample.labels.empty() && sample.labels.back().first == "le";
      if (sample.name == family + "_bucket") {
        if (!has_le) return fail("bucket without le as the last label");
        double le;
        if (!ParseValue(sample.labels.back().second, &le)) return fail("bad le");
      } else if (sample.name != family + "_sum" && sample.name != family + "_count") {
        return fail("sample outside its histogram family");
      } else if (has_le) {
        return fail("le on _sum or _count");
      }
    } else if (sample.name != family) {
      return fail("sample outside its family");
    }
    samples->push_back(std::move(sample));
  }
  return ::testing::AssertionSuccess();
}

// For every histogram series in `samples`: buckets cumulative, le="+Inf" last and equal to _count.
::testing::AssertionResult HistogramsConsistent(const std::vector<Sample>& samples) {
  struct Series {
    std::vector<double> buckets;
    std::string last_le;
    double count = -1;
  };
  std::map<std::string, Series> series;  // by name without suffix + label values
  auto key = [](const Sample& s, std::string_view suffix) {
    std::string k = s.name.substr(0, s.name.size() - suffix.size());
    for (const auto& [label, value] : s.labels) {
      if (label != "le") k += "|" + label + "=" + value;
    }
    return k;
  };
  auto ends_with = [](const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
  };
  for (const Sample& s : samples) {
    if (ends_with(s.name, "_bucket")) {
      Series& h = series[key(s, "_bucket")];
      h.buckets.push_back(s.value);
      h.last_le = s.labels.back().second;
    }
  }
  // prometheus-cpp writes _count and _sum before the buckets.
  for (const Sample& s : samples) {
    if (!ends_with(s.name, "_count")) continue;
    auto it = series.find(key(s, "_count"));
    if (it != series.end()) it->second.count = s.value;
  }
  for (const auto& [name, h] : series) {
    for (std::size_t i = 1; i < h.buckets.size(); ++i) {
      if (h.buckets[i] < h.buckets[i - 1]) {
        return ::testing::AssertionFailure() << name << ": buckets not cumulative";
      }
    }
    if (h.last_le != "+Inf") return ::testing::AssertionFailure() << name << ": no +Inf bucket";
    if (h.buckets.back() != h.count) {
      return ::testing::AssertionFailure()
             << name << ": +Inf bucket " << h.buckets.back() << " != _count " << h.count;
    }
  }
  return ::testing::AssertionSuccess();
}

// The text after `name ` on the unlabelled sample line of `name`.
std::string SampleText(const std::string& text, const std::string& name) {
  std::size_t pos = text.find("\n" + name + " ");
  if (pos == std::string::npos) return "<missing>";
  pos += name.size() + 2;
  return text.substr(pos, text.find('\n', pos) - pos);
}

// --- Children: what the wrapper hands to prometheus-cpp ---

TEST(FamilyTest, LabelValuesGoToTheirNamesAndBucketsToEveryChild) {
  Registry r;
  Family<Histogram>& h = r.AddHistogram("h", "H.", {"verb", "code"}, {1, 2, 5});
  // A value equal to a bound counts in that bound's bucket (le: less or equal).
  for (double v : {0.5, 1.0, 1.5, 3.0, 4.0, 9.0}) h.With({"filter", "200"}).Observe(v);
  h.With({"bind", "500"}).Observe(2);
  const prometheus::ClientMetric filter = h.With({"filter", "200"}).Collect();
  std::vector<std::uint64_t> cumulative;
  std::vector<double> bounds;
  for (const auto& b : filter.histogram.bucket) {
    cumulative.push_back(b.cumulative_count);
    bounds.push_back(b.upper_bound);
  }
  EXPECT_EQ(bounds, (std::vector<double>{1, 2, 5, std::numeric_limits<double>::infinity()}));
  EXPECT_EQ(cumulative, (std::vector<std::uint64_t>{2, 3, 5, 6}));
  EXPECT_EQ(filter.histogram.sample_sum, 19.0);  // 0.5 + 1 + 1.5 + 3 + 4 + 9
  EXPECT_EQ(filter.histogram.sample_count, 6u);
  EXPECT_EQ(h.With({"bind", "500"}).Collect().histogram.sample_count, 1u);

  std::vector<Sample> samples;
  ASSERT_TRUE(Parse(r.Render(), &samples));
  std::set<std::pair<std::string, std::string>> series;
  for (const Sample& s : samples) {
    if (s.name != "h_count") continue;
    std::map<std::string, std::string> labels(s.labels.begin(), s.labels.end());
    series.emplace(labels["verb"], labels["code"]);
  }
  EXPECT_EQ(series,
            (std::set<std::pair<std::string, std::string>>{{"bind", "500"}, {"filter", "200"}}));
}

TEST(BucketsTest, LatencyBucketsSpan50MicrosecondsTo10Seconds) {
  std::vector<double> b = LatencyBuckets();
  EXPECT_EQ(b, (std::vector<double>{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
}

TEST(BucketsTest, ExponentialBucketsMultiplyByFactor) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 5), (std::vector<double>{1, 2, 4, 8, 16}));
  EXPECT_EQ(ExponentialBuckets(0.5, 10, 1), (std::vector<double>{0.5}));
}

// --- Registry ---

TEST(RegistryTest, RendersExpositionFormatExactly) {
  Registry r;
  Family<Counter>& requests =
      r.AddCounter("hp_requests_total", "Requests handled.", {"handler", "code"});
  requests.With({"filter", "200"}).Increment(3);
  requests.With({"bind", "500"}).Increment();
  r.AddCounter("hp_restarts_total", "Restarts.");
  r.AddGauge("hp_inflight", "Requests in flight.").Get().Set(2.5);
  Family<Histogram>& latency =
      r.AddHistogram("hp_latency_seconds", "Request latency.", {"handler"}, {0.25, 1, 2.5});
  for (double v : {0.25, 0.5, 4.0}) latency.With({"filter"}).Observe(v);
  r.AddCallbackGauge("hp_cert_expiry_seconds", "Seconds until the certificate expires.",
                     [] { return 86400.0; });

  // Families by name; children by label values ("bind" < "filter"); labels in declaration order;
  // _count and _sum, then the buckets with le after the family's labels; sum 0.25 + 0.5 + 4.
  EXPECT_EQ(r.Render(), R"(# HELP hp_cert_expiry_seconds Seconds until the certificate expires.
# TYPE hp_cert_expiry_seconds gauge
hp_cert_expiry_seconds 86400
# HELP hp_inflight Requests in flight.
# TYPE hp_inflight gauge
hp_inflight 2.5
# HELP hp_latency_seconds Request latency.
# TYPE hp_latency_seconds histogram
hp_latency_seconds_count{handler="filter"} 3
hp_latency_seconds_sum{handler="filter"} 4.75
hp_latency_seconds_bucket{handler="filter",le="0.25"} 1
hp_latency_seconds_bucket{handler="filter",le="1"} 2
hp_latency_seconds_bucket{handler="filter",le="2.5"} 2
hp_latency_seconds_bucket{handler="filter",le="+Inf"} 3
# HELP hp_requests_total Requests handled.
# TYPE hp_requests_total counter
hp_requests_total{handler="bind",code="500"} 1
hp_requests_total{handler="filter",code="200"} 3
# HELP hp_restarts_total Restarts.
# TYPE hp_restarts_total counter
hp_restarts_total 0
)");
  EXPECT_STREQ(Registry::kContentType, "text/plain; version=0.0.4; charset=utf-8");
}

TEST(RegistryTest, UnlabelledHistogramRendersOnlyLe) {
  Registry r;
  r.AddHistogram("h", "H.", {}, {0.005}).Get().Observe(1);
  EXPECT_EQ(r.Render(), R"(# HELP h H.
# TYPE h histogram
h_count 1
h_sum 1
h_bucket{le="0.005"} 0
h_bucket{le="+Inf"} 1
)");
}

// prometheus-cpp leaves a family out until it has a child; Describe() still lists it.
TEST(RegistryTest, LabelledFamilyWithoutChildrenIsLeftOutUntilItHasOne) {
  Registry r;
  Family<Counter>& c = r.AddCounter("c", "C.", {"code"});
  r.AddHistogram("h", "H.", {"code"}, {1});
  EXPECT_EQ(r.Render(), "");
  ASSERT_EQ(r.Describe().size(), 2u);
  EXPECT_EQ(r.Describe()[1].name, "h");
  EXPECT_EQ(r.Describe()[1].label_names, std::vector<std::string>{"code"});
  c.With({"200"});
  EXPECT_EQ(r.Render(), "# HELP c C.\n# TYPE c counter\nc{code=\"200\"} 0\n");
}

TEST(RegistryTest, LabelValuesAreEscaped) {
  Registry r;
  r.AddGauge("g", "G.", {"v"}).With({"a\\b\"c\nd"}).Set(1);
  EXPECT_EQ(r.Render(), "# HELP g G.\n# TYPE g gauge\ng{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(RegistryTest, HelpIsWrittenAsItIs) {
  Registry r;
  r.AddCounter("c", "Quotes \"stay\", {braces} too.");
  EXPECT_EQ(r.Render(), "# HELP c Quotes \"stay\", {braces} too.\n# TYPE c counter\nc 0\n");
}

TEST(RegistryTest, FamiliesSortByNameAndChildrenByLabelValues) {
  Registry r;
  Family<Counter>& b = r.AddCounter("b_total", "B.", {"x", "y"});
  r.AddGauge("a", "A.");
  r.AddCallbackGauge("c", "C.", [] { return 1.0; });
  r.AddCounter("B_total", "Upper case sorts first.");
  b.With({"2", "a"}).Increment();
  b.With({"10", "z"}).Increment();
  b.With({"10", "b"}).Increment();
  b.With({"", "q"}).Increment();

  std::vector<std::string> lines;
  std::istringstream in(r.Render());
  for (std::string line; std::getline(in, line);) {
    if (line[0] != '#') lines.push_back(line);
  }
  // Byte order: "B_total" < "a" < "b_total" < "c"; label values compare as strings, first label
  // first: "" < "10" < "2", then "b" < "z".
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "B_total 0",
                       "a 0",
                       R"(b_total{x="",y="q"} 1)",
                       R"(b_total{x="10",y="b"} 1)",
                       R"(b_total{x="10",y="z"} 1)",
                       R"(b_total{x="2",y="a"} 1)",
                       "c 1",
                   }));
}

TEST(RegistryTest, SameLabelValuesReturnSameChild) {
  Registry r;
  Family<Counter>& f = r.AddCounter("c", "C.", {"code"});
  Counter* first = &f.With({"200"});
  for (int i = 0; i < 1000; ++i) f.With({std::to_string(i)});  // grow the map around it
  EXPECT_EQ(&f.With({"200"}), first);
  EXPECT_NE(&f.With({"500"}), first);
  Family<Gauge>& g = r.AddGauge("g", "G.");
  EXPECT_EQ(&g.Get(), &g.Get());
}

TEST(RegistryTest, DuplicateRegistrationReturnsExistingFamily) {
  Registry r;
  Family<Counter>& first = r.AddCounter("c", "C.", {"code"});
  first.With({"200"}).Increment();
  Family<Counter>& second = r.AddCounter("c", "C.", {"code"});
  EXPECT_EQ(&first, &second);
  Family<Histogram>& h1 = r.AddHistogram("h", "H.", {}, {1, 2});
  EXPECT_EQ(&r.AddHistogram("h", "H.", {}, {1, 2}), &h1);
  EXPECT_EQ(r.Render(), R"(# HELP c C.
# TYPE c counter
c{code="200"} 1
# HELP h H.
# TYPE h histogram
h_count 0
h_sum 0
h_bucket{le="1"} 0
h_bucket{le="2"} 0
h_bucket{le="+Inf"} 0
)");
}

TEST(RegistryTest, CallbackGaugeIsReadAtEachRender) {
  Registry r;
  double size = 1;
  r.AddCallbackGauge("cache_size", "Entries.", [&size] { return size; });
  EXPECT_EQ(SampleText(r.Render(), "cache_size"), "1");
  size = 42;
  EXPECT_EQ(SampleText(r.Render(), "cache_size"), "42");
}

// prometheus-cpp's formatting (std::to_chars, shortest round trip): what a scraper parses.
TEST(RegistryTest, ValuesPrintAsIntegersOrShortestRoundTrip) {
  const double inf = std::numeric_limits<double>::infinity();
  const struct {
    double value;
    const char* text;
  } cases[] = {
      {3, "3"},
      {0, "0"},
      {-2, "-2"},
      {2.5, "2.5"},
      {0.1, "0.1"},
      {0.1 + 0.2, "0.3"},  // 16 significant digits: within one ulp, not always exact
      {0.00005, "5e-05"},
      {123456.5, "123456.5"},
      {1234567.25, "1234567.25"},
      {0.0001, "0.0001"},
      {9007199254740992.0, "9007199254740992"},  // 2^53: still an exact integer
      {1e20, "1e+20"},
      {inf, "+Inf"},
      {-inf, "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "Nan"},
  };
  for (const auto& c : cases) {
    Registry r;
    r.AddGauge("g", "").Get().Set(c.value);
    std::string text = SampleText(r.Render(), "g");
    EXPECT_EQ(text, c.text) << "value " << c.value;
    if (std::isfinite(c.value)) {
      EXPECT_NEAR(std::strtod(text.c_str(), nullptr), c.value, std::fabs(c.value) * 1e-15)
          << text << " is not the value";
    }
  }
}

TEST(RegistryTest, RenderedOutputFollowsTheGrammarWithOddLabelValues) {
  const std::vector<std::string> odd = {
      "",           "with space",   "quote\"inside", "back\\slash", "new\nline",    "trailing\\",
      "{}=,# HELP", "utf-8 \u2713", "\\n literal",   "\"",          "\n\n\\\"\\\n",
  };
  Registry r;
  Family<Counter>& c = r.AddCounter("odd_total", "Help with \"quotes\" and {braces}.", {"v"});
  Family<Histogram>& h = r.AddHistogram("odd_seconds", "", {"v", "w"}, LatencyBuckets());
  for (const std::string& v : odd) {
    c.With({v}).Increment();
    h.With({v, "x"}).Observe(0.003);
  }
  r.AddGauge("odd:gauge", "Colons are fine in metric names.").Get().Set(-0.5);

  std::vector<Sample> samples;
  ASSERT_TRUE(Parse(r.Render(), &samples));
  EXPECT_TRUE(HistogramsConsistent(samples));
  // Every odd value comes back unchanged from the counter, and from each histogram line.
  std::multiset<std::string> counter_values;
  std::size_t histogram_lines = 0;
  for (const Sample& s : samples) {
    if (s.name == "odd_total") {
      ASSERT_EQ(s.labels.size(), 1u);
      counter_values.insert(s.labels[0].second);
    } else if (s.name.rfind("odd_seconds", 0) == 0) {
      ++histogram_lines;
      ASSERT_GE(s.labels.size(), 2u);
      EXPECT_EQ(std::count(odd.begin(), odd.end(), s.labels[0].second), 1) << s.labels[0].second;
    }
  }
  EXPECT_EQ(counter_values, std::multiset<std::string>(odd.begin(), odd.end()));
  // Per child: 17 bounds + +Inf buckets, _sum, _count.
  EXPECT_EQ(histogram_lines, odd.size() * (LatencyBuckets().size() + 3));
}

TEST(RegistryTest, ParserRejectsMalformedLines) {
  // The grammar check must be able to fail.
  std::vector<Sample> samples;
  EXPECT_FALSE(Parse("# HELP c C.\n# TYPE c counter\nc{v=\"a\"b\"} 1\n", &samples));
  EXPECT_FALSE(Parse("# HELP c C.\n# TYPE c counter\nc{v=\"a\\q\"} 1\n", &samples));
  EXPECT_FALSE(Parse("# HELP c C.\n# TYPE c counter\nc 1.2.3\n", &samples));
  EXPECT_FALSE(Parse("# HELP c C.\n# TYPE c counter\nd 1\n", &samples));
  EXPECT_FALSE(Parse("# HELP h H.\n# TYPE h histogram\nh_bucket 1\n", &samples));
  EXPECT_FALSE(HistogramsConsistent(
      {{"h_bucket", {{"le", "1"}}, 2}, {"h_bucket", {{"le", "+Inf"}}, 1}, {"h_count", {}, 1}}));
}

// --- Concurrency ---

TEST(ConcurrencyTest, IncrementsFromSeveralThreadsSumExactly) {
  Registry r;
  Counter& counter = r.AddCounter("c_total", "C.").Get();
  Gauge& gauge = r.AddGauge("g", "G.").Get();
  Histogram& histogram = r.AddHistogram("h", "H.", {}, {0.5, 1.5}).Get();
  constexpr int kThreads = 4;
  constexpr int kIterations = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) {
        counter.Increment();
        gauge.Increment(2);
        histogram.Observe(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter.Value(), 400000);  // 4 x 100000
  EXPECT_EQ(gauge.Value(), 800000);    // 4 x 100000 x 2
  const prometheus::ClientMetric::Histogram s = histogram.Collect().histogram;
  ASSERT_EQ(s.bucket.size(), 3u);
  EXPECT_EQ(s.bucket[0].cumulative_count, 0u);
  EXPECT_EQ(s.bucket[1].cumulative_count, 400000u);
  EXPECT_EQ(s.bucket[2].cumulative_count, 400000u);
  EXPECT_EQ(s.sample_count, 400000u);
  EXPECT_EQ(s.sample_sum, 400000);
}

TEST(ConcurrencyTest, RenderWhileChildrenAreCreatedAndObservedStaysWellFormed) {
  Registry r;
  Family<Counter>& counters = r.AddCounter("work_total", "W.", {"id"});
  Family<Histogram>& histograms = r.AddHistogram("work_seconds", "W.", {"id"}, {0.5, 1, 2});
  constexpr int kChildren = 400;
  constexpr int kHandshakeEvery = 50;
  std::atomic<int> renders{0};
  std::atomic<bool> done{false};

  std::thread writer([&] {
    for (int i = 0; i < kChildren; ++i) {
      // Every few children, wait for another render so the two threads are sure to interleave.
      if (i % kHandshakeEvery == 0) {
        int want = i / kHandshakeEvery + 1;
        while (renders.load() < want) std::this_thread::yield();
      }
      std::string id = "child-" + std::to_string(i);
      counters.With({id}).Increment(i);
      Histogram& h = histograms.With({id});
      for (int k = 0; k < 10; ++k) h.Observe(0.3 * k);
      if (i % 20 == 0) r.AddGauge("late_" + std::to_string(i), "Registered mid-render.").Get();
    }
    done = true;
  });

  // name{label="value",...} value
  const std::string label = R"re([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")re";
  const std::string value = R"re((\+Inf|-Inf|NaN|-?[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?))re";
  const std::regex sample_line("[a-zA-Z_:][a-zA-Z0-9_:]*(\\{" + label + "(," + label + ")*\\})? " +
                               value);
  auto check = [&](const std::string& text) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("# ", 0) == 0) continue;
      ASSERT_TRUE(std::regex_match(line, sample_line)) << line;
    }
    std::vector<Sample> samples;
    ASSERT_TRUE(Parse(text, &samples));
    ASSERT_TRUE(HistogramsConsistent(samples));
  };
  while (!done.load()) {
    std::string text = r.Render();
    renders.fetch_add(1);
    check(text);
  }
  writer.join();

  std::string text = r.Render();
  check(text);
  std::vector<Sample> samples;
  ASSERT_TRUE(Parse(text, &samples));
  int counter_children = 0;
  for (const Sample& s : samples) counter_children += s.name == "work_total";
  EXPECT_EQ(counter_children, kChildren);
  EXPECT_GE(renders.load(), kChildren / kHandshakeEvery);
}

// --- Programming errors (assert in debug builds) ---

TEST(RegistryDeathTest, InvalidNamesAssert) {
  Registry r;
  EXPECT_DEBUG_DEATH(r.AddCounter("1starts_with_digit", ""), "invalid metric name");
  EXPECT_DEBUG_DEATH(r.AddCounter("has-dash", ""), "invalid metric name");
  EXPECT_DEBUG_DEATH(r.AddCounter("ok", "", {"__reserved"}), "invalid or repeated label name");
  EXPECT_DEBUG_DEATH(r.AddCounter("ok2", "", {"a:b"}), "invalid or repeated label name");
  EXPECT_DEBUG_DEATH(r.AddCounter("ok3", "", {"a", "a"}), "invalid or repeated label name");
  EXPECT_DEBUG_DEATH(r.AddHistogram("ok4", "", {"le"}, {1}), "reserved");
  EXPECT_DEBUG_DEATH(r.AddCounter("ok5", "two\nlines"), "newline or backslash");
  EXPECT_DEBUG_DEATH(r.AddCallbackGauge("ok6", "back\\slash", [] { return 0.0; }),
                     "newline or backslash");
}

TEST(RegistryDeathTest, ConflictingRegistrationAsserts) {
  Registry r;
  r.AddCounter("c", "", {"a"});
  EXPECT_DEBUG_DEATH(r.AddGauge("c", "", {"a"}), "different types");
  EXPECT_DEBUG_DEATH(r.AddCounter("c", "", {"b"}), "different labels");
  r.AddCallbackGauge("cb", "", [] { return 0.0; });
  EXPECT_DEBUG_DEATH(r.AddCallbackGauge("cb", "", [] { return 1.0; }), "registered twice");
  EXPECT_DEBUG_DEATH(r.AddCounter("cb", ""), "different types");
  EXPECT_DEBUG_DEATH(r.AddGauge("cb", ""), "different types");  // a gauge, but not a callback
}

TEST(RegistryDeathTest, WrongNumberOfLabelValuesAsserts) {
  Registry r;
  Family<Counter>& f = r.AddCounter("c", "", {"a", "b"});
  EXPECT_DEBUG_DEATH(f.With({"only-one"}), "wrong number of label values");
}

}  // namespace
}  // namespace hyperplace::metrics
