#include "extender/name_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

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

// Realistic HyperPod node names ("hyperpod-i-0" + 17 hex digits): they share a 12-byte prefix, so
// only the tail tells them apart.
std::vector<std::string> HyperPodNames(std::size_t n, std::mt19937_64& rng) {
  std::vector<std::string> names;
  names.reserve(n);
  char hex[18];
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t v = rng();
    std::snprintf(hex, sizeof hex, "%01x%016llx", static_cast<unsigned>(i % 16),
                  static_cast<unsigned long long>(v));
    names.push_back(std::string("hyperpod-i-0") + hex);
  }
  return names;
}

// FindMany must answer exactly what Find answers, name by name: for every size around the
// look-ahead window (0..100) and at cluster scale, with indexed names, duplicates among the
// queries and in the index, near-misses sharing the whole prefix, and names never indexed.
TEST(NameIndexTest, FindManyEqualsFindNameByName) {
  std::mt19937_64 rng(42);
  std::vector<std::size_t> sizes;
  for (std::size_t n = 0; n <= 100; ++n) sizes.push_back(n);
  sizes.push_back(1000);
  sizes.push_back(5000);
  for (const std::size_t n : sizes) {
    SCOPED_TRACE("size " + std::to_string(n));
    std::vector<std::string> indexed = HyperPodNames(n, rng);
    if (n >= 4) indexed[n - 1] = indexed[1];  // a duplicate in the index keeps index 1
    NameIndex index;
    index.Build(std::vector<std::string_view>(indexed.begin(), indexed.end()));

    // Queries: every indexed name in a shuffled order, each one again with its last character
    // changed (unknown, same length and prefix), a truncated one, and some repeated.
    std::vector<std::string> queries(indexed.begin(), indexed.end());
    for (std::size_t i = 0; i < n; ++i) {
      std::string near = indexed[i];
      near.back() = near.back() == 'f' ? '0' : 'f';
      queries.push_back(near);
      if (i % 7 == 0) queries.push_back(indexed[i].substr(0, indexed[i].size() - 1));
      if (i % 5 == 0) queries.push_back(indexed[(i * 31) % n]);
    }
    queries.push_back("");
    std::shuffle(queries.begin(), queries.end(), rng);
    const std::vector<std::string_view> views(queries.begin(), queries.end());

    std::vector<std::int32_t> many;
    index.FindMany(views, many);
    ASSERT_EQ(many.size(), views.size());
    std::size_t found = 0;
    for (std::size_t i = 0; i < views.size(); ++i) {
      ASSERT_EQ(many[i], index.Find(views[i])) << "query " << i << " " << views[i];
      if (many[i] >= 0) {
        ++found;
        // And Find itself is right: the index points at the same name.
        ASSERT_EQ(indexed[many[i]], views[i]);
      }
    }
    // Every query of an indexed name was found (n originals, plus the repeats).
    std::size_t expected = 0;
    const std::set<std::string> known(indexed.begin(), indexed.end());
    for (const auto& q : queries) expected += known.count(q);
    EXPECT_EQ(found, expected);
  }
}

TEST(NameIndexTest, FindManyOnAnEmptyIndexFindsNothing) {
  NameIndex index;
  std::vector<std::int32_t> out;
  index.FindMany({"a", "b"}, out);
  EXPECT_EQ(out, (std::vector<std::int32_t>{-1, -1}));
  index.Build({});
  index.FindMany({}, out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace hyperplace::extender
