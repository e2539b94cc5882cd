// libFuzzer target for `hyperplace topology`'s input and output: raw bytes as a saved list of
// Nodes and Pods (inspect/source.h), built into the view and rendered in every format.
//
// Properties checked beyond "no crash, no sanitizer report", for whatever the cluster's strings
// hold:
//   - the JSON parses (nlohmann) and counts every node the view holds;
//   - text lines are at most 100 columns and carry no control bytes;
//   - Mermaid: every line is a statement of the chart (a string cannot start a line of its own);
//   - HTML: every '<' opens or closes one of the page's own elements (a string opens none).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "inspect/render.h"
#include "inspect/source.h"
#include "scoring/testing/builders.h"

namespace {

void Check(bool ok, const char* property) {
  if (ok) return;
  std::fprintf(stderr, "property violated: %s\n", property);
  std::abort();
}

std::size_t Columns(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80 ? 1 : 0;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hyperplace::inspect;
  static const hyperplace::scoring::Policy policy = hyperplace::scoring::testing::DefaultPolicy();
  ClusterInput input;
  if (!AddList(std::string_view(reinterpret_cast<const char*>(data), size), input).ok()) return 0;
  View view = BuildView(input, policy);
  const RenderOptions both{.tree = true, .jobs = true};

  auto json = nlohmann::json::parse(RenderJson(view, both), nullptr, /*allow_exceptions=*/false);
  Check(!json.is_discarded(), "JSON output parses");
  Check(json["cluster"]["nodes"] == view.nodes.size(), "JSON counts every node");

  std::istringstream text(RenderText(view, both));
  for (std::string line; std::getline(text, line);) {
    Check(Columns(line) <= kTextColumns, "text fits 100 columns");
    for (char c : line)
      Check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "no control bytes");
  }

  std::istringstream mermaid(RenderMermaid(view, both));
  for (std::string line; std::getline(mermaid, line);) {
    Check(line == "flowchart TD" || line.rfind("  d", 0) == 0 || line.rfind("  n", 0) == 0 ||
              line.rfind("  classDef ", 0) == 0 || line.rfind("  %% ", 0) == 0,
          "Mermaid lines are the chart's own statements");
  }

  static const std::set<std::string, std::less<>> kElements = {
      "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2",     "p", "span",
      "svg",      "text", "g",    "rect", "table", "tr",    "th",   "td", "strong", "br"};
  const std::string html = RenderHtml(view, both);
  // The input was valid UTF-8 (the decoder checks it), so the page must be: a name cut to fit
  // its box is cut between characters.
  for (std::size_t i = 0; i < html.size();) {
    const auto c = static_cast<unsigned char>(html[i]);
    const std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    Check((c & 0xC0) != 0x80 && i + len <= html.size(), "HTML: whole UTF-8 sequences");
    for (std::size_t k = 1; k < len; ++k) {
      Check((static_cast<unsigned char>(html[i + k]) & 0xC0) == 0x80,
            "HTML: whole UTF-8 sequences");
    }
    i += len;
  }
  for (std::size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    std::size_t from = at + 1 + (html.compare(at + 1, 1, "/") == 0 ? 1 : 0);
    std::size_t end = html.find_first_of(" />\n", from);
    Check(end != std::string::npos &&
              kElements.count(std::string_view(html).substr(from, end - from)),
          "HTML: every '<' is one of the page's own elements");
  }
  return 0;
}
