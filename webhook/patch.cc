#include "webhook/patch.h"

#include <charconv>

#include "common/json.h"

namespace hyperplace::webhook {
namespace {

void AppendIndex(std::string& out, std::uint32_t index) {
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), index);
  out.append(digits, end);
}

// {"k":"v",...}
void AppendLabelObject(const Mutation& mutation, std::string& out) {
  out += '{';
  for (std::size_t i = 0; i < mutation.labels.size(); ++i) {
    if (i > 0) out += ',';
    json::AppendJsonString(out, mutation.labels[i].key);
    out += ':';
    json::AppendJsonString(out, mutation.labels[i].value);
  }
  out += '}';
}

// Appends `,{"op":op,"path":"<path>","value":` (the leading comma unless first).
void OpenOperation(std::string& out, bool& first, std::string_view op, std::string_view path) {
  if (!first) out += ',';
  first = false;
  out += R"({"op":")";
  out += op;
  out += R"(","path":)";
  json::AppendJsonString(out, path);
  out += R"(,"value":)";
}

}  // namespace

void AppendPointerToken(std::string& out, std::string_view token) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const char c = token[i];
    if (c != '~' && c != '/') continue;
    out.append(token.data() + run, i - run);
    out += c == '~' ? "~0" : "~1";
    run = i + 1;
  }
  out.append(token.data() + run, token.size() - run);
}

void AppendPatch(const LabelsView& labels, const Mutation& mutation, std::string& out) {
  if (mutation.empty()) return;
  // The JSON Pointer of the current operation, before JSON string escaping; per thread so the
  // hot path reuses its capacity.
  thread_local std::string path;
  bool first = true;
  out += '[';
  if (!mutation.labels.empty()) {
    if (labels.metadata != Presence::kPresent) {
      OpenOperation(out, first, "add", "/metadata");
      out += R"({"labels":)";
      AppendLabelObject(mutation, out);
      out += "}}";
    } else if (labels.labels != Presence::kPresent) {
      OpenOperation(out, first, "add", "/metadata/labels");
      AppendLabelObject(mutation, out);
      out += '}';
    } else {
      for (const LabelAddition& label : mutation.labels) {
        path.assign("/metadata/labels/");
        AppendPointerToken(path, label.key);
        OpenOperation(out, first, "add", path);
        json::AppendJsonString(out, label.value);
        out += '}';
      }
    }
  }
  for (const ValueRewrite& rewrite : mutation.rewrites) {
    path.assign(rewrite.location == SpecLocation::kSpec ? "/spec" : "/spec/template/spec");
    if (rewrite.field == ValueRewrite::Field::kNodeSelector) {
      path += "/nodeSelector/";
      AppendPointerToken(path, rewrite.selector_key);
    } else {
      path +=
          "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/"
          "nodeSelectorTerms/";
      AppendIndex(path, rewrite.term);
      path += "/matchExpressions/";
      AppendIndex(path, rewrite.expression);
      path += "/values/";
      AppendIndex(path, rewrite.value);
    }
    OpenOperation(out, first, "replace", path);
    json::AppendJsonString(out, rewrite.to);
    out += '}';
  }
  if (!mutation.scheduler_name.empty()) {
    OpenOperation(out, first, "add", "/spec/schedulerName");
    json::AppendJsonString(out, mutation.scheduler_name);
    out += '}';
  }
  out += ']';
}

}  // namespace hyperplace::webhook
