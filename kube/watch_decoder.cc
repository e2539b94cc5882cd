#include "kube/watch_decoder.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdint>

namespace hyperplace::kube {

namespace od = simdjson::ondemand;

namespace {

Status JsonError(simdjson::error_code e, std::string_view where) {
  return InvalidArgument(std::string(where) + ": " + simdjson::error_message(e));
}

// metadata.resourceVersion of an object's raw JSON.
StatusOr<std::string> ResourceVersionOf(od::parser& parser, std::string& scratch,
                                        std::string_view object) {
  scratch.assign(object);
  scratch.append(simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (auto e = parser.iterate(scratch.data(), object.size(), scratch.size()).get(doc)) {
    return JsonError(e, "object");
  }
  std::string_view rv;
  auto e = doc["metadata"]["resourceVersion"].get_string().get(rv);
  if (e == simdjson::NO_SUCH_FIELD) return std::string();
  if (e) return JsonError(e, "object.metadata.resourceVersion");
  return std::string(rv);
}

}  // namespace

std::optional<EventType> WatchEvent::change() const {
  if (type == "ADDED") return EventType::kAdded;
  if (type == "MODIFIED") return EventType::kModified;
  if (type == "DELETED") return EventType::kDeleted;
  return std::nullopt;
}

Status ParseWatchEvent(std::string_view line, WatchEvent& event) {
  thread_local od::parser parser;
  thread_local od::parser object_parser;
  thread_local std::string padded, scratch;
  padded.assign(line);
  padded.append(simdjson::SIMDJSON_PADDING, '\0');
  event = WatchEvent();
  od::document doc;
  if (auto e = parser.iterate(padded.data(), line.size(), padded.size()).get(doc)) {
    return JsonError(e, "watch event");
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return JsonError(e, "watch event");
  const char* base = padded.data();
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return JsonError(e, "watch event");
    if (key == "type") {
      std::string_view type;
      if (auto e = field.value().get_string().get(type)) return JsonError(e, "watch event.type");
      event.type = std::string(type);
    } else if (key == "object") {
      od::object o;
      if (auto e = field.value().get_object().get(o)) return JsonError(e, "watch event.object");
      std::string_view raw;
      if (auto e = o.raw_json().get(raw)) return JsonError(e, "watch event.object");
      // Point into the caller's line, not our padded copy.
      event.object = line.substr(static_cast<std::size_t>(raw.data() - base), raw.size());
    }
  }
  if (event.type.empty() || event.object.empty()) {
    return InvalidArgument("watch event without type or object");
  }
  if (event.type == "ERROR") {
    // The object is a metav1.Status: {"kind":"Status","code":410,"reason":"Expired",...}.
    scratch.assign(event.object);
    scratch.append(simdjson::SIMDJSON_PADDING, '\0');
    od::document status;
    std::int64_t code = 0;
    if (!object_parser.iterate(scratch.data(), event.object.size(), scratch.size()).get(status)) {
      if (status["code"].get_int64().get(code) == simdjson::SUCCESS) {
        event.error_code = static_cast<int>(code);
      }
    }
    return Status::Ok();
  }
  auto rv = ResourceVersionOf(object_parser, scratch, event.object);
  if (!rv.ok()) return rv.status();
  event.resource_version = std::move(rv).value();
  return Status::Ok();
}

Status WatchDecoder::Feed(std::string_view data,
                          const std::function<void(const WatchEvent&)>& on_event) {
  if (!ended_.ok()) return ended_;
  pending_.append(data);
  std::size_t start = 0;
  while (true) {
    // Search only bytes not searched before: a long line arriving in small pieces would
    // otherwise be scanned again for every piece, quadratic in its length.
    const std::size_t nl = pending_.find('\n', std::max(start, scanned_));
    if (nl == std::string::npos) break;
    const std::string_view line(pending_.data() + start, nl - start);
    start = nl + 1;
    if (line.empty()) continue;
    if (line.size() > max_line_bytes_) {
      ended_ = OutOfRange("watch event longer than " + std::to_string(max_line_bytes_) + " bytes");
      return ended_;
    }
    WatchEvent event;
    if (Status st = ParseWatchEvent(line, event); !st.ok()) {
      ended_ = st;
      return ended_;
    }
    if (event.type == "ERROR") {
      on_event(event);
      gone_ = event.error_code == 410;
      ended_ = Unavailable("watch error event, code " + std::to_string(event.error_code));
      return ended_;
    }
    if (event.type != "BOOKMARK" && !event.change()) {
      ended_ = InvalidArgument("watch event of unknown type \"" + event.type.substr(0, 64) + "\"");
      return ended_;
    }
    on_event(event);
  }
  pending_.erase(0, start);
  scanned_ = pending_.size();
  if (pending_.size() > max_line_bytes_) {
    ended_ = OutOfRange("watch event longer than " + std::to_string(max_line_bytes_) + " bytes");
  }
  return ended_;
}

}  // namespace hyperplace::kube
