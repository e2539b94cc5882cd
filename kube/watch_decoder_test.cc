#include "kube/watch_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hyperplace::kube {
namespace {

// What the decoder handed over: "TYPE rv" per event.
struct Seen {
  std::vector<std::string> events;
  std::function<void(const WatchEvent&)> Sink() {
    return [this](const WatchEvent& e) {
      events.push_back(e.type + " " +
                       (e.error_code ? std::to_string(e.error_code) : e.resource_version));
    };
  }
};

std::string Line(const std::string& type, const std::string& rv) {
  return R"({"type":")" + type +
         R"(","object":{"kind":"Pod","metadata":{"name":"p","resourceVersion":")" + rv + R"("}}})" +
         "\n";
}

const std::string kError410 =
    R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410}})"
    "\n";

TEST(WatchDecoderTest, EventsSurviveAnySplitOfTheStream) {
  const std::string stream = Line("ADDED", "5") + "\n" + Line("BOOKMARK", "6") +
                             Line("MODIFIED", "7") + Line("DELETED", "8");
  const std::vector<std::string> want = {"ADDED 5", "BOOKMARK 6", "MODIFIED 7", "DELETED 8"};
  // Whole, then one byte at a time, then in two pieces at every offset.
  {
    WatchDecoder d;
    Seen seen;
    ASSERT_TRUE(d.Feed(stream, seen.Sink()).ok());
    EXPECT_EQ(seen.events, want);
    EXPECT_EQ(d.buffered(), 0u);
  }
  {
    WatchDecoder d;
    Seen seen;
    for (char c : stream) ASSERT_TRUE(d.Feed(std::string_view(&c, 1), seen.Sink()).ok());
    EXPECT_EQ(seen.events, want);
  }
  for (std::size_t at = 0; at <= stream.size(); ++at) {
    WatchDecoder d;
    Seen seen;
    ASSERT_TRUE(d.Feed(std::string_view(stream).substr(0, at), seen.Sink()).ok());
    ASSERT_TRUE(d.Feed(std::string_view(stream).substr(at), seen.Sink()).ok());
    EXPECT_EQ(seen.events, want) << "split at " << at;
  }
}

TEST(WatchDecoderTest, OnlyObjectChangesAreChanges) {
  WatchEvent e;
  e.type = "BOOKMARK";
  EXPECT_EQ(e.change(), std::nullopt);
  e.type = "ERROR";
  EXPECT_EQ(e.change(), std::nullopt);
  e.type = "DELETED";
  EXPECT_EQ(e.change(), EventType::kDeleted);
}

TEST(WatchDecoderTest, An410ErrorEndsTheStreamAndAsksForARelist) {
  WatchDecoder d;
  Seen seen;
  Status st = d.Feed(Line("ADDED", "5") + kError410 + Line("ADDED", "9"), seen.Sink());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "watch error event, code 410");
  EXPECT_TRUE(d.gone());
  EXPECT_EQ(seen.events, (std::vector<std::string>{"ADDED 5", "ERROR 410"}));
  // Ended: nothing more is decoded.
  EXPECT_EQ(d.Feed(Line("ADDED", "10"), seen.Sink()).message(), st.message());
  EXPECT_EQ(seen.events.size(), 2u);
}

TEST(WatchDecoderTest, OtherErrorsEndTheStreamWithoutARelist) {
  WatchDecoder d;
  Seen seen;
  Status st = d.Feed(R"({"type":"ERROR","object":{"kind":"Status","code":500}})"
                     "\n",
                     seen.Sink());
  EXPECT_EQ(st.message(), "watch error event, code 500");
  EXPECT_FALSE(d.gone());
}

TEST(WatchDecoderTest, BadLinesEndTheStream) {
  for (const std::string& bad : {std::string("{\n"), std::string("[]\n"),
                                 std::string(R"({"type":"ADDED"})"
                                             "\n"),
                                 std::string(R"({"type":"SURPRISE","object":{}})"
                                             "\n")}) {
    WatchDecoder d;
    Seen seen;
    EXPECT_EQ(d.Feed(bad, seen.Sink()).code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(seen.events.empty()) << bad;
  }
}

TEST(WatchDecoderTest, ALineLongerThanTheLimitEndsTheStream) {
  // Incomplete: the limit holds while the line is still arriving.
  {
    WatchDecoder d(64);
    Seen seen;
    EXPECT_TRUE(d.Feed(std::string(64, ' '), seen.Sink()).ok());
    EXPECT_EQ(d.buffered(), 64u);
    EXPECT_EQ(d.Feed(" ", seen.Sink()).code(), StatusCode::kOutOfRange);
  }
  // Complete in one piece.
  {
    WatchDecoder d(64);
    Seen seen;
    EXPECT_EQ(d.Feed(Line("ADDED", std::string(64, '1')), seen.Sink()).code(),
              StatusCode::kOutOfRange);
    EXPECT_TRUE(seen.events.empty());
  }
}

TEST(WatchDecoderTest, AnIncompleteLastLineWaits) {
  WatchDecoder d;
  Seen seen;
  const std::string line = Line("ADDED", "5");
  ASSERT_TRUE(d.Feed(line + line.substr(0, 10), seen.Sink()).ok());
  EXPECT_EQ(seen.events, std::vector<std::string>{"ADDED 5"});
  EXPECT_EQ(d.buffered(), 10u);
  ASSERT_TRUE(d.Feed(line.substr(10), seen.Sink()).ok());
  EXPECT_EQ(seen.events.size(), 2u);
  EXPECT_EQ(d.buffered(), 0u);
}

}  // namespace
}  // namespace hyperplace::kube
