#include "common/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <utility>

namespace hyperplace {

std::map<std::string, std::uint32_t> ClusterConfig::DefaultMaxPods() {
  return {
      {"ml.p4d.24xlarge", 49},  {"ml.p4de.24xlarge", 49},  {"ml.p5.48xlarge", 49},
      {"ml.trn1.32xlarge", 49}, {"ml.trn1n.32xlarge", 49}, {"ml.g5.xlarge", 14},
      {"ml.g5.2xlarge", 14},    {"ml.g5.4xlarge", 29},     {"ml.g5.8xlarge", 29},
      {"ml.g5.12xlarge", 49},   {"ml.g5.16xlarge", 29},    {"ml.g5.24xlarge", 49},
      {"ml.g5.48xlarge", 49},   {"ml.c5.large", 9},        {"ml.c5.xlarge", 14},
      {"ml.c5.2xlarge", 14},    {"ml.c5.4xlarge", 29},     {"ml.c5.9xlarge", 29},
      {"ml.c5.12xlarge", 29},   {"ml.c5.18xlarge", 49},    {"ml.c5.24xlarge", 49},
      {"ml.c5n.large", 9},      {"ml.c5n.2xlarge", 14},    {"ml.c5n.4xlarge", 29},
      {"ml.c5n.9xlarge", 29},   {"ml.c5n.18xlarge", 49},   {"ml.m5.large", 9},
      {"ml.m5.xlarge", 14},     {"ml.m5.2xlarge", 14},     {"ml.m5.4xlarge", 29},
      {"ml.m5.8xlarge", 29},    {"ml.m5.12xlarge", 29},    {"ml.m5.16xlarge", 49},
      {"ml.m5.24xlarge", 49},   {"ml.t3.medium", 5},       {"ml.t3.large", 11},
      {"ml.t3.xlarge", 14},     {"ml.t3.2xlarge", 14},     {"ml.c6.xlarge", 14},
      {"ml.g6.2xlarge", 14},    {"ml.g6.4xlarge", 29},     {"ml.g6.8xlarge", 29},
      {"ml.g6.12xlarge", 29},   {"ml.g6.16xlarge", 49},    {"ml.g6.24xlarge", 49},
      {"ml.g6.48xlarge", 49},   {"ml.gr6.4xlarge", 29},    {"ml.gr6.8xlarge", 29},
      {"ml.g6e.xlarge", 14},    {"ml.g6e.2xlarge", 14},    {"ml.g6e.4xlarge", 29},
      {"ml.g6e.8xlarge", 29},   {"ml.g6e.12xlarge", 29},   {"ml.g6e.16xlarge", 49},
      {"ml.g6e.24xlarge", 49},  {"ml.g6e.48xlarge", 49},
  };
}

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

const char* DensityStrategyName(DensityStrategy strategy) {
  switch (strategy) {
    case DensityStrategy::kPack:
      return "pack";
    case DensityStrategy::kSpread:
      return "spread";
  }
  return "unknown";
}

namespace {

using Errors = std::vector<std::string>;
using std::chrono::milliseconds;

constexpr std::size_t kMaxConfigFileBytes = std::size_t{4} << 20;

// ---------------------------------------------------------------------------------------------
// Small text helpers.

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// `"text"` with quotes, backslashes and control characters escaped, so that a value containing
// a newline cannot break the one-error-per-line message format.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      out += kHex[static_cast<unsigned char>(c) & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// Parses a non-empty run of decimal digits; nullopt on anything else or on overflow.
std::optional<std::uint64_t> ParseDigits(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return std::nullopt;
    if (__builtin_mul_overflow(value, 10u, &value) ||
        __builtin_add_overflow(value, static_cast<std::uint64_t>(c - '0'), &value)) {
      return std::nullopt;
    }
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Ranges, shared by the decoder (which must reject values its field type cannot hold) and by
// ValidateConfig (which also sees configurations built in code), so both word errors alike.

enum class Unit { kCount, kBytes };

struct Range {
  std::uint64_t min;
  std::uint64_t max;
  Unit unit = Unit::kCount;
};

struct DurationRange {
  milliseconds min;
  milliseconds max;
};

constexpr std::uint64_t kKi = 1024;
constexpr std::uint64_t kMi = kKi << 10;
constexpr std::uint64_t kGi = kMi << 10;

constexpr Range kMaxBodyBytesRange{kKi, kGi, Unit::kBytes};
constexpr Range kMaxHeaderBytesRange{kKi, kMi, Unit::kBytes};
constexpr Range kMaxReplyBytesRange{kKi, 4 * kGi, Unit::kBytes};
constexpr Range kKeepBufferBytesRange{0, kGi, Unit::kBytes};
constexpr DurationRange kIoTimeoutRange{milliseconds(1), milliseconds(10 * 60 * 1000)};
constexpr DurationRange kIdleTimeoutRange{milliseconds(1000), milliseconds(60 * 60 * 1000)};
constexpr Range kKeepAliveRequestsRange{0, std::numeric_limits<std::uint32_t>::max()};
constexpr Range kThreadsRange{1, 256};
constexpr Range kEventLoopsRange{1, 64};
constexpr Range kConnectionsRange{1, 65536};
constexpr Range kInFlightRange{1, 65536};
constexpr Range kWeightRange{0, 1000};
constexpr Range kMaxPodsRange{1, 100000};
constexpr DurationRange kBindWaitRange{milliseconds(1), milliseconds(2000)};
constexpr DurationRange kCertReloadIntervalRange{milliseconds(1000), milliseconds(60 * 60 * 1000)};
constexpr DurationRange kAssumeTimeoutRange{milliseconds(1000), milliseconds(10 * 60 * 1000)};
// Below kube-scheduler's 5 s extender httpTimeout (DESIGN §2.1): a bind that outlives it is
// answered by the scheduler's timeout, not by hyperplace.
constexpr DurationRange kBindTimeoutRange{milliseconds(100), milliseconds(4900)};
constexpr DurationRange kRequestTimeoutRange{milliseconds(1000), milliseconds(2 * 60 * 1000)};
constexpr DurationRange kWatchTimeoutRange{milliseconds(10 * 1000), milliseconds(60 * 60 * 1000)};
constexpr DurationRange kBackoffInitialRange{milliseconds(10), milliseconds(60 * 1000)};
constexpr DurationRange kBackoffMaxRange{milliseconds(10), milliseconds(10 * 60 * 1000)};
constexpr Range kListPageSizeRange{1, 10000};
// Kueue WorkloadPriorityClass values are int32; Kubernetes reserves values above one billion for
// system priority classes, and hyperplace keeps the same bound below zero.
constexpr std::int64_t kPriorityValueMin = -1000000000;
constexpr std::int64_t kPriorityValueMax = 1000000000;
// Label values (the queue and priority-class names the webhook writes) are at most 63 bytes.
constexpr std::size_t kMaxLabelValueLength = 63;
// A namespace name (DNS-1123 label) is at most 63 bytes.
constexpr std::size_t kMaxNamespaceLength = 63;
constexpr std::string_view kTeamPlaceholder = "{team}";
constexpr std::size_t kMaxTopologyLevels = 8;
constexpr std::size_t kMaxAcceleratorResources = 64;
// A namespace name is at most 63 characters and the team name after the prefix at least one.
constexpr std::size_t kMaxTeamNamespacePrefixLength = 62;

// 67108864 -> "64Mi"; sizes that are not a whole number of a binary unit stay plain.
std::string FormatBytes(std::uint64_t bytes) {
  static constexpr const char* kSuffixes[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  if (bytes == 0 || bytes % kKi != 0) return std::to_string(bytes);
  int suffix = -1;
  while (bytes % kKi == 0 && suffix < 5) {
    bytes /= kKi;
    ++suffix;
  }
  return std::to_string(bytes) + kSuffixes[suffix];
}

std::string FormatValue(std::uint64_t value, Unit unit) {
  return unit == Unit::kBytes ? FormatBytes(value) : std::to_string(value);
}

std::string OutOfRangeMessage(const Range& range, std::string_view got) {
  return "must be between " + FormatValue(range.min, range.unit) + " and " +
         FormatValue(range.max, range.unit) + " (got " + std::string(got) + ")";
}

std::string OutOfRangeMessage(std::int64_t min, std::int64_t max, std::string_view got) {
  return "must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " +
         std::string(got) + ")";
}

std::string OutOfRangeMessage(const DurationRange& range, std::string_view got) {
  return "must be between " + FormatDuration(range.min) + " and " + FormatDuration(range.max) +
         " (got " + std::string(got) + ")";
}

// ---------------------------------------------------------------------------------------------
// Field paths: "extender.server.threads", "cluster.topologyLevels[2]",
// "cluster.maxPodsPerInstanceType[\"ml.x\"]".

constexpr std::string_view kRootPath = "(root)";

std::string ChildPath(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string IndexPath(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string EntryPath(const std::string& parent, std::string_view key) {
  return parent + "[" + Quote(key) + "]";
}

void AddError(Errors& errors, std::string_view path, std::string_view message) {
  std::string line(path.empty() ? kRootPath : path);
  line += ": ";
  line += message;
  errors.push_back(std::move(line));
}

// ---------------------------------------------------------------------------------------------
// Byte quantities: "65536", "64Mi", "500k", "1.5Gi" (Kubernetes' resource.Quantity suffixes).

struct QuantitySuffix {
  std::string_view suffix;
  std::uint64_t multiplier;
};

constexpr QuantitySuffix kQuantitySuffixes[] = {
    {"Ki", kKi},
    {"Mi", kMi},
    {"Gi", kGi},
    {"Ti", kGi << 10},
    {"Pi", kGi << 20},
    {"Ei", kGi << 30},
    {"k", 1000},
    {"M", 1000 * 1000},
    {"G", 1000 * 1000 * 1000},
    {"T", 1000ull * 1000 * 1000 * 1000},
    {"P", 1000ull * 1000 * 1000 * 1000 * 1000},
    {"E", 1000ull * 1000 * 1000 * 1000 * 1000 * 1000},
};

struct Quantity {
  enum class Error { kNone, kSyntax, kFraction, kTooLarge };
  Error error = Error::kNone;
  std::uint64_t bytes = 0;
};

Quantity ParseQuantity(std::string_view text) {
  Quantity result;
  std::uint64_t multiplier = 1;
  for (const QuantitySuffix& s : kQuantitySuffixes) {
    if (text.size() > s.suffix.size() && text.ends_with(s.suffix)) {
      multiplier = s.multiplier;
      text.remove_suffix(s.suffix.size());
      break;
    }
  }
  std::string_view whole = text;
  std::string_view fraction;
  if (std::size_t dot = text.find('.'); dot != std::string_view::npos) {
    whole = text.substr(0, dot);
    fraction = text.substr(dot + 1);
    if (fraction.empty()) {
      result.error = Quantity::Error::kSyntax;
      return result;
    }
  }
  for (char c : fraction) {
    if (!IsDigit(c)) {
      result.error = Quantity::Error::kSyntax;
      return result;
    }
  }
  if (whole.empty() || whole.find_first_not_of("0123456789") != std::string_view::npos) {
    result.error = Quantity::Error::kSyntax;
    return result;
  }
  std::optional<std::uint64_t> whole_value = ParseDigits(whole);
  if (!whole_value) {
    result.error = Quantity::Error::kTooLarge;
    return result;
  }
  unsigned __int128 total = static_cast<unsigned __int128>(*whole_value) * multiplier;
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (!fraction.empty()) {
    // 0.d1..dn * multiplier must be whole. The multipliers' factors of 2 and 5 are bounded
    // (2^60, 10^18), so more than 18 significant fractional digits can never give whole bytes.
    if (fraction.size() > 18) {
      result.error = Quantity::Error::kFraction;
      return result;
    }
    unsigned __int128 digits = *ParseDigits(fraction);
    unsigned __int128 scale = 1;
    for (std::size_t i = 0; i < fraction.size(); ++i) scale *= 10;
    unsigned __int128 scaled = digits * multiplier;
    if (scaled % scale != 0) {
      result.error = Quantity::Error::kFraction;
      return result;
    }
    total += scaled / scale;
  }
  if (total > std::numeric_limits<std::uint64_t>::max()) {
    result.error = Quantity::Error::kTooLarge;
    return result;
  }
  result.bytes = static_cast<std::uint64_t>(total);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Enumerations by name.

template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};

constexpr EnumName<DensityStrategy> kStrategyNames[] = {
    {"pack", DensityStrategy::kPack},
    {"spread", DensityStrategy::kSpread},
};
constexpr EnumName<LogLevel> kLogLevelNames[] = {
    {"debug", LogLevel::kDebug},
    {"info", LogLevel::kInfo},
    {"warn", LogLevel::kWarn},
    {"error", LogLevel::kError},
};
constexpr EnumName<LogFormat> kLogFormatNames[] = {
    {"text", LogFormat::kText},
    {"json", LogFormat::kJson},
};

const char* LogFormatName(LogFormat format) { return format == LogFormat::kJson ? "json" : "text"; }

// "must be one of pack, spread (got \"packed\")"; without `got` when the value is not a string.
template <typename E>
std::string OneOfMessage(std::span<const EnumName<E>> names, std::optional<std::string_view> got) {
  std::string message = "must be one of ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) message += ", ";
    message += names[i].name;
  }
  if (got) message += " (got " + Quote(*got) + ")";
  return message;
}

// ---------------------------------------------------------------------------------------------
// The field walker. A MapDecoder decodes one YAML mapping of the schema: each typed accessor
// claims a key and stores its value when present and well-formed; every problem is recorded as
// "path: message"; the keys nobody claimed are reported as unknown when the section ends.
//
// A key that is absent or whose value is null (`threads:` or `threads: ~`) leaves the default.
// To add a section, write a `void DecodeFoo(MapDecoder&, FooConfig&)` and call
// `root.Section("foo", ...)` in DecodeConfig.

bool IsPlainOrIntTagged(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  return tag == "?" || tag == "tag:yaml.org,2002:int";
}

bool IsPlainOrBoolTagged(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  return tag == "?" || tag == "tag:yaml.org,2002:bool";
}

class MapDecoder {
 public:
  // `node` is a mapping; `path` is its field path ("" for the document root).
  MapDecoder(const YAML::Node& node, std::string path, Errors& errors)
      : path_(std::move(path)), errors_(errors) {
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        AddError(errors_, path_, "keys must be strings");
        continue;
      }
      const std::string& key = it->first.Scalar();
      if (!seen.insert(key).second) {
        AddError(errors_, ChildPath(path_, key), "duplicate field");
        continue;
      }
      entries_.push_back(Entry{key, it->second, false});
    }
  }

  // Decodes the mapping under `key` with `decode`; a non-mapping is an error.
  void Section(std::string_view key, const std::function<void(MapDecoder&)>& decode) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    if (!node->IsMap()) {
      AddError(errors_, path, "must be a mapping");
      return;
    }
    MapDecoder section(*node, std::move(path), errors_);
    decode(section);
    section.Finish();
  }

  void String(std::string_view key, std::string& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    if (!node->IsScalar()) {
      AddError(errors_, ChildPath(path_, key), "must be a string");
      return;
    }
    out = node->Scalar();
  }

  // A list given replaces the default list.
  void StringList(std::string_view key, std::vector<std::string>& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    if (!node->IsSequence()) {
      AddError(errors_, path, "must be a list of strings");
      return;
    }
    std::vector<std::string> values;
    bool ok = true;
    std::size_t index = 0;
    for (auto it = node->begin(); it != node->end(); ++it, ++index) {
      if (!it->IsScalar()) {
        AddError(errors_, IndexPath(path, index), "must be a string");
        ok = false;
        continue;
      }
      values.push_back(it->Scalar());
    }
    if (ok) out = std::move(values);
  }

  void Integer(std::string_view key, const Range& range, std::uint32_t& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    if (std::optional<std::uint32_t> value = DecodeInteger(*node, ChildPath(path_, key), range)) {
      out = *value;
    }
  }

  void ByteSize(std::string_view key, const Range& range, std::size_t& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    static constexpr std::string_view kExpected =
        "must be a byte size: an integer or a quantity such as 64Mi or 500k";
    if (!node->IsScalar()) {
      AddError(errors_, path, kExpected);
      return;
    }
    const std::string& text = node->Scalar();
    Quantity quantity = ParseQuantity(text);
    switch (quantity.error) {
      case Quantity::Error::kSyntax:
        AddError(errors_, path, std::string(kExpected) + " (got " + Quote(text) + ")");
        return;
      case Quantity::Error::kFraction:
        AddError(errors_, path, "must be a whole number of bytes (got " + text + ")");
        return;
      case Quantity::Error::kTooLarge:
        AddError(errors_, path, OutOfRangeMessage(range, text));
        return;
      case Quantity::Error::kNone:
        break;
    }
    if (quantity.bytes < range.min || quantity.bytes > range.max) {
      AddError(errors_, path, OutOfRangeMessage(range, FormatBytes(quantity.bytes)));
      return;
    }
    out = static_cast<std::size_t>(quantity.bytes);
  }

  void Duration(std::string_view key, const DurationRange& range, milliseconds& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    if (!node->IsScalar()) {
      AddError(errors_, path, "must be a duration such as 250ms, 4s or 1m30s");
      return;
    }
    StatusOr<milliseconds> duration = ParseDuration(node->Scalar());
    if (!duration.ok()) {
      AddError(errors_, path, duration.status().message());
      return;
    }
    if (*duration < range.min || *duration > range.max) {
      AddError(errors_, path, OutOfRangeMessage(range, FormatDuration(*duration)));
      return;
    }
    out = *duration;
  }

  template <typename E>
  void Enum(std::string_view key, std::span<const EnumName<E>> names, E& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    if (!node->IsScalar()) {
      AddError(errors_, path, OneOfMessage<E>(names, std::nullopt));
      return;
    }
    for (const EnumName<E>& name : names) {
      if (node->Scalar() == name.name) {
        out = name.value;
        return;
      }
    }
    AddError(errors_, path, OneOfMessage<E>(names, node->Scalar()));
  }

  // A mapping of names to counts, e.g. instance type -> max pods. A mapping given replaces the
  // default one.
  void CountMap(std::string_view key, const Range& range,
                std::map<std::string, std::uint32_t>& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    if (!node->IsMap()) {
      AddError(errors_, path, "must be a mapping of names to integers");
      return;
    }
    std::map<std::string, std::uint32_t> values;
    bool ok = true;
    for (auto it = node->begin(); it != node->end(); ++it) {
      if (!it->first.IsScalar()) {
        AddError(errors_, path, "keys must be strings");
        ok = false;
        continue;
      }
      const std::string& name = it->first.Scalar();
      std::string entry_path = EntryPath(path, name);
      if (values.count(name) != 0) {
        AddError(errors_, entry_path, "duplicate key");
        ok = false;
        continue;
      }
      std::optional<std::uint32_t> value = DecodeInteger(it->second, entry_path, range);
      if (!value) {
        ok = false;
        continue;
      }
      values.emplace(name, *value);
    }
    if (ok) out = std::move(values);
  }

  // A signed integer in [min, max] (plain decimal, optionally negative).
  void SignedInteger(std::string_view key, std::int64_t min, std::int64_t max, std::int32_t& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    if (!node->IsScalar() || !IsPlainOrIntTagged(*node)) {
      AddError(errors_, path, "must be an integer");
      return;
    }
    std::string_view text = node->Scalar();
    bool negative = text.starts_with('-');
    std::string_view digits = negative ? text.substr(1) : text;
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
      AddError(errors_, path, "must be an integer");
      return;
    }
    std::optional<std::uint64_t> magnitude = ParseDigits(digits);
    // |min| and max are far below 2^63, so a magnitude within them cannot overflow.
    const std::uint64_t limit =
        negative ? static_cast<std::uint64_t>(-min) : static_cast<std::uint64_t>(max);
    if (!magnitude || *magnitude > limit) {
      AddError(errors_, path, OutOfRangeMessage(min, max, text));
      return;
    }
    const std::int64_t value =
        negative ? -static_cast<std::int64_t>(*magnitude) : static_cast<std::int64_t>(*magnitude);
    out = static_cast<std::int32_t>(value);
  }

  // true or false (also True/TRUE/False/FALSE, YAML 1.2's core schema); a quoted "true" is a
  // string, as in Kubernetes.
  void Bool(std::string_view key, bool& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    if (node->IsScalar() && IsPlainOrBoolTagged(*node)) {
      const std::string& text = node->Scalar();
      if (text == "true" || text == "True" || text == "TRUE") {
        out = true;
        return;
      }
      if (text == "false" || text == "False" || text == "FALSE") {
        out = false;
        return;
      }
    }
    AddError(errors_, path, "must be true or false");
  }

  // A mapping of names to strings. A mapping given replaces the default one.
  void StringMap(std::string_view key, std::map<std::string, std::string>& out) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    if (!node->IsMap()) {
      AddError(errors_, path, "must be a mapping of names to strings");
      return;
    }
    std::map<std::string, std::string> values;
    bool ok = true;
    for (auto it = node->begin(); it != node->end(); ++it) {
      if (!it->first.IsScalar()) {
        AddError(errors_, path, "keys must be strings");
        ok = false;
        continue;
      }
      const std::string& name = it->first.Scalar();
      std::string entry_path = EntryPath(path, name);
      if (values.count(name) != 0) {
        AddError(errors_, entry_path, "duplicate key");
        ok = false;
        continue;
      }
      if (!it->second.IsScalar()) {
        AddError(errors_, entry_path, "must be a string");
        ok = false;
        continue;
      }
      values.emplace(name, it->second.Scalar());
    }
    if (ok) out = std::move(values);
  }

  // A list of mappings, each decoded into a T by `decode` with its own field walker. A list given
  // replaces the default list, only when every item decoded without error.
  template <typename T>
  void MappingList(std::string_view key, std::vector<T>& out,
                   const std::function<void(MapDecoder&, T&)>& decode) {
    std::optional<YAML::Node> node = Take(key);
    if (!node) return;
    std::string path = ChildPath(path_, key);
    if (!node->IsSequence()) {
      AddError(errors_, path, "must be a list of mappings");
      return;
    }
    const std::size_t errors_before = errors_.size();
    std::vector<T> values;
    std::size_t index = 0;
    for (auto it = node->begin(); it != node->end(); ++it, ++index) {
      std::string item_path = IndexPath(path, index);
      if (!it->IsMap()) {
        AddError(errors_, item_path, "must be a mapping");
        continue;
      }
      MapDecoder item(*it, std::move(item_path), errors_);
      T value{};
      decode(item, value);
      item.Finish();
      values.push_back(std::move(value));
    }
    if (errors_.size() == errors_before) out = std::move(values);
  }

  // Reports `key` as required when it is absent or null.
  void Require(std::string_view key) {
    for (const Entry& entry : entries_) {
      if (entry.key == key && entry.value.IsDefined() && !entry.value.IsNull()) return;
    }
    AddError(errors_, ChildPath(path_, key), "required field");
  }

  // Reports every key no accessor claimed.
  void Finish() {
    for (const Entry& entry : entries_) {
      if (!entry.claimed) AddError(errors_, ChildPath(path_, entry.key), "unknown field");
    }
  }

 private:
  struct Entry {
    std::string key;
    YAML::Node value;
    bool claimed;
  };

  // Claims `key`; returns its value unless it is absent or null.
  std::optional<YAML::Node> Take(std::string_view key) {
    for (Entry& entry : entries_) {
      if (entry.key == key) {
        entry.claimed = true;
        if (!entry.value.IsDefined() || entry.value.IsNull()) return std::nullopt;
        return entry.value;
      }
    }
    return std::nullopt;
  }

  // Integers are plain (unquoted) decimal scalars: a quoted "8" is a string, as in Kubernetes.
  std::optional<std::uint32_t> DecodeInteger(const YAML::Node& node, const std::string& path,
                                             const Range& range) {
    if (!node.IsScalar() || !IsPlainOrIntTagged(node)) {
      AddError(errors_, path, "must be an integer");
      return std::nullopt;
    }
    std::string_view text = node.Scalar();
    bool negative = text.starts_with('-');
    std::string_view digits = negative ? text.substr(1) : text;
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
      AddError(errors_, path, "must be an integer");
      return std::nullopt;
    }
    std::optional<std::uint64_t> value = ParseDigits(digits);
    if (negative || !value || *value < range.min || *value > range.max) {
      AddError(errors_, path, OutOfRangeMessage(range, text));
      return std::nullopt;
    }
    return static_cast<std::uint32_t>(*value);
  }

  std::string path_;
  Errors& errors_;
  std::vector<Entry> entries_;
};

// ---------------------------------------------------------------------------------------------
// The schema.

void DecodeServer(MapDecoder& m, ServerLimits& s) {
  m.ByteSize("maxBodyBytes", kMaxBodyBytesRange, s.max_body_bytes);
  m.ByteSize("maxHeaderBytes", kMaxHeaderBytesRange, s.max_header_bytes);
  m.ByteSize("maxReplyBytes", kMaxReplyBytesRange, s.max_reply_bytes);
  m.ByteSize("keepBufferBytes", kKeepBufferBytesRange, s.keep_buffer_bytes);
  m.Duration("handshakeTimeout", kIoTimeoutRange, s.handshake_timeout);
  m.Duration("readTimeout", kIoTimeoutRange, s.read_timeout);
  m.Duration("writeTimeout", kIoTimeoutRange, s.write_timeout);
  m.Duration("idleTimeout", kIdleTimeoutRange, s.idle_timeout);
  m.Integer("maxKeepAliveRequests", kKeepAliveRequestsRange, s.max_keepalive_requests);
  m.Integer("threads", kThreadsRange, s.threads);
  m.Integer("eventLoops", kEventLoopsRange, s.event_loops);
  m.Integer("maxConnections", kConnectionsRange, s.max_connections);
  m.Integer("maxInFlight", kInFlightRange, s.max_in_flight);
}

void DecodeWeights(MapDecoder& m, ScoreWeights& w) {
  m.Integer("topology", kWeightRange, w.topology);
  m.Integer("density", kWeightRange, w.density);
  m.Integer("health", kWeightRange, w.health);
}

void DecodeExtender(MapDecoder& m, ExtenderConfig& e) {
  m.String("listen", e.listen);
  m.String("tlsCertFile", e.tls_cert_file);
  m.String("tlsPrivateKeyFile", e.tls_private_key_file);
  m.String("clientCAFile", e.client_ca_file);
  m.Duration("certReloadInterval", kCertReloadIntervalRange, e.cert_reload_interval);
  m.String("healthListen", e.health_listen);
  m.Section("server", [&](MapDecoder& s) { DecodeServer(s, e.server); });
  m.Duration("bindWait", kBindWaitRange, e.bind_wait);
  m.Enum<DensityStrategy>("strategy", kStrategyNames, e.strategy);
  m.Section("weights", [&](MapDecoder& w) { DecodeWeights(w, e.weights); });
  m.StringList("schedulerNames", e.scheduler_names);
  m.Bool("debugEndpoints", e.debug_endpoints);
}

void DecodeCluster(MapDecoder& m, ClusterConfig& c) {
  m.String("instanceTypeLabel", c.instance_type_label);
  m.String("instanceTypePrefix", c.instance_type_prefix);
  m.String("hostnameLabel", c.hostname_label);
  m.StringList("topologyLevels", c.topology_levels);
  m.String("healthLabel", c.health_label);
  m.StringList("schedulableHealthValues", c.schedulable_health_values);
  m.String("deepHealthLabel", c.deep_health_label);
  m.String("deepHealthPassed", c.deep_health_passed);
  m.String("deepHealthInProgress", c.deep_health_in_progress);
  m.String("deepHealthFailed", c.deep_health_failed);
  m.String("healthTaintKey", c.health_taint_key);
  m.String("queueNameLabel", c.queue_name_label);
  m.String("priorityClassLabel", c.priority_class_label);
  m.String("requiredTopologyAnnotation", c.required_topology_annotation);
  m.String("preferredTopologyAnnotation", c.preferred_topology_annotation);
  m.String("podGroupLabel", c.pod_group_label);
  m.String("podGroupTotalCountAnnotation", c.pod_group_total_count_annotation);
  m.StringList("groupFallbackLabels", c.group_fallback_labels);
  m.String("teamNamespacePrefix", c.team_namespace_prefix);
  m.CountMap("maxPodsPerInstanceType", kMaxPodsRange, c.max_pods_per_instance_type);
  m.StringList("acceleratorResources", c.accelerator_resources);
}

void DecodePriorityClass(MapDecoder& m, PriorityClassConfig& p) {
  m.Require("name");
  m.Require("value");
  m.String("name", p.name);
  m.SignedInteger("value", kPriorityValueMin, kPriorityValueMax, p.value);
}

void DecodeWebhook(MapDecoder& m, WebhookConfig& w) {
  m.String("listen", w.listen);
  m.String("tlsCertFile", w.tls_cert_file);
  m.String("tlsPrivateKeyFile", w.tls_private_key_file);
  m.Duration("certReloadInterval", kCertReloadIntervalRange, w.cert_reload_interval);
  m.Section("server", [&](MapDecoder& s) { DecodeServer(s, w.server); });
  m.String("localQueueTemplate", w.local_queue_template);
  m.String("teamGroupTemplate", w.team_group_template);
  m.StringList("adminGroups", w.admin_groups);
  m.StringList("trustedServiceAccountNamespaces", w.trusted_service_account_namespaces);
  m.StringList("trustedUsers", w.trusted_users);
  m.MappingList<PriorityClassConfig>("priorityClasses", w.priority_classes, DecodePriorityClass);
  m.String("defaultPriorityClass", w.default_priority_class);
  m.StringMap("teamMaxPriorityClass", w.team_max_priority_class);
  m.String("schedulerName", w.scheduler_name);
}

void DecodeKube(MapDecoder& m, KubeConfig& k) {
  m.Duration("assumeTimeout", kAssumeTimeoutRange, k.assume_timeout);
  m.Duration("requestTimeout", kRequestTimeoutRange, k.request_timeout);
  m.Duration("bindTimeout", kBindTimeoutRange, k.bind_timeout);
  m.Duration("watchTimeout", kWatchTimeoutRange, k.watch_timeout);
  m.Duration("backoffInitial", kBackoffInitialRange, k.backoff_initial);
  m.Duration("backoffMax", kBackoffMaxRange, k.backoff_max);
  m.Integer("listPageSize", kListPageSizeRange, k.list_page_size);
  m.Bool("watchKueue", k.watch_kueue);
}

void DecodeLog(MapDecoder& m, LogConfig& l) {
  m.Enum<LogLevel>("level", kLogLevelNames, l.level);
  m.Enum<LogFormat>("format", kLogFormatNames, l.format);
}

void DecodeConfig(const YAML::Node& document, Config& config, Errors& errors) {
  if (!document.IsDefined() || document.IsNull()) return;  // an empty document: the defaults
  if (!document.IsMap()) {
    AddError(errors, kRootPath,
             "must be a mapping with the sections extender, webhook, cluster, kube and log");
    return;
  }
  MapDecoder root(document, "", errors);
  root.Section("extender", [&](MapDecoder& m) { DecodeExtender(m, config.extender); });
  root.Section("webhook", [&](MapDecoder& m) { DecodeWebhook(m, config.webhook); });
  root.Section("cluster", [&](MapDecoder& m) { DecodeCluster(m, config.cluster); });
  root.Section("kube", [&](MapDecoder& m) { DecodeKube(m, config.kube); });
  root.Section("log", [&](MapDecoder& m) { DecodeLog(m, config.log); });
  root.Finish();
}

// ---------------------------------------------------------------------------------------------
// Validation.

void CheckRange(Errors& errors, const std::string& path, std::uint64_t value, const Range& range) {
  if (value < range.min || value > range.max) {
    AddError(errors, path, OutOfRangeMessage(range, FormatValue(value, range.unit)));
  }
}

void CheckRange(Errors& errors, const std::string& path, milliseconds value,
                const DurationRange& range) {
  if (value < range.min || value > range.max) {
    AddError(errors, path, OutOfRangeMessage(range, FormatDuration(value)));
  }
}

// Kubernetes' IsDNS1123Subdomain.
std::optional<std::string> DnsSubdomainError(std::string_view text) {
  static constexpr std::string_view kRule =
      "must be a lowercase DNS subdomain (lower-case alphanumerics, '-' and '.', each label "
      "starting and ending with an alphanumeric)";
  if (text.size() > 253) return "must be no more than 253 characters";
  std::size_t start = 0;
  while (true) {
    std::size_t dot = text.find('.', start);
    std::string_view label =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || !IsLowerAlnum(label.front()) || !IsLowerAlnum(label.back())) {
      return std::string(kRule);
    }
    for (char c : label) {
      if (!IsLowerAlnum(c) && c != '-') return std::string(kRule);
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return std::nullopt;
}

// Kubernetes' IsQualifiedName: [prefix/]name, as label, annotation and taint keys are.
std::optional<std::string> QualifiedNameError(std::string_view key) {
  if (key.empty()) return "must not be empty";
  std::string_view name = key;
  std::string problem;
  if (std::size_t slash = key.find('/'); slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) {
      problem = "must contain at most one '/'";
    } else if (prefix.empty()) {
      problem = "prefix part must not be empty";
    } else if (std::optional<std::string> error = DnsSubdomainError(prefix)) {
      problem = "prefix part " + *error;
    }
  }
  if (problem.empty()) {
    if (name.empty()) {
      problem = "name part must not be empty";
    } else if (name.size() > 63) {
      problem = "name part must be no more than 63 characters";
    } else {
      bool valid = IsAlnum(name.front()) && IsAlnum(name.back());
      for (char c : name) valid = valid && (IsAlnum(c) || c == '-' || c == '_' || c == '.');
      if (!valid) {
        problem =
            "name part must consist of alphanumerics, '-', '_' or '.', and must start and end "
            "with an alphanumeric";
      }
    }
  }
  if (problem.empty()) return std::nullopt;
  return "invalid key " + Quote(key) + ": " + problem;
}

void CheckKey(Errors& errors, const std::string& path, const std::string& key) {
  if (std::optional<std::string> error = QualifiedNameError(key)) AddError(errors, path, *error);
}

// Checks every item is a valid key and appears once.
void CheckKeyList(Errors& errors, const std::string& path, const std::vector<std::string>& keys) {
  std::map<std::string_view, std::size_t> first_index;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    std::string item_path = IndexPath(path, i);
    CheckKey(errors, item_path, keys[i]);
    auto [it, inserted] = first_index.emplace(keys[i], i);
    if (!inserted) {
      AddError(errors, item_path,
               "duplicate of " + IndexPath(path, it->second) + " (" + Quote(keys[i]) + ")");
    }
  }
}

void ValidateServer(const ServerLimits& s, const std::string& server, Errors& errors) {
  CheckRange(errors, ChildPath(server, "maxBodyBytes"), s.max_body_bytes, kMaxBodyBytesRange);
  CheckRange(errors, ChildPath(server, "maxHeaderBytes"), s.max_header_bytes, kMaxHeaderBytesRange);
  CheckRange(errors, ChildPath(server, "maxReplyBytes"), s.max_reply_bytes, kMaxReplyBytesRange);
  CheckRange(errors, ChildPath(server, "keepBufferBytes"), s.keep_buffer_bytes,
             kKeepBufferBytesRange);
  CheckRange(errors, ChildPath(server, "handshakeTimeout"), s.handshake_timeout, kIoTimeoutRange);
  CheckRange(errors, ChildPath(server, "readTimeout"), s.read_timeout, kIoTimeoutRange);
  CheckRange(errors, ChildPath(server, "writeTimeout"), s.write_timeout, kIoTimeoutRange);
  CheckRange(errors, ChildPath(server, "idleTimeout"), s.idle_timeout, kIdleTimeoutRange);
  CheckRange(errors, ChildPath(server, "maxKeepAliveRequests"), s.max_keepalive_requests,
             kKeepAliveRequestsRange);
  CheckRange(errors, ChildPath(server, "threads"), s.threads, kThreadsRange);
  CheckRange(errors, ChildPath(server, "eventLoops"), s.event_loops, kEventLoopsRange);
  CheckRange(errors, ChildPath(server, "maxConnections"), s.max_connections, kConnectionsRange);
  CheckRange(errors, ChildPath(server, "maxInFlight"), s.max_in_flight, kInFlightRange);
}

// Two listeners on one port: same port and the same host, or either on every address.
bool SameListener(const std::string& a, const std::string& b) {
  StatusOr<HostPort> x = ParseHostPort(a);
  StatusOr<HostPort> y = ParseHostPort(b);
  if (!x.ok() || !y.ok() || x->port == 0 || x->port != y->port) return false;
  auto wildcard = [](const std::string& host) { return host == "0.0.0.0" || host == "::"; };
  return x->host == y->host || wildcard(x->host) || wildcard(y->host);
}

// A certificate and its key go together (the webhook's and the extender's).
void ValidatePair(const std::string& cert, const std::string& key, const std::string& path,
                  Errors& errors) {
  const std::string cert_path = ChildPath(path, "tlsCertFile");
  const std::string key_path = ChildPath(path, "tlsPrivateKeyFile");
  if (!cert.empty() && key.empty()) {
    AddError(errors, key_path, "must be set when " + cert_path + " is set");
  }
  if (cert.empty() && !key.empty()) {
    AddError(errors, cert_path, "must be set when " + key_path + " is set");
  }
}

void CheckNameList(Errors& errors, const std::string& path, const std::vector<std::string>& names,
                   std::optional<std::string> (*check)(std::string_view));

void ValidateExtender(const Config& config, const std::string& path, Errors& errors) {
  const ExtenderConfig& e = config.extender;
  StatusOr<HostPort> listen = ParseHostPort(e.listen);
  if (!listen.ok()) AddError(errors, ChildPath(path, "listen"), listen.status().message());

  ValidatePair(e.tls_cert_file, e.tls_private_key_file, path, errors);
  if (!e.client_ca_file.empty() && e.tls_cert_file.empty()) {
    // Client certificates are a TLS feature: without a serving certificate the listener is plain
    // HTTP and the CA would silently authenticate nothing.
    AddError(errors, ChildPath(path, "clientCAFile"),
             "needs TLS: set " + ChildPath(path, "tlsCertFile") + " and " +
                 ChildPath(path, "tlsPrivateKeyFile") + " too");
  }
  CheckRange(errors, ChildPath(path, "certReloadInterval"), e.cert_reload_interval,
             kCertReloadIntervalRange);
  if (!e.health_listen.empty()) {
    const std::string health = ChildPath(path, "healthListen");
    StatusOr<HostPort> address = ParseHostPort(e.health_listen);
    if (!address.ok()) AddError(errors, health, address.status().message());
    const std::pair<std::string, std::string> others[] = {
        {ChildPath(path, "listen"), e.listen}, {"webhook.listen", config.webhook.listen}};
    for (const auto& [other_path, other] : others) {
      if (address.ok() && SameListener(e.health_listen, other)) {
        AddError(errors, health,
                 "must not use the port of " + other_path + " (both " + Quote(e.health_listen) +
                     " and " + Quote(other) + ")");
      }
    }
  }

  ValidateServer(e.server, ChildPath(path, "server"), errors);
  CheckRange(errors, ChildPath(path, "bindWait"), e.bind_wait, kBindWaitRange);

  if (e.strategy != DensityStrategy::kPack && e.strategy != DensityStrategy::kSpread) {
    AddError(errors, ChildPath(path, "strategy"), "unknown strategy");
  }

  const std::string weights = ChildPath(path, "weights");
  const ScoreWeights& w = e.weights;
  CheckRange(errors, ChildPath(weights, "topology"), w.topology, kWeightRange);
  CheckRange(errors, ChildPath(weights, "density"), w.density, kWeightRange);
  CheckRange(errors, ChildPath(weights, "health"), w.health, kWeightRange);
  if (w.topology == 0 && w.density == 0 && w.health == 0) {
    AddError(errors, weights, "at least one weight must be greater than 0");
  }
  // spec.schedulerName is a DNS subdomain; a list that serves no scheduler refuses every bind.
  if (e.scheduler_names.empty()) {
    AddError(errors, ChildPath(path, "schedulerNames"), "must name at least one scheduler");
  }
  CheckNameList(errors, ChildPath(path, "schedulerNames"), e.scheduler_names, DnsSubdomainError);
  // The debug endpoints name every node and pod of the cluster: only for callers with a client
  // certificate, or on this machine.
  if (e.debug_endpoints && (e.tls_cert_file.empty() || e.client_ca_file.empty())) {
    StatusOr<HostPort> address = ParseHostPort(e.listen);
    // A literal loopback address only: "127.evil.example" is a name that resolves anywhere.
    in_addr v4{};
    const bool loopback =
        address.ok() &&
        (address->host == "localhost" || address->host == "::1" ||
         (inet_pton(AF_INET, address->host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127));
    if (!loopback) {
      AddError(errors, ChildPath(path, "debugEndpoints"),
               "needs client certificates (" + ChildPath(path, "clientCAFile") +
                   " with TLS) or a " + "loopback " + ChildPath(path, "listen") +
                   ": the endpoints name every node and pod");
    }
  }
}

void ValidateCluster(const ClusterConfig& c, const std::string& path, Errors& errors) {
  auto at = [&](std::string_view key) { return ChildPath(path, key); };

  CheckKey(errors, at("instanceTypeLabel"), c.instance_type_label);
  CheckKey(errors, at("hostnameLabel"), c.hostname_label);
  if (c.instance_type_prefix.empty()) {
    AddError(errors, at("instanceTypePrefix"), "must not be empty");
  }

  if (c.topology_levels.empty() || c.topology_levels.size() > kMaxTopologyLevels) {
    AddError(errors, at("topologyLevels"),
             "must list between 1 and " + std::to_string(kMaxTopologyLevels) + " label keys (got " +
                 std::to_string(c.topology_levels.size()) + ")");
  }
  CheckKeyList(errors, at("topologyLevels"), c.topology_levels);

  // Accelerators are extended resources ("vendor.example/device"): a prefixed resource name,
  // which is also a qualified label key.
  if (c.accelerator_resources.size() > kMaxAcceleratorResources) {
    AddError(errors, at("acceleratorResources"),
             "must list at most " + std::to_string(kMaxAcceleratorResources) + " resources (got " +
                 std::to_string(c.accelerator_resources.size()) + ")");
  }
  CheckKeyList(errors, at("acceleratorResources"), c.accelerator_resources);
  for (std::size_t i = 0; i < c.accelerator_resources.size(); ++i) {
    const std::string& name = c.accelerator_resources[i];
    if (!name.empty() && name.find('/') == std::string::npos) {
      AddError(errors, IndexPath(at("acceleratorResources"), i),
               "must be an extended resource with a domain prefix, like \"nvidia.com/gpu\" (got " +
                   Quote(name) + ")");
    }
  }

  CheckKey(errors, at("healthLabel"), c.health_label);
  if (c.schedulable_health_values.empty()) {
    AddError(errors, at("schedulableHealthValues"), "must not be empty");
  }
  for (std::size_t i = 0; i < c.schedulable_health_values.size(); ++i) {
    if (c.schedulable_health_values[i].empty()) {
      AddError(errors, IndexPath(at("schedulableHealthValues"), i), "must not be empty");
    }
  }

  CheckKey(errors, at("deepHealthLabel"), c.deep_health_label);
  const std::pair<const char*, const std::string*> deep_health[] = {
      {"deepHealthPassed", &c.deep_health_passed},
      {"deepHealthInProgress", &c.deep_health_in_progress},
      {"deepHealthFailed", &c.deep_health_failed},
  };
  for (std::size_t i = 0; i < std::size(deep_health); ++i) {
    const auto& [key, value] = deep_health[i];
    if (value->empty()) {
      AddError(errors, at(key), "must not be empty");
      continue;
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (*deep_health[j].second == *value) {
        AddError(errors, at(key),
                 "must differ from " + at(deep_health[j].first) + " (both " + Quote(*value) + ")");
        break;
      }
    }
  }

  CheckKey(errors, at("healthTaintKey"), c.health_taint_key);
  CheckKey(errors, at("queueNameLabel"), c.queue_name_label);
  CheckKey(errors, at("priorityClassLabel"), c.priority_class_label);
  CheckKey(errors, at("requiredTopologyAnnotation"), c.required_topology_annotation);
  CheckKey(errors, at("preferredTopologyAnnotation"), c.preferred_topology_annotation);
  CheckKey(errors, at("podGroupLabel"), c.pod_group_label);
  CheckKey(errors, at("podGroupTotalCountAnnotation"), c.pod_group_total_count_annotation);
  CheckKeyList(errors, at("groupFallbackLabels"), c.group_fallback_labels);

  const std::string& prefix = c.team_namespace_prefix;
  if (prefix.empty()) {
    AddError(errors, at("teamNamespacePrefix"), "must not be empty");
  } else {
    bool valid = IsLowerAlnum(prefix.front());
    for (char c : prefix) valid = valid && (IsLowerAlnum(c) || c == '-');
    if (!valid) {
      AddError(errors, at("teamNamespacePrefix"),
               "must consist of lower-case alphanumerics and '-' and start with an alphanumeric "
               "(got " +
                   Quote(prefix) + ")");
    } else if (prefix.size() > kMaxTeamNamespacePrefixLength) {
      AddError(errors, at("teamNamespacePrefix"),
               "must be no more than " + std::to_string(kMaxTeamNamespacePrefixLength) +
                   " characters, so that a namespace name fits in 63");
    }
  }

  for (const auto& [type, max_pods] : c.max_pods_per_instance_type) {
    std::string entry_path = EntryPath(at("maxPodsPerInstanceType"), type);
    if (type.empty()) AddError(errors, entry_path, "instance type must not be empty");
    CheckRange(errors, entry_path, max_pods, kMaxPodsRange);
  }
}

// A team name T, as the part of its namespace "<prefix>T" after the prefix: a DNS-1123 label
// (lower-case alphanumerics and '-', starting and ending with an alphanumeric) such that the whole
// namespace name fits in 63 characters.
std::optional<std::string> TeamNameError(std::string_view team, std::string_view prefix) {
  bool valid = !team.empty() && IsLowerAlnum(team.front()) && IsLowerAlnum(team.back());
  for (char c : team) valid = valid && (IsLowerAlnum(c) || c == '-');
  if (!valid) {
    return "team name must consist of lower-case alphanumerics and '-', and start and end with "
           "an alphanumeric";
  }
  if (prefix.size() + team.size() > kMaxNamespaceLength) {
    return "team name makes the namespace " + Quote(std::string(prefix) + std::string(team)) +
           " longer than " + std::to_string(kMaxNamespaceLength) + " characters";
  }
  return std::nullopt;
}

// A Kubernetes namespace name: a DNS-1123 label.
std::optional<std::string> NamespaceNameError(std::string_view name) {
  bool valid = !name.empty() && IsLowerAlnum(name.front()) && IsLowerAlnum(name.back());
  for (char c : name) valid = valid && (IsLowerAlnum(c) || c == '-');
  if (!valid) {
    return "must be a namespace name: lower-case alphanumerics and '-', starting and ending with "
           "an alphanumeric (got " +
           Quote(name) + ")";
  }
  if (name.size() > kMaxNamespaceLength) {
    return "must be no more than " + std::to_string(kMaxNamespaceLength) + " characters";
  }
  return std::nullopt;
}

// A name the webhook writes as a label value (LocalQueue and WorkloadPriorityClass names): a
// DNS-1123 subdomain that also fits a label value.
std::optional<std::string> LabelValueNameError(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (std::optional<std::string> error = DnsSubdomainError(name)) {
    return *error + " (got " + Quote(name) + ")";
  }
  if (name.size() > kMaxLabelValueLength) {
    return "must be no more than " + std::to_string(kMaxLabelValueLength) +
           " characters, as it is written as a label value (got " + Quote(name) + ")";
  }
  return std::nullopt;
}

bool HasControlCharacter(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// Every occurrence of {team} in `pattern` replaced by `team`.
std::string ExpandTeamTemplate(std::string_view pattern, std::string_view team) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    std::size_t at = pattern.find(kTeamPlaceholder, start);
    out.append(
        pattern.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    out.append(team);
    start = at + kTeamPlaceholder.size();
  }
}

// Checks every item is non-empty, free of control characters, and appears once.
void CheckNameList(Errors& errors, const std::string& path, const std::vector<std::string>& names,
                   std::optional<std::string> (*check)(std::string_view)) {
  std::map<std::string_view, std::size_t> first_index;
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::string item_path = IndexPath(path, i);
    if (names[i].empty()) {
      AddError(errors, item_path, "must not be empty");
    } else if (check != nullptr) {
      if (std::optional<std::string> error = check(names[i])) AddError(errors, item_path, *error);
    } else if (HasControlCharacter(names[i])) {
      AddError(errors, item_path, "must not contain control characters");
    }
    auto [it, inserted] = first_index.emplace(names[i], i);
    if (!inserted) {
      AddError(errors, item_path,
               "duplicate of " + IndexPath(path, it->second) + " (" + Quote(names[i]) + ")");
    }
  }
}

void ValidateWebhook(const Config& config, const std::string& path, Errors& errors) {
  const WebhookConfig& w = config.webhook;
  auto at = [&](std::string_view key) { return ChildPath(path, key); };

  StatusOr<HostPort> listen = ParseHostPort(w.listen);
  if (!listen.ok()) {
    AddError(errors, at("listen"), listen.status().message());
  } else if (SameListener(w.listen, config.extender.listen)) {
    AddError(errors, at("listen"),
             "must not use the port of extender.listen (both " + Quote(w.listen) + " and " +
                 Quote(config.extender.listen) + ")");
  }
  ValidatePair(w.tls_cert_file, w.tls_private_key_file, path, errors);
  CheckRange(errors, at("certReloadInterval"), w.cert_reload_interval, kCertReloadIntervalRange);
  ValidateServer(w.server, at("server"), errors);

  // Templates are checked with a one-letter team: a team name starts and ends with an
  // alphanumeric, so any team gives the same characters around the placeholder.
  if (w.local_queue_template.find(kTeamPlaceholder) == std::string::npos) {
    AddError(errors, at("localQueueTemplate"),
             "must contain {team} (got " + Quote(w.local_queue_template) + ")");
  } else if (std::optional<std::string> error =
                 LabelValueNameError(ExpandTeamTemplate(w.local_queue_template, "a"))) {
    AddError(errors, at("localQueueTemplate"), "must give a valid LocalQueue name: " + *error);
  }
  if (w.team_group_template.find(kTeamPlaceholder) == std::string::npos) {
    AddError(errors, at("teamGroupTemplate"),
             "must contain {team} (got " + Quote(w.team_group_template) + ")");
  } else if (HasControlCharacter(w.team_group_template)) {
    AddError(errors, at("teamGroupTemplate"), "must not contain control characters");
  }

  CheckNameList(errors, at("adminGroups"), w.admin_groups, nullptr);
  CheckNameList(errors, at("trustedServiceAccountNamespaces"), w.trusted_service_account_namespaces,
                NamespaceNameError);
  CheckNameList(errors, at("trustedUsers"), w.trusted_users, nullptr);

  const std::string classes = at("priorityClasses");
  if (w.priority_classes.empty()) AddError(errors, classes, "must list at least one class");
  std::map<std::string_view, std::size_t> class_index;
  for (std::size_t i = 0; i < w.priority_classes.size(); ++i) {
    const PriorityClassConfig& pc = w.priority_classes[i];
    const std::string item = IndexPath(classes, i);
    if (std::optional<std::string> error = LabelValueNameError(pc.name)) {
      AddError(errors, ChildPath(item, "name"), *error);
    }
    if (pc.value < kPriorityValueMin || pc.value > kPriorityValueMax) {
      AddError(errors, ChildPath(item, "value"),
               OutOfRangeMessage(kPriorityValueMin, kPriorityValueMax, std::to_string(pc.value)));
    }
    auto [it, inserted] = class_index.emplace(pc.name, i);
    if (!inserted) {
      AddError(errors, ChildPath(item, "name"),
               "duplicate of " + ChildPath(IndexPath(classes, it->second), "name") + " (" +
                   Quote(pc.name) + ")");
    }
  }
  auto class_list = [&] {
    std::string names;
    for (const PriorityClassConfig& pc : w.priority_classes) {
      names += names.empty() ? "" : ", ";
      names += pc.name;
    }
    return names;
  };
  if (!w.default_priority_class.empty() && class_index.count(w.default_priority_class) == 0) {
    AddError(errors, at("defaultPriorityClass"),
             "must be empty or one of " + class_list() + " (got " +
                 Quote(w.default_priority_class) + ")");
  }
  for (const auto& [team, max_class] : w.team_max_priority_class) {
    const std::string entry = EntryPath(at("teamMaxPriorityClass"), team);
    if (std::optional<std::string> error =
            TeamNameError(team, config.cluster.team_namespace_prefix)) {
      AddError(errors, entry, *error);
    }
    if (class_index.count(max_class) == 0) {
      AddError(errors, entry, "must be one of " + class_list() + " (got " + Quote(max_class) + ")");
    }
  }

  if (!w.scheduler_name.empty()) {
    const std::vector<std::string>& served = config.extender.scheduler_names;
    if (std::optional<std::string> error = DnsSubdomainError(w.scheduler_name)) {
      AddError(errors, at("schedulerName"), *error);
    } else if (!served.empty() &&  // an empty list is reported on its own
               std::find(served.begin(), served.end(), w.scheduler_name) == served.end()) {
      // /bind would refuse every pod the webhook sends to that scheduler.
      std::string names;
      for (const std::string& name : served) names += (names.empty() ? "" : ", ") + name;
      AddError(errors, at("schedulerName"),
               "must be empty or one of extender.schedulerNames (" + names +
                   "), whose pods "
                   "/bind accepts (got " +
                   Quote(w.scheduler_name) + ")");
    }
  }
}

void ValidateKube(const KubeConfig& k, const std::string& path, Errors& errors) {
  auto at = [&](std::string_view key) { return ChildPath(path, key); };
  CheckRange(errors, at("assumeTimeout"), k.assume_timeout, kAssumeTimeoutRange);
  CheckRange(errors, at("requestTimeout"), k.request_timeout, kRequestTimeoutRange);
  CheckRange(errors, at("bindTimeout"), k.bind_timeout, kBindTimeoutRange);
  CheckRange(errors, at("watchTimeout"), k.watch_timeout, kWatchTimeoutRange);
  CheckRange(errors, at("backoffInitial"), k.backoff_initial, kBackoffInitialRange);
  CheckRange(errors, at("backoffMax"), k.backoff_max, kBackoffMaxRange);
  if (k.backoff_max < k.backoff_initial) {
    AddError(errors, at("backoffMax"),
             "must not be less than " + at("backoffInitial") + " (" +
                 FormatDuration(k.backoff_max) + " < " + FormatDuration(k.backoff_initial) + ")");
  }
  CheckRange(errors, at("listPageSize"), k.list_page_size, kListPageSizeRange);
}

void ValidateLog(const LogConfig& l, const std::string& path, Errors& errors) {
  bool level_known = false;
  for (const auto& name : kLogLevelNames) level_known = level_known || name.value == l.level;
  if (!level_known) AddError(errors, ChildPath(path, "level"), "unknown log level");
  if (l.format != LogFormat::kText && l.format != LogFormat::kJson) {
    AddError(errors, ChildPath(path, "format"), "unknown log format");
  }
}

std::string JoinLines(const Errors& errors) {
  std::string out;
  for (const std::string& error : errors) {
    if (!out.empty()) out += '\n';
    out += error;
  }
  return out;
}

std::string SyntaxErrorMessage(const YAML::Exception& e) {
  if (e.mark.is_null()) return e.msg.empty() ? std::string(e.what()) : e.msg;
  return "line " + std::to_string(e.mark.line + 1) + ", column " +
         std::to_string(e.mark.column + 1) + ": " + e.msg;
}

// Reads at most `limit` + 1 bytes so an oversized (or endless) file is refused without being
// read whole.
StatusOr<std::string> ReadSmallFile(const std::string& path, std::size_t limit) {
  auto error = [&](const char* what, int err) {
    StatusCode code = err == ENOENT ? StatusCode::kNotFound : StatusCode::kInvalidArgument;
    return Status(code, std::string(what) + " " + Quote(path) + ": " + std::strerror(err));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error("cannot open config file", errno);
  std::string data;
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return error("cannot read config file", err);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
    if (data.size() > limit) {
      ::close(fd);
      return OutOfRange("config file " + Quote(path) + " is larger than " + FormatBytes(limit) +
                        "B");
    }
  }
  ::close(fd);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Emitting.

void EmitStringList(YAML::Emitter& out, const std::vector<std::string>& values) {
  if (values.empty()) out << YAML::Flow;  // "[]" on the key's line
  out << YAML::BeginSeq;
  for (const std::string& value : values) out << value;
  out << YAML::EndSeq;
}

void EmitServer(YAML::Emitter& out, const ServerLimits& s) {
  out << YAML::BeginMap;
  out << YAML::Key << "maxBodyBytes" << YAML::Value
      << static_cast<unsigned long long>(s.max_body_bytes);
  out << YAML::Key << "maxHeaderBytes" << YAML::Value
      << static_cast<unsigned long long>(s.max_header_bytes);
  out << YAML::Key << "maxReplyBytes" << YAML::Value
      << static_cast<unsigned long long>(s.max_reply_bytes);
  out << YAML::Key << "keepBufferBytes" << YAML::Value
      << static_cast<unsigned long long>(s.keep_buffer_bytes);
  out << YAML::Key << "handshakeTimeout" << YAML::Value << FormatDuration(s.handshake_timeout);
  out << YAML::Key << "readTimeout" << YAML::Value << FormatDuration(s.read_timeout);
  out << YAML::Key << "writeTimeout" << YAML::Value << FormatDuration(s.write_timeout);
  out << YAML::Key << "idleTimeout" << YAML::Value << FormatDuration(s.idle_timeout);
  out << YAML::Key << "maxKeepAliveRequests" << YAML::Value << s.max_keepalive_requests;
  out << YAML::Key << "threads" << YAML::Value << s.threads;
  out << YAML::Key << "eventLoops" << YAML::Value << s.event_loops;
  out << YAML::Key << "maxConnections" << YAML::Value << s.max_connections;
  out << YAML::Key << "maxInFlight" << YAML::Value << s.max_in_flight;
  out << YAML::EndMap;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public functions.

StatusOr<Config> ParseConfig(const std::string& yaml_text) {
  Config config;
  Errors errors;
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(yaml_text);
    if (documents.size() > 1) {
      AddError(errors, kRootPath,
               "expected one YAML document, found " + std::to_string(documents.size()));
    } else if (documents.size() == 1) {
      DecodeConfig(documents.front(), config, errors);
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(SyntaxErrorMessage(e));
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("cannot parse configuration: ") + e.what());
  }
  // Fields that failed to decode kept their valid defaults, so validation adds no duplicates.
  Errors validation = ValidateConfig(config);
  errors.insert(errors.end(), validation.begin(), validation.end());
  if (!errors.empty()) return InvalidArgument(JoinLines(errors));
  return config;
}

StatusOr<Config> LoadConfigFile(const std::string& path) {
  StatusOr<std::string> text = ReadSmallFile(path, kMaxConfigFileBytes);
  if (!text.ok()) return text.status();
  return ParseConfig(*text);
}

std::vector<std::string> ValidateConfig(const Config& config) {
  Errors errors;
  ValidateExtender(config, "extender", errors);
  ValidateWebhook(config, "webhook", errors);
  ValidateCluster(config.cluster, "cluster", errors);
  ValidateKube(config.kube, "kube", errors);
  ValidateLog(config.log, "log", errors);
  return errors;
}

std::string ConfigToYaml(const Config& config) {
  const ExtenderConfig& e = config.extender;
  const WebhookConfig& w = config.webhook;
  const ClusterConfig& c = config.cluster;
  const KubeConfig& k = config.kube;

  YAML::Emitter out;
  out << YAML::BeginMap;

  out << YAML::Key << "extender" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << e.listen;
  out << YAML::Key << "tlsCertFile" << YAML::Value << e.tls_cert_file;
  out << YAML::Key << "tlsPrivateKeyFile" << YAML::Value << e.tls_private_key_file;
  out << YAML::Key << "clientCAFile" << YAML::Value << e.client_ca_file;
  out << YAML::Key << "certReloadInterval" << YAML::Value << FormatDuration(e.cert_reload_interval);
  out << YAML::Key << "healthListen" << YAML::Value << e.health_listen;
  out << YAML::Key << "server" << YAML::Value;
  EmitServer(out, e.server);
  out << YAML::Key << "bindWait" << YAML::Value << FormatDuration(e.bind_wait);
  out << YAML::Key << "strategy" << YAML::Value << DensityStrategyName(e.strategy);
  out << YAML::Key << "weights" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "topology" << YAML::Value << e.weights.topology;
  out << YAML::Key << "density" << YAML::Value << e.weights.density;
  out << YAML::Key << "health" << YAML::Value << e.weights.health;
  out << YAML::EndMap;
  out << YAML::Key << "schedulerNames" << YAML::Value;
  EmitStringList(out, e.scheduler_names);
  out << YAML::Key << "debugEndpoints" << YAML::Value << e.debug_endpoints;
  out << YAML::EndMap;

  out << YAML::Key << "webhook" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << w.listen;
  out << YAML::Key << "tlsCertFile" << YAML::Value << w.tls_cert_file;
  out << YAML::Key << "tlsPrivateKeyFile" << YAML::Value << w.tls_private_key_file;
  out << YAML::Key << "certReloadInterval" << YAML::Value << FormatDuration(w.cert_reload_interval);
  out << YAML::Key << "server" << YAML::Value;
  EmitServer(out, w.server);
  out << YAML::Key << "localQueueTemplate" << YAML::Value << w.local_queue_template;
  out << YAML::Key << "teamGroupTemplate" << YAML::Value << w.team_group_template;
  out << YAML::Key << "adminGroups" << YAML::Value;
  EmitStringList(out, w.admin_groups);
  out << YAML::Key << "trustedServiceAccountNamespaces" << YAML::Value;
  EmitStringList(out, w.trusted_service_account_namespaces);
  out << YAML::Key << "trustedUsers" << YAML::Value;
  EmitStringList(out, w.trusted_users);
  out << YAML::Key << "priorityClasses" << YAML::Value;
  if (w.priority_classes.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const PriorityClassConfig& pc : w.priority_classes) {
    out << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << pc.name;
    out << YAML::Key << "value" << YAML::Value << pc.value;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "defaultPriorityClass" << YAML::Value << w.default_priority_class;
  out << YAML::Key << "teamMaxPriorityClass" << YAML::Value;
  if (w.team_max_priority_class.empty()) out << YAML::Flow;
  out << YAML::BeginMap;
  for (const auto& [team, max_class] : w.team_max_priority_class) {
    out << YAML::Key << team << YAML::Value << max_class;
  }
  out << YAML::EndMap;
  out << YAML::Key << "schedulerName" << YAML::Value << w.scheduler_name;
  out << YAML::EndMap;

  out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "instanceTypeLabel" << YAML::Value << c.instance_type_label;
  out << YAML::Key << "instanceTypePrefix" << YAML::Value << c.instance_type_prefix;
  out << YAML::Key << "hostnameLabel" << YAML::Value << c.hostname_label;
  out << YAML::Key << "topologyLevels" << YAML::Value;
  EmitStringList(out, c.topology_levels);
  out << YAML::Key << "healthLabel" << YAML::Value << c.health_label;
  out << YAML::Key << "schedulableHealthValues" << YAML::Value;
  EmitStringList(out, c.schedulable_health_values);
  out << YAML::Key << "deepHealthLabel" << YAML::Value << c.deep_health_label;
  out << YAML::Key << "deepHealthPassed" << YAML::Value << c.deep_health_passed;
  out << YAML::Key << "deepHealthInProgress" << YAML::Value << c.deep_health_in_progress;
  out << YAML::Key << "deepHealthFailed" << YAML::Value << c.deep_health_failed;
  out << YAML::Key << "healthTaintKey" << YAML::Value << c.health_taint_key;
  out << YAML::Key << "queueNameLabel" << YAML::Value << c.queue_name_label;
  out << YAML::Key << "priorityClassLabel" << YAML::Value << c.priority_class_label;
  out << YAML::Key << "requiredTopologyAnnotation" << YAML::Value << c.required_topology_annotation;
  out << YAML::Key << "preferredTopologyAnnotation" << YAML::Value
      << c.preferred_topology_annotation;
  out << YAML::Key << "podGroupLabel" << YAML::Value << c.pod_group_label;
  out << YAML::Key << "podGroupTotalCountAnnotation" << YAML::Value
      << c.pod_group_total_count_annotation;
  out << YAML::Key << "groupFallbackLabels" << YAML::Value;
  EmitStringList(out, c.group_fallback_labels);
  out << YAML::Key << "teamNamespacePrefix" << YAML::Value << c.team_namespace_prefix;
  out << YAML::Key << "maxPodsPerInstanceType" << YAML::Value;
  if (c.max_pods_per_instance_type.empty()) out << YAML::Flow;
  out << YAML::BeginMap;
  for (const auto& [type, max_pods] : c.max_pods_per_instance_type) {
    out << YAML::Key << type << YAML::Value << max_pods;
  }
  out << YAML::EndMap;
  out << YAML::Key << "acceleratorResources" << YAML::Value;
  EmitStringList(out, c.accelerator_resources);
  out << YAML::EndMap;

  out << YAML::Key << "kube" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "assumeTimeout" << YAML::Value << FormatDuration(k.assume_timeout);
  out << YAML::Key << "requestTimeout" << YAML::Value << FormatDuration(k.request_timeout);
  out << YAML::Key << "bindTimeout" << YAML::Value << FormatDuration(k.bind_timeout);
  out << YAML::Key << "watchTimeout" << YAML::Value << FormatDuration(k.watch_timeout);
  out << YAML::Key << "backoffInitial" << YAML::Value << FormatDuration(k.backoff_initial);
  out << YAML::Key << "backoffMax" << YAML::Value << FormatDuration(k.backoff_max);
  out << YAML::Key << "listPageSize" << YAML::Value << k.list_page_size;
  out << YAML::Key << "watchKueue" << YAML::Value << k.watch_kueue;
  out << YAML::EndMap;

  out << YAML::Key << "log" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "level" << YAML::Value << LogLevelName(config.log.level);
  out << YAML::Key << "format" << YAML::Value << LogFormatName(config.log.format);
  out << YAML::EndMap;

  out << YAML::EndMap;
  return std::string("# hyperplace effective configuration\n") + out.c_str() + "\n";
}

StatusOr<HostPort> ParseHostPort(const std::string& text) {
  auto invalid = [&](std::string_view why) {
    return InvalidArgument("invalid address " + Quote(text) + ": " + std::string(why));
  };
  std::string_view rest = text;
  HostPort result;
  if (rest.starts_with('[')) {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return invalid("missing ']' after IPv6 address");
    result.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.starts_with(':')) return invalid("expected ':' and a port after ']'");
    rest.remove_prefix(1);
    if (result.host.find_first_of("[]") != std::string::npos) {
      return invalid("unexpected '[' or ']' in host");
    }
  } else {
    std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return invalid("missing port (expected HOST:PORT)");
    result.host = std::string(rest.substr(0, colon));
    rest.remove_prefix(colon + 1);
    if (result.host.find(':') != std::string::npos) {
      return invalid("an IPv6 address must be in brackets, as in [::1]:8888");
    }
    if (result.host.find_first_of("[]") != std::string::npos) {
      return invalid("unexpected '[' or ']' in host");
    }
  }
  if (result.host.empty()) return invalid("host must not be empty");
  for (char c : result.host) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return invalid("host must not contain spaces or control characters");
    }
  }
  std::optional<std::uint64_t> port = rest.size() <= 5 ? ParseDigits(rest) : std::nullopt;
  if (!port || *port > 65535) return invalid("port must be a number between 0 and 65535");
  result.port = static_cast<std::uint16_t>(*port);
  return result;
}

// Go's time.ParseDuration restricted to the units h, m, s and ms and to whole milliseconds:
// a sequence of decimal numbers, each with an optional fraction and a unit ("1h30m", "1.5s").
StatusOr<milliseconds> ParseDuration(const std::string& text) {
  auto invalid = [&](std::string_view why) {
    return InvalidArgument("invalid duration " + Quote(text) + ": " + std::string(why));
  };
  if (text.empty()) return invalid("must not be empty");
  if (text.front() == '-') return invalid("must not be negative");
  std::string_view rest = text;
  std::int64_t total = 0;
  while (!rest.empty()) {
    std::size_t end = 0;
    while (end < rest.size() && IsDigit(rest[end])) ++end;
    std::string_view whole = rest.substr(0, end);
    std::string_view fraction;
    if (end < rest.size() && rest[end] == '.') {
      std::size_t start = ++end;
      while (end < rest.size() && IsDigit(rest[end])) ++end;
      fraction = rest.substr(start, end - start);
    }
    if (whole.empty() && fraction.empty()) {
      return invalid("expected a number such as 250ms, 4s, 2m or 1m30s");
    }
    rest.remove_prefix(end);
    std::size_t unit_end = 0;
    while (unit_end < rest.size() && !IsDigit(rest[unit_end]) && rest[unit_end] != '.') {
      ++unit_end;
    }
    std::string_view unit = rest.substr(0, unit_end);
    rest.remove_prefix(unit_end);
    std::int64_t unit_ms = 0;
    if (unit == "h") {
      unit_ms = 60 * 60 * 1000;
    } else if (unit == "m") {
      unit_ms = 60 * 1000;
    } else if (unit == "s") {
      unit_ms = 1000;
    } else if (unit == "ms") {
      unit_ms = 1;
    } else if (unit.empty()) {
      return invalid("missing unit (use h, m, s or ms)");
    } else {
      return invalid("unknown unit " + Quote(unit) + " (use h, m, s or ms)");
    }

    std::int64_t value = 0;
    if (!whole.empty()) {
      std::optional<std::uint64_t> parsed = ParseDigits(whole);
      if (!parsed ||
          *parsed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
          __builtin_mul_overflow(static_cast<std::int64_t>(*parsed), unit_ms, &value)) {
        return invalid("too large");
      }
    }
    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
    if (!fraction.empty()) {
      // unit_ms <= 3600000 = 2^7 * 3^2 * 5^5: a fraction with more than 7 significant digits
      // can never be a whole number of milliseconds.
      if (fraction.size() > 7) return invalid("must be a whole number of milliseconds");
      std::int64_t digits = static_cast<std::int64_t>(*ParseDigits(fraction));
      std::int64_t scale = 1;
      for (std::size_t i = 0; i < fraction.size(); ++i) scale *= 10;
      if ((digits * unit_ms) % scale != 0) return invalid("must be a whole number of milliseconds");
      if (__builtin_add_overflow(value, digits * unit_ms / scale, &value)) {
        return invalid("too large");
      }
    }
    if (__builtin_add_overflow(total, value, &total)) return invalid("too large");
  }
  return milliseconds(total);
}

// The shortest h/m/s/ms form: 4000 -> "4s", 90000 -> "1m30s", 1500 -> "1s500ms", 0 -> "0s".
std::string FormatDuration(milliseconds d) {
  std::int64_t count = d.count();
  std::string out;
  std::uint64_t ms = static_cast<std::uint64_t>(count);
  if (count < 0) {
    out = "-";
    ms = 0 - ms;  // well-defined for INT64_MIN too
  }
  if (ms == 0) return "0s";
  const std::pair<std::uint64_t, const char*> units[] = {
      {60 * 60 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const auto& [unit_ms, suffix] : units) {
    if (ms >= unit_ms) {
      out += std::to_string(ms / unit_ms) + suffix;
      ms %= unit_ms;
    }
  }
  return out;
}

}  // namespace hyperplace
