#include "common/json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hyperplace::json {
namespace {

TEST(Base64Test, DecodeInvertsAppendForEveryLengthAndByte) {
  std::string data;
  for (int n = 0; n <= 64; ++n) {
    std::string encoded;
    AppendBase64(encoded, data);
    EXPECT_EQ(encoded.size(), (data.size() + 2) / 3 * 4);
    ASSERT_EQ(DecodeBase64(encoded), data) << encoded;
    data.push_back(static_cast<char>(n * 37 + 200));  // every residue, bytes above 127 too
  }
}

TEST(Base64Test, KnownVectorsAndWrappedInput) {
  EXPECT_EQ(DecodeBase64(""), "");
  EXPECT_EQ(DecodeBase64("Zg=="), "f");
  EXPECT_EQ(DecodeBase64("Zm8="), "fo");
  EXPECT_EQ(DecodeBase64("Zm9vYmFy"), "foobar");
  EXPECT_EQ(DecodeBase64("Zm9v\nYmFy\r\n"), "foobar");  // PEM- or YAML-wrapped
}

TEST(Base64Test, RejectsWhatIsNotStandardBase64) {
  for (const char* bad : {"Zg", "Zg=", "Zm9", "Z===", "Zg==Zg==", "Zm9v-mFy", "Zm9v_mFy",
                          "Zm9v\tYmFy", "=Zm9", "Zm9vYmF\xff"}) {
    EXPECT_EQ(DecodeBase64(bad), std::nullopt) << bad;
  }
}

// WriteJsonString writes exactly what AppendJsonString appends, in exactly JsonStringSize bytes:
// every byte value alone and at every position of strings shorter and longer than a word, and
// mixes.
TEST(JsonStringTest, WrittenInPlaceAsAppended) {
  std::vector<std::string> inputs = {"", "hyperpod-i-0a1b2c3d4e5f60718", "ml.p5.48xlarge"};
  for (int c = 0; c < 256; ++c) {
    inputs.push_back(std::string(1, static_cast<char>(c)));
    for (std::size_t size : {3, 8, 24, 27}) {  // words, and a tail shorter than one
      for (std::size_t at = 0; at < size; ++at) {
        std::string s(size, 'a');
        s[at] = static_cast<char>(c);
        inputs.push_back(s);
      }
    }
  }
  inputs.push_back("a\"b\\c\nd\re\tf\x01g\x1fh\xc3\xa9");
  for (const std::string& s : inputs) {
    std::string want;
    AppendJsonString(want, s);
    ASSERT_EQ(JsonStringSize(s), want.size()) << want;
    std::string got(want.size() + 8, '#');
    char* end = WriteJsonString(got.data(), s);
    EXPECT_EQ(static_cast<std::size_t>(end - got.data()), want.size());
    EXPECT_EQ(got.substr(0, want.size()), want);
    EXPECT_EQ(got.substr(want.size()), std::string(8, '#'));
  }
}

}  // namespace
}  // namespace hyperplace::json
