// libFuzzer target for the watch-stream decoder (kube/watch_decoder.h): the body of a watch
// response from the API server, fed in pieces as a connection delivers them.
//
// Input: byte 0 picks the line limit (bits 0-1) ; bytes 1-7 are the sizes of the pieces the body
// is fed in, used in turn (a size byte b feeds b + 1 bytes); the rest is the body.
//
// Properties checked beyond "no crash, no sanitizer report":
//   - the pieces do not matter: feeding the body whole gives the same events and the same end;
//   - once the stream ended (ERROR event, bad line, line too long), nothing more is delivered
//     and every later Feed returns the same status;
//   - only ADDED, MODIFIED, DELETED and BOOKMARK events are delivered, then at most one ERROR,
//     last; gone() is true exactly when that ERROR's code is 410.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kube/watch_decoder.h"

namespace {

using hyperplace::Status;
using hyperplace::kube::WatchDecoder;
using hyperplace::kube::WatchEvent;

void Check(bool ok, const char* property) {
  if (ok) return;
  std::fprintf(stderr, "property violated: %s\n", property);
  std::abort();
}

struct Run {
  std::vector<std::string> events;  // type, rv, code and object of each, in order
  Status end;
  bool gone = false;
  bool error_seen = false;
};

void Record(Run& run, const WatchEvent& e) {
  Check(!run.error_seen, "an event after an ERROR");
  Check(e.type == "ERROR" || e.type == "BOOKMARK" || e.change().has_value(), "unknown event type");
  Check(!e.object.empty() && e.object.front() == '{', "event object is not an object");
  run.error_seen = e.type == "ERROR";
  std::string s = e.type;
  s += '\x01';
  s += e.resource_version;
  s += '\x01';
  s += std::to_string(e.error_code);
  s += '\x01';
  s.append(e.object);
  run.events.push_back(std::move(s));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  static constexpr std::size_t kLimits[] = {WatchDecoder::kDefaultMaxLineBytes, 4096, 200, 64};
  const std::size_t limit = kLimits[data[0] & 3];
  const std::uint8_t* pieces = data + 1;
  const std::string_view body(reinterpret_cast<const char*>(data + 8), size - 8);

  Run whole;
  {
    WatchDecoder d(limit);
    whole.end = d.Feed(body, [&](const WatchEvent& e) { Record(whole, e); });
    whole.gone = d.gone();
  }

  Run split;
  WatchDecoder d(limit);
  std::size_t at = 0;
  for (int i = 0; at < body.size(); i = (i + 1) % 7) {
    const std::size_t n = std::min<std::size_t>(pieces[i] + 1u, body.size() - at);
    const std::size_t before = split.events.size();
    const bool ended = !split.end.ok();
    split.end = d.Feed(body.substr(at, n), [&](const WatchEvent& e) { Record(split, e); });
    if (ended) {
      Check(split.events.size() == before, "events after the stream ended");
      Check(!split.end.ok(), "an ended stream came back");
    }
    at += n;
  }
  split.gone = d.gone();

  Check(whole.events == split.events, "the pieces changed the events");
  Check(whole.end.code() == split.end.code() && whole.end.message() == split.end.message(),
        "the pieces changed how the stream ended");
  Check(whole.gone == split.gone, "the pieces changed gone()");
  const bool last_is_410 = whole.error_seen && whole.events.back().rfind(
                                                   "ERROR\x01\x01"
                                                   "410\x01",
                                                   0) == 0;
  Check(whole.gone == last_is_410, "gone() without an ERROR 410");
  return 0;
}
