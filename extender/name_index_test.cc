#include "extender/name_index.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace hyperplace::extender {
namespace {

TEST(NameIndexTest, FindsEveryNameAndNothingElse) {
  std::vector<std::string> storage;
  for (int i = 0; i < 5000; ++i) storage.push_back("hyperpod-i-0a" + std::to_string(100000 + i));
  std::vector<std::string_view> names(storage.begin(), storage.end());
  NameIndex index;
  index.Build(names);
  for (int i = 0; i < 5000; ++i) EXPECT_EQ(index.Find(storage[i]), i);
  EXPECT_EQ(index.Find("hyperpod-i-0a099999"), -1);
  EXPECT_EQ(index.Find("hyperpod-i-0a1"), -1);
  EXPECT_EQ(index.Find(""), -1);
  EXPECT_EQ(index.Find(std::string(200, 'x')), -1);
}

TEST(NameIndexTest, EmptyIndexFindsNothing) {
  NameIndex index;
  EXPECT_EQ(index.Find("a"), -1);
  index.Build({});
  EXPECT_EQ(index.Find("a"), -1);
}

TEST(NameIndexTest, DuplicatesKeepTheFirstIndex) {
  NameIndex index;
  index.Build({"a", "b", "a"});
  EXPECT_EQ(index.Find("a"), 0);
  EXPECT_EQ(index.Find("b"), 1);
}

TEST(NameIndexTest, HashDependsOnEveryByteAndTheLength) {
  std::set<std::uint64_t> hashes;
  const std::string base = "hyperpod-i-0a000000001234";
  hashes.insert(NameIndex::Hash(base));
  for (std::size_t i = 0; i < base.size(); ++i) {
    std::string changed = base;
    changed[i] ^= 1;
    hashes.insert(NameIndex::Hash(changed));
  }
  hashes.insert(NameIndex::Hash(base.substr(0, base.size() - 1)));
  hashes.insert(NameIndex::Hash(base + '\0'));
  EXPECT_EQ(hashes.size(), base.size() + 3);
}

}  // namespace
}  // namespace hyperplace::extender
