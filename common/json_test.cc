#include "common/json.h"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace hyperplace::json
