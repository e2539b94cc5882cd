// The body of a watch response, decoded: newline-delimited JSON events
// ({"type":"ADDED","object":{...}}\n...) fed in whatever pieces the connection delivers them
// (HTTP chunks, TLS records and reads split lines anywhere). Pure: no sockets, clocks or logs,
// so the bytes can be fuzzed (fuzz/watch_fuzz.cc) and tested apart from the informer.
//
// Not thread-safe: one decoder per watch.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hyperplace::kube {

enum class EventType { kAdded, kModified, kDeleted };

// One decoded event line.
struct WatchEvent {
  std::string type;              // ADDED, MODIFIED, DELETED, BOOKMARK or ERROR
  std::string_view object;       // the object's raw JSON, a view into the line
  std::string resource_version;  // the object's metadata.resourceVersion ("" for ERROR)
  int error_code = 0;            // for ERROR: the metav1.Status object's code (410: expired)

  // The object change an ADDED, MODIFIED or DELETED event carries; nullopt for the others.
  std::optional<EventType> change() const;
};

// Parses one event line (without its newline). `event.object` points into `line`.
Status ParseWatchEvent(std::string_view line, WatchEvent& event);

class WatchDecoder {
 public:
  // The API server writes each event on one line; an object is at most etcd's 1.5 MB, so a line
  // longer than this is a broken stream, not an event.
  static constexpr std::size_t kDefaultMaxLineBytes = 64u << 20;

  explicit WatchDecoder(std::size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  // Feeds the next bytes of the body. Each complete line, in order, is parsed and given to
  // `on_event` (empty lines are skipped); the event's views are valid during the call. The
  // stream ends, and Feed returns (now and on every later call) a non-OK status:
  //   - after an ERROR event, which still goes to `on_event` first: Unavailable naming its code,
  //     with gone() true when the code is 410 (the resource version expired: relist);
  //   - at a line that is not a watch event, or of an unknown type: its parse error;
  //   - when a line grows past max_line_bytes: OutOfRange.
  // Bytes after the last newline wait for the next call; at the end of the body they are an
  // incomplete event and dropped (the API server ends every event with a newline).
  Status Feed(std::string_view data, const std::function<void(const WatchEvent&)>& on_event);

  bool gone() const { return gone_; }
  // Bytes of the incomplete last line held for the next Feed.
  std::size_t buffered() const { return pending_.size(); }

 private:
  const std::size_t max_line_bytes_;
  std::string pending_;      // bytes of the incomplete line
  std::size_t scanned_ = 0;  // bytes of pending_ known to hold no newline
  Status ended_;
  bool gone_ = false;
};

}  // namespace hyperplace::kube
