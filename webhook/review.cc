#include "webhook/review.h"

#include <simdjson.h>

#include <charconv>

#include "common/json.h"
#include "common/json_skip.h"

namespace hyperplace::webhook {

namespace od = simdjson::ondemand;
using simdjson::error_code;

static_assert(kInputPadding >= simdjson::SIMDJSON_PADDING);

namespace {

// Walks the review with a field path for error messages. Every method returns false on an error
// after recording it (the first error wins); callers return at once.
//
// Two strictness levels: the envelope and metadata.labels must have the types the AdmissionReview
// and ObjectMeta schemas give them, or the review is malformed. The pod-spec parts the
// instance-type rule may rewrite are read leniently: an unexpected type there marks that part
// unusable (it is skipped, still validated as JSON) since the object may be a custom resource
// whose spec has another shape.
class Reader {
 public:
  explicit Reader(std::string& error) : error_(error) {}

  bool Fail(error_code code, std::string_view path) {
    if (error_.empty()) {
      error_.append(path.empty() ? "review" : path).append(": ");
      switch (code) {
        case simdjson::INCORRECT_TYPE:
          error_.append("unexpected JSON type");
          break;
        case simdjson::DEPTH_ERROR:
          error_.append("nested too deeply");
          break;
        default:
          error_.append(simdjson::error_message(code));
      }
    }
    return false;
  }
  bool Fail(std::string_view message, std::string_view path) {
    if (error_.empty()) error_.append(path).append(": ").append(message);
    return false;
  }

  bool Type(od::value& v, od::json_type& type, std::string_view path) {
    if (auto e = v.type().get(type)) return Fail(e, path);
    return true;
  }

  // Consumes a null (the caller checked the type).
  bool ConsumeNull(od::value& v, std::string_view path) {
    bool null = false;
    if (auto e = v.is_null().get(null)) return Fail(e, path);
    return null || Fail(simdjson::N_ATOM_ERROR, path);
  }

  bool String(od::value& v, std::string_view& out, std::string_view path) {
    auto r = v.get_string();
    if (r.error() == simdjson::INCORRECT_TYPE) return Fail("expected a string", path);
    if (r.error()) return Fail(r.error(), path);
    out = r.value_unsafe();
    return true;
  }

  // A string, or null (leaving `out` empty).
  bool OptionalString(od::value& v, std::string_view& out, std::string_view path) {
    od::json_type type{};
    if (!Type(v, type, path)) return false;
    if (type == od::json_type::null) {
      out = {};
      return ConsumeNull(v, path);
    }
    return String(v, out, path);
  }

  // Consumes a value the decoder has no use for, validating every byte of it.
  bool Skip(od::value& v, std::string_view path, int depth) {
    auto e = json::SkipValue(v, depth, static_cast<int>(kMaxDepth));
    return e == simdjson::SUCCESS || Fail(e, path);
  }

  // Iterates an object's fields, calling fn(key, value); null is an empty object when
  // `null_ok`, any other type an error.
  template <typename Fn>
  bool Object(od::value& v, std::string_view path, bool null_ok, Fn&& fn) {
    od::json_type type{};
    if (!Type(v, type, path)) return false;
    if (type == od::json_type::null && null_ok) return ConsumeNull(v, path);
    if (type != od::json_type::object) return Fail("expected an object", path);
    od::object obj;
    if (auto e = v.get_object().get(obj)) return Fail(e, path);
    return Fields(obj, path, fn);
  }

  template <typename Fn>
  bool Fields(od::object& obj, std::string_view path, Fn&& fn) {
    for (auto field : obj) {
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return Fail(e, path);
      od::value value;
      if (auto e = field.value().get(value)) return Fail(e, path);
      if (!fn(key, value)) return false;
    }
    return true;
  }

  // Lenient object: null is empty; another type clears `usable` and is skipped.
  template <typename Fn>
  bool LenientObject(od::value& v, bool& usable, std::string_view path, int depth, Fn&& fn) {
    od::json_type type{};
    if (!Type(v, type, path)) return false;
    if (type == od::json_type::null) return ConsumeNull(v, path);
    if (type != od::json_type::object) {
      usable = false;
      return Skip(v, path, depth);
    }
    od::object obj;
    if (auto e = v.get_object().get(obj)) return Fail(e, path);
    return Fields(obj, path, fn);
  }

  // Lenient array: null is empty; another type clears `usable` and is skipped.
  template <typename Fn>
  bool LenientArray(od::value& v, bool& usable, std::string_view path, int depth, Fn&& fn) {
    od::json_type type{};
    if (!Type(v, type, path)) return false;
    if (type == od::json_type::null) return ConsumeNull(v, path);
    if (type != od::json_type::array) {
      usable = false;
      return Skip(v, path, depth);
    }
    od::array arr;
    if (auto e = v.get_array().get(arr)) return Fail(e, path);
    for (auto element : arr) {
      od::value value;
      if (auto e = element.get(value)) return Fail(e, path);
      if (!fn(value)) return false;
    }
    return true;
  }

  // Lenient string: another type clears `usable` and is skipped.
  bool LenientString(od::value& v, std::string_view& out, bool& usable, std::string_view path,
                     int depth) {
    od::json_type type{};
    if (!Type(v, type, path)) return false;
    if (type != od::json_type::string) {
      usable = false;
      return Skip(v, path, depth);
    }
    return String(v, out, path);
  }

  // --- The review ------------------------------------------------------------------------------

  bool Request(od::value& v, AdmissionRequest& out, bool& has_kind, bool& has_resource,
               bool& has_user) {
    constexpr std::string_view kPath = "request";
    return Object(v, kPath, false, [&](std::string_view key, od::value& value) {
      if (key == "uid") return String(value, out.uid, "request.uid");
      // A repeated member replaces the earlier one whole, as in every other JSON decoder.
      if (key == "kind") {
        has_kind = true;
        out.kind_group = out.kind_version = out.input.kind_name = {};
        return Object(value, "request.kind", false, [&](std::string_view key, od::value& value) {
          if (key == "group") return String(value, out.kind_group, "request.kind.group");
          if (key == "version") return String(value, out.kind_version, "request.kind.version");
          if (key == "kind") return String(value, out.input.kind_name, "request.kind.kind");
          return Skip(value, "request.kind", 3);
        });
      }
      if (key == "resource") {
        has_resource = true;
        out.resource_group = out.resource_version = out.resource = {};
        return Object(value, "request.resource", false,
                      [&](std::string_view key, od::value& value) {
                        if (key == "group") {
                          return String(value, out.resource_group, "request.resource.group");
                        }
                        if (key == "version") {
                          return String(value, out.resource_version, "request.resource.version");
                        }
                        if (key == "resource") {
                          return String(value, out.resource, "request.resource.resource");
                        }
                        return Skip(value, "request.resource", 3);
                      });
      }
      if (key == "subResource") {
        return OptionalString(value, out.input.sub_resource, "request.subResource");
      }
      if (key == "name") return OptionalString(value, out.name, "request.name");
      if (key == "namespace") {
        return OptionalString(value, out.input.namespace_name, "request.namespace");
      }
      if (key == "operation") return String(value, out.operation, "request.operation");
      if (key == "userInfo") {
        has_user = true;
        return UserInfo(value, out.input);
      }
      if (key == "object") return ObjectValue(value, out);
      if (key == "oldObject") return OldObjectValue(value, out.input);
      if (key == "dryRun") {
        od::json_type type{};
        if (!Type(value, type, "request.dryRun")) return false;
        if (type == od::json_type::null) {
          out.dry_run = false;
          return ConsumeNull(value, "request.dryRun");
        }
        if (auto e = value.get_bool().get(out.dry_run)) {
          return e == simdjson::INCORRECT_TYPE ? Fail("expected a boolean", "request.dryRun")
                                               : Fail(e, "request.dryRun");
        }
        return true;
      }
      return Skip(value, kPath, 2);
    });
  }

  bool UserInfo(od::value& v, AdmissionInput& in) {
    in.username = {};
    in.groups.clear();
    return Object(v, "request.userInfo", false, [&](std::string_view key, od::value& value) {
      if (key == "username") {
        return OptionalString(value, in.username, "request.userInfo.username");
      }
      if (key == "groups") {
        in.groups.clear();
        constexpr std::string_view kPath = "request.userInfo.groups";
        od::json_type type{};
        if (!Type(value, type, kPath)) return false;
        if (type == od::json_type::null) return ConsumeNull(value, kPath);
        if (type != od::json_type::array) return Fail("expected an array of strings", kPath);
        od::array arr;
        if (auto e = value.get_array().get(arr)) return Fail(e, kPath);
        for (auto element : arr) {
          od::value item;
          if (auto e = element.get(item)) return Fail(e, kPath);
          std::string_view group;
          if (!String(item, group, kPath)) return false;
          in.groups.push_back(group);
        }
        return true;
      }
      return Skip(value, "request.userInfo", 3);
    });
  }

  // request.object: kept as raw bytes, with labels and pod-spec constraints decoded.
  bool ObjectValue(od::value& v, AdmissionRequest& out) {
    constexpr std::string_view kPath = "request.object";
    ObjectView& object = out.input.object;
    object.Clear();
    out.object_json = {};
    od::json_type type{};
    if (!Type(v, type, kPath)) return false;
    if (type == od::json_type::null) {
      object.presence = Presence::kNull;
      return ConsumeNull(v, kPath);
    }
    if (type != od::json_type::object) return Fail("expected an object", kPath);
    const char* begin = nullptr;
    if (auto e = v.current_location().get(begin)) return Fail(e, kPath);
    od::object obj;
    if (auto e = v.get_object().get(obj)) return Fail(e, kPath);
    object.presence = Presence::kPresent;
    bool ok = Fields(obj, kPath, [&](std::string_view key, od::value& value) {
      if (key == "metadata") return Metadata(value, object.labels, kObjectMetadata);
      if (key == "spec") return Spec(value, object);
      return Skip(value, kPath, 3);
    });
    if (!ok) return false;
    // The iterator now stands on the token after the object's '}' (',' or the request's '}').
    const char* end = nullptr;
    if (auto e = v.current_location().get(end)) return Fail(e, kPath);
    std::string_view raw(begin, static_cast<std::size_t>(end - begin));
    while (!raw.empty() && json::IsJsonSpace(raw.back())) raw.remove_suffix(1);
    out.object_json = raw;
    return true;
  }

  // request.oldObject: only its labels, for comparing an UPDATE with what it replaces.
  bool OldObjectValue(od::value& v, AdmissionInput& in) {
    constexpr std::string_view kPath = "request.oldObject";
    in.old_object = Presence::kAbsent;
    in.old_labels.Clear();
    od::json_type type{};
    if (!Type(v, type, kPath)) return false;
    if (type == od::json_type::null) {
      in.old_object = Presence::kNull;
      return ConsumeNull(v, kPath);
    }
    in.old_object = Presence::kPresent;
    return Object(v, kPath, false, [&](std::string_view key, od::value& value) {
      if (key == "metadata") return Metadata(value, in.old_labels, kOldObjectMetadata);
      return Skip(value, kPath, 3);
    });
  }

  // Where a metadata object and its labels are, for errors.
  struct MetadataPaths {
    std::string_view metadata;
    std::string_view labels;
  };
  static constexpr MetadataPaths kObjectMetadata = {"request.object.metadata",
                                                    "request.object.metadata.labels"};
  static constexpr MetadataPaths kOldObjectMetadata = {"request.oldObject.metadata",
                                                       "request.oldObject.metadata.labels"};

  bool Metadata(od::value& v, LabelsView& labels, const MetadataPaths& paths) {
    labels.Clear();
    od::json_type type{};
    if (!Type(v, type, paths.metadata)) return false;
    if (type == od::json_type::null) {
      labels.metadata = Presence::kNull;
      return ConsumeNull(v, paths.metadata);
    }
    labels.metadata = Presence::kPresent;
    return Object(v, paths.metadata, false, [&](std::string_view key, od::value& value) {
      if (key != "labels") return Skip(value, paths.metadata, 4);
      labels.entries.clear();
      od::json_type type{};
      if (!Type(value, type, paths.labels)) return false;
      if (type == od::json_type::null) {
        labels.labels = Presence::kNull;
        return ConsumeNull(value, paths.labels);
      }
      labels.labels = Presence::kPresent;
      return Object(value, paths.labels, false, [&](std::string_view key, od::value& item) {
        std::string_view text;
        if (!String(item, text, paths.labels)) return false;
        labels.entries.push_back(Label{key, text});
        return true;
      });
    });
  }

  // object.spec: a Pod's spec, or a Job's (whose template.spec is a pod spec).
  bool Spec(od::value& v, ObjectView& object) {
    constexpr std::string_view kPath = "request.object.spec";
    object.spec.Clear();
    object.template_spec.Clear();
    bool usable = true;
    od::json_type type{};
    if (!Type(v, type, kPath)) return false;
    object.spec.present = type == od::json_type::object;
    return LenientObject(v, usable, kPath, 3, [&](std::string_view key, od::value& value) {
      if (key == "template") {
        object.template_spec.Clear();
        return LenientObject(value, usable, kPath, 4, [&](std::string_view key, od::value& value) {
          if (key == "spec") return PodSpec(value, object.template_spec, 5);
          return Skip(value, kPath, 5);
        });
      }
      return PodSpecMember(key, value, object.spec, 4);
    });
  }

  bool PodSpec(od::value& v, PodSpecView& spec, int depth) {
    constexpr std::string_view kPath = "request.object.spec";
    spec.Clear();
    od::json_type type{};
    if (!Type(v, type, kPath)) return false;
    spec.present = type == od::json_type::object;
    bool usable = true;
    return LenientObject(v, usable, kPath, depth, [&](std::string_view key, od::value& value) {
      return PodSpecMember(key, value, spec, depth + 1);
    });
  }

  bool PodSpecMember(std::string_view key, od::value& value, PodSpecView& spec, int depth) {
    constexpr std::string_view kPath = "request.object.spec";
    if (key == "nodeSelector") {
      spec.node_selector.clear();
      spec.node_selector_usable = true;
      return LenientObject(
          value, spec.node_selector_usable, kPath, depth,
          [&](std::string_view key, od::value& item) {
            std::string_view text;
            if (!LenientString(item, text, spec.node_selector_usable, kPath, depth + 1)) {
              return false;
            }
            spec.node_selector.push_back(Label{key, text});
            return true;
          });
    }
    if (key == "affinity") return Affinity(value, spec, depth);
    if (key == "schedulerName") {
      spec.scheduler_name = {};
      spec.scheduler_name_usable = true;
      od::json_type type{};
      if (!Type(value, type, kPath)) return false;
      if (type == od::json_type::null) {
        spec.scheduler_name_presence = Presence::kNull;
        return ConsumeNull(value, kPath);
      }
      spec.scheduler_name_presence = Presence::kPresent;
      return LenientString(value, spec.scheduler_name, spec.scheduler_name_usable, kPath, depth);
    }
    return Skip(value, kPath, depth);
  }

  // spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms
  // [t].matchExpressions[e]. A key repeated at any level replaces what the earlier one gave, as
  // the last occurrence is the one the API server and JSON Patch see.
  bool Affinity(od::value& v, PodSpecView& spec, int depth) {
    constexpr std::string_view kPath = "request.object.spec.affinity";
    bool& usable = spec.affinity_usable;
    auto reset = [&] {
      spec.expressions.clear();
      spec.values.clear();
    };
    reset();
    usable = true;
    return LenientObject(v, usable, kPath, depth, [&](std::string_view key, od::value& value) {
      if (key != "nodeAffinity") return Skip(value, kPath, depth + 1);
      reset();
      return LenientObject(
          value, usable, kPath, depth + 1, [&](std::string_view key, od::value& value) {
            if (key != "requiredDuringSchedulingIgnoredDuringExecution") {
              return Skip(value, kPath, depth + 2);
            }
            reset();
            return LenientObject(
                value, usable, kPath, depth + 2, [&](std::string_view key, od::value& value) {
                  if (key != "nodeSelectorTerms") return Skip(value, kPath, depth + 3);
                  reset();
                  std::uint32_t term = 0;
                  return LenientArray(value, usable, kPath, depth + 3, [&](od::value& item) {
                    return Term(item, spec, term++, depth + 4);
                  });
                });
          });
    });
  }

  bool Term(od::value& v, PodSpecView& spec, std::uint32_t term, int depth) {
    constexpr std::string_view kPath = "request.object.spec.affinity";
    bool& usable = spec.affinity_usable;
    const std::size_t expressions_mark = spec.expressions.size();
    const std::size_t values_mark = spec.values.size();
    return LenientObject(v, usable, kPath, depth, [&](std::string_view key, od::value& value) {
      if (key != "matchExpressions") return Skip(value, kPath, depth + 1);
      spec.expressions.resize(expressions_mark);
      spec.values.resize(values_mark);
      std::uint32_t index = 0;
      return LenientArray(value, usable, kPath, depth + 1, [&](od::value& item) {
        MatchExpression expression;
        expression.term = term;
        expression.expression = index++;
        expression.values_begin = static_cast<std::uint32_t>(spec.values.size());
        bool ok = LenientObject(
            item, usable, kPath, depth + 2, [&](std::string_view key, od::value& value) {
              if (key == "key")
                return LenientString(value, expression.key, usable, kPath, depth + 3);
              if (key == "operator") {
                return LenientString(value, expression.op, usable, kPath, depth + 3);
              }
              if (key == "values") {
                spec.values.resize(expression.values_begin);
                return LenientArray(value, usable, kPath, depth + 3, [&](od::value& item) {
                  std::string_view text;
                  if (!LenientString(item, text, usable, kPath, depth + 4)) return false;
                  spec.values.push_back(text);
                  return true;
                });
              }
              return Skip(value, kPath, depth + 3);
            });
        expression.values_count =
            static_cast<std::uint32_t>(spec.values.size() - expression.values_begin);
        spec.expressions.push_back(expression);
        return ok;
      });
    });
  }

 private:
  std::string& error_;
};

// Empties `out`, keeping the capacity of its vectors.
void ResetRequest(AdmissionRequest& out) {
  out.uid = out.kind_group = out.kind_version = {};
  out.resource_group = out.resource_version = out.resource = {};
  out.name = out.operation = out.object_json = {};
  out.dry_run = false;
  out.input.Clear();
}

}  // namespace

struct Decoder::Impl {
  od::parser parser{/*max_capacity=*/simdjson::SIMDJSON_MAXSIZE_BYTES};
  std::string error;
};

Decoder::Decoder() : impl_(std::make_unique<Impl>()) {
  // Fix the depth limit now; later iterate() calls grow the capacity but keep the depth. On
  // failure iterate() allocates again and reports the error per request.
  [[maybe_unused]] simdjson::error_code e = impl_->parser.allocate(16 * 1024, kMaxDepth);
}
Decoder::~Decoder() = default;

std::size_t Decoder::footprint() const {
  // The string buffer and the structural indexes (4 bytes each) scale with the capacity.
  return impl_->parser.capacity() * 5;
}

Status Decoder::Decode(std::string_view body, AdmissionRequest& out) {
  ResetRequest(out);
  std::string& error = impl_->error;
  error.clear();
  Reader r(error);

  od::document doc;
  auto e = impl_->parser
               .iterate(simdjson::padded_string_view(body.data(), body.size(),
                                                     body.size() + kInputPadding))
               .get(doc);
  if (e) {
    r.Fail(e, "review");
    return InvalidArgument(error);
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) {
    if (e == simdjson::INCORRECT_TYPE) {
      r.Fail("expected a JSON object", "review");
    } else {
      r.Fail(e, "review");
    }
    return InvalidArgument(error);
  }
  std::string_view api_version, kind;
  bool has_api_version = false, has_kind = false, has_request = false;
  bool has_request_kind = false, has_resource = false, has_user = false;
  for (auto field : obj) {
    std::string_view key;
    od::value value;
    if (auto e = field.unescaped_key().get(key)) {
      r.Fail(e, "review");
      break;
    }
    if (auto e = field.value().get(value)) {
      r.Fail(e, key);
      break;
    }
    bool ok = true;
    if (key == "apiVersion") {
      has_api_version = true;
      ok = r.String(value, api_version, "apiVersion");
    } else if (key == "kind") {
      has_kind = true;
      ok = r.String(value, kind, "kind");
    } else if (key == "request") {
      od::json_type type{};
      ok = r.Type(value, type, "request");
      if (ok && type == od::json_type::null) {
        has_request = false;
        ok = r.ConsumeNull(value, "request");
      } else if (ok) {
        // A repeated "request" replaces the earlier one entirely.
        ResetRequest(out);
        has_request = true;
        has_request_kind = has_resource = has_user = false;
        ok = r.Request(value, out, has_request_kind, has_resource, has_user);
      }
    } else {
      ok = r.Skip(value, key, 1);
    }
    if (!ok) break;
  }
  if (error.empty() && doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    r.Fail(simdjson::TRAILING_CONTENT, "review");
  }
  if (!error.empty()) return InvalidArgument(error);

  auto expect = [&](bool present, std::string_view got, std::string_view want,
                    std::string_view field) -> Status {
    if (!present) return InvalidArgument(std::string(field) + ": missing");
    if (got == want) return Status::Ok();
    std::string message = std::string(field) + ": expected ";
    json::AppendJsonString(message, want);
    message += ", got ";
    json::AppendJsonString(message, got.substr(0, 64));
    return InvalidArgument(std::move(message));
  };
  if (Status st = expect(has_api_version, api_version, kAdmissionApiVersion, "apiVersion");
      !st.ok()) {
    return st;
  }
  if (Status st = expect(has_kind, kind, "AdmissionReview", "kind"); !st.ok()) return st;
  if (!has_request) return InvalidArgument("request: missing");
  if (out.uid.empty()) return InvalidArgument("request.uid: missing");
  if (!has_request_kind || out.input.kind_name.empty()) {
    return InvalidArgument("request.kind: missing");
  }
  if (!has_resource || out.resource.empty()) return InvalidArgument("request.resource: missing");
  if (out.operation.empty()) return InvalidArgument("request.operation: missing");
  if (!has_user) return InvalidArgument("request.userInfo: missing");

  out.input.operation = ClassifyOperation(out.operation);
  out.input.kind = ClassifyKind(out.kind_group, out.input.kind_name);
  const Operation operation = out.input.operation;
  if ((operation == Operation::kCreate || operation == Operation::kUpdate) &&
      out.input.object.presence != Presence::kPresent) {
    return InvalidArgument(operation == Operation::kCreate
                               ? "request.object: missing (required for CREATE)"
                               : "request.object: missing (required for UPDATE)");
  }
  // The API server always sends what an UPDATE replaces; without it a changed label could not
  // be told from an unchanged one.
  if (operation == Operation::kUpdate && out.input.old_object != Presence::kPresent) {
    return InvalidArgument("request.oldObject: missing (required for UPDATE)");
  }
  return Status::Ok();
}

void EncodeReviewResponse(const ReviewResponse& response, std::string& out) {
  out += R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":)";
  json::AppendJsonString(out, response.uid);
  if (response.allowed) {
    out += R"(,"allowed":true)";
  } else {
    char digits[16];
    auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), response.status_code);
    out += R"(,"allowed":false,"status":{"code":)";
    out.append(digits, end);
    out += R"(,"status":"Failure","message":)";
    json::AppendJsonString(out, response.message);
    out += R"(,"reason":"Forbidden"})";
  }
  if (!response.patch.empty()) {
    out += R"(,"patchType":"JSONPatch","patch":")";
    json::AppendBase64(out, response.patch);
    out += '"';
  }
  if (response.warnings != nullptr && !response.warnings->empty()) {
    out += R"(,"warnings":[)";
    for (std::size_t i = 0; i < response.warnings->size(); ++i) {
      if (i > 0) out += ',';
      json::AppendJsonString(out, (*response.warnings)[i]);
    }
    out += ']';
  }
  out += "}}";
}

void EncodeError(std::string_view message, std::string& out) {
  out += R"({"error":)";
  json::AppendJsonString(out, message);
  out += '}';
}

}  // namespace hyperplace::webhook
