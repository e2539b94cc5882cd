#include "common/quantity.h"

#include <gtest/gtest.h>

#include <string>

namespace hyperplace {
namespace {

// The amount in `scale` as text, or the error message: one column of a table row.
std::string Parsed(std::string_view text, QuantityScale scale) {
  StatusOr<std::int64_t> r = ParseQuantity(text, scale);
  return r.ok() ? std::to_string(*r) : r.status().message();
}

// Quantity.Value() and Quantity.MilliValue() of each text, as upstream computes them (every row
// was checked against k8s.io/apimachinery's own ParseQuantity).
struct Case {
  std::string_view text;
  std::string_view units;
  std::string_view milli;
};

void ExpectCases(std::initializer_list<Case> cases) {
  for (const Case& c : cases) {
    EXPECT_EQ(Parsed(c.text, QuantityScale::kUnits), c.units) << '"' << c.text << '"';
    EXPECT_EQ(Parsed(c.text, QuantityScale::kMilli), c.milli) << '"' << c.text << '"';
  }
}

TEST(ParseQuantityTest, EverySuffix) {
  ExpectCases({
      {"1n", "1", "1"},  // 10^-9, rounded up to 1 unit and to 1 milli
      {"1u", "1", "1"},
      {"1m", "1", "1"},
      {"1", "1", "1000"},
      {"1k", "1000", "1000000"},
      {"1M", "1000000", "1000000000"},
      {"1G", "1000000000", "1000000000000"},
      {"1T", "1000000000000", "1000000000000000"},
      {"1P", "1000000000000000", "1000000000000000000"},
      {"1E", "1000000000000000000", "out of range"},  // "E" alone is exa: 10^21 milli
      {"1Ki", "1024", "1024000"},
      {"1Mi", "1048576", "1048576000"},
      {"1Gi", "1073741824", "1073741824000"},
      {"1Ti", "1099511627776", "1099511627776000"},
      {"1Pi", "1125899906842624", "1125899906842624000"},
      {"1Ei", "1152921504606846976", "out of range"},
  });
}

TEST(ParseQuantityTest, RealNodeAndPodQuantities) {
  ExpectCases({
      {"191450m", "192", "191450"},  // 191.45 cpus: 192 whole, 191450 milli
      {"96", "96", "96000"},
      {"2097152Ki", "2147483648", "2147483648000"},           // 2^21 · 2^10 = 2^31
      {"2044000000Ki", "2093056000000", "2093056000000000"},  // 2044000000 · 1024
      {"1964Gi", "2108828942336", "2108828942336000"},
      {"8", "8", "8000"},
      {"0", "0", "0"},
      {"110", "110", "110000"},
  });
}

TEST(ParseQuantityTest, FractionsRoundUp) {
  ExpectCases({
      {"1.5Ki", "1536", "1536000"},
      {"0.5Ki", "512", "512000"},  // exact: nothing to round
      {"0.75Ki", "768", "768000"},
      {"1.5Gi", "1610612736", "1610612736000"},  // 1.5 · 2^30
      {"0.1", "1", "100"},                       // 0.1 unit: ceil 1; 100 milli exactly
      {"100m", "1", "100"},
      {"0.1m", "1", "1"},  // 0.0001: 1 of either
      {"1.5", "2", "1500"},
      {".5", "1", "500"},
      {"1.", "1", "1000"},
      {"999999999n", "1", "1000"},   // 0.999999999
      {"1000000001n", "2", "1001"},  // 1.000000001: the last nano rounds each up
      {"1.00000000000000000000000000001", "2", "1001"},
      {"0.000000000000000000000000000001Ei", "1", "1"},  // 10^-30 · 2^60 ≈ 1.15 · 10^-12
      {"9223372036854775807n", "9223372037", "9223372036855"},
  });
}

TEST(ParseQuantityTest, DecimalExponents) {
  ExpectCases({
      {"1e3", "1000", "1000000"},
      {"1E3", "1000", "1000000"},
      {"1e+3", "1000", "1000000"},
      {"1e03", "1000", "1000000"},
      {"1e-0", "1", "1000"},
      {"12E-1", "2", "1200"},  // 1.2: ceil 2
      {"1e-3", "1", "1"},
      {"1e-10", "1", "1"},
      {"123456789012345678901234567890e-20", "1234567891", "1234567890124"},
      // Upstream reads the exponent as int64 and keeps its low 32 bits: 2^32 is 0, 2^32 + 1 is 1,
      // 2^63 - 1 is -1; 2^63 is no int64 at all.
      {"1e4294967296", "1", "1000"},
      {"1e4294967297", "10", "10000"},
      {"1e9223372036854775807", "1", "100"},
      {"1e9223372036854775808", "not a quantity", "not a quantity"},
  });
}

TEST(ParseQuantityTest, Int64Limits) {
  ExpectCases({
      {"9223372036854775807", "9223372036854775807", "out of range"},  // 2^63 - 1
      {"9223372036854775808", "out of range", "out of range"},
      {"9223372036854775807.1", "out of range", "out of range"},  // ceil is 2^63
      {"9223372036854775807m", "9223372036854776", "9223372036854775807"},
      {"9223372036854775808m", "9223372036854776", "out of range"},
      {"9223372036854775.807k", "9223372036854775807", "out of range"},
      {"9.223372036854775807E", "9223372036854775807", "out of range"},
      {"9.223372036854775808E", "out of range", "out of range"},
      {"9e18", "9000000000000000000", "out of range"},
      {"1e19", "out of range", "out of range"},
      {"7Ei", "8070450532247928832", "out of range"},
      {"8191Pi", "9222246136947933184", "out of range"},
      // Binary quantities above 2^63 - 1 are capped there by upstream's parser.
      {"8Ei", "9223372036854775807", "out of range"},
      {"8192Pi", "9223372036854775807", "out of range"},
      {"7.999999999999999999Ei", "9223372036854775807", "out of range"},
      {"16Ei", "9223372036854775807", "out of range"},
  });
}

TEST(ParseQuantityTest, SignsAndZeros) {
  ExpectCases({
      {"+1", "1", "1000"},
      {"-1", "negative", "negative"},
      {"-1n", "negative", "negative"},
      {"-0", "0", "0"},
      {"-0.0", "0", "0"},
      {"00000000000000000000000000001", "1", "1000"},
  });
}

TEST(ParseQuantityTest, UpstreamScannerAcceptsANumberWithoutDigits) {
  // parseQuantityString lets an empty number through as 0, and upstream's int64 path takes it;
  // where its exact path runs instead (exponents below -9, Pi and Ei), there is nothing to parse.
  ExpectCases({
      {"+", "0", "0"},
      {"-", "0", "0"},
      {".", "0", "0"},
      {"+.", "0", "0"},
      {"k", "0", "0"},
      {"Ki", "0", "0"},
      {".Ki", "0", "0"},
      {"Ti", "0", "0"},
      {"e-9", "0", "0"},
      {"Pi", "not a quantity", "not a quantity"},
      {"Ei", "not a quantity", "not a quantity"},
      {"e-10", "not a quantity", "not a quantity"},
  });
}

TEST(ParseQuantityTest, GarbageIsNotAQuantity) {
  for (std::string_view text :
       {"",     "1 ",  " 1",   "K",     "1K",    "1e",          "1e+",  "1E-",
        "1ee3", "1Ee", "1e3e", "1.2.3", "--1",   "+-1",         "1Mi3", "1mi",
        "1ki",  "1i",  "1,5",  "0x10",  "1_000", "\xe2\x88\x9e"}) {
    EXPECT_EQ(Parsed(text, QuantityScale::kUnits), "not a quantity") << '"' << text << '"';
    EXPECT_EQ(Parsed(text, QuantityScale::kMilli), "not a quantity") << '"' << text << '"';
  }
  EXPECT_EQ(Parsed(std::string_view("1\0", 2), QuantityScale::kUnits), "not a quantity");
}

TEST(ParseQuantityTest, LongDigitStringsAreExact) {
  // 1 followed by 100000 zeros, times 10^-100000, is 1; so is 0.000…1 times 10^100001.
  std::string big = "1" + std::string(100000, '0') + "e-100000";
  EXPECT_EQ(Parsed(big, QuantityScale::kMilli), "1000");
  std::string tiny = "0." + std::string(100000, '0') + "1e100001";
  EXPECT_EQ(Parsed(tiny, QuantityScale::kMilli), "1000");
  EXPECT_EQ(Parsed("1" + std::string(100000, '0'), QuantityScale::kUnits), "out of range");
  EXPECT_EQ(Parsed("0." + std::string(100000, '0') + "1", QuantityScale::kUnits), "1");
}

TEST(ScaleOfTest, CpuIsMilliEverythingElseUnits) {
  EXPECT_EQ(ScaleOf("cpu"), QuantityScale::kMilli);
  for (std::string_view r : {"memory", "pods", "nvidia.com/gpu", "hugepages-1Gi", "CPU", "cpus"}) {
    EXPECT_EQ(ScaleOf(r), QuantityScale::kUnits) << r;
  }
}

TEST(AppendQuantityTest, CpuInCoresOrMillicoresOthersWithTheLargestExactBinarySuffix) {
  struct {
    std::int64_t amount;
    std::string_view resource;
    std::string_view want;
  } cases[] = {
      {1500, "cpu", "1500m"},
      {96000, "cpu", "96"},
      {0, "cpu", "0"},
      {1, "cpu", "1m"},
      {-2500, "cpu", "-2500m"},
      {std::int64_t{16} << 30, "memory", "16Gi"},
      {std::int64_t{1536} << 20, "memory", "1536Mi"},  // 1.5Gi is not whole Gi
      {std::int64_t{2002} << 30, "memory", "2002Gi"},
      {std::int64_t{3} << 40, "memory", "3Ti"},
      {std::int64_t{2048} << 40, "memory", "2048Ti"},  // no Pi
      {1000, "memory", "1000"},
      {1024, "ephemeral-storage", "1Ki"},
      {8, "nvidia.com/gpu", "8"},
      {0, "memory", "0"},
      {-(std::int64_t{3} << 30), "memory", "-3Gi"},
      {INT64_MAX, "memory", "9223372036854775807"},
      {INT64_MIN, "memory", "-8388608Ti"},
      {INT64_MAX, "cpu", "9223372036854775807m"},
  };
  for (const auto& c : cases) {
    std::string out = "x=";
    AppendQuantity(out, c.amount, c.resource);
    EXPECT_EQ(out, "x=" + std::string(c.want)) << c.amount << " " << c.resource;
  }
}

TEST(AppendQuantityTest, ParsingWhatItWritesGivesTheAmountBack) {
  for (std::string_view resource : {"cpu", "memory"}) {
    for (std::int64_t amount :
         {std::int64_t{0}, std::int64_t{1}, std::int64_t{999}, std::int64_t{1000},
          std::int64_t{1024}, std::int64_t{191450}, std::int64_t{1} << 40, std::int64_t{1} << 62,
          INT64_MAX - 1, INT64_MAX}) {
      std::string text;
      AppendQuantity(text, amount, resource);
      EXPECT_EQ(Parsed(text, ScaleOf(resource)), std::to_string(amount)) << text;
    }
  }
}

}  // namespace
}  // namespace hyperplace
