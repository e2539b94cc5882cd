#include "common/quantity.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace hyperplace {
namespace {

constexpr std::uint64_t kInt64Max = static_cast<std::uint64_t>(INT64_MAX);

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The pieces upstream's parseQuantityString cuts a quantity into.
struct Parts {
  bool negative = false;
  std::string_view whole;     // integer digits, leading zeros stripped
  std::string_view fraction;  // the digits after '.'
  std::string_view suffix;    // letters, then an optional sign and digits
  bool digitless = false;     // not a single digit before the suffix ("+", ".", "k")
};

// Upstream's scanner, step for step: it is more lenient than its documented grammar (the number
// may be empty) and what it lets through decides what the API server accepts.
std::optional<Parts> Split(std::string_view s) {
  Parts p;
  std::size_t pos = 0;
  const std::size_t end = s.size();
  if (pos < end && (s[pos] == '-' || s[pos] == '+')) p.negative = s[pos++] == '-';
  const std::size_t zeros_begin = pos;
  while (pos < end && s[pos] == '0') ++pos;
  if (pos == end) return p;  // zero: "0", "-0", "+", "000"
  const bool had_zeros = pos > zeros_begin;
  std::size_t begin = pos;
  while (pos < end && IsDigit(s[pos])) ++pos;
  p.whole = s.substr(begin, pos - begin);
  if (pos < end && s[pos] == '.') {
    begin = ++pos;
    while (pos < end && IsDigit(s[pos])) ++pos;
    p.fraction = s.substr(begin, pos - begin);
  }
  p.digitless = !had_zeros && p.whole.empty() && p.fraction.empty();
  begin = pos;
  while (pos < end && std::string_view("eEinumkKMGTP").find(s[pos]) != std::string_view::npos) {
    ++pos;
  }
  if (pos < end && (s[pos] == '-' || s[pos] == '+')) ++pos;
  while (pos < end && IsDigit(s[pos])) ++pos;
  if (pos != end) return std::nullopt;
  p.suffix = s.substr(begin);
  return p;
}

struct Suffix {
  bool binary = false;  // a power of 2 (Ki..Ei), else of 10
  std::int32_t exponent = 0;
};

// Go's strconv.ParseInt(s, 10, 64): an optional sign, at least one digit, within int64.
std::optional<std::int64_t> ParseGoInt64(std::string_view s) {
  bool negative = false;
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i == s.size()) return std::nullopt;
  const std::uint64_t limit = negative ? kInt64Max + 1 : kInt64Max;
  std::uint64_t magnitude = 0;
  for (; i < s.size(); ++i) {
    if (!IsDigit(s[i])) return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(s[i] - '0');
    if (magnitude > (limit - digit) / 10) return std::nullopt;
    magnitude = magnitude * 10 + digit;
  }
  return static_cast<std::int64_t>(negative ? 0 - magnitude : magnitude);  // modular, C++20
}

// quantitySuffixer.interpret.
std::optional<Suffix> Interpret(std::string_view s) {
  struct Named {
    std::string_view suffix;
    Suffix value;
  };
  static constexpr Named kNamed[] = {
      {"", {false, 0}},   {"n", {false, -9}}, {"u", {false, -6}}, {"m", {false, -3}},
      {"k", {false, 3}},  {"M", {false, 6}},  {"G", {false, 9}},  {"T", {false, 12}},
      {"P", {false, 15}}, {"E", {false, 18}}, {"Ki", {true, 10}}, {"Mi", {true, 20}},
      {"Gi", {true, 30}}, {"Ti", {true, 40}}, {"Pi", {true, 50}}, {"Ei", {true, 60}},
  };
  for (const Named& n : kNamed) {
    if (n.suffix == s) return n.value;
  }
  if (s.size() > 1 && (s[0] == 'e' || s[0] == 'E')) {
    auto exponent = ParseGoInt64(s.substr(1));
    if (!exponent) return std::nullopt;
    return Suffix{false, static_cast<std::int32_t>(*exponent)};  // Go's int32(parsed)
  }
  return std::nullopt;
}

// The digits of whole and fraction as one sequence.
class Digits {
 public:
  explicit Digits(const Parts& p) : whole_(p.whole), fraction_(p.fraction) {}
  std::size_t size() const { return whole_.size() + fraction_.size(); }
  unsigned operator[](std::size_t i) const {
    const char c = i < whole_.size() ? whole_[i] : fraction_[i - whole_.size()];
    return static_cast<unsigned>(c - '0');
  }

 private:
  std::string_view whole_, fraction_;
};

// ceil(G × 10^e × 2^b) for the significant digits G = digits[lo, hi) (neither end a zero), or
// nullopt above INT64_MAX. The digits left of the point (at most 19 once the value fits) make an
// integer; the ones right of it are multiplied by 2^b from the last one up, as in long
// multiplication, keeping only the carry and whether any digit dropped below the point was not
// zero. Worked example, "0.75Ki" in units: G = 75, e = -2, b = 10: 5·1024 = 5120 (digit 0, carry
// 512), 7·1024 + 512 = 7680 (digit 0, carry 768); nothing dropped, so 768.
std::optional<std::uint64_t> CeilScaled(const Digits& d, std::size_t lo, std::size_t hi,
                                        std::int64_t e, int b) {
  using u128 = unsigned __int128;
  const std::uint64_t multiplier = std::uint64_t{1} << b;
  const auto length = static_cast<std::int64_t>(hi - lo);
  if (e >= 0) {
    if (length + e > 19) return std::nullopt;  // at least 10^19
    std::uint64_t g = 0;
    for (std::size_t i = lo; i < hi; ++i) g = g * 10 + d[i];
    for (std::int64_t i = 0; i < e; ++i) g *= 10;
    const u128 v = u128{g} * multiplier;
    if (v > kInt64Max) return std::nullopt;
    return static_cast<std::uint64_t>(v);
  }
  const std::int64_t whole_digits = length + e;  // left of the point; <= 0: none
  if (whole_digits >= 20) return std::nullopt;
  std::uint64_t whole = 0;
  std::size_t i = lo;
  for (; static_cast<std::int64_t>(i - lo) < whole_digits; ++i) whole = whole * 10 + d[i];
  // carry <= multiplier throughout, so t <= 10 · 2^60 fits 64 bits.
  std::uint64_t carry = 0;
  bool dropped = false;
  for (std::size_t j = hi; j > i; --j) {
    const std::uint64_t t = d[j - 1] * multiplier + carry;
    dropped |= t % 10 != 0;
    carry = t / 10;
  }
  // Zeros between the point and G: each divides by 10 again, until nothing is left to divide.
  for (std::int64_t zeros = -std::min<std::int64_t>(whole_digits, 0); zeros > 0 && carry != 0;
       --zeros) {
    dropped |= carry % 10 != 0;
    carry /= 10;
  }
  const u128 v = u128{whole} * multiplier + carry + (dropped ? 1 : 0);
  if (v > kInt64Max) return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

Status NotAQuantity() { return InvalidArgument("not a quantity"); }

}  // namespace

QuantityScale ScaleOf(std::string_view resource) {
  return resource == "cpu" ? QuantityScale::kMilli : QuantityScale::kUnits;
}

StatusOr<std::int64_t> ParseQuantity(std::string_view text, QuantityScale scale) {
  if (text.empty()) return NotAQuantity();
  std::optional<Parts> parts = Split(text);
  if (!parts) return NotAQuantity();
  std::optional<Suffix> suffix = Interpret(parts->suffix);
  if (!suffix) return NotAQuantity();
  if (parts->digitless) {
    // Upstream's int64 path reads no digits as 0; its exact path (taken for these exponents)
    // finds no number to parse and fails.
    if (suffix->binary ? suffix->exponent >= 50 : suffix->exponent < -9) return NotAQuantity();
    return std::int64_t{0};
  }
  const Digits digits(*parts);
  std::size_t lo = 0;
  while (lo < digits.size() && digits[lo] == 0) ++lo;
  if (lo == digits.size()) return std::int64_t{0};  // "-0.0" is zero, not negative
  if (parts->negative) return InvalidArgument("negative");
  std::size_t hi = digits.size();
  while (digits[hi - 1] == 0) --hi;
  // Value = G × 10^e × 2^b, with G the significant digits: trailing zeros move into e.
  std::int64_t e =
      (suffix->binary ? 0 : suffix->exponent) - static_cast<std::int64_t>(parts->fraction.size()) +
      static_cast<std::int64_t>(digits.size() - hi) + (scale == QuantityScale::kMilli ? 3 : 0);
  const int b = suffix->binary ? suffix->exponent : 0;
  std::optional<std::uint64_t> value = CeilScaled(digits, lo, hi, e, b);
  if (value) return static_cast<std::int64_t>(*value);
  // Upstream caps binary quantities at 2^63-1 units; a milli value of that still overflows.
  if (suffix->binary && scale == QuantityScale::kUnits) return INT64_MAX;
  return InvalidArgument("out of range");
}

void AppendQuantity(std::string& out, std::int64_t amount, std::string_view resource) {
  std::uint64_t magnitude = static_cast<std::uint64_t>(amount);
  if (amount < 0) {
    out += '-';
    magnitude = 0 - magnitude;
  }
  auto append_number = [&out](std::uint64_t n) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    out.append(digits, end);
  };
  if (ScaleOf(resource) == QuantityScale::kMilli) {
    if (magnitude % 1000 == 0) {
      append_number(magnitude / 1000);
    } else {
      append_number(magnitude);
      out += 'm';
    }
    return;
  }
  struct Binary {
    int shift;
    std::string_view suffix;
  };
  static constexpr Binary kBinary[] = {{40, "Ti"}, {30, "Gi"}, {20, "Mi"}, {10, "Ki"}};
  if (magnitude != 0) {
    for (const Binary& unit : kBinary) {
      if (magnitude % (std::uint64_t{1} << unit.shift) != 0) continue;
      append_number(magnitude >> unit.shift);
      out += unit.suffix;
      return;
    }
  }
  append_number(magnitude);
}

}  // namespace hyperplace
